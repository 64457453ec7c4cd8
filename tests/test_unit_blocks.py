"""The pieces of the training step that split a layer's units into blocks: the strided
BLAS product (against numpy in float64), the blocks themselves, the tiled transpose that
stores a block's deltas, the dropout masks of a block of units (against the documented
bits of the sample's words), and the gradient of a deep, wide network at a batch of
several shards (against a float64 numpy backprop)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import numrec
from numrec.kernels.blas import gemm
from numrec.kernels.codes import shard_size
from numrec.kernels.layers import mask_units, transpose_into, unit_range
from numrec.kernels.random import draw


@njit
def _gemm(ta, tb, m, n, k, alpha, A, a0, lda, B, b0, ldb, beta, C, c0, ldc):
    gemm(ta, tb, m, n, k, alpha, A[a0:], lda, B[b0:], ldb, beta, C[c0:], ldc)


def _strided(buf, offset, shape, ld):
    return np.lib.stride_tricks.as_strided(buf[offset:], shape=shape, strides=(ld * 4, 4))


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_is_numpys_product_on_strided_blocks_and_leaves_the_rest(trans_a, trans_b):
    rng = np.random.default_rng(int(trans_a) * 2 + int(trans_b))
    m, n, k, lda, ldb, ldc = 9, 7, 5, 11, 13, 17
    A, B = rng.standard_normal((2, 300)).astype(np.float32)
    C = rng.standard_normal(400).astype(np.float32)
    a0, b0, c0 = 2, 3, 4
    opA = _strided(A, a0, (k, m) if trans_a else (m, k), lda)
    opB = _strided(B, b0, (n, k) if trans_b else (k, n), ldb)
    opA, opB = (opA.T if trans_a else opA), (opB.T if trans_b else opB)
    want = 0.5 * (opA.astype(np.float64) @ opB) + 2.0 * _strided(C, c0, (m, n), ldc)
    got = C.copy()
    _gemm(trans_a, trans_b, m, n, k, np.float32(0.5), A, a0, lda, B, b0, ldb, np.float32(2.0),
          got, c0, ldc)  # fmt: skip
    np.testing.assert_allclose(_strided(got, c0, (m, n), ldc), want, rtol=1e-5, atol=1e-5)
    outside = np.ones(C.size, dtype=bool)
    for i in range(m):
        outside[c0 + i * ldc : c0 + i * ldc + n] = False
    assert np.array_equal(got[outside], C[outside])


@njit
def _unit_range(j, blocks, n_units):
    return unit_range(j, blocks, n_units)  # compiled-only (no Python entry point)


@pytest.mark.parametrize("n_units", [1, 5, 16, 17, 24, 70, 256, 1000])
@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_unit_blocks_cover_the_layer_once_in_whole_cache_lines(n_units, blocks):
    ranges = [_unit_range(j, blocks, n_units) for j in range(blocks)]
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
    assert np.array_equal(covered, np.arange(n_units))
    for lo, hi in ranges:
        assert lo == hi == n_units or (lo % 16 == 0 and (hi % 16 == 0 or hi == n_units))


@njit
def _transpose_into(C, rows, cols, out, offset):
    transpose_into(C, rows, cols, out, offset)


@pytest.mark.parametrize("rows,cols", [(1, 1), (15, 3), (16, 16), (17, 5), (40, 33), (128, 7)])
def test_transpose_into_stores_the_transpose_and_leaves_the_rest(rows, cols):
    C = np.random.default_rng(rows * cols).standard_normal(rows * cols).astype(np.float32)
    out = np.full(rows * cols + 10, -1.0, dtype=np.float32)
    _transpose_into(C, rows, cols, out, 3)
    assert np.array_equal(out[3 : 3 + rows * cols].reshape(cols, rows), C.reshape(rows, cols).T)
    assert (out[:3] == -1).all() and (out[3 + rows * cols :] == -1).all()


@njit
def _mask_and_words(sample, drop, keep, u0, u1):
    part = np.empty(u1 - u0, dtype=np.float32)
    mask_units(sample, drop, keep, u0, part)
    words = np.empty((u1 + 3) // 4, dtype=np.uint64)
    for w in range(words.size):
        words[w] = draw(sample, w)
    return part, words


def _row_mask(words, drop, keep, cols):
    """The documented layout, in numpy: unit j is dropped when bits 16 (j % 4) ..
    16 (j % 4) + 15 of word j // 4 fall below ``drop``."""
    j = np.arange(cols)
    bits = (words[j // 4] >> (16 * (j % 4)).astype(np.uint64)) & np.uint64(0xFFFF)
    return np.where(bits < drop, np.float32(0), keep).astype(np.float32)


@pytest.mark.parametrize(
    "u0,u1", [(0, 37), (0, 4), (0, 3), (1, 2), (3, 9), (2, 4), (16, 37), (5, 36), (36, 37)]
)
def test_a_block_of_units_draws_the_masks_of_the_whole_row(u0, u1):
    drop, keep = np.uint64(30000), np.float32(1.8)
    for sample in (np.uint64(1), np.uint64(0xDEADBEEF12345)):
        part, words = _mask_and_words(sample, drop, keep, u0, u1)
        row = _row_mask(words, drop, keep, u1)
        assert np.array_equal(part, row[u0:u1])
        assert set(np.unique(part)) <= {0.0, np.float32(1.8)}
        assert 0 < np.count_nonzero(row) < u1 or u1 - u0 < 8  # both values drawn


@pytest.mark.parametrize("hidden", ["leaky_relu", "relu", "tanh", "sigmoid"])
def test_gradient_of_a_deep_wide_network_over_several_shards_matches_float64(hidden):
    sizes, n = [50, 70, 40, 33, 6], 100
    assert -(-n // shard_size(n, 2)) == 2  # two shards: two blocks of units per layer
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    net = numrec.Network(sizes, hidden=hidden, alpha=0.1, seed=2)
    dW, db = net.gradients(X, y)

    f = {"leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
         "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
         "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[hidden]  # fmt: skip
    df = {"leaky_relu": lambda z: np.where(z > 0, 1.0, 0.1),
          "relu": lambda z: (z > 0).astype(float),
          "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "sigmoid": lambda z: f(z) * (1 - f(z))}[hidden]  # fmt: skip
    W = [w.astype(np.float64) for w in net.weights]
    b = [v.astype(np.float64) for v in net.biases]
    A, Z = [X.astype(np.float64)], []
    for l in range(len(W)):
        Z.append(A[-1] @ W[l].T + b[l])
        if l < len(W) - 1:
            A.append(f(Z[-1]))
        else:
            e = np.exp(Z[-1] - Z[-1].max(1, keepdims=True))
            A.append(e / e.sum(1, keepdims=True))
    delta = (A[-1] - np.eye(sizes[-1])[y]) / n
    for l in range(len(W) - 1, -1, -1):
        np.testing.assert_allclose(dW[l], delta.T @ A[l], rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(db[l], delta.sum(0), rtol=1e-3, atol=1e-6)
        if l:
            delta = (delta @ W[l]) * df(Z[l - 1])
