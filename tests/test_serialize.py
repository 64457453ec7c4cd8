"""Model and checkpoint files: round trips, atomic writes (also under kill -9), malformed
and hostile files refused with a message naming the file, and the seed's text format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from cli_helpers import mnist_t10k, seed_model_path

import numrec
from numrec import Dataset, DatasetError, Split
from numrec.serialize import load_checkpoint, load_network, save_checkpoint, save_network
from numrec.training import Trainer


def small_net(**kw) -> numrec.Network:
    net = numrec.Network([6, 5, 3], seed=kw.pop("seed", 1), **kw)
    net.class_names = ["a", "b", "c"]
    return net


def tiny_dataset(n: int = 300) -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.random((n, 6), dtype=np.float32)
    y = (X[:, 0] > X[:, 1]).astype(np.int64) + (X[:, 2] > 0.5)
    cut = n * 4 // 5
    return Dataset("tiny", Split(X[:cut], y[:cut]), Split(X[cut:], y[cut:]), ["a", "b", "c"])


# --- round trips --------------------------------------------------------------------------


def test_model_round_trip(tmp_path):
    net = small_net(hidden="tanh", alpha=0.2, output="sigmoid", loss="mse", init="glorot")
    path = net.save(tmp_path / "sub" / "model.npz", dataset="tiny", image_shape=(2, 3))
    back = numrec.Network.load(path)
    np.testing.assert_array_equal(back.theta, net.theta)
    assert back.config() == net.config()
    assert back.class_names == ["a", "b", "c"]
    assert back.meta["dataset"] == "tiny" and back.meta["image_shape"] == [2, 3]
    assert back.meta["numrec_version"] == numrec.__version__
    assert "input_scaling" in back.meta
    X = np.random.default_rng(0).random((4, 6), dtype=np.float32)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))


def test_model_file_is_plain_npz_with_json_metadata(tmp_path):
    path = save_network(small_net(), tmp_path / "m.npz", dataset="tiny")
    with np.load(path, allow_pickle=False) as npz:
        assert npz["theta"].dtype == np.float32
        meta = json.loads(str(npz["meta"]))
    assert meta["format"] == "numrec-model" and meta["architecture"]["sizes"] == [6, 5, 3]
    assert meta["class_names"] == ["a", "b", "c"] and meta["dataset"] == "tiny"


def test_save_follows_the_umask_and_leaves_no_temp_files(tmp_path):
    path = save_network(small_net(), tmp_path / "m.npz")
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_network(small_net(seed=1), tmp_path / "m.npz")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_network(small_net(seed=2), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


@pytest.mark.slow
def test_kill_9_during_saves_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "big.npz"
    code = textwrap.dedent(f"""
        import numrec
        net = numrec.Network([784, 512, 512, 10], seed=0)
        net.save({str(path)!r})
        print("ready", flush=True)
        seed = 0
        while True:
            seed += 1
            net.theta[:] = seed
            net.save({str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # several saves (each ~2.6 MB) are under way
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    net = load_network(path)  # whole: the old file or the new one, never half of one
    values = np.unique(net.theta)
    assert net.sizes == (784, 512, 512, 10)
    assert len(values) > 1000 or (len(values) == 1 and values[0] >= 1)


def test_checkpoint_round_trip_and_bit_identical_continuation(tmp_path):
    ds = tiny_dataset()
    options = dict(epochs=4, batch_size=16, optimizer="adam", lr=0.01, seed=3, progress=False,
                   threads=1, schedule="step", gamma=0.5)  # fmt: skip
    whole = small_net()
    Trainer(whole, ds, **options).run()

    first = small_net()
    trainer = Trainer(first, ds, **{**options, "epochs": 4})
    trainer.epochs = 2  # stop half-way (the step schedule does not depend on the total)
    trainer.run()
    trainer.epochs = 4
    path = save_checkpoint(tmp_path / "ck.npz", trainer, {"note": "half"})
    state, extra = load_checkpoint(path)
    assert extra["note"] == "half" and extra["class_names"] == ["a", "b", "c"]
    assert extra["architecture"] == first.config()
    assert state["epoch"] == 2 and state["optimizer"]["name"] == "adam"
    np.testing.assert_array_equal(state["theta"], first.theta)

    second = small_net(seed=99)  # other initial weights: all of them come from the file
    resumed = Trainer(second, ds, **options)
    resumed.load_state_dict(state)
    resumed.run()
    np.testing.assert_array_equal(second.theta, whole.theta)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in trainer.history] + [
        h["loss"] for h in resumed.history[2:]
    ]


# --- malformed and hostile files ------------------------------------------------------------


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _meta(**changes) -> np.ndarray:
    doc = {"format": "numrec-model", "format_version": 1, "architecture": {"sizes": [6, 5, 3]}}
    doc.update(changes)
    return np.array(json.dumps(doc))


GOOD_THETA = np.zeros(6 * 5 + 5 + 5 * 3 + 3, dtype=np.float32)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"\x00" * 100) and p, "not a numrec model"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage") and p, "not a valid .npz"),
        (lambda p: _write_npz(p, theta=GOOD_THETA), "no 'meta' array"),
        (lambda p: _write_npz(p, meta=_meta()), "no 'theta' array"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=np.array("{oops")), "not valid JSON"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=np.array("[1, 2]")), "JSON object"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=np.zeros(3)), "one JSON text string"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=_meta(format="other")), "format is"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=_meta(format_version=99)), "newer"),
        (lambda p: _write_npz(p, theta=GOOD_THETA.astype(np.float64), meta=_meta()), "float32"),
        (lambda p: _write_npz(p, theta=GOOD_THETA[:-1], meta=_meta()), "shape"),
        (lambda p: _write_npz(p, theta=GOOD_THETA + np.nan, meta=_meta()), "NaN"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=_meta(architecture={"sizes": [6, -5]})),
         "positive layer sizes"),
        (lambda p: _write_npz(p, theta=GOOD_THETA,
                              meta=_meta(architecture={"sizes": [6, 5, 3], "hidden": "swish"})),
         "unknown hidden activation"),
        (lambda p: _write_npz(p, theta=np.array([os.getcwd], dtype=object), meta=_meta()),
         "float32"),
        (lambda p: _write_npz(p, theta=GOOD_THETA, meta=_meta(class_names=["x"])), "3 names"),
    ],
    ids=["zeros", "bad zip", "no meta", "no theta", "bad json", "json list", "meta numbers",
         "other format", "future version", "float64", "wrong size", "nan", "negative size",
         "unknown activation", "pickled object", "class names"],
)  # fmt: skip
def test_malformed_model_files_are_refused(tmp_path, make, message):
    path = make(tmp_path / "model.npz")
    with pytest.raises(DatasetError) as info:
        load_network(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_huge_declared_shape_is_refused_before_allocating(tmp_path):
    # a header that claims 4 TB of parameters, in a file of a few hundred bytes
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", _npy(_meta(architecture={"sizes": [10**6, 10**6]})))
        header = {"descr": "<f4", "fortran_order": False, "shape": (10**12 + 10**6,)}
        z.writestr("theta.npy", _npy_header(header) + b"\x00" * 64)
    with pytest.raises(DatasetError, match="its header declares 4,000,004,000,128"):
        load_network(path)


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_header(header: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_network(tmp_path / "nope.npz")


def test_a_model_is_not_a_checkpoint_but_a_checkpoint_is_a_model(tmp_path):
    model = save_network(small_net(), tmp_path / "m.npz")
    with pytest.raises(DatasetError, match="it is a model"):
        load_checkpoint(model)
    trainer = Trainer(small_net(), tiny_dataset(), epochs=1, progress=False)
    trainer.run()
    checkpoint = save_checkpoint(tmp_path / "c.npz", trainer, {"run": {"dataset": "mnist"}})
    net = load_network(checkpoint)  # its current weights (issue 14)
    np.testing.assert_array_equal(net.theta, trainer.net.theta)
    assert net.sizes == trainer.net.sizes
    assert net.meta == {"source_format": "checkpoint", "dataset": "mnist"}


# --- the seed's text format --------------------------------------------------------------


def seed_text(W1, b1, W2, b2, alpha=0.2) -> str:
    def row(a):
        return "[" + ", ".join(repr(float(v)) for v in np.asarray(a).ravel(order="F")) + "]"

    sizes = [W1.shape[1], W1.shape[0], W2.shape[0]]
    return (f"[layers]\n{sizes}\n\n[weights]\n{row(W1)}\n{row(W2)}\n\n"
            f"[biases]\n{row(b1)}\n{row(b2)}\n\n[alpha]\n{alpha}\n")  # fmt: skip


def test_seed_text_is_read_column_major(tmp_path):
    W1 = np.array([[-0.75, 0.5, -0.25], [0.25, -0.5, 0.75]])
    W2 = np.array([[-0.75, 0.75], [0.5, -0.5], [-0.25, 0.25]])
    b1, b2 = np.array([0.0, 1.0]), np.array([0.75, 0.5, 0.25])
    path = tmp_path / "seed.txt"
    path.write_text(seed_text(W1, b1, W2, b2))
    net = load_network(path)
    assert net.sizes == (3, 2, 3) and net.alpha == pytest.approx(0.2)
    assert net.hidden == "leaky_relu" and net.output == "softmax"
    np.testing.assert_array_equal(net.weights[0], W1.astype(np.float32))
    np.testing.assert_array_equal(net.weights[1], W2.astype(np.float32))
    np.testing.assert_array_equal(net.biases[1], b2.astype(np.float32))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[layers]\n[3, 2]\n\n[weights]\n[1, 2, 3, 4, 5, 6]\n\n[biases]\n[1, 2]\n",
         "without a (non-empty) [alpha]"),
        ("[layers]\n[3, 2]\n\n[weights]\n[1, 2, 3]\n\n[biases]\n[1, 2]\n\n[alpha]\n0.1\n",
         "line 5: 3 values"),
        ("[layers]\n[3, 2]\n\n[weights]\n[1, 2, x, 4, 5, 6]\n\n[biases]\n[1, 2]\n\n[alpha]\n0.1\n",
         "line 5: not a list of numbers"),
        ("[layers]\n[3, 2]\n\n[weights]\n[1, 2, 3, 4, 5, 6]\n\n[biases]\n[1, 2]\n\n[alpha]\nhi\n",
         "[alpha] must be a finite number"),
        ("[layers]\n[3.5, 2]\n\n[weights]\n[1]\n\n[biases]\n[1]\n\n[alpha]\n0.1\n",
         "whole numbers"),
        ("[layers]\n[3, 200000000]\n\n[weights]\n[1]\n\n[biases]\n[1]\n\n[alpha]\n0.1\n",
         "need 600000000"),
    ],
    ids=["no alpha", "short weights", "not a number", "bad alpha", "fractional size", "huge"],
)  # fmt: skip
def test_malformed_seed_text(tmp_path, text, message):
    path = tmp_path / "seed.txt"
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        load_network(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_seed_model_scores_95_34_percent_on_mnist_test():
    X, y = mnist_t10k()
    net = load_network(seed_model_path())
    assert net.sizes == (784, 64, 64, 10) and net.alpha == pytest.approx(0.01)
    result = net.evaluate(X, y)
    assert round(100 * result["accuracy"], 2) == 95.34
    # read row-major instead, the same numbers are a useless model (the check is sharp)
    wrong = net.copy()
    for W_wrong, W in zip(wrong.weights, net.weights):
        W_wrong[:] = W.T.reshape(-1).reshape(W.shape)  # the file's order, taken row by row
    assert wrong.evaluate(X, y)["accuracy"] < 0.5
