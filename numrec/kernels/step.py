"""The compiled training loop: many mini-batches per call, no Python per batch.

Per mini-batch: the rows are split into shards by a plan that depends on the batch size
only (``codes.shard_size``); each shard gathers its rows, runs forward and backward on
its own thread and writes its gradient into its own buffer ``grads[k]``; then the
buffers are summed in the fixed order k = 0, 1, ... while the optimizer updates the
parameters (in parallel over parameter chunks). Every number is computed the same way
whatever the thread count, so training is bit-reproducible (stumpy's ``stump`` uses the
same pattern of per-thread buffers and a serial, fixed-order reduction).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .codes import JIT, MAX_SHARDS, MIN_SHARD, PARALLEL_JIT
from .layers import block, gather, onehot, shard_gradient

CHUNK = 4096  # parameters per task in the reduce/update pass


@njit(**JIT)
def shard_plan(batch):
    """(rows per shard, number of shards) for a batch: a function of ``batch`` alone."""
    size = max(MIN_SHARD, (batch + MAX_SHARDS - 1) // MAX_SHARDS)
    return size, (batch + size - 1) // size


@njit(**JIT)
def update_chunk(theta, grads, n_shards, lo, hi, lr, opt, m, v, step):
    """Sum the shard gradients of theta[lo:hi] in shard order and apply one optimizer step.

    opt = (code, momentum, beta1, beta2, eps, weight_decay); see codes.OPTIMIZERS.
    momentum/nesterov keep v <- mu v - lr g (Sutskever et al. 2013, the seed's form);
    with a constant learning rate this equals PyTorch's SGD(momentum=mu[, nesterov]).
    """
    code, mu, beta1, beta2, eps, wd = opt
    lr32 = np.float32(lr)
    mu32 = np.float32(mu)
    wd32 = np.float32(wd)
    b1, b2 = np.float32(beta1), np.float32(beta2)
    eps32 = np.float32(eps)
    # Adam's bias corrections, folded into one step size (Kingma & Ba, section 2)
    c1 = np.float32(1.0 - beta1**step)
    c2 = np.float32(math.sqrt(1.0 - beta2**step))
    for i in range(lo, hi):
        g = grads[0, i]
        for k in range(1, n_shards):
            g += grads[k, i]
        if code == 4:
            theta[i] -= lr32 * wd32 * theta[i]  # AdamW: decay decoupled from the gradient
        else:
            g += wd32 * theta[i]  # L2 weight decay as part of the gradient
        if code == 0:
            theta[i] -= lr32 * g
        elif code == 1:
            m[i] = mu32 * m[i] - lr32 * g
            theta[i] += m[i]
        elif code == 2:
            m[i] = mu32 * m[i] - lr32 * g
            theta[i] += mu32 * m[i] - lr32 * g
        else:
            m[i] = b1 * m[i] + (np.float32(1.0) - b1) * g
            v[i] = b2 * v[i] + (np.float32(1.0) - b2) * g * g
            theta[i] -= lr32 * (m[i] / c1) / (np.float32(math.sqrt(v[i])) / c2 + eps32)


@njit(**PARALLEL_JIT)
def reduce_update(theta, grads, n_shards, lr, opt, m, v, step):
    """Fixed-order reduction of the shard gradients fused with the optimizer update."""
    n = theta.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo = c * CHUNK
        update_chunk(theta, grads, n_shards, lo, min(n, lo + CHUNK), lr, opt, m, v, step)


@njit(**PARALLEL_JIT)
def batch_gradients(X, y, rows, start, count, scale, net, fn, ws):
    """The mean gradient of rows[start:start+count] into the shard buffers ws[3][:k].

    net = (theta, w_off, b_off, sizes, a_off); fn = (hidden, output, alpha);
    ws = (acts, deltas, targets, grads), each (MAX_SHARDS, ...). Returns
    (summed loss, correct count, number of shards used).
    """
    theta, w_off, b_off, sizes, a_off = net
    acts, deltas, targets, grads = ws
    size, n_shards = shard_plan(count)
    inv = np.float32(1.0 / count)
    losses = np.zeros(n_shards)
    corrects = np.zeros(n_shards, dtype=np.int64)
    for k in prange(n_shards):
        lo = start + k * size
        rows_k = min(size, start + count - lo)
        gather(X, rows, lo, rows_k, scale, block(acts[k], a_off[0], rows_k, sizes[0]))
        onehot(y, rows, lo, rows_k, targets[k])
        losses[k], corrects[k] = shard_gradient(
            theta, w_off, b_off, sizes, a_off, acts[k], deltas[k], targets[k], rows_k, fn,
            inv, grads[k],
        )
    # summed in shard order, not in completion order
    loss = 0.0
    correct = 0
    for k in range(n_shards):
        loss += losses[k]
        correct += corrects[k]
    return loss, correct, n_shards


@njit(**JIT)
def train_batches(X, y, perm, first, count, batch, lrs, scale, net, fn, opt, state, ws):
    """Train on mini-batches first .. first+count-1 of the epoch order ``perm``
    (``lrs[b]`` is the learning rate of batch first+b; X rows are multiplied by ``scale``).

    state = (m, v, step) with step a one-element int64 array (Adam's t).
    Returns (summed loss, correct, samples seen, batches done, finite): training stops
    before the update of the first batch whose loss is not finite.
    """
    theta = net[0]
    m, v, step = state
    grads = ws[3]
    n = perm.size
    loss_sum = 0.0
    correct = 0
    seen = 0
    for b in range(count):
        start = (first + b) * batch
        rows = min(batch, n - start)
        loss, hits, n_shards = batch_gradients(X, y, perm, start, rows, scale, net, fn, ws)
        if not math.isfinite(loss):
            return loss_sum, correct, seen, b, False
        step[0] += 1
        reduce_update(theta, grads, n_shards, lrs[b], opt, m, v, step[0])
        loss_sum += loss
        correct += hits
        seen += rows
    return loss_sum, correct, seen, count, True
