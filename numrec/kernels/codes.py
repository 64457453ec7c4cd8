"""Integer codes that select activations, output/loss pairs and optimizers inside kernels,
and the one place where the Numba compilation flags are chosen."""

from __future__ import annotations

import os

# fastmath without nnan/ninf: softmax and log legitimately meet inf (exp overflow, log 0),
# and the NaN check on the loss must not be optimised away.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH)
PARALLEL_JIT = dict(JIT, parallel=True)
# Helpers called only from compiled code need no Python entry point (CPython and C
# wrappers): their machine code is smaller and compiles faster.
INNER_JIT = dict(JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True)
# A parallel function called from another parallel function is inlined into it (at
# Numba's IR level, before the parallel loops are outlined). Called from Python it is
# compiled on its own as usual. Otherwise the caller links and re-optimises the whole
# compiled callee, parallel wrappers included, and its cold compile takes seconds longer.
PARALLEL_INLINE = dict(PARALLEL_JIT, inline="always")
# Without fastmath: code whose rounding must not depend on how LLVM optimises it. With
# reassociation allowed, the augmentation's pixels differed in the last bit between
# the run that compiled it and later runs that loaded it from the cache (1,102 of
# 10,800 values, measured): the weights of a first run were not those of the next.
EXACT_JIT = dict(JIT, fastmath=False)
EXACT_INNER_JIT = dict(INNER_JIT, fastmath=False)

HIDDEN = {"leaky_relu": 0, "relu": 1, "tanh": 2, "sigmoid": 3}
# (output activation, loss) -> code; the delta at the output is derived for each pair
# (kernels.layers.output_delta), and each loss equals a PyTorch loss (docs: the losses):
#   0 softmax + cross-entropy   CrossEntropyLoss() on the logits (mean over rows)
#   1 sigmoid + quadratic       the seed's C = sum_j (a_j - y_j)^2: MSELoss(reduction="sum")
#                               on the sigmoid outputs, divided by the rows
#   2 sigmoid + binary CE       BCEWithLogitsLoss(reduction="sum") / rows, i.e. the outputs
#                               times BCEWithLogitsLoss() (multi-label)
#   3 linear + mse              MSELoss() (mean over rows and outputs)
#   4 linear + mae              L1Loss() (mean over rows and outputs)
#   5 linear + huber            HuberLoss(delta=delta) (mean over rows and outputs)
# With per-row weights w every one of them becomes sum_i w_i l_i / sum_i w_i, l_i the
# row's loss as above (CrossEntropyLoss(weight=...)'s convention).
OUTPUT = {
    ("softmax", "cross_entropy"): 0,
    ("sigmoid", "mse"): 1,
    ("sigmoid", "cross_entropy"): 2,
    ("linear", "mse"): 3,
    ("linear", "mae"): 4,
    ("linear", "huber"): 5,
}
LINEAR_OUTPUTS = (3, 4, 5)  # output codes whose outputs are the affine values themselves
OPTIMIZERS = {"sgd": 0, "momentum": 1, "nesterov": 2, "adam": 3, "adamw": 4}

# The shard size depends on the batch size and the machine's core count only - never on
# the thread count - so the floating-point work, and hence the trained weights, are the
# same whatever the number of threads. Larger shards amortise BLAS's packing of the
# weight matrices (once per shard and layer) over more rows; more shards keep more cores
# busy, so there are no more shards than cores (measured on 2 cores: batch 512 in 2
# shards of 256 rows was 8 % faster than in 4 of 128). At batch 32, two shards of 16
# rows pack the weights twice but keep both cores busy: 784-256-10 on 2 threads went
# from 118.8k to 144.6k samples/s (one shard of 32 rows: 1 thread 95.7k, 2 threads only
# 1.24x that).
MIN_SHARD = 16
TWO_SHARDS_UP_TO = 64  # rows per shard while a batch is still cut in two
MAX_SHARDS = 4
CORES = os.cpu_count() or 1  # the machine's, not affinity or NUMBA_NUM_THREADS: both vary


def shard_size(batch: int, cores: int = CORES) -> int:
    """Rows per shard for a mini-batch of ``batch`` rows on a machine with ``cores``
    cores: at least 16 rows, two shards of up to 64 rows, then as many as there are
    cores, at most four. (784-512-256-10 at batch 128 packed its weights 4 times per
    step with 32-row shards: 30 % of the step was packing.)"""
    most = max(1, min(MAX_SHARDS, cores))
    return max(MIN_SHARD, min(TWO_SHARDS_UP_TO, -(-batch // 2)), -(-batch // most))
