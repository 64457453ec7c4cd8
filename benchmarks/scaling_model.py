"""A model of synchronous data-parallel training at N ranks, from measured compute times.

numrec's data-parallel step (``numrec.distributed``) is, on every rank: the gradient of the
rank's rows of the global batch (``kernels.step.batch_gradient``), one Allreduce of the flat float32
gradient buffer, then the optimizer update of all parameters (``apply_update``). Nothing
overlaps, so the time of one step of a global batch of B rows at N ranks is

    T_N(B) = c(B / N) + R_N(S)

where c(b) is the measured compute time (gradient + update) of b rows on one rank, and
R_N(S) the time of a ring Allreduce of S bytes over N ranks, each link of bandwidth beta
and latency alpha (Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan 2009):

    R_N(S) = 2 (N - 1) / N * S / beta + 2 (N - 1) * alpha

(a reduce-scatter and an all-gather, N - 1 messages of S / N bytes each). The speed-up is
T_1(B) / T_N(B) and the parallel efficiency E = speed-up / N.

c(b) includes the update of all parameters, which every rank does in full whatever N: a
fixed cost per step that does not shrink with more ranks, as in the implementation.
Pure functions only (no numrec, no MPI), so that tests can check them quickly.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

FLOAT32_BYTES = 4
EXTRA_SLOTS = 2  # the exchange buffer also carries the batch's loss sum and correct count


@dataclass(frozen=True)
class Link:
    """A cluster interconnect as the ring model sees it: per-rank bandwidth and latency."""

    name: str
    bandwidth: float  # bytes per second, one direction, per rank
    latency: float  # seconds per message (MPI small-message latency)


# typical values: what MPI achieves over the link, not the line rate
# (10 GbE: 1.25 GB/s line rate, ~1.1 GB/s for TCP payload, ~25-50 us MPI latency over TCP;
#  100 Gb/s InfiniBand EDR: 12.5 GB/s line rate, ~11 GB/s measured by OSU benchmarks, ~2 us)
LINKS = (
    Link("10 GbE", 1.1e9, 30e-6),
    Link("100 Gb/s InfiniBand", 11e9, 2e-6),
)


def n_params(sizes: Sequence[int]) -> int:
    """Weights and biases of a dense network with these layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def gradient_bytes(sizes: Sequence[int]) -> int:
    """S: the bytes numrec's MpiSteps sums per step (n_params + 2 float32)."""
    return FLOAT32_BYTES * (n_params(sizes) + EXTRA_SLOTS)


def ring_allreduce_time(n_bytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    """R_N(S) = 2 (N-1)/N * S / beta + 2 (N-1) alpha; zero for one rank (nothing to send)."""
    if ranks < 1:
        raise ValueError(f"ranks must be 1 or more, got {ranks}")
    if ranks == 1:
        return 0.0
    return 2 * (ranks - 1) / ranks * n_bytes / bandwidth + 2 * (ranks - 1) * latency


class ComputeProfile:
    """c(b): measured compute time per step (seconds) for b rows on one rank, given at a few
    row counts; piecewise linear between them, and beyond the largest measured count the
    line through the last two points (per-row cost is flat there: large matrix products)."""

    def __init__(self, rows: Sequence[float], seconds: Sequence[float]) -> None:
        points = sorted(zip(rows, seconds))
        if len(points) < 2:
            raise ValueError("a compute profile needs at least two measured row counts")
        if any(r <= 0 or s <= 0 for r, s in points):
            raise ValueError("row counts and times must be positive")
        self.rows = [float(r) for r, _ in points]
        self.seconds = [float(s) for _, s in points]

    def __call__(self, rows: float) -> float:
        r, s = self.rows, self.seconds
        if rows <= r[0]:  # fewer rows than ever measured: at least the smallest measured cost
            return s[0]
        i = min(bisect_left(r, rows), len(r) - 1)
        r0, r1, s0, s1 = r[i - 1], r[i], s[i - 1], s[i]
        return s0 + (s1 - s0) * (rows - r0) / (r1 - r0)


def step_time(c: ComputeProfile, batch: int, ranks: int, n_bytes: float, link: Link) -> float:
    """T_N(B) = c(B / N) + R_N(S): no overlap of compute and communication (none in numrec).
    B / N is the mean share; the binomial imbalance of real shares is left out."""
    return c(batch / ranks) + ring_allreduce_time(n_bytes, ranks, link.bandwidth, link.latency)


def speedup(c: ComputeProfile, batch: int, ranks: int, n_bytes: float, link: Link) -> float:
    """T_1(B) / T_N(B) for the same global batch B."""
    return c(batch) / step_time(c, batch, ranks, n_bytes, link)


def efficiency(c: ComputeProfile, batch: int, ranks: int, n_bytes: float, link: Link) -> float:
    """Parallel efficiency: speed-up / N."""
    return speedup(c, batch, ranks, n_bytes, link) / ranks


def powers_of_two(lo: int, hi: int) -> list[int]:
    """The powers of two in [lo, hi]."""
    out, p = [], 1
    while p <= hi:
        if p >= lo:
            out.append(p)
        p *= 2
    return out


def min_batch_for_efficiency(
    c: ComputeProfile,
    ranks: int,
    n_bytes: float,
    link: Link,
    target: float = 0.8,
    largest: int = 2**20,
) -> int | None:
    """The smallest power-of-two global batch (at least one row per rank) whose efficiency
    at N ranks reaches ``target``; None if none up to ``largest`` does."""
    for batch in powers_of_two(ranks, largest):
        if efficiency(c, batch, ranks, n_bytes, link) >= target:
            return batch
    return None


def comm_dominated_below(
    c: ComputeProfile, ranks: int, n_bytes: float, link: Link, largest: int = 2**20
) -> int | None:
    """The smallest power-of-two global batch at which compute c(B / N) takes at least as
    long as the Allreduce: below it, communication dominates the step. None: not up to
    ``largest``."""
    comm = ring_allreduce_time(n_bytes, ranks, link.bandwidth, link.latency)
    for batch in powers_of_two(ranks, largest):
        if c(batch / ranks) >= comm:
            return batch
    return None
