"""Small builders shared by the engine tests: tiny data sets and networks."""

from __future__ import annotations

import numpy as np

import numrec


def blobs(n=200, features=12, classes=3, seed=0, dtype=np.uint8, test=60):
    """A learnable toy problem: class-dependent means plus noise, as uint8 or float32."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n + test)
    centres = rng.uniform(40, 215, (classes, features))
    X = np.clip(centres[y] + rng.normal(0, 25, (n + test, features)), 0, 255)
    X = X.astype(np.uint8) if dtype == np.uint8 else (X / 255).astype(np.float32)
    names = [f"c{i}" for i in range(classes)]
    return numrec.Dataset("blobs", numrec.Split(X[:n], y[:n]), numrec.Split(X[n:], y[n:]), names)
