"""Synchronous data-parallel training over MPI ranks: the ``MpiSteps`` strategy.

Every rank holds the whole network and the same optimizer state. The sample order of an
epoch is the permutation a single process would use (it depends on the seed and the
epoch only), so the global mini-batches are the same whatever the number of ranks. The
training rows are split into contiguous shares, one per rank (``mpi.partition``), and
each rank reads only its share: with a memory-mapped source (an uncompressed IDX file,
the CSV parse cache) the other rows are never read at all.

One step of a global batch of B rows:

1. each rank computes, with the compiled engine, the gradient of the rows of the batch
   that fall in its share, summed and divided by B (``kernels.step.batch_gradient``);
2. one in-place MPI Allreduce sums the flat float32 gradient buffer over the ranks; two
   extra slots at its end carry the batch's loss sum and correct count, so the metrics
   and the divergence check ride along and every rank decides the same;
3. every rank applies the same optimizer update (``kernels.step.apply_update``).

So the model equals a single process's within float rounding: only the order in which
the batch's per-row gradients are added differs. How many rows of a batch fall in one
share varies from batch to batch (binomially around B / ranks), which costs a little
balance at small batches and buys exactness and reading only one's own rows.

The trainer (``numrec.training.Trainer``) is the same as for one process; this strategy
tells it which rows are this rank's, computes each batch's gradient and exchanges it.
Evaluation is shared the same way (each rank scores its share of the validation and test
splits, and the sums are added), and a stop request (Ctrl-C, SIGTERM) seen by any rank stops all of
them after the same batch, so rank 0's checkpoint is the state of every rank.
"""

from __future__ import annotations

import math

import numpy as np

from .kernels.step import apply_update, batch_gradient
from .mpi import Comm, as_comm, partition
from .network import Network
from .runtime import compile_notice, hide_compile_notices, max_threads
from .training import ChunkResult


class MpiSteps:
    """One rank of a data-parallel job on ``comm`` (an mpi4py communicator or a
    ``numrec.mpi.Comm`` of two or more ranks); every rank trains with the same
    arguments. Rank 0 alone shows progress and calls the plugins' training hooks. The
    weights and the metrics are the same on every rank; the timings ("seconds",
    "samples_per_s") are each rank's own."""

    def __init__(self, comm) -> None:
        comm = as_comm(comm)
        if comm is None:
            raise ValueError("data-parallel training needs a communicator of two or more ranks")
        self.comm: Comm = comm
        self.is_root = comm.is_root
        self.ranks = comm.size
        self.exchange = np.zeros(0, dtype=np.float32)
        if not comm.is_root:
            hide_compile_notices()  # rank 0 says it, once for all

    def share(self, n: int) -> tuple[int, int]:
        """This rank's contiguous rows [lo, hi) of a split of ``n`` rows."""
        return partition(n, self.comm.size, self.comm.rank)

    def thread_count(self, requested: int | None) -> int | None:
        # ranks on one machine share its cores: by default each takes its part of them
        if requested is not None:
            return requested
        return max(1, max_threads() // self.comm.local_size)

    def workspace(self, net: Network, batch: int):
        # the gradient, then the loss sum and the correct count: one Allreduce for all;
        # sized for the whole batch, since any batch may fall wholly in one rank's share
        self.exchange = np.zeros(net.n_params + 2, dtype=np.float32)
        return net.workspace(batch, grad=self.exchange[: net.n_params])

    def warm_up(self, t) -> None:
        # the passes this strategy calls (not the whole-loop train_batches)
        if len(t.X) < 1:
            raise ValueError(
                f"the training split has {len(t.train_rows)} samples, too few for the "
                f"{self.comm.size} ranks: every rank needs at least one"
            )
        ws = self.workspace(t.net, 1)
        rows = np.zeros(1, dtype=np.int64)  # one real row: the passes compile and run
        with compile_notice("data-parallel training"):
            batch_gradient(t.X, t.y, t.Y, rows, 0, 1, 1, t.scale, t.net.params(),
                           t.codes, t.net.plan(1), ws, noise=t.noise(0))  # fmt: skip
            apply_update(t.net.theta[:0], ws.grad[:0], 0.0, t.optimizer.kernel_args(),
                         t.m[:0], t.v[:0], 1)  # fmt: skip

    def epoch_rows(self, t, order: np.ndarray):
        """This rank's rows of the epoch order (local indices) and where each global batch
        begins among them: batch b is rows[starts[b]:starts[b + 1]]."""
        everyone = t.train_rows[order]
        lo = t.row_offset
        mine = (everyone >= lo) & (everyone < lo + len(t.X))
        rows = everyone[mine] - lo
        batch_starts = np.arange(0, len(everyone), t.batch_size)
        counts = np.add.reduceat(mine.astype(np.int64), batch_starts)
        return rows, np.concatenate([[0], np.cumsum(counts)])

    def stop_signal(self, local: int) -> int:
        return self.comm.allreduce_max(local, "stop request")

    def train_chunk(self, t, perm, count: int, lrs, plan, ws) -> ChunkResult:
        rows, starts = perm
        net, opt, comm = t.net, t.optimizer.kernel_args(), self.comm
        params, codes = net.params(), t.codes
        noise = t.noise(t.epoch)  # keyed by global row indices: the masks of one process
        exchange, p = self.exchange, net.n_params
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(count):
            b = t.batch + i
            total = min(t.batch_size, t.n_samples - b * t.batch_size)
            first, last = int(starts[b]), int(starts[b + 1])
            loss, hits = batch_gradient(
                t.X, t.y, t.Y, rows, first, last - first, total, t.scale, params,
                codes, plan, ws, noise=noise,
            )  # fmt: skip
            exchange[p], exchange[p + 1] = loss, hits
            comm.allreduce_sum(exchange)
            loss, hits = float(exchange[p]), int(round(float(exchange[p + 1])))
            if not math.isfinite(loss):  # the same sum on every rank: all stop here
                return ChunkResult(loss_sum, correct, seen, i, False)
            t.step[0] += 1
            apply_update(net.theta, ws.grad, lrs[i], opt, t.m, t.v, int(t.step[0]))
            loss_sum += loss
            correct += hits
            seen += total
        return ChunkResult(loss_sum, correct, seen, count, True)

    def sum(self, values: np.ndarray, what: str = "") -> np.ndarray:
        self.comm.allreduce_sum(values, what)
        return values
