"""Parallel, compiled inference: the forward pass over many rows, and the mean gradient
of a whole array (``Network.gradients``), both with the training kernels' arithmetic."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .codes import JIT, PARALLEL_JIT
from .layers import block, copy_rows, forward_block, gather, shard_gradient
from .step import shard_plan

BLOCK = 256  # rows per task; fixed, so results do not depend on the thread count


@njit(**PARALLEL_JIT)
def forward_all(X, scale, net, fn, out):
    """out[i] <- the network's output for X[i] (uint8 rows are scaled by ``scale``)."""
    theta, w_off, b_off, sizes, a_off_unused = net
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
        forward_block(theta, w_off, b_off, sizes, a_off, acts, rows, hidden, output, alpha)
        out[lo : lo + rows] = block(acts, a_off[L], rows, sizes[L])


@njit(**PARALLEL_JIT)
def mean_gradient(X, Y, scale, net, fn, ws):
    """The gradient averaged over all rows of X with target rows Y, summed over shards
    in order into ws[3][0]; returns (mean loss, correct count)."""
    theta, w_off, b_off, sizes, a_off = net
    acts, deltas, targets, grads = ws
    n = X.shape[0]
    size, n_shards = shard_plan(n)
    rows_all = np.arange(n)
    inv = np.float32(1.0 / n)
    losses = np.zeros(n_shards)
    corrects = np.zeros(n_shards, dtype=np.int64)
    for k in prange(n_shards):
        lo = k * size
        rows = min(size, n - lo)
        gather(X, rows_all, lo, rows, scale, block(acts[k], a_off[0], rows, sizes[0]))
        copy_rows(Y, rows_all, lo, rows, targets[k])
        losses[k], corrects[k] = shard_gradient(
            theta, w_off, b_off, sizes, a_off, acts[k], deltas[k], targets[k], rows, fn, inv,
            grads[k],
        )
    for k in range(1, n_shards):
        grads[0] += grads[k]
    return losses.sum() / n, corrects.sum()
