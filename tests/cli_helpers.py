"""Helpers for the tests that drive numrec's console scripts: in subprocesses (``run``) or
in this process through their ``main(argv)`` (``run_main``, the fast way for error cases).

Every run gets its own empty data cache (NUMREC_DATA), loads no outside plugin, and
cannot reach the internet: NUMREC_MIRROR and the HTTP(S) proxies point at a closed local
port, so a download fails at once with "connection refused" (never a hang).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MNIST_T10K = SHARED / "data" / "mnist-t10k"
SEED_MODEL = SHARED / "seed" / "number_recognition-accurate-model.txt"
CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens here
TIMEOUT = 300  # seconds; a cold numba compile of the training kernels takes about a minute


def script(name: str) -> str:
    """The console script ``name`` installed next to this Python (else on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"console script {name} is not installed; run: pip install -e .")
    return found


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMREC_")}
    env.update(
        NUMREC_DATA=str(tmp_path / "numrec-data"),
        NUMREC_LOAD_PLUGINS="",
        NUMREC_MIRROR=CLOSED_PORT,
        http_proxy=CLOSED_PORT,
        https_proxy=CLOSED_PORT,
        HTTP_PROXY=CLOSED_PORT,
        HTTPS_PROXY=CLOSED_PORT,
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="120",
        PYTHONWARNINGS="",
    )
    env.update(extra)
    return env


def run(name: str, *args, env: dict, cwd: Path | None = None, timeout: float = TIMEOUT):
    """Run console script ``name`` with ``args``; the CompletedProcess (text)."""
    return subprocess.run(
        [script(name), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# console script -> the module whose main(argv) it calls
MAIN_MODULES = {
    "numrec-train": "numrec.cli.train",
    "numrec-eval": "numrec.cli.evaluate",
    "numrec-predict": "numrec.cli.predict",
    "numrec-datasets": "numrec.cli.datasets",
}


@dataclass
class Result:
    """What ``run_main`` saw: the shape of subprocess.CompletedProcess that tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_main(name: str, *args, capsys) -> Result:
    """Call console script ``name``'s ``main(argv)`` in this process and capture its output.

    For the environment a subprocess would get, use the ``cli_inprocess`` fixture
    (conftest.py) first. A SystemExit (argparse's --help) becomes its exit status.
    """
    main = importlib.import_module(MAIN_MODULES[name]).main
    capsys.readouterr()  # drop what came before
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return Result(code, out, err)


def assert_usage_error(result, *fragments: str) -> str:
    """Exit status 2, no traceback, and one error line holding every fragment."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def write_csv(path: Path, rows: int, features: int = 12, seed: int = 0) -> Path:
    """A learnable 3-class CSV: label,f0..fN with integer features 0..255."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(rows, features))
    y = (X[:, 0] > X[:, 1]).astype(int) + (X[:, 2] > 128)
    header = "label," + ",".join(f"f{i}" for i in range(features))
    lines = [header] + [f"{label}," + ",".join(map(str, row)) for label, row in zip(y, X)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_idx_digits(folder: Path, train: int, test: int, seed: int = 0) -> Path:
    """A folder of the four MNIST IDX files (uncompressed) holding noisy synthetic 28x28
    "digits": class c is a bright bar in row band c on random background speckle."""
    from numrec.idx import write_idx

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        X = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for c in range(10):
            X[y == c, 2 + 2 * c : 4 + 2 * c, 4:24] = 220
        write_idx(folder / f"{prefix}-images-idx3-ubyte", X)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y)
    return folder


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mnist_t10k():
    """(X (n, 784) uint8, y) of the real MNIST test set, or skip where it is absent."""
    images = MNIST_T10K / "t10k-images-idx3-ubyte.gz"
    labels = MNIST_T10K / "t10k-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        pytest.skip(f"the MNIST test set is not at {MNIST_T10K} (see ../shared/data/README.md)")
    from numrec.idx import read_image_label_pair

    X, y = read_image_label_pair(images, labels)
    return X.reshape(len(X), -1), y


def seed_model_path() -> Path:
    if not SEED_MODEL.is_file():
        pytest.skip(f"the seed's model file is not at {SEED_MODEL}")
    return SEED_MODEL
