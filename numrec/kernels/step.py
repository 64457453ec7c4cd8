"""The compiled training step and loop: many mini-batches per call, no Python per batch.

A mini-batch takes two passes, each a few parallel loops:

1. Forward and deltas (``batch_deltas``). The rows are gathered in shards (a size that
   depends on the batch size and the machine's core count only, ``codes.shard_size``).
   Each hidden layer is then computed for the whole batch at once, its units cut into as
   many blocks as there are shards: a thread packs only its block of the weights, and
   every weight is packed once per step rather than once per shard (1-thread CPU per
   sample against every shard running every layer, alternated: 784-256-10 batch 32
   -14 %, batch 64 -12 %, batch 512 unchanged; 784-512-256-10 -5 %, 784-1024-1024-10
   -6 %). The output layer, the loss and the deltas of the output and last hidden layer
   go shard by shard again (softmax needs whole rows; that layer is small); the deltas of
   lower hidden layers block by block of units, transposed. All deltas end up in
   batch-wide transposed buffers.
2. Blocks of parameters (a plan that depends on the layer sizes only, ``task_plan``):
   each task computes the weight and bias gradients of a block of output units summed
   over the whole batch - one matrix product with the batch as its inner dimension - and
   applies the optimizer to that block at once, while it is still in cache.

Every gradient element is computed by one task in one fixed order, so the trained weights
are bit-identical whatever the number of threads, and no per-thread gradient buffers
need to be reduced (the reduction happens inside the matrix product, over the batch).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .codes import INNER_JIT, JIT, PARALLEL_INLINE, PARALLEL_JIT
from .layers import (
    backprop_units,
    bias_output,
    block,
    copy_rows,
    gather,
    hidden_units,
    onehot,
    output_delta,
    row_weights,
    softmax_underflow,
    store_transposed,
    times_derivative,
    unit_range,
    weight_gradient,
)
from .structs import Noise, OptimizerArgs
from .threads import thread_count

TASK_PARAMS = 131072  # weights per gradient/update task (16384 was ~25 % slower than 65536)
MIN_TASK_ROWS = 256  # output units per gradient task in a wide layer (see task_plan)
GRADIENT_ONLY = -1  # optimizer code: compute the gradient, update nothing


def task_plan(sizes) -> np.ndarray:
    """(layer, first row, end row) blocks of output units covering every layer: each layer
    in equal blocks of at most about TASK_PARAMS weights, but in no more blocks than
    it has MIN_TASK_ROWS units (2 at least), and an even number of blocks for layers of at
    least half of TASK_PARAMS weights. Fewer, larger blocks mean fewer copies of the activations
    packed by BLAS; a function of the layer sizes alone.

    The row minimum is for wide layers: a block's product has the batch as its inner
    dimension, short next to the layer's width, and BLAS reached its rate only from about
    256 rows of output (1 thread, batch 128, OpenBLAS on AMD EPYC: 1024 x 1024 in blocks
    of 128 rows 52 GFLOP/s, of 256 57; 2048 x 2048 in blocks of 64 rows 45, of 256 57).
    Whole steps, 2 threads, alternated in one process against the plan without it (12
    rounds): 784-512-10 batch 64 +14 % (2 blocks of 256 rows for 4 of 128), batch 512
    +4.5 %, 1 thread +5.7 %; 784-512-256-10 batch 128 +3.5 %; 784-1024-1024-10 +4.9 %;
    784-2048-2048-10 +2.8 %.

    Largest blocks first: each goes to the thread with the least work so far
    (``gradient_tasks``). (Split into contiguous runs instead, as numba's prange does, the
    5 tasks of 784-256-10 went 3 large ones to one thread, 1 and a tiny one to the other.)
    Measured against blocks of 65,536 weights, alternated: +4-5 % at batch 64 and ~+5 % at
    batch 512 (784-256-10), +7 % for 784-512-256-10 at batch 128, on 2 threads. The price:
    784-256 has 2 blocks, so pass 2 of that network keeps at most 2 cores busy."""
    tasks = []
    for layer in range(1, len(sizes)):
        n_in, n_out = sizes[layer - 1], sizes[layer]
        n_tasks = -(-(n_in * n_out) // TASK_PARAMS)
        n_tasks = min(n_tasks, max(2, n_out // MIN_TASK_ROWS))
        if n_tasks % 2 and n_in * n_out >= TASK_PARAMS // 2:
            n_tasks += 1  # an even number of large tasks: two threads (or four) share them
        n_tasks = min(n_out, n_tasks)
        rows = -(-n_out // n_tasks)
        tasks += [(layer, r, min(n_out, r + rows)) for r in range(0, n_out, rows)]
    tasks.sort(key=lambda t: -sizes[t[0] - 1] * (t[2] - t[1]))  # stable: ties keep order
    return np.array(tasks, dtype=np.int64)


@njit(**JIT)
def update_range(theta, grad, lo, hi, lr, opt, m, v, step):
    """One optimizer step for theta[lo:hi] with gradient grad[lo:hi].

    opt: a ``structs.OptimizerArgs``; see codes.OPTIMIZERS.
    momentum/nesterov keep v <- mu v - lr g (Sutskever et al. 2013, the seed's form);
    with a constant learning rate this equals PyTorch's SGD(momentum=mu[, nesterov]).
    L2 weight decay is added to the gradient; AdamW decays the weights directly.
    One plain loop per optimizer, so that each one vectorises.
    """
    code, mu, beta1, beta2, eps, wd = opt
    lr32, mu32, wd32 = np.float32(lr), np.float32(mu), np.float32(wd)
    # Slices, then loops from 0: with indices from ``lo`` numba must wrap negative ones
    # around (a cmov per access), and LLVM kept the loop scalar - measured, a quarter of
    # the whole step at batch 64. From 0, the indices are known non-negative.
    th, g = theta[lo:hi], grad[lo:hi]
    n = hi - lo
    if code == 0:
        for i in range(n):
            th[i] -= lr32 * (g[i] + wd32 * th[i])
        return
    vel = m[lo:hi]
    if code == 1:
        for i in range(n):
            vel[i] = mu32 * vel[i] - lr32 * (g[i] + wd32 * th[i])
            th[i] += vel[i]
    elif code == 2:
        for i in range(n):
            gi = g[i] + wd32 * th[i]
            vel[i] = mu32 * vel[i] - lr32 * gi
            th[i] += mu32 * vel[i] - lr32 * gi
    else:
        sq = v[lo:hi]
        b1, b2, eps32 = np.float32(beta1), np.float32(beta2), np.float32(eps)
        one = np.float32(1.0)
        # Adam's bias corrections (Kingma & Ba, algorithm 1)
        c1 = np.float32(1.0 - beta1**step)
        c2 = np.float32(math.sqrt(1.0 - beta2**step))
        decay = one - lr32 * wd32 if code == 4 else one  # AdamW: theta *= 1 - lr wd
        l2 = np.float32(0.0) if code == 4 else wd32  # Adam: L2 in the gradient
        for i in range(n):
            gi = g[i] + l2 * th[i]
            vel[i] = b1 * vel[i] + (one - b1) * gi
            sq[i] = b2 * sq[i] + (one - b2) * gi * gi
            th[i] = decay * th[i] - lr32 * (vel[i] / c1) / (np.sqrt(sq[i]) / c2 + eps32)


@njit(**INNER_JIT)
def shard_inputs(k, X, rows, start, count, scale, plan, ws, noise):
    """Shard ``k`` of rows[start:start+count]: its inputs gathered into layer 0 (augmented,
    and with input dropout, as ``noise`` says)."""
    a_off, size = plan.a_off, plan.shard_rows
    n_in = X.shape[1]
    row0 = k * size
    n = min(size, count - row0)
    gather(X, rows, start + row0, n, scale, block(ws.acts, a_off[0] + row0 * n_in, n, n_in),
           noise)  # fmt: skip


@njit(**INNER_JIT)
def shard_output(k, y, Y, rows, start, count, inv, net, fn, plan, ws, w, noise):
    """Shard ``k`` of rows[start:start+count], once every hidden layer is computed: the
    output layer, the output delta (times ``inv`` and each row's weight) and its loss,
    and the deltas of the last hidden layer (the output layer is small: its weights are
    cheap to pack once per shard); both stored transposed. Returns (summed loss,
    correct). ``noise`` (``structs.Noise``): the epoch's dropout."""
    theta, w_off, b_off, sizes = net
    hidden, output, alpha, delta, smoothing = fn
    a_off, d_off, t_off, tasks, size = plan
    acts, deltas, deltas_t, targets, grad = ws
    L = len(sizes) - 1
    row0 = k * size
    n = min(size, count - row0)
    first = start + row0
    ids = rows[first : first + n]
    T = targets[k]
    if y.size:
        onehot(y, rows, first, n, T, smoothing)
    else:
        copy_rows(Y, rows, first, n, T)
    W = np.empty(n if w.size else 0, dtype=np.float32)
    row_weights(w, rows, first, n, W)
    n_in, n_out = sizes[L - 1], sizes[L]
    A = block(acts, a_off[L - 1] + row0 * n_in, n, n_in)
    P = block(acts, a_off[L] + row0 * n_out, n, n_out)
    W_out = block(theta, w_off[L - 1], n_out, n_in)
    np.dot(A, W_out.T, P)
    bias_output(P, theta[b_off[L - 1] : b_off[L - 1] + n_out], output)
    D = deltas[k]
    D_out = block(D, d_off[L], n, n_out)
    loss, correct = output_delta(P, T[:n], output, inv, D_out, W, delta)
    if output == 0:  # softmax: the loss of rows whose target probability underflowed
        loss += softmax_underflow(theta, w_off, b_off, sizes, a_off, acts, row0, n, P, T[:n], W)
    if L >= 2:
        D_prev = block(D, d_off[L - 1], n, n_in)
        np.dot(D_out, W_out, D_prev)
        times_derivative(D_prev, A, hidden, alpha, L - 1, ids, noise)
    store_transposed(D, d_off, sizes, row0, n, count, deltas_t, t_off, max(1, L - 1))
    return loss, correct


@njit(**INNER_JIT)
def layer_units(j, blocks, layer, count, rows, start, net, fn, plan, ws, noise):
    """Block ``j`` of ``blocks`` of hidden layer ``layer``'s units, for all ``count`` rows
    (``layers.hidden_units``)."""
    lo, hi = unit_range(j, blocks, net.sizes[layer])
    hidden_units(net.theta, net.w_off, net.b_off, net.sizes, plan.a_off, ws.acts, layer, count,
                 lo, hi, fn.hidden, fn.alpha, noise, rows[start : start + count])  # fmt: skip


@njit(**INNER_JIT)
def delta_units(j, blocks, layer, count, rows, start, net, fn, plan, ws, noise):
    """Block ``j`` of ``blocks`` of layer ``layer - 1``'s deltas from layer ``layer``'s, for
    all ``count`` rows (``layers.backprop_units``)."""
    lo, hi = unit_range(j, blocks, net.sizes[layer - 1])
    backprop_units(net.theta, net.w_off, net.sizes, plan.a_off, ws.acts, ws.deltas_t, plan.t_off,
                   layer, count, lo, hi, fn.hidden, fn.alpha, noise,
                   rows[start : start + count])  # fmt: skip


@njit(**PARALLEL_INLINE)
def batch_deltas(X, y, Y, rows, start, count, total, scale, net, fn, plan, ws, w, noise):
    """Pass 1 for rows[start:start+count]: forward and deltas. The loss is averaged over
    ``total`` (a float): the rows' count, or with weights ``w`` (one per row of X; empty:
    every row weighs 1) their summed weight, for a whole batch; more when these rows are
    one process's part of a batch shared out among processes (``numrec.distributed``).

    Rows are gathered shard by shard; each hidden layer is then computed for all rows at
    once, its units split into as many blocks as there are shards (each thread packs only
    its block of the weights, once per step, rather than every weight once per shard);
    the output layer and its deltas shard by shard; the deltas of the hidden layers below
    block by block of units again. Shards and blocks depend on the batch size and the
    machine's core count alone, so the arithmetic does not depend on the thread count.

    Targets are the one-hot rows of labels ``y`` or, when ``y`` is empty, the rows of
    ``Y``. net, plan, ws and noise: ``structs.Params``, ``Plan``, ``Workspace`` and
    ``Noise``. Returns (summed loss, each row's times its weight; correct).
    """
    size = plan.shard_rows
    n_shards = (count + size - 1) // size
    inv = np.float32(1.0 / total)
    L = len(net.sizes) - 1
    for k in prange(n_shards):
        # np.int64(k): the loop index is int64 when first typed but uint64 inside the
        # outlined parallel body, which would compile the callee twice (~2 s)
        shard_inputs(np.int64(k), X, rows, start, count, scale, plan, ws, noise)
    for layer in range(1, L):
        for j in prange(n_shards):
            layer_units(np.int64(j), n_shards, layer, count, rows, start, net, fn, plan, ws, noise)
    # np.empty, not np.zeros: in a parallel function np.zeros becomes a parallel loop of
    # its own (a second gufunc to compile); every element is written below anyway
    losses = np.empty(n_shards)
    corrects = np.empty(n_shards, dtype=np.int64)
    for k in prange(n_shards):
        losses[k], corrects[k] = shard_output(
            np.int64(k), y, Y, rows, start, count, inv, net, fn, plan, ws, w, noise
        )
    for layer in range(L - 1, 1, -1):
        for j in prange(n_shards):
            delta_units(np.int64(j), n_shards, layer, count, rows, start, net, fn, plan, ws, noise)
    loss = 0.0
    correct = 0
    for k in range(n_shards):  # in shard order, not completion order
        loss += losses[k]
        correct += corrects[k]
    return loss, correct


@njit(**INNER_JIT)
def gradient_tasks(w, workers, count, net, plan, ws, lr, opt, m, v, step):
    """Worker ``w``'s part of pass 2: the plan's tasks are dealt out largest first, each
    to the worker with the least work so far (every worker deals alike, so they agree);
    a task is the gradient of one block of output units (tasks[t]), updated at once
    unless ``opt.code == GRADIENT_ONLY``. Which worker runs a task changes nothing in its
    result."""
    theta, w_off, b_off, sizes = net
    a_off, d_off, t_off, tasks, size = plan
    acts, deltas, deltas_t, targets, grad = ws
    load = np.zeros(workers, dtype=np.int64)
    for t in range(tasks.shape[0]):
        layer, r0, r1 = tasks[t, 0], tasks[t, 1], tasks[t, 2]
        n_in = sizes[layer - 1]
        least = 0
        for q in range(1, workers):
            if load[q] < load[least]:
                least = q
        load[least] += (r1 - r0) * n_in
        if least != w:
            continue
        weight_gradient(
            w_off, b_off, sizes, a_off, acts, t_off, deltas_t, count, layer, r0, r1, grad
        )
        if opt.code != GRADIENT_ONLY:
            w0 = w_off[layer - 1]
            update_range(theta, grad, w0 + r0 * n_in, w0 + r1 * n_in, lr, opt, m, v, step)
            b0 = b_off[layer - 1]
            update_range(theta, grad, b0 + r0, b0 + r1, lr, opt, m, v, step)


@njit(**PARALLEL_INLINE)
def gradient_and_update(count, net, plan, ws, lr, opt, m, v, step):
    """Pass 2: the batch's gradient block by block, each block updated right away
    (``opt.code == GRADIENT_ONLY``: only the gradient, left in ws.grad). One worker per
    thread, each taking its share of the tasks (numba's prange would hand each thread
    one contiguous run of them, however unequal their sizes)."""
    workers = min(thread_count(), plan.tasks.shape[0])
    for w in prange(workers):
        # np.int64(w): see batch_deltas
        gradient_tasks(np.int64(w), workers, count, net, plan, ws, lr, opt, m, v, step)


@njit(**INNER_JIT)
def weight_sum(w, rows, start, count):
    """The summed weight of rows[start:start+count] (float64, in row order); their count
    when ``w`` is empty. A batch of weight 0 counts as 1: its gradient is 0, not NaN."""
    if not w.size:
        return float(count)
    total = 0.0
    for i in range(count):
        total += w[rows[start + i]]
    return total if total > 0 else 1.0


@njit(**PARALLEL_JIT)
def train_batches(X, y, perm, first, count, batch, lrs, scale, net, fn, plan, opt, state, ws, Y, w,
                  noise):  # fmt: skip
    """Train on mini-batches first .. first+count-1 of the epoch order ``perm``
    (``lrs[b]`` is the learning rate of batch first+b; X rows are multiplied by ``scale``).

    Targets: the labels ``y``, or when ``y`` is empty the target rows ``Y``; ``w``: a
    weight per row of X, or empty (every row weighs 1): each batch's loss and gradient
    are then sum(w_i l_i) / sum(w_i) over its rows.
    state: a ``structs.OptimizerState`` (step: a one-element int64 array, Adam's t);
    noise: a ``structs.Noise``, the epoch's dropout and augmentation (``NO_NOISE``: none).
    Returns (summed loss, correct, samples seen, batches done, finite): training stops
    before the update of the first batch whose loss is not finite. The summed loss is
    each batch's (weighted) mean loss times its rows.
    """
    m, v, step = state
    n = perm.size
    loss_sum = 0.0
    correct = 0
    seen = 0
    for b in range(count):
        start = (first + b) * batch
        rows = min(batch, n - start)
        total = weight_sum(w, perm, start, rows)
        loss, hits = batch_deltas(
            X, y, Y, perm, start, rows, total, scale, net, fn, plan, ws, w, noise
        )
        if w.size:
            loss *= rows / total  # the batch's weighted mean, times its rows
        if not math.isfinite(loss):
            return loss_sum, correct, seen, b, False
        step[0] += 1
        gradient_and_update(rows, net, plan, ws, lrs[b], opt, m, v, step[0])
        loss_sum += loss
        correct += hits
        seen += rows
    return loss_sum, correct, seen, count, True


# --- the gradient alone (Network.gradients) and data-parallel training (numrec.distributed:
# the gradient, the sum across processes from MPI, then apply_update)

NO_TARGETS = np.zeros((0, 1), dtype=np.float32)  # targets come from the labels
NO_LABELS = np.zeros(0, dtype=np.int64)  # targets are given as rows
NO_WEIGHTS = np.zeros(0, dtype=np.float32)  # every row weighs 1
# the optimizer arguments of a gradient-only pass: the code says "no update", the rest
# only fixes the argument types (those of Optimizer.kernel_args, so the cache is shared)
GRADIENT_ONLY_OPT = OptimizerArgs(GRADIENT_ONLY, 0.0, 0.0, 0.0, 0.0, 0.0)
# no dropout, no augmentation (the field types are those numrec.noise builds, so the
# compiled code is shared)
NO_NOISE = Noise(0, 0, 0, np.zeros(0, dtype=np.float32), 0.0, 0, 0.0, 0.0, 0.0, 0.0, False, 0, 0, 0)


def batch_gradient(
    X, y, Y, rows, start, count, total, scale, net, fn, plan, ws, w=NO_WEIGHTS, noise=None
):
    """The gradient of rows[start:start+count] summed and divided by ``total`` into ws.grad
    (zero for no rows), nothing updated; targets from the labels ``y`` or, when ``y`` is
    empty, the rows of ``Y``, rows weighted by ``w`` when it is not empty (as
    batch_deltas). With ``total`` the whole batch's size (or summed weight), the parts of
    several processes add up to the batch's (weighted) mean gradient. Returns (summed
    loss, each row's times its weight; correct). ``noise``: the epoch's dropout and
    augmentation (default none).

    A Python function calling the two compiled passes one by one, not a compiled caller
    of both: that would compile both passes again (a cached callee cannot be linked into
    a new caller), about 13 s on first use.
    """
    if count == 0:
        ws.grad[:] = 0.0
        return 0.0, 0
    noise = NO_NOISE if noise is None else noise
    loss, hits = batch_deltas(
        X, y, Y, rows, start, count, float(total), scale, net, fn, plan, ws, w, noise
    )
    gradient_and_update(count, net, plan, ws, 0.0, GRADIENT_ONLY_OPT, ws.grad, ws.grad, 0)
    return loss, hits


@njit(**PARALLEL_JIT)
def apply_update(theta, grad, lr, opt, m, v, step):
    """The optimizer step for all of theta, in blocks of TASK_PARAMS across threads.
    Element-wise, so the result does not depend on the blocks."""
    n = theta.size
    for t in prange((n + TASK_PARAMS - 1) // TASK_PARAMS):
        lo = t * TASK_PARAMS
        update_range(theta, grad, lo, min(n, lo + TASK_PARAMS), lr, opt, m, v, step)
