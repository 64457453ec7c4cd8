"""Parallel, compiled inference: the forward pass over many rows, in fixed blocks, with
the training kernels' arithmetic (``Network.forward``, ``predict``, ``evaluate``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .codes import PARALLEL_JIT
from .layers import block, forward_block, gather

BLOCK = 256  # rows per task; fixed, so results do not depend on the thread count


@njit(**PARALLEL_JIT)
def forward_all(X, scale, net, fn, out):
    """out[i] <- the network's output for X[i] (uint8 rows are scaled by ``scale``)."""
    theta, w_off, b_off, sizes = net
    hidden, output, alpha = fn
    n = X.shape[0]
    L = len(sizes) - 1
    # per-block layout of the activations: layer l at a_off[l], room for BLOCK rows
    a_off = np.zeros(L + 2, dtype=np.int64)
    for l in range(L + 1):
        a_off[l + 1] = a_off[l] + BLOCK * sizes[l]
    rows_all = np.arange(n)
    for c in prange((n + BLOCK - 1) // BLOCK):
        lo = c * BLOCK
        rows = min(BLOCK, n - lo)
        acts = np.empty(a_off[L + 1], dtype=np.float32)
        gather(X, rows_all, lo, rows, scale, block(acts, a_off[0], rows, sizes[0]))
        forward_block(theta, w_off, b_off, sizes, a_off, acts, 0, rows, hidden, output, alpha)
        out[lo : lo + rows] = block(acts, a_off[L], rows, sizes[L])
