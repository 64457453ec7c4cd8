"""ONNX export: a trained ``Network`` as a graph that onnxruntime (and any ONNX runtime) runs.

    net.to_onnx("model.onnx")                     # the input type the model was trained on
    net.to_onnx("model.onnx", input_type="float32")
    export_onnx(load_model("run.checkpoint.npz"), "model.onnx")   # also checkpoints

The graph takes the same raw rows numrec's ``predict`` takes and does numrec's input
preparation itself, so nothing has to be re-implemented next to it:

    input (batch, n_in), uint8 or float32
      -> Cast to float32                          (uint8 input)
      -> Sub mean, Div std                        (a standardised CSV model: meta mean/std)
         or Mul 1/255                             (uint8 input of any other model)
      -> Gemm(W[l], b[l], transB) -> activation   (every layer; the last gets the output's)
      -> Mul target_std, Add target_mean          (a regression model: meta target_mean/std)
    output (batch, n_out) float32

The opset is 17 (ONNX 1.12, 2022) and the IR version 8, which every onnxruntime since
1.13, onnxruntime-web and the mobile runtimes load; every operator used here
(Gemm, LeakyRelu, Relu, Tanh, Sigmoid, Softmax over the last axis, Cast, Sub, Div, Mul,
Add) has had its current meaning since opset 13 or 16. ``onnx`` is an optional extra
(``pip install 'numrec[onnx]'``) imported only here, and ``onnx.checker`` checks every
graph before it is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DatasetError
from .fileio import write_bytes

OPSET = 17
IR_VERSION = 8  # the IR version that came with opset 17: older runtimes read it too
INPUT_TYPES = ("uint8", "float32")
INPUT_NAME, OUTPUT_NAME = "input", "output"
BATCH = "batch"  # the symbolic (dynamic) first dimension of input and output
UINT8_INPUT = "uint8 pixels / 255"  # meta "input_scaling" of a model trained on uint8 rows
FLOAT_INPUT = "float32 as is"


# Each activation as (ONNX operator, its attributes from the network); adding an
# activation to numrec is one entry here.
def _no_attributes(net) -> dict[str, Any]:
    return {}


HIDDEN_OPS: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    "leaky_relu": ("LeakyRelu", lambda net: {"alpha": float(net.alpha)}),
    "relu": ("Relu", _no_attributes),
    "tanh": ("Tanh", _no_attributes),
    "sigmoid": ("Sigmoid", _no_attributes),
}
# The output activation; None is the identity (no node), as for a linear regression output.
OUTPUT_OPS: dict[str, tuple[str, Callable[[Any], dict[str, Any]]] | None] = {
    "softmax": ("Softmax", lambda net: {"axis": -1}),
    "sigmoid": ("Sigmoid", _no_attributes),
    "linear": None,
}


@dataclass(frozen=True)
class Preprocessing:
    """What the graph does to a raw input row before the first layer."""

    input_type: str  # "uint8" or "float32": the graph's input element type
    mean: np.ndarray | None  # per-feature standardisation (x - mean) / std, or None
    std: np.ndarray | None
    pixel_scale: bool  # multiply by 1/255 (uint8 input without standardisation)

    def describe(self) -> str:
        if self.mean is not None:
            return f"{self.input_type} rows, standardised per feature: (x - mean) / std"
        if self.pixel_scale:
            return "uint8 pixels, scaled by 1/255"
        return "float32 rows, used as they are"


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package, which is not installed; "
            "install it with: pip install 'numrec[onnx]'"
        ) from None
    return onnx


def default_input_type(net) -> str:
    """The input type the model was trained on: float32 for a model trained on float rows
    (meta ``input_scaling`` "float32 as is") or standardised ones, else uint8."""
    if net.meta.get("source_format") == "checkpoint":
        raise ValueError(
            "a checkpoint does not record whether its data set's rows are uint8 pixels or "
            "floats; say which input the exported model takes (input_type / --input)"
        )
    if net.meta.get("mean") is not None or net.meta.get("input_scaling") == FLOAT_INPUT:
        return "float32"
    return "uint8"


def _feature_vector(net, key: str, n: int, positive: bool = False) -> np.ndarray:
    """meta[key] as n float32 values (one number is broadcast), checked."""
    raw = net.meta.get(key)
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.asarray([np.nan])
    if values.ndim == 0:
        values = np.full(n, float(values))
    if values.shape != (n,) or not np.isfinite(values).all() or (positive and values.min() <= 0):
        what = "positive numbers" if positive else "numbers"
        raise DatasetError(
            f"the model's metadata {key!r} must hold {n} finite {what} (one per "
            f"{'input' if key in ('mean', 'std') else 'output'}), got {str(raw)[:60]}"
        )
    return values.astype(np.float32)


def preprocessing(net, input_type: str | None = None) -> Preprocessing:
    """How the graph prepares its input, from the model's metadata (see the module doc)."""
    if input_type is None:
        input_type = default_input_type(net)
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input type {input_type!r}: expected one of {', '.join(INPUT_TYPES)}")
    n = net.sizes[0]
    has_mean, has_std = net.meta.get("mean") is not None, net.meta.get("std") is not None
    if has_mean != has_std or (net.meta.get("scale") == "standardize" and not has_mean):
        raise DatasetError(
            "the model was trained on standardised features but its metadata lacks "
            f"{'std' if has_mean else 'mean'}; it cannot be exported with its preprocessing"
        )
    if has_mean:
        mean, std = _feature_vector(net, "mean", n), _feature_vector(net, "std", n, True)
        return Preprocessing(input_type, mean, std, pixel_scale=False)
    return Preprocessing(input_type, None, None, pixel_scale=input_type == "uint8")


def target_scaling(net) -> tuple[np.ndarray, np.ndarray] | None:
    """(target_std, target_mean) to map the outputs back to target units, or None."""
    has_mean = net.meta.get("target_mean") is not None
    if has_mean != (net.meta.get("target_std") is not None):
        raise DatasetError("the model's metadata has one of target_mean / target_std only")
    if not has_mean:
        return None
    k = net.sizes[-1]
    return _feature_vector(net, "target_std", k, True), _feature_vector(net, "target_mean", k)


def build_model(net, input_type: str | None = None):
    """The ``onnx.ModelProto`` of ``net`` (checked by ``onnx.checker``)."""
    onnx = _require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if net.hidden not in HIDDEN_OPS:
        raise ValueError(f"hidden activation {net.hidden!r} has no ONNX mapping")
    if net.output not in OUTPUT_OPS:
        raise ValueError(f"output activation {net.output!r} has no ONNX mapping")
    prep = preprocessing(net, input_type)
    targets = target_scaling(net)
    nodes, constants = [], []

    def constant(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    x = INPUT_NAME
    if prep.input_type == "uint8":
        x = node("Cast", [x], "input_float", to=TensorProto.FLOAT)
    if prep.mean is not None:
        x = node("Sub", [x, constant("feature_mean", prep.mean)], "centred")
        x = node("Div", [x, constant("feature_std", prep.std)], "standardised")
    elif prep.pixel_scale:
        # the same float32 factor numrec multiplies by (network.UINT8_SCALE), not a division
        x = node("Mul", [x, constant("pixel_scale", np.float32(1.0 / 255.0))], "scaled")
    last = net.n_layers - 1
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        W_name, b_name = constant(f"W{l}", W), constant(f"b{l}", b)
        z = node("Gemm", [x, W_name, b_name], f"z{l}", transB=1)  # x W^T + b: W is (out, in)
        mapping = OUTPUT_OPS[net.output] if l == last else HIDDEN_OPS[net.hidden]
        if mapping is None:
            x = z
        else:
            op, attributes = mapping
            x = node(op, [z], f"a{l}", **attributes(net))
    if targets is not None:
        x = node("Mul", [x, constant("target_std", targets[0])], "target_scaled")
        x = node("Add", [x, constant("target_mean", targets[1])], "target")
    nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name=OUTPUT_NAME))

    element = TensorProto.UINT8 if prep.input_type == "uint8" else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        f"numrec_{'_'.join(map(str, net.sizes))}",
        [helper.make_tensor_value_info(INPUT_NAME, element, [BATCH, net.sizes[0]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [BATCH, net.sizes[-1]])],
        initializer=constants,
    )
    model = helper.make_model(
        graph,
        producer_name="numrec",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=f"numrec network {'-'.join(map(str, net.sizes))}: input "
        f"{prep.describe()}; output: {net.output} activations"
        + ("" if targets is None else ", mapped back to target units"),
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(net, prep, targets is not None))
    onnx.checker.check_model(model, full_check=True)
    return model


def metadata(net, prep: Preprocessing, target_units: bool) -> dict[str, str]:
    """The model's metadata_props: plain strings (JSON for lists and dicts)."""
    names = net.class_names or [str(i) for i in range(net.sizes[-1])]
    props = {
        "class_names": json.dumps([str(n) for n in names]),
        "dataset": str(net.meta.get("dataset") or ""),
        "numrec_version": __version__,
        "architecture": json.dumps(net.config()),
        "input": prep.describe(),
        "output": net.output + (" in target units" if target_units else ""),
    }
    trained_with = net.meta.get("numrec_version")
    if trained_with:
        props["trained_with_numrec_version"] = str(trained_with)
    shape = net.meta.get("image_shape")
    if shape:
        props["image_shape"] = json.dumps(shape)
    return props


def export_onnx(net, path: str | os.PathLike, input_type: str | None = None) -> Path:
    """Write ``net`` as an ONNX model to ``path`` (atomically); return the path.

    ``input_type``: "uint8" (raw pixels, scaled by 1/255 in the graph), "float32" (rows
    used as they are, as ``net.forward`` uses float rows), or None for the type the model
    was trained on (``default_input_type``).
    """
    model = build_model(net, input_type)
    path = Path(path).expanduser()
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"{path}: ONNX model files must end in .onnx")
    return write_bytes(path, model.SerializeToString())


# --- what numrec-export reads ---------------------------------------------------------------


def load_model(path: str | os.PathLike):
    """The ``Network`` in a model file (numrec's .npz or the seed's text) or a checkpoint.

    A checkpoint records the training settings but neither the data's statistics nor its
    input type: one of a standardised CSV run is refused (export the model that run saves
    instead), and the input type must be given when exporting one.
    """
    from .serialize import load_checkpoint, load_network

    path = Path(path).expanduser()
    net = load_network(path)
    if net.meta.get("source_format") != "checkpoint":
        return net
    _, extra = load_checkpoint(path)
    run = extra.get("run") if isinstance(extra.get("run"), dict) else {}
    options = run.get("dataset_options") if isinstance(run.get("dataset_options"), dict) else {}
    if str(options.get("scale", "")).lower() == "standardize":
        raise DatasetError(
            f"{path}: a checkpoint of a run on standardised features holds no feature "
            f"mean and std; export the model file that run saves (--save) instead"
        )
    return net
