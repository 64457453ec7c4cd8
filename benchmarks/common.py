"""Shared pieces of the benchmarks: the data, timing helpers and table printing.

Every benchmark runs numrec and its competitors in one process, alternating runs so that
a noisy neighbour slows both alike, and reports medians and ratios - never a single run.
"""

from __future__ import annotations

import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np

FASHION = Path(os.environ.get("NUMREC_FASHION", "/usr/share/datasets/fashion-mnist"))


def _idx(path: Path, header: int) -> np.ndarray:
    return np.frombuffer(gzip.open(path).read(), np.uint8, offset=header)


def fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train uint8 (60000, 784), y_train, X_test, y_test) from Debian's package."""
    if not FASHION.is_dir():
        raise SystemExit(
            f"Fashion-MNIST not found in {FASHION}: apt-get install dataset-fashion-mnist "
            "(or set NUMREC_FASHION to a folder with the four IDX .gz files)"
        )
    X = _idx(FASHION / "train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    y = _idx(FASHION / "train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    Xt = _idx(FASHION / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    yt = _idx(FASHION / "t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return X, y, Xt, yt


def dataset(X, y, Xt=None, yt=None):
    """A numrec.Dataset of these arrays (no test rows unless given)."""
    import numrec

    if Xt is None:
        Xt, yt = X[:0], y[:0]
    return numrec.Dataset("fashion", numrec.Split(X, y), numrec.Split(Xt, yt), list("0123456789"))


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(values) -> float:
    return float(statistics.median(values))


def table(rows: list[list[str]], header: list[str]) -> str:
    """A GitHub-flavoured Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        + [line(r) for r in rows]
    )
