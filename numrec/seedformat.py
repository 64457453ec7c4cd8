"""The model file format of the seed project (the Rust ``number_recognition``), read-only.

    net = numrec.Network.load("number_recognition-accurate-model.txt")

A text file of four sections, each a header line and one ``[a, b, ...]`` list per line::

    [layers]    [784, 64, 64, 10]
    [weights]   one line per (out, in) weight matrix, in COLUMN-MAJOR order (nalgebra's)
    [biases]    one line per bias vector
    [alpha]     the leaky-ReLU slope, e.g. 0.01

Hidden layers are leaky ReLU and the output is softmax. Read row-major, the seed's MNIST
model scores about 10 % instead of 95.34 %: the order is the whole point of this reader.
Every problem raises ``DatasetError`` naming the file and, where it applies, the line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .network import Network

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def load_seed_text(path: str | os.PathLike) -> Network:
    """Read a model written by the Rust seed: [layers] sizes, [weights] one line per matrix
    (column-major, nalgebra's order, of the (out, in) matrix), [biases], [alpha].
    Hidden layers are leaky ReLU; the output is softmax (cross-entropy)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not a seed text model: non-ASCII byte at {e.start}") from None
    sections: dict[str, list[tuple[int, str]]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line in ("[layers]", "[weights]", "[biases]", "[alpha]"):
            current = line[1:-1]
            if current in sections:
                raise DatasetError(f"{path}, line {number}: section {line} appears twice")
            sections[current] = []
        elif line:
            if current is None:
                raise DatasetError(f"{path}, line {number}: text before the [layers] section")
            sections[current].append((number, line))
    for name in ("layers", "weights", "biases", "alpha"):
        if not sections.get(name):
            raise DatasetError(f"{path}: seed model without a (non-empty) [{name}] section")

    number, line = sections["layers"][0]
    sizes = [int(v) for v in _numbers(path, number, line, whole=True)]
    if len(sizes) < 2 or min(sizes) < 1 or len(sections["layers"]) != 1:
        raise DatasetError(f"{path}, line {number}: [layers] must be one list of 2+ positive sizes")
    n_layers = len(sizes) - 1
    for name in ("weights", "biases"):
        if len(sections[name]) != n_layers:
            raise DatasetError(
                f"{path}: [{name}] has {len(sections[name])} lines; "
                f"layers {sizes} need {n_layers}, one per layer"
            )
    number, line = sections["alpha"][0]
    try:
        alpha = float(line)
    except ValueError:
        alpha = math.nan
    # --alpha's rule (a number, 0 or more), within what the float32 engine can hold
    if not (math.isfinite(alpha) and 0.0 <= alpha <= _FLOAT32_MAX):
        raise DatasetError(
            f"{path}, line {number}: [alpha] must be a finite number from 0 to "
            f"{_FLOAT32_MAX:.4g}, got {line!r:.40}"
        )

    # check the counts before allocating: [layers] alone must not decide the memory used
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        for name, want in (("weights", n_in * n_out), ("biases", n_out)):
            number, line = sections[name][layer]
            if line.count(",") + 1 != want:
                raise DatasetError(
                    f"{path}, line {number}: {line.count(',') + 1} values in [{name}] of "
                    f"layer {layer + 1}; layers {sizes} need {want}"
                )
    net = Network(sizes, hidden="leaky_relu", alpha=alpha, output="softmax", seed=0)
    for layer, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        number, line = sections["weights"][layer]
        w = _numbers(path, number, line, expect=W.size)
        # nalgebra stores a matrix column by column: reading it row-major scores ~10 %
        W[:] = w.reshape(W.shape[1], W.shape[0]).T
        number, line = sections["biases"][layer]
        b[:] = _numbers(path, number, line, expect=b.size)
    net.meta = {"source_format": "seed text", "source": str(path)}
    return net


def _numbers(
    path: Path, number: int, line: str, expect: int | None = None, whole: bool = False
) -> np.ndarray:
    """The values of one ``[a, b, c]`` line as float32 (or float64 when ``whole``)."""
    if not (line.startswith("[") and line.endswith("]")):
        raise DatasetError(f"{path}, line {number}: expected a list like [1, 2, 3]")
    body = line[1:-1]
    try:
        values = np.array([float(v) for v in body.split(",")], dtype=np.float64)
    except ValueError as e:
        raise DatasetError(f"{path}, line {number}: not a list of numbers: {e}") from None
    if not np.isfinite(values).all():
        raise DatasetError(f"{path}, line {number}: contains NaN or inf")
    if not whole and (np.abs(values) > _FLOAT32_MAX).any():
        at = int(np.flatnonzero(np.abs(values) > _FLOAT32_MAX)[0])
        raise DatasetError(
            f"{path}, line {number}: value {at + 1} ({values[at]:g}) is beyond float32's "
            f"range (+-{_FLOAT32_MAX:.4g}); the network's weights are float32"
        )
    if whole and not np.all(values == np.round(values)):
        raise DatasetError(f"{path}, line {number}: expected whole numbers")
    if expect is not None and values.size != expect:
        raise DatasetError(f"{path}, line {number}: {values.size} values; expected {expect}")
    return values if whole else values.astype(np.float32)
