"""Synchronous data-parallel training over MPI ranks: ``DistributedTrainer``.

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

Evaluation is shared the same way (each rank scores its share of the test split, and
the sums are added), and a stop request (Ctrl-C, SIGTERM) seen by any rank stops all of
them after the same batch, so rank 0's checkpoint is the state of every rank.
"""

from __future__ import annotations

import math

import numpy as np

from .dataset import Dataset, Split
from .kernels.step import NO_TARGETS, apply_update, batch_gradient
from .mpi import Comm, as_comm, partition
from .network import Network
from .runtime import compile_notice, hide_compile_notices, max_threads
from .training import Trainer


class DistributedTrainer(Trainer):
    """A ``Trainer`` that is one rank of a data-parallel job on ``comm`` (an mpi4py
    communicator or a ``numrec.mpi.Comm`` of two or more ranks); run it on every rank
    with the same arguments. Rank 0 alone shows progress (``progress`` is ignored on the
    others). The weights and the metrics in ``history`` are the same on every rank; its
    timings ("seconds", "samples_per_s") are each rank's own."""

    def __init__(self, net: Network, dataset, *, comm, **options) -> None:
        comm = as_comm(comm)
        if comm is None:
            raise ValueError("DistributedTrainer needs a communicator of two or more ranks")
        self.comm: Comm = comm
        n, ranks = len(dataset.train), comm.size
        if n < ranks:
            raise ValueError(
                f"the training split has {n} samples, fewer than the {ranks} ranks: "
                "every rank needs at least one"
            )
        self._n_global, self._n_test_global = n, len(dataset.test)
        self.share = partition(n, ranks, comm.rank)  # [lo, hi) of the training rows
        self.test_share = partition(len(dataset.test), ranks, comm.rank)
        options["progress"] = options.get("progress", True) and comm.is_root
        if not comm.is_root:
            hide_compile_notices()  # rank 0 says it, once for all
        super().__init__(net, _share_of(dataset, self.share, self.test_share), **options)

    @property
    def n_samples(self) -> int:
        return self._n_global

    @property
    def n_test(self) -> int:
        return self._n_test_global

    def _thread_count(self) -> int | None:
        # ranks on one machine share its cores: by default each takes its part of them
        if self.threads is not None:
            return self.threads
        return max(1, max_threads() // self.comm.local_size)

    def _workspace(self, batch: int):
        # the gradient, then the loss sum and the correct count: one Allreduce for all
        self._exchange = np.zeros(self.net.n_params + 2, dtype=np.float32)
        # sized for the whole batch: any batch may fall wholly in one rank's share
        return self.net._plan(batch, grad=self._exchange[: self.net.n_params])

    def _compile_training(self) -> None:
        # the passes this trainer calls (not Trainer's whole-loop train_batches)
        plan, ws = self._workspace(1)
        rows = np.zeros(1, dtype=np.int64)  # one real row: the passes compile and run
        with compile_notice("data-parallel training"):
            batch_gradient(self.X, self.y, NO_TARGETS, rows, 0, 1, 1, self.scale,
                           self.net._net(), self.net._fn(), plan, ws)  # fmt: skip
            apply_update(self.net.theta[:0], ws[4][:0], 0.0, self.optimizer.kernel_args(),
                         self.m[:0], self.v[:0], 1)  # fmt: skip

    def _epoch_rows(self, epoch: int):
        """This rank's rows of the epoch order (local indices) and where each global batch
        begins among them: batch b is rows[starts[b]:starts[b + 1]]."""
        perm = self.order(epoch)
        lo, hi = self.share
        mine = (perm >= lo) & (perm < hi)
        rows = perm[mine] - lo
        batch_starts = np.arange(0, len(perm), self.batch_size)
        counts = np.add.reduceat(mine.astype(np.int64), batch_starts)
        return rows, np.concatenate([[0], np.cumsum(counts)])

    def _stop_signal(self) -> int:
        return self.comm.allreduce_max(self._signal, "stop request")

    def _train_chunk(self, perm, count: int, lrs, plan, ws) -> tuple:
        rows, starts = perm
        net, opt, comm = self.net, self.optimizer.kernel_args(), self.comm
        theta_args, fn = net._net(), net._fn()
        exchange, grad, p = self._exchange, ws[4], net.n_params
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(count):
            b = self.batch + i
            total = min(self.batch_size, self._n_global - b * self.batch_size)
            first, last = int(starts[b]), int(starts[b + 1])
            loss, hits = batch_gradient(
                self.X, self.y, NO_TARGETS, rows, first, last - first, total, self.scale,
                theta_args, fn, plan, ws,
            )  # fmt: skip
            exchange[p], exchange[p + 1] = loss, hits
            comm.allreduce_sum(exchange)
            loss, hits = float(exchange[p]), int(round(float(exchange[p + 1])))
            if not math.isfinite(loss):  # the same sum on every rank: all stop here
                return loss_sum, correct, seen, i, False
            self.step[0] += 1
            apply_update(net.theta, grad, lrs[i], opt, self.m, self.v, int(self.step[0]))
            loss_sum += loss
            correct += hits
            seen += total
        return loss_sum, correct, seen, count, True

    def _evaluate(self) -> tuple[float, float]:
        """Each rank scores its share of the test split; the sums are added."""
        P = self.net.forward(self.test_X, threads=self.n_threads)
        y = self.test_y
        sums = np.zeros(3)
        if len(y):
            sums[:] = self.net.loss_of(P, y) * len(y), np.sum(P.argmax(1) == y), len(y)
        self.comm.allreduce_sum(sums, "evaluation")
        return float(sums[1] / sums[2]), float(sums[0] / sums[2])


def _share_of(dataset, share: tuple[int, int], test_share: tuple[int, int]) -> Dataset:
    """``dataset`` with only this rank's rows: views, so a memory-mapped file is read
    only where these rows lie."""
    (lo, hi), (tlo, thi) = share, test_share
    train, test = dataset.train, dataset.test
    return Dataset(
        name=dataset.name,
        train=Split(train.X[lo:hi], train.y[lo:hi]),
        test=Split(test.X[tlo:thi], test.y[tlo:thi]),
        class_names=list(dataset.class_names),
        source=dataset.source,
        meta=dict(dataset.meta),
    )
