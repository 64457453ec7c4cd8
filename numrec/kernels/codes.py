"""Integer codes that select activations, output/loss pairs and optimizers inside kernels,
and the one place where the Numba compilation flags are chosen."""

from __future__ import annotations

# fastmath without nnan/ninf: softmax and log legitimately meet inf (exp overflow, log 0),
# and the NaN check on the loss must not be optimised away.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
JIT = dict(nogil=True, cache=True, fastmath=FASTMATH)
PARALLEL_JIT = dict(JIT, parallel=True)

HIDDEN = {"leaky_relu": 0, "relu": 1, "tanh": 2, "sigmoid": 3}
# (output activation, loss) -> code; the delta at the output is derived for each pair
OUTPUT = {
    ("softmax", "cross_entropy"): 0,
    ("sigmoid", "mse"): 1,
    ("sigmoid", "cross_entropy"): 2,
}
OPTIMIZERS = {"sgd": 0, "momentum": 1, "nesterov": 2, "adam": 3, "adamw": 4}

# The shard size depends on the batch size only - never on the thread count - so the
# floating-point work, and hence the trained weights, are the same whatever the number
# of threads. Larger shards amortise BLAS's packing of the weight matrix over more rows;
# more shards keep more cores busy.
MIN_SHARD = 32
MAX_SHARDS = 4


def shard_size(batch: int) -> int:
    """Rows per shard for a mini-batch of ``batch`` rows (a pure function of ``batch``)."""
    return max(MIN_SHARD, -(-batch // MAX_SHARDS))
