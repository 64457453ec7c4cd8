"""Parallel, compiled inference: the forward pass over many rows, in fixed blocks, with
the training kernels' arithmetic (``Network.forward``, ``predict``, ``evaluate``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .codes import INNER_JIT, PARALLEL_JIT
from .layers import block, forward_block, gather

BLOCK = 256  # rows per task; fixed, so results do not depend on the thread count


@njit(**INNER_JIT)
def forward_rows(X, lo, rows, scale, net, fn, a_off, out):
    """out[lo:lo+rows] <- the network's output for those rows of X."""
    theta, w_off, b_off, sizes = net
    hidden, output, alpha = fn.hidden, fn.output, fn.alpha
    L = len(sizes) - 1
    acts = np.empty(a_off[L + 1], dtype=np.float32)
    # a zero that is not the literal 0: a literal argument would compile gather and
    # forward_block once more, for Literal[int](0)
    zero = lo - lo
    ids = np.empty(rows, dtype=np.int64)  # a loop, not np.arange: its overload cost ~0.4 s
    for i in range(rows):  # of the cold compile
        ids[i] = lo + i
    gather(X, ids, zero, rows, scale, block(acts, a_off[0], rows, sizes[0]))
    forward_block(theta, w_off, b_off, sizes, a_off, acts, zero, rows, hidden, output, alpha)
    P = block(acts, a_off[L], rows, sizes[L])
    for i in range(rows):
        for j in range(sizes[L]):
            out[lo + i, j] = P[i, j]


@njit(**PARALLEL_JIT)
def forward_all(X, scale, net, fn, out):
    """out[i] <- the network's output for X[i] (uint8 rows are scaled by ``scale``)."""
    sizes = net.sizes
    n = X.shape[0]
    L = len(sizes) - 1
    # per-block layout of the activations: layer l at a_off[l], room for BLOCK rows
    a_off = np.empty(L + 2, dtype=np.int64)  # not np.zeros: that would be a parallel loop
    a_off[0] = 0
    for l in range(L + 1):
        a_off[l + 1] = a_off[l] + BLOCK * sizes[l]
    for c in prange((n + BLOCK - 1) // BLOCK):
        lo = c * BLOCK
        forward_rows(X, lo, min(BLOCK, n - lo), scale, net, fn, a_off, out)
