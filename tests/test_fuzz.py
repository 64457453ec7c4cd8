"""Fuzzing every reader of files (issue 20): IDX, CSV, model files, seed text, EMNIST zip.

Each test starts from a valid file, mutates it with hypothesis (flipped, replaced,
inserted and deleted bytes, truncation) and reads it. Reading may succeed; if it fails,
it must fail with a ``ValueError`` (``DatasetError`` is one) whose message names the
file - never with any other exception (a traceback at the command line). The budget is
fixed (``max_examples``), so the slow tier takes the same time on every run.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="pip install 'numrec[test]' (the fuzzer, hypothesis)")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hardening import emnist_zip, model_doc, npy

import numrec
from numrec.idx import encode_idx, read_idx
from numrec.serialize import load_network, save_network

pytestmark = pytest.mark.slow

BUDGET = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # the same examples on every run: a fixed budget, nothing remembered
    derandomize=True,
)


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a few random edits: replace, insert, delete, truncate."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "flip"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def read_or_refuse(read, path: Path) -> None:
    """``read(path)`` succeeds, or fails with a ValueError naming ``path``."""
    try:
        read(path)
    except ValueError as e:  # DatasetError is one
        assert path.name in str(e), f"{type(e).__name__} without the file name: {e}"


def in_temp(name: str, data: bytes, read) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        read_or_refuse(read, path)


# --- IDX ------------------------------------------------------------------------------

_rng = np.random.default_rng(0)
IDX_RAW = encode_idx(_rng.integers(0, 256, (3, 4, 5), dtype=np.uint8))
IDX_INT = encode_idx(_rng.integers(-1000, 1000, 7).astype(np.int32))
IDX_GZIP = gzip.compress(IDX_RAW, mtime=0)


@BUDGET
@given(st.sampled_from([IDX_RAW, IDX_INT, IDX_GZIP]).flatmap(mutated))
def test_fuzz_idx(data):
    in_temp("fuzz-idx3-ubyte", data, read_idx)
    in_temp("fuzz-idx3-ubyte", data, lambda p: read_idx(open(p, "rb"), name=str(p)))


# --- CSV ------------------------------------------------------------------------------

CSV = (
    b"label,a,b,c\n0,1,2,3\n1,4,5,6\n2,7,8,9\n0,10,11,12\n1,13,14,15\n"
    b'2,"16",17,18\n0,19,20,21.5\n1,22,23,24\n'
)


def load_csv(path: Path) -> None:
    numrec.load_dataset("csv", train=path, test=path, cache=False, progress=False)


@BUDGET
@given(mutated(CSV))
def test_fuzz_csv(data):
    in_temp("fuzz.csv", data, load_csv)


# --- model files ----------------------------------------------------------------------


def _model_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        net = numrec.Network([6, 5, 3], seed=0)
        net.class_names = ["a", "b", "c"]
        path = save_network(net, Path(folder) / "m.npz", dataset="mnist", image_shape=[2, 3])
        return path.read_bytes()


MODEL = _model_bytes()


@BUDGET
@given(mutated(MODEL))
def test_fuzz_model_bytes(data):
    in_temp("fuzz.npz", data, load_network)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
FIELDS = {
    "format": json_values,
    "format_version": json_values,
    "architecture": st.fixed_dictionaries(
        {"sizes": json_values | st.just([6, 5, 3])},
        optional={
            "alpha": json_values,
            "hidden": json_values,
            "output": json_values,
            "loss": json_values,
            "init": json_values,
        },
    )
    | json_values,  # fmt: skip
    "class_names": json_values,
    "dataset": json_values,
    "input_scaling": json_values,
    "meta": st.fixed_dictionaries({"image_shape": json_values}) | json_values,
}


@BUDGET
@given(st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), min_size=1).flatmap(
    lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
))  # fmt: skip
def test_fuzz_model_metadata(changes):
    import io
    import zipfile

    doc = model_doc(**changes)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("meta.npy", npy(np.array(json.dumps(doc))))
        z.writestr("theta.npy", npy(np.zeros(6 * 5 + 5 + 5 * 3 + 3, np.float32)))
    in_temp("fuzz.npz", buf.getvalue(), load_network)


# --- seed text ------------------------------------------------------------------------

SEED = (
    b"[layers]\n[3, 2, 3]\n\n[weights]\n[-0.75, 0.25, 0.5, -0.5, -0.25, 0.75]\n"
    b"[-0.75, 0.5, -0.25, 0.75, -0.5, 0.25]\n\n[biases]\n[0.0, 1.0]\n[0.75, 0.5, 0.25]\n\n"
    b"[alpha]\n0.2\n"
)


@BUDGET
@given(mutated(SEED))
def test_fuzz_seed_text(data):
    in_temp("fuzz-seed.txt", data, load_network)


# --- EMNIST zip -----------------------------------------------------------------------


def _emnist_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return emnist_zip(Path(folder) / "gzip.zip").read_bytes()


EMNIST = _emnist_bytes()


def load_emnist(path: Path) -> None:
    numrec.load_dataset("emnist", split="digits", data_dir=path, cache=False, progress=False)


@BUDGET
@given(mutated(EMNIST))
def test_fuzz_emnist_zip(data):
    in_temp("gzip.zip", data, load_emnist)
