"""ONNX export (``numrec.export``, ``Network.to_onnx``, ``numrec-export``) checked against
onnxruntime: the exported graph gives ``net.forward``'s outputs for the same raw input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import (
    MNIST_T10K,
    assert_usage_error,
    cli_env,
    mnist_t10k,
    run,
    seed_model_path,
    write_csv,
)

import numrec
from numrec.kernels.codes import HIDDEN, OUTPUT

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install 'numrec[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'numrec[test]'")

TOLERANCE = 1e-5  # max abs difference allowed between onnxruntime and net.forward


def tolerance(expected: np.ndarray) -> float:
    """1e-5 for outputs in [0, 1] (softmax, sigmoid); for a linear output, whose values are
    in the targets' units, 1e-5 of its largest magnitude: float32 sums taken in another
    order differ by a few units in the last place of the value, not of 1."""
    return TOLERANCE * max(1.0, float(np.abs(expected).max()))


FEATURES = 24
ROWS = 10_000


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the test machine's cores are shared
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path, X: np.ndarray) -> np.ndarray:
    (out,) = session(path).run(None, {"input": X})
    return out


def rows(input_type: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if input_type == "uint8":
        return rng.integers(0, 256, size=(n, FEATURES), dtype=np.uint8)
    return rng.normal(0.0, 2.0, size=(n, FEATURES)).astype(np.float32)


def small_net(hidden: str, output: str, loss: str) -> numrec.Network:
    # uniform(-1, 1) weights and biases: every bias matters, no unit sits near zero, and
    # alpha 0.1 makes a lost leaky-ReLU slope visible
    net = numrec.Network([FEATURES, 16, 12, 5], hidden=hidden, alpha=0.1, output=output,
                         loss=loss, init="uniform", seed=7)  # fmt: skip
    net.class_names = ["ant", "bee", "cat", "dog", "eel"]
    return net


PAIRS = [(h, o, lo) for h in HIDDEN for (o, lo) in OUTPUT]


@pytest.mark.parametrize("input_type", ["uint8", "float32"])
@pytest.mark.parametrize(("hidden", "output", "loss"), PAIRS)
def test_onnxruntime_equals_forward(tmp_path, hidden, output, loss, input_type):
    net = small_net(hidden, output, loss)
    path = net.to_onnx(tmp_path / "m.onnx", input_type=input_type)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    X = rows(input_type, ROWS)
    sess = session(path)
    (many,) = sess.run(None, {"input": X})
    (one,) = sess.run(None, {"input": X[:1]})
    assert many.shape == (ROWS, 5) and many.dtype == np.float32
    expected = net.forward(X)
    assert np.abs(many - expected).max() <= tolerance(expected)
    assert one.shape == (1, 5)
    assert np.abs(one[0] - net.forward(X[0])).max() <= tolerance(expected)
    # the outputs are not trivially alike: another row gives another answer
    assert np.abs(many[0] - many[1]).max() > 1e-3


def test_graph_shape_opset_and_metadata(tmp_path):
    net = small_net("leaky_relu", "softmax", "cross_entropy")
    net.meta = {"dataset": "zoo", "numrec_version": "0.0.9", "image_shape": [4, 6]}
    model = onnx.load(str(net.to_onnx(tmp_path / "m.onnx")))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert model.ir_version == 8 and model.producer_name == "numrec"
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "input" and out.name == "output"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    # the batch dimension is symbolic: any number of rows
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 24]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 5]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == ["ant", "bee", "cat", "dog", "eel"]
    assert props["dataset"] == "zoo"
    assert props["numrec_version"] == numrec.__version__
    assert props["trained_with_numrec_version"] == "0.0.9"
    assert json.loads(props["architecture"]) == net.config()
    assert json.loads(props["image_shape"]) == [4, 6]
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Cast", "Mul", "Gemm", "LeakyRelu", "Gemm", "LeakyRelu", "Gemm", "Softmax",
                   "Identity"]  # fmt: skip
    leaky = next(n for n in model.graph.node if n.op_type == "LeakyRelu")
    assert onnx.helper.get_attribute_value(leaky.attribute[0]) == pytest.approx(0.1)


def test_input_type_follows_the_training_input(tmp_path):
    net = small_net("relu", "softmax", "cross_entropy")
    for scaling, expected in (("uint8 pixels / 255", onnx.TensorProto.UINT8),
                              ("float32 as is", onnx.TensorProto.FLOAT)):  # fmt: skip
        net.save(tmp_path / "m.npz", input_scaling=scaling)
        back = numrec.Network.load(tmp_path / "m.npz")
        model = onnx.load(str(back.to_onnx(tmp_path / "m.onnx")))
        assert model.graph.input[0].type.tensor_type.elem_type == expected
    with pytest.raises(ValueError, match="input type 'int8'"):
        net.to_onnx(tmp_path / "m.onnx", input_type="int8")


@pytest.mark.parametrize("input_type", ["uint8", "float32"])
def test_standardised_csv_model_takes_raw_features(tmp_path, numrec_cache, numrec_plugin_host,
                                                   input_type):  # fmt: skip
    # the CSV plugin standardises with the training rows' mean and std; numrec-train stores
    # them in the model (session.finish) and the graph applies them to the raw columns
    train = write_csv(tmp_path / "train.csv", 300, features=FEATURES, seed=1)
    test = write_csv(tmp_path / "test.csv", 200, features=FEATURES, seed=2)
    ds = numrec.load_dataset("csv", train=train, test=test, scale="standardize")
    net = numrec.Network([FEATURES, 8, 3], init="uniform", seed=3)
    net.save(tmp_path / "m.npz", dataset="csv", input_scaling="float32 as is",
             scale="standardize", mean=ds.meta["mean"], std=ds.meta["std"])  # fmt: skip
    net = numrec.Network.load(tmp_path / "m.npz")
    raw = np.loadtxt(test, delimiter=",", skiprows=1)[:, 1:]
    got = run_onnx(net.to_onnx(tmp_path / "m.onnx", input_type=input_type),
                   raw.astype(input_type))  # fmt: skip
    assert np.abs(got - net.forward(ds.test.X)).max() <= TOLERANCE
    # without the standardisation the answer would be far off: the test can tell
    assert np.abs(got - net.forward(raw.astype(np.float32))).max() > 0.1
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [n.op_type for n in model.graph.node][:3] == (
        ["Cast", "Sub", "Div"] if input_type == "uint8" else ["Sub", "Div", "Gemm"]
    )


def test_regression_targets_are_mapped_back(tmp_path):
    # meta target_mean / target_std (a regression model's targets were standardised):
    # the graph returns outputs in target units, output * std + mean
    net = numrec.Network([FEATURES, 10, 3], output="sigmoid", loss="mse", seed=4)
    net.meta = {"input_scaling": "float32 as is", "target_mean": [10.0, -2.0, 0.5],
                "target_std": [3.0, 0.25, 1.0]}  # fmt: skip
    X = rows("float32", 500)
    got = run_onnx(net.to_onnx(tmp_path / "m.onnx"), X)
    expected = net.forward(X) * np.float32([3.0, 0.25, 1.0]) + np.float32([10.0, -2.0, 0.5])
    assert np.abs(got - expected).max() <= TOLERANCE
    net.meta["target_std"] = [3.0, 0.0, 1.0]
    with pytest.raises(numrec.DatasetError, match="target_std"):
        net.to_onnx(tmp_path / "bad.onnx")


def test_bad_standardisation_metadata_is_refused(tmp_path):
    net = small_net("tanh", "softmax", "cross_entropy")
    net.meta = {"mean": [0.0] * FEATURES}
    with pytest.raises(numrec.DatasetError, match="lacks std"):
        net.to_onnx(tmp_path / "m.onnx")
    net.meta = {"mean": [0.0] * 3, "std": [1.0] * 3}
    with pytest.raises(numrec.DatasetError, match=f"'mean' must hold {FEATURES} finite"):
        net.to_onnx(tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


def test_seed_text_model(tmp_path):
    # a model of the seed project (text) exports like any other and takes uint8 pixels
    net = numrec.Network.load(seed_model_path())
    X = numrec.load_dataset("mnist-sample").test.X
    got = run_onnx(net.to_onnx(tmp_path / "seed.onnx"), X)
    # the seed's weights are large (logits in the tens), so float32 sums taken in another
    # order (onnxruntime's MLAS vs numrec's BLAS) differ more than in the tests above
    assert np.abs(got - net.forward(X)).max() <= 5e-5
    assert np.array_equal(got.argmax(1), net.predict(X))


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # import onnx now fails
    net = small_net("relu", "sigmoid", "mse")
    with pytest.raises(ImportError, match=r"pip install 'numrec\[onnx\]'"):
        net.to_onnx(tmp_path / "m.onnx")


# --- numrec-export ------------------------------------------------------------------------


def export_main(argv, capsys) -> tuple[int, str, str]:
    from numrec.cli.export import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("numrec-export: error: "), err
    return lines[0]


def test_export_cli(tmp_path, capsys):
    net = small_net("sigmoid", "softmax", "cross_entropy")
    model = net.save(tmp_path / "m.npz", input_scaling="uint8 pixels / 255")
    code, out, err = export_main([model, tmp_path / "m.onnx"], capsys)
    assert code == 0, err
    assert "network 24-16-12-5" in out and "uint8 pixels, scaled by 1/255" in out
    X = rows("uint8", 100)
    assert np.abs(run_onnx(tmp_path / "m.onnx", X) - net.forward(X)).max() <= TOLERANCE
    code, out, err = export_main([model, tmp_path / "f.onnx", "--input", "float32"], capsys)
    assert code == 0, err
    X = rows("float32", 100)
    assert np.abs(run_onnx(tmp_path / "f.onnx", X) - net.forward(X)).max() <= TOLERANCE


def test_export_cli_bad_input(tmp_path, capsys):
    model = small_net("relu", "softmax", "cross_entropy").save(tmp_path / "m.npz")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    cases = [
        ([text, tmp_path / "o.onnx"], "notes.txt: not a numrec model"),
        ([tmp_path / "missing.npz", tmp_path / "o.onnx"], "missing.npz: no such file"),
        ([model, text / "o.onnx"], "notes.txt: is a file, not a folder"),
        ([model, tmp_path / "o.txt"], "must end in .onnx"),
        ([model, tmp_path / "o.onnx", "--input", "int8"], "--input: invalid choice"),
    ]
    for argv, words in cases:
        code, out, err = export_main(argv, capsys)
        assert code == 2, (argv, err)
        assert words in one_error_line(err), (words, err)
    (tmp_path / "dir.onnx").mkdir()
    code, _, err = export_main([model, tmp_path / "dir.onnx"], capsys)
    assert code == 2 and "is a folder" in one_error_line(err)
    # nothing half-written was left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.onnx", "m.npz", "notes.txt"]


def test_export_cli_script_bad_model(tmp_path):
    # the real console script: one line, exit 2
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is no zip")
    result = run("numrec-export", bad, tmp_path / "o.onnx", env=cli_env(tmp_path))
    assert_usage_error(result, "bad.npz", "not a valid .npz")
    assert not (tmp_path / "o.onnx").exists()


def test_export_checkpoint(tmp_path, capsys):
    from numrec.serialize import save_checkpoint
    from numrec.training import Trainer

    ds = numrec.load_dataset("mnist-sample")
    net = numrec.Network([784, 16, 10], seed=2)
    net.class_names = list(ds.class_names)
    run = {"dataset": "mnist-sample", "dataset_options": {}}
    ckpt = save_checkpoint(tmp_path / "run.ckpt.npz", Trainer(net, ds, epochs=1), {"run": run})
    code, _, err = export_main([ckpt, tmp_path / "c.onnx"], capsys)
    assert code == 2 and "--input" in one_error_line(err)
    code, _, err = export_main([ckpt, tmp_path / "c.onnx", "--input", "uint8"], capsys)
    assert code == 0, err
    X = ds.test.X[:500]
    assert np.abs(run_onnx(tmp_path / "c.onnx", X) - net.forward(X)).max() <= TOLERANCE
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "c.onnx")).metadata_props}
    assert props["dataset"] == "mnist-sample"
    run = {"dataset": "csv", "dataset_options": {"scale": "standardize"}}
    standardised = save_checkpoint(tmp_path / "csv.ckpt.npz", Trainer(net, ds, epochs=1),
                                   {"run": run})  # fmt: skip
    code, _, err = export_main([standardised, tmp_path / "s.onnx", "--input", "float32"], capsys)
    assert code == 2 and "holds no feature mean and std" in one_error_line(err)


@pytest.mark.slow
def test_real_mnist_accuracy_matches_numrec_eval(tmp_path, capsys):
    # a model trained briefly on the bundled sample, exported by numrec-export, run by
    # onnxruntime on the real MNIST test set: exactly numrec-eval's accuracy
    X, y = mnist_t10k()
    ds = numrec.load_dataset("mnist-sample")
    net = numrec.Network([784, 32, 10], seed=0)
    net.class_names = list(ds.class_names)
    numrec.train(net, ds, epochs=1, threads=1, progress=False)
    model = net.save(tmp_path / "m.npz", dataset=ds.name, input_scaling="uint8 pixels / 255")
    code, _, err = export_main([model, tmp_path / "m.onnx"], capsys)
    assert code == 0, err
    P = run_onnx(tmp_path / "m.onnx", X)
    onnx_accuracy = float(np.mean(P.argmax(1) == y))

    from numrec.cli.evaluate import main as eval_main

    images, labels = (MNIST_T10K / f"t10k-{kind}-idx{d}-ubyte.gz"
                      for kind, d in (("images", 3), ("labels", 1)))  # fmt: skip
    assert eval_main([str(model), "--images", str(images), "--labels", str(labels),
                      "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(y) == 10_000
    assert onnx_accuracy == report["accuracy"] == net.evaluate(X, y)["accuracy"]
    assert onnx_accuracy > 0.8  # it learned something: the comparison is not of noise


def test_docs_cli_onnxruntime_snippet(tmp_path, monkeypatch, capsys):
    # the Python example under "numrec-export" in docs/cli.md, on IDX files made here
    import gzip

    from cli_helpers import write_idx_digits

    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    section = text.split("### numrec-export", 1)[1].split("\n### ", 1)[0]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    folder = write_idx_digits(tmp_path, train=1, test=300)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
    net = numrec.Network([784, 12, 10], init="uniform", seed=1)
    net.to_onnx(tmp_path / "model.onnx")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/cli.md", "exec"), {"__name__": "docs_cli"})
    X, y = mnist_like(tmp_path)
    expected = np.mean(net.predict(X) == y)
    assert capsys.readouterr().out.strip() == f"accuracy {expected:.4f}"


def mnist_like(folder: Path):
    from numrec.idx import read_image_label_pair

    X, y = read_image_label_pair(
        folder / "t10k-images-idx3-ubyte", folder / "t10k-labels-idx1-ubyte"
    )
    return X.reshape(len(X), -1), y


def test_export_creates_the_output_folder_like_every_numrec_writer(tmp_path):
    pytest.importorskip("onnx", reason="needs onnx: pip install 'numrec[onnx]'")
    net = numrec.Network([6, 4, 3], seed=0)
    out = net.to_onnx(tmp_path / "new" / "deeper" / "m.onnx")
    assert out.is_file() and not [p for p in out.parent.iterdir() if p != out]
