"""Forward and backward passes over one block of rows (a shard of a mini-batch).

Conventions (the seed's): ``z = W @ a + b`` with ``W`` of shape (out, in); a block of
rows is a matrix ``A`` of shape (rows, in), so a layer computes ``Z = A @ W.T + b``.
All parameters live in one flat float32 vector ``theta``; layer ``l`` has its weights at
``theta[w_off[l]:]`` (out*in values, row-major) and its biases at ``theta[b_off[l]:]``.
The activations of a whole mini-batch live in one flat buffer: layer ``l`` (0 = input)
is a row-major (rows, sizes[l]) matrix at ``a_off[l]``, so a shard's rows are one
contiguous block of it. Deltas are computed per shard in a scratch buffer, then stored
transposed (sizes[l], rows) so that the weight gradient of any block of output units is
one contiguous matrix product over the whole batch.

Hidden derivatives are taken from the activation ``a`` rather than ``z`` (``a`` and
``z`` share a sign for (leaky) ReLU; tanh' = 1 - a^2, sigmoid' = a (1 - a)), so the
pre-activations never need to be stored.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .augment import augment_rows
from .blas import gemm
from .codes import INNER_JIT
from .random import absorb, draw, stream_key
from .structs import AugmentedNoise, DropoutNoise
from .variants import when

MASK16 = np.uint64(0xFFFF)
S16, S32, S48 = np.uint64(16), np.uint64(32), np.uint64(48)


@njit(**INNER_JIT)
def block(buf, offset, rows, cols):
    """The (rows, cols) matrix stored at ``buf[offset:]``: a view, no copy."""
    return buf[offset : offset + rows * cols].reshape((rows, cols))


@njit(**INNER_JIT)
def activate_row(z, b, hidden, alpha):
    """z <- f(z + b) in place for one row (or a block of one row's units) and a hidden
    activation code (see codes.HIDDEN). One plain loop per activation, so that each one
    vectorises."""
    zero, one = np.float32(0.0), np.float32(1.0)
    if hidden == 0:
        for j in range(z.size):
            v = z[j] + b[j]
            z[j] = v if v > 0 else alpha * v
    elif hidden == 1:
        for j in range(z.size):
            v = z[j] + b[j]
            z[j] = v if v > 0 else zero
    elif hidden == 2:
        for j in range(z.size):
            z[j] = math.tanh(z[j] + b[j])
    else:
        for j in range(z.size):
            z[j] = one / (one + math.exp(-(z[j] + b[j])))


@njit(**INNER_JIT)
def bias_hidden(Z, b, hidden, alpha):
    """Z <- f(Z + b) in place, row by row (``activate_row``)."""
    for i in range(Z.shape[0]):
        activate_row(Z[i], b, hidden, alpha)


@njit(**INNER_JIT)
def bias_output(Z, b, output):
    """Z <- softmax(Z + b) row by row (code 0), sigmoid(Z + b) (codes 1, 2), or Z + b
    (the linear outputs of regression, codes 3-5); see codes.OUTPUT."""
    rows, cols = Z.shape
    one = np.float32(1.0)
    for i in range(rows):
        if output == 0:
            # subtract the row maximum so exp never overflows
            zmax = Z[i, 0] + b[0]
            for j in range(cols):
                Z[i, j] += b[j]
                zmax = max(zmax, Z[i, j])
            total = np.float32(0.0)
            for j in range(cols):
                e = np.float32(math.exp(Z[i, j] - zmax))
                Z[i, j] = e
                total += e
            inv = one / total
            for j in range(cols):
                Z[i, j] *= inv
        elif output <= 2:
            for j in range(cols):
                Z[i, j] = one / (one + np.float32(math.exp(-(Z[i, j] + b[j]))))
        else:
            for j in range(cols):
                Z[i, j] += b[j]


@njit(**INNER_JIT)
def times_hidden_derivative(D, A, hidden, alpha):
    """D <- D * f'(z), with f' written in terms of a = f(z) (see the module docstring)."""
    rows, cols = D.shape
    one = np.float32(1.0)
    for i in range(rows):
        for j in range(cols):
            a = A[i, j]
            if hidden == 0:
                if a <= 0:
                    D[i, j] *= alpha
            elif hidden == 1:
                if a <= 0:
                    D[i, j] = np.float32(0.0)
            elif hidden == 2:
                D[i, j] *= one - a * a
            else:
                D[i, j] *= a * (one - a)


@njit(**INNER_JIT)
def mask_units(sample, drop, keep, u0, m):
    """m[i] <- 0 (dropped) or ``keep`` for unit u = u0 + i of one sample: unit u takes bits
    16 (u % 4) .. 16 (u % 4) + 15 of the sample's word u // 4, dropped below ``drop``. So
    a block of units gets exactly the masks that the whole row gives those units.

    Whole words are cut four units at a time and only a block's ragged ends unit by unit:
    per-unit tests of which word and lane a unit takes compiled to branches that a random
    mask mispredicts (1.8 against 0.2 us for 256 units at rate 0.5)."""
    cols = m.size
    zero = np.float32(0.0)
    i = 0
    lane = u0 & 3
    if lane:  # the first word's upper lanes
        word = draw(sample, u0 >> 2) >> np.uint64(16 * lane)
        while lane < 4 and i < cols:
            m[i] = zero if (word & MASK16) < drop else keep
            word = word >> S16
            lane += 1
            i += 1
    w = (u0 + i) >> 2
    while i + 4 <= cols:
        word = draw(sample, w)
        m[i] = zero if (word & MASK16) < drop else keep
        m[i + 1] = zero if ((word >> S16) & MASK16) < drop else keep
        m[i + 2] = zero if ((word >> S32) & MASK16) < drop else keep
        m[i + 3] = zero if (word >> S48) < drop else keep
        w += 1
        i += 4
    if i < cols:  # the last word's lower lanes
        word = draw(sample, w)
        while i < cols:
            m[i] = zero if (word & MASK16) < drop else keep
            word = word >> S16
            i += 1


@njit(**INNER_JIT)
def drop_units(Z, rate, stream, noise, ids):
    """Dropout of one layer's activations ``Z`` (rows x units) in place: unit j of the
    sample with global index ids[i] + noise.row_offset is zeroed when its random 16 bits
    fall below round(rate * 65536), else scaled by 1 / (1 - that / 65536) (inverted
    dropout: the expected activation is unchanged, inference needs no scaling)."""
    rows, cols = Z.shape
    drop = drop_threshold(rate)
    keep = np.float32(65536.0 / (65536 - drop))
    key = stream_key(noise.seed, noise.epoch, stream)
    m = np.empty(cols, dtype=np.float32)
    for i in range(rows):
        mask_units(absorb(key, ids[i] + noise.row_offset), drop, keep, 0, m)
        z = Z[i]
        for j in range(cols):  # a plain loop over the row: vectorised
            z[j] *= m[j]


@njit(**INNER_JIT)
def unit_range(block_index, n_blocks, n_units):
    """Units [lo, hi) of block ``block_index`` of ``n_blocks`` over a layer: equal blocks,
    each a multiple of 16 units but the last (whole cache lines of a row); empty past the
    end. A function of the layer and the block count alone."""
    size = -(-n_units // n_blocks)
    size = -(-size // 16) * 16
    lo = min(n_units, block_index * size)
    return lo, min(n_units, lo + size)


@njit(**INNER_JIT)
def hidden_units(theta, w_off, b_off, sizes, a_off, acts, layer, count, u0, u1, hidden, alpha,
                 noise, ids):  # fmt: skip
    """Units u0 .. u1-1 of hidden layer ``layer`` for all ``count`` rows of the batch: one
    product Z[:, u0:u1] = A_prev @ W[u0:u1].T (only these rows of W are packed, once per
    step, however many shards of rows the batch has), then bias, activation and dropout
    (``noise.dropout[layer - 1]``; ``ids``: the rows' indices into X) on that block."""
    n_in, n_out = sizes[layer - 1], sizes[layer]
    cols = u1 - u0
    if cols <= 0:
        return
    base = a_off[layer] + u0
    gemm(False, True, count, cols, n_in, 1.0, acts[a_off[layer - 1] :], n_in,
         theta[w_off[layer - 1] + u0 * n_in :], n_in, 0.0, acts[base:], n_out)  # fmt: skip
    b = theta[b_off[layer - 1] + u0 : b_off[layer - 1] + u1]
    for i in range(count):
        activate_row(acts[base + i * n_out : base + i * n_out + cols], b, hidden, alpha)
    drop_hidden_units(acts, base, n_out, count, u0, cols, layer, ids, noise)


@njit(**INNER_JIT)
def drop_unit_block(acts, base, n_out, count, u0, cols, layer, ids, noise):
    """Dropout of units u0 .. u0+cols-1 of hidden layer ``layer`` (at ``acts[base:]``,
    rows of n_out) for ``count`` rows, at the layer's rate ``noise.dropout[layer - 1]``."""
    rate = dropout_rate(noise, layer)
    if rate > 0:
        drop = drop_threshold(rate)
        keep = np.float32(65536.0 / (65536 - drop))
        key = stream_key(noise.seed, noise.epoch, layer)
        m = np.empty(cols, dtype=np.float32)
        for i in range(count):
            mask_units(absorb(key, ids[i] + noise.row_offset), drop, keep, u0, m)
            z = acts[base + i * n_out : base + i * n_out + cols]
            for j in range(cols):
                z[j] *= m[j]


drop_hidden_units = when(DropoutNoise, drop_unit_block)


@njit(**INNER_JIT)
def backprop_units(theta, w_off, sizes, a_off, acts, deltas_t, t_off, layer, count, v0, v1,
                   hidden, alpha, noise, ids):  # fmt: skip
    """Units v0 .. v1-1 of the deltas of layer ``layer - 1`` from those of ``layer``, for
    all ``count`` rows, in the transposed layout the weight gradient reads:
    delta^T_{l-1}[v0:v1] = (delta_l @ W_l[:, v0:v1])^T, times f'(a_{l-1}) and the dropout
    mask of layer l-1 (``times_kept_derivative``'s masks, by blocks of units).

    The product is taken with the rows of the batch as its columns, (count, cols) =
    delta_l (from its transpose) @ W_l[:, v0:v1], into a scratch block, then scaled row by
    row and stored transposed. Taken directly in the transposed layout, W_l[:, v0:v1]^T @
    delta^T_l, BLAS ran it 30-50 % slower (OpenBLAS, AMD EPYC, 1 thread: 1024 -> 1024
    units at 128 rows 7.9 against 5.1 ms; 2048 -> 2048 24-30 against 17-19 ms): the
    weights, the large operand, then stood where BLAS packs the small one."""
    n_prev, n_out = sizes[layer - 1], sizes[layer]
    cols = v1 - v0
    if cols <= 0:
        return
    C = np.empty(count * cols, dtype=np.float32)
    gemm(True, False, count, cols, n_out, 1.0, deltas_t[t_off[layer] :], count,
         theta[w_off[layer - 1] + v0 :], n_prev, 0.0, C, cols)  # fmt: skip
    rate = dropout_rate(noise, layer - 1)
    dropped = rate > 0
    one = np.float32(1.0)
    m = np.empty(cols, dtype=np.float32)
    for j in range(cols):
        m[j] = one
    drop, keep, unkeep, key = np.uint64(0), one, one, np.uint64(0)
    if dropped:
        drop = drop_threshold(rate)
        keep = np.float32(65536.0 / (65536 - drop))
        unkeep = np.float32((65536 - drop) / 65536.0)
        key = stream_key(noise.seed, noise.epoch, layer - 1)
    a0 = a_off[layer - 1] + v0
    for i in range(count):
        if dropped:
            units_mask(key, ids[i], drop, keep, v0, m, noise)
        a = acts[a0 + i * n_prev : a0 + i * n_prev + cols]
        times_masked_derivative(C[i * cols : (i + 1) * cols], a, m, hidden, alpha, unkeep)
    transpose_into(C, count, cols, deltas_t, t_off[layer - 1] + v0 * count)


TILE = 16  # rows per tile of a transpose: 16 floats, one cache line of each output row


@njit(**INNER_JIT)
def transpose_into(C, rows, cols, out, offset):
    """out[offset + j * rows + i] <- C[i * cols + j]: the (rows, cols) matrix C stored as
    its transpose. Tiles of 16 rows, so each output row gets a whole cache line at a time
    while the tile's 16 input rows stay in cache."""
    for i0 in range(0, rows, TILE):
        i1 = min(rows, i0 + TILE)
        for j in range(cols):
            base = offset + j * rows
            for i in range(i0, i1):
                out[base + i] = C[i * cols + j]


@njit(**INNER_JIT)
def sample_units_mask(key, sample, drop, keep, u0, m, noise):
    """m <- the dropout mask of units u0 .. u0+m.size-1 of the sample with index
    ``sample`` (+ noise.row_offset) of the stream keyed ``key``."""
    mask_units(absorb(key, sample + noise.row_offset), drop, keep, u0, m)


units_mask = when(DropoutNoise, sample_units_mask)


@njit(**INNER_JIT)
def dropout_rate(noise, layer):
    """The dropout rate of hidden layer ``layer`` (1 = the first; 0: no dropout there)."""
    h = layer - 1  # its index in noise.dropout, which may list fewer layers than the net
    return noise.dropout[h] if h < noise.dropout.size else np.float32(0.0)


@njit(**INNER_JIT)
def drop_threshold(rate):
    """The 16-bit threshold of a dropout rate: P(drop) = round(rate * 65536) / 65536."""
    return np.uint64(min(65535.0, math.floor(rate * 65536.0 + 0.5)))


@njit(**INNER_JIT)
def forward_block(theta, w_off, b_off, sizes, a_off, acts, row0, rows, hidden, output, alpha):
    """Run rows row0 .. row0+rows-1, whose inputs sit in layer 0 of ``acts``, through
    every layer (inference: ``kernels.infer``; training computes the hidden layers by
    blocks of units instead, ``hidden_units``). Layer l of ``acts`` is a row-major
    (rows_total, sizes[l]) matrix at ``a_off[l]``, so any run of rows is one contiguous
    block."""
    n_layers = len(sizes) - 1
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        A = block(acts, a_off[l] + row0 * n_in, rows, n_in)
        Z = block(acts, a_off[l + 1] + row0 * n_out, rows, n_out)
        W = block(theta, w_off[l], n_out, n_in)
        b = theta[b_off[l] : b_off[l] + n_out]
        np.dot(A, W.T, Z)
        if l < n_layers - 1:
            bias_hidden(Z, b, hidden, alpha)
        else:
            bias_output(Z, b, output)


@njit(**INNER_JIT)
def softmax_underflow(theta, w_off, b_off, sizes, a_off, acts, row0, rows, P, T, W):
    """What softmax cross-entropy lost to underflow, to add to ``output_delta``'s loss.

    The kernels take -log(max(p, 1e-30)) of the float32 probabilities, which saturates
    near 69 where a target's probability underflowed (a confident wrong answer, or a run
    that is diverging). Such rows - rare, so this costs a comparison per output otherwise
    - get their loss again from the logits in float64, as log-sum-exp(z) - sum(t z) (the
    value PyTorch's cross_entropy gives): the returned difference, weighted like the row.
    """
    L = len(sizes) - 1
    n_in, k = sizes[L - 1], sizes[L]
    tiny = 1e-30
    extra = 0.0
    weighted = W.size > 0
    z = np.empty(k)
    for i in range(rows):
        lost = False
        for j in range(k):
            if T[i, j] != 0 and P[i, j] < tiny:
                lost = True
        if not lost:
            continue
        a0 = a_off[L - 1] + (row0 + i) * n_in  # the row's last hidden activations
        for j in range(k):
            total = float(theta[b_off[L - 1] + j])
            w0 = w_off[L - 1] + j * n_in
            for q in range(n_in):
                total += float(theta[w0 + q]) * float(acts[a0 + q])
            z[j] = total
        # plain loops, not z.max() and np.exp(...).sum(): those overloads cost ~0.4 s of
        # the cold compile for a path that rare rows take
        zmax = z[0]
        for j in range(1, k):
            zmax = max(zmax, z[j])
        total = 0.0
        for j in range(k):
            total += math.exp(z[j] - zmax)
        lse = zmax + math.log(total)
        exact, saturated = 0.0, 0.0
        for j in range(k):
            t = T[i, j]
            if t != 0:
                exact += t * (lse - z[j])
                saturated -= t * math.log(max(P[i, j], tiny))
        extra += (exact - saturated) * W[i] if weighted else exact - saturated
    return extra


@njit(**INNER_JIT)
def output_delta(P, T, output, scale, D, W, delta):
    """The delta at the output (dC/dz, times ``scale`` and the row's weight) and the
    block's summed (weighted) loss; ``codes.OUTPUT`` says which PyTorch loss each pair is.

    softmax + cross-entropy and sigmoid + binary cross-entropy both give P - T;
    sigmoid + quadratic cost C = sum((a - y)^2) gives 2 (a - y) a (1 - a); the linear
    outputs (mean over the k outputs) give 2 (a - y) / k (mse), sign(a - y) / k (mae,
    0 at a = y as torch.sign) and, for Huber, (a - y) / k where |a - y| <= delta, else
    delta sign(a - y) / k.
    ``scale`` is 1/batch (or 1/the batch's summed weight) so that the summed shard
    gradients are the batch's (weighted) mean. ``W``: the rows' weights, or empty for 1.
    Returns (summed loss, each row's times its weight; number of rows whose arg-max
    matches the target's).
    """
    rows, cols = P.shape
    loss = 0.0
    correct = 0
    tiny = 1e-30
    one = np.float32(1.0)
    zero = np.float32(0.0)
    weighted = W.size > 0
    per_output = np.float32(1.0 / cols)  # the mean over outputs of the linear losses
    for i in range(rows):
        s = scale * W[i] if weighted else scale
        row = 0.0
        best_p, best_t = 0, 0
        for j in range(cols):
            p, t = P[i, j], T[i, j]
            if P[i, j] > P[i, best_p]:
                best_p = j
            if T[i, j] > T[i, best_t]:
                best_t = j
            if output == 0:
                if t != 0:
                    row -= t * math.log(max(p, tiny))
                D[i, j] = (p - t) * s
            elif output == 1:
                diff = p - t
                row += diff * diff
                D[i, j] = np.float32(2.0) * diff * p * (one - p) * s
            elif output == 2:
                row -= t * math.log(max(p, tiny)) + (1.0 - t) * math.log(max(1.0 - p, tiny))
                D[i, j] = (p - t) * s
            else:
                diff = p - t
                size = abs(diff)
                if output == 3:
                    row += diff * diff
                    g = np.float32(2.0) * diff
                elif output == 4:
                    row += size
                    g = one if diff > 0 else (-one if diff < 0 else zero)
                elif size <= delta:
                    row += np.float32(0.5) * diff * diff
                    g = diff
                else:
                    row += delta * (size - np.float32(0.5) * delta)
                    g = delta if diff > 0 else -delta
                D[i, j] = g * per_output * s
        if output >= 3:
            row /= cols
        loss += row * W[i] if weighted else row
        if best_p == best_t:
            correct += 1
    return loss, correct


@njit(**INNER_JIT)
def times_kept_derivative(D, A, hidden, alpha, rate, stream, noise, ids):
    """D <- D * mask * f'(z) for a layer with dropout, the mask (0 or keep) drawn again
    exactly as ``drop_units`` drew it. ``A`` holds the dropped-out activations (0, or
    a * keep): (leaky) ReLU's f' needs only their sign; tanh's and sigmoid's are taken
    at a = A / keep."""
    rows, cols = D.shape
    drop = drop_threshold(rate)
    keep = np.float32(65536.0 / (65536 - drop))
    unkeep = np.float32((65536 - drop) / 65536.0)
    key = stream_key(noise.seed, noise.epoch, stream)
    m = np.empty(cols, dtype=np.float32)
    for i in range(rows):
        mask_units(absorb(key, ids[i] + noise.row_offset), drop, keep, 0, m)
        times_masked_derivative(D[i], A[i], m, hidden, alpha, unkeep)


@njit(**INNER_JIT)
def times_masked_derivative(d, a, m, hidden, alpha, unkeep):
    """d <- d * m * f'(z) for one row (or a block of one row's units): ``m`` the dropout
    mask (0 or keep; all 1 without dropout), ``a`` the dropped-out activations, so
    tanh' and sigmoid' are taken at a * unkeep (the activation before dropout); (leaky)
    ReLU's needs only the sign. One plain loop per activation, so that each vectorises."""
    one = np.float32(1.0)
    if hidden == 0:
        for j in range(d.size):
            d[j] *= m[j] * (one if a[j] > 0 else alpha)
    elif hidden == 1:
        for j in range(d.size):
            d[j] *= m[j] if a[j] > 0 else np.float32(0.0)
    elif hidden == 2:
        for j in range(d.size):
            u = a[j] * unkeep
            d[j] *= m[j] * (one - u * u)
    else:
        for j in range(d.size):
            u = a[j] * unkeep
            d[j] *= m[j] * (u * (one - u))


@njit(**INNER_JIT)
def kept_derivative(D, A, hidden, alpha, layer, ids, noise):
    """D <- D * f'(z) of hidden layer ``layer`` (rows of A), times its dropout mask
    when it has a dropout rate."""
    rate = dropout_rate(noise, layer)
    if rate > 0:
        times_kept_derivative(D, A, hidden, alpha, rate, layer, noise, ids)
    else:
        times_hidden_derivative(D, A, hidden, alpha)


@njit(**INNER_JIT)
def plain_derivative(D, A, hidden, alpha, layer, ids, noise):
    """D <- D * f'(z) (an epoch without dropout)."""
    times_hidden_derivative(D, A, hidden, alpha)


times_derivative = when(DropoutNoise, kept_derivative, plain_derivative)


@njit(**INNER_JIT)
def store_transposed(deltas, d_off, sizes, row0, rows, batch, deltas_t, t_off, lowest=1):
    """Copy this block's deltas of layers ``lowest`` and up into the batch-wide transposed
    deltas: layer l's (sizes[l], batch) matrix at ``t_off[l]``, columns row0 ..
    row0+rows-1."""
    for l in range(lowest, len(sizes)):
        D = block(deltas, d_off[l], rows, sizes[l])
        DT = block(deltas_t, t_off[l], sizes[l], batch)
        for j in range(sizes[l]):
            for i in range(rows):
                DT[j, row0 + i] = D[i, j]


@njit(**INNER_JIT)
def weight_gradient(w_off, b_off, sizes, a_off, acts, t_off, deltas_t, batch, layer, r0, r1, grad):
    """Rows r0 .. r1-1 of layer ``layer``'s weight and bias gradients, summed over the
    whole batch in one product: dW[r0:r1] = delta^T[r0:r1] @ A_prev, db[r0:r1] = row sums.
    Each gradient element is computed by exactly one call, the same way whatever the
    thread count: this is what makes training reproducible without reduction buffers."""
    n_in = sizes[layer - 1]
    DT = block(deltas_t, t_off[layer] + r0 * batch, r1 - r0, batch)
    A = block(acts, a_off[layer - 1], batch, n_in)
    np.dot(DT, A, block(grad, w_off[layer - 1] + r0 * n_in, r1 - r0, n_in))
    for j in range(r1 - r0):
        total = np.float32(0.0)
        for i in range(batch):
            total += DT[j, i]
        grad[b_off[layer - 1] + r0 + j] = total


@njit(**INNER_JIT)
def gather(X, rows, start, count, scale, A0, noise=None):
    """A0[i] <- X[rows[start + i]] * scale: uint8 images become float32 in [0, 1] here,
    one mini-batch at a time, so no float copy of the data set ever exists.

    Training passes ``noise`` (a ``structs.Noise``): each image is then augmented on the
    way (``kernels.augment``) and the inputs go through dropout at noise.input_dropout
    (stream 0). Inference leaves it out and compiles without either."""
    scale_inputs(X, rows, start, count, scale, A0, noise)
    drop_inputs(A0, rows, start, count, noise)


@njit(**INNER_JIT)
def scale_rows(X, rows, start, count, scale, A0, noise):
    """A0[i] <- X[rows[start + i]] * scale (``noise`` unused: rows not augmented)."""
    n_in = X.shape[1]
    for i in range(count):
        r = rows[start + i]
        for j in range(n_in):
            A0[i, j] = np.float32(X[r, j]) * scale


@njit(**INNER_JIT)
def input_dropout(A0, rows, start, count, noise):
    """Dropout of the inputs A0[:count] at noise.input_dropout (stream 0)."""
    if noise.input_dropout > 0:
        drop_units(A0[:count], noise.input_dropout, 0, noise, rows[start : start + count])


# inference (noise None) and epochs without augmentation or dropout compile neither
scale_inputs = when(AugmentedNoise, augment_rows, scale_rows)
drop_inputs = when(DropoutNoise, input_dropout)


@njit(**INNER_JIT)
def onehot(y, rows, start, count, T, smoothing):
    """T[i] <- the one-hot row of label y[rows[start + i]], label-smoothed as PyTorch's
    ``cross_entropy(label_smoothing=eps)``: (1 - eps) onehot + eps / k (eps = 0: one-hot).
    The label stays the row's largest target (eps < 1), so accuracy still counts it."""
    k = T.shape[1]
    off = np.float32(smoothing / k)
    on = np.float32(1.0 - smoothing) + off
    T[:count] = off
    for i in range(count):
        T[i, y[rows[start + i]]] = on


@njit(**INNER_JIT)
def copy_rows(Y, rows, start, count, T):
    """T[i] <- Y[rows[start + i]] (target rows given directly, e.g. soft targets).
    An explicit loop: a slice assignment would compile numba's broadcasting, whose error
    messages alone took ~4 s of the cold compile."""
    cols = T.shape[1]
    for i in range(count):
        r = rows[start + i]
        for j in range(cols):
            T[i, j] = Y[r, j]


@njit(**INNER_JIT)
def row_weights(w, rows, start, count, out):
    """out[i] <- w[rows[start + i]], the per-row weights of a block (none when w is empty:
    every row weighs 1)."""
    if w.size:
        for i in range(count):
            out[i] = w[rows[start + i]]
