"""A counter-based random number generator for the compiled kernels (dropout masks and
augmentations), so that every random number is a pure function of what it is for.

A number is ``mix64(key + (counter + 1) * GAMMA)``: the output number ``counter`` of
Steele, Lea and Flood's SplitMix64 (2014) started at ``key``, reached directly instead of
by stepping. The key is a hash of (seed, epoch, stream, sample): the stream says which
use it is for (input dropout, dropout of hidden layer l, augmentation), the sample is the
row's GLOBAL index in the training split. So a mask or an augmentation does not depend
on which thread draws it, on how a batch is cut into shards, on how the rows are shared
out among MPI ranks, or on where a run was interrupted and resumed: the same (seed,
epoch, sample) always gets the same numbers, and each epoch new ones.

All arithmetic is on unsigned 64-bit integers, which wrap (numba, like C); mixing them
with signed ones would make numba compute in float64, so every value is cast first.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .codes import INNER_JIT, JIT

GAMMA = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, odd: SplitMix64's increment
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
S30, S27, S31 = np.uint64(30), np.uint64(27), np.uint64(31)
ONE = np.uint64(1)

# streams: dropout of layer l (0 = the input) is stream l; augmentation its own
AUGMENT_STREAM = 0x617567  # "aug"
INV_2_24 = np.float32(1.0 / (1 << 24))


@njit(**INNER_JIT)
def mix64(z):
    """SplitMix64's finaliser (Stafford's variant 13): a bijection of 64-bit words whose
    every output bit depends on every input bit."""
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    return z ^ (z >> S31)


@njit(**INNER_JIT)
def absorb(key, word):
    """A new key from ``key`` and one more word (an int64 or uint64)."""
    return mix64(key + (np.uint64(word) + ONE) * GAMMA)


@njit(**INNER_JIT)
def stream_key(seed, epoch, stream):
    """The key of one use of random numbers in one epoch of one run."""
    return absorb(absorb(absorb(np.uint64(0), seed), epoch), stream)


@njit(**INNER_JIT)
def draw(key, counter):
    """Random 64-bit word number ``counter`` of the sequence ``key`` (a sample's key)."""
    return mix64(key + (np.uint64(counter) + ONE) * GAMMA)


@njit(**INNER_JIT)
def uniform(key, counter):
    """A float32 uniform on [0, 1), a multiple of 2^-24 (the word's top 24 bits)."""
    return np.float32(draw(key, counter) >> np.uint64(40)) * INV_2_24


@njit(**JIT)
def uniforms(seed, epoch, stream, sample, n):
    """``n`` uniforms of one sample's sequence, as the kernels draw them (for tests and
    scripts: the kernels call ``uniform`` directly)."""
    key = absorb(stream_key(seed, epoch, stream), sample)
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        out[i] = uniform(key, i)
    return out


@njit(**JIT)
def words(seed, epoch, stream, sample, n):
    """``n`` raw 64-bit words of one sample's sequence (for tests)."""
    key = absorb(stream_key(seed, epoch, stream), sample)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = draw(key, i)
    return out


@njit(**JIT)
def stream_key_of(seed, epoch, stream):
    """``stream_key`` from Python (for tests)."""
    return stream_key(seed, epoch, stream)
