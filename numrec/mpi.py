"""MPI for numrec: is this process one rank of an MPI job, and the few collectives it needs.

numrec runs data-parallel on MPI through mpi4py (``pip install 'numrec[mpi]'``, which also
brings an MPICH runtime with its ``mpiexec``), started by any launcher:

    mpiexec -n 4 numrec-train --dataset fashion-mnist
    srun numrec-train --dataset fashion-mnist

A launcher announces itself in the environment (MPICH's and Intel MPI's ``PMI_SIZE``, Open
MPI's ``OMPI_COMM_WORLD_SIZE``, PMIx's ``PMIX_SIZE``, srun's ``SLURM_STEP_NUM_TASKS``), so
``world()`` knows without importing mpi4py whether it is one rank among several; mpi4py
is imported only then, and its absence is a clear error rather than N copies of a
single-process run that would overwrite each other's files.

A collective blocks until every rank takes part: if a rank dies, the launcher usually
ends the others (MPICH's does within a second), but not every launcher does (``srun``
without ``--kill-on-bad-exit``), and a rank may hang instead of dying. So the training
collectives are watched: one that has not finished after ``NUMREC_MPI_TIMEOUT`` seconds
(default 300) ends this process with a message naming the rank, and the launcher then
ends the job.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

# what each launcher sets: (variable with the number of ranks, variable with this rank)
LAUNCHER_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK"),  # MPICH (hydra), Intel MPI
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI
    ("PMIX_SIZE", "PMIX_RANK"),  # PMIx launchers
    # srun's step, not SLURM_NTASKS: that is set in a whole allocation (an sbatch script,
    # an salloc shell), where a plain numrec-train is one process, not one of N ranks
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
)
TIMEOUT_VARIABLE = "NUMREC_MPI_TIMEOUT"
DEFAULT_TIMEOUT = 300.0  # seconds a training collective may take before the job is ended
EXIT_LOST_RANK = 1
# seconds a failing rank other than 0 waits before it reports and ends the job, so that a
# failure every rank shares is reported once, by rank 0 (whose abort ends the others)
PEER_GRACE = 5.0
INSTALL_HINT = "pip install 'numrec[mpi]' (mpi4py and an MPICH runtime, no system MPI needed)"


class MPIUnavailable(ImportError):
    """Started by an MPI launcher with several ranks, but mpi4py cannot be imported."""


class PeerFailed(RuntimeError):
    """Another rank (rank 0, which reports it) failed; this rank stops with it quietly."""


def launched_ranks() -> int:
    """How many ranks the launcher that started this process says the job has (1: none)."""
    for size_var, _ in LAUNCHER_VARIABLES:
        value = os.environ.get(size_var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def launched_rank() -> int:
    """This process's rank as its launcher set it (0 when not started by one)."""
    for _, rank_var in LAUNCHER_VARIABLES:
        value = os.environ.get(rank_var, "")
        if value.isdigit():
            return int(value)
    return 0


def timeout() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be above 0 seconds, got {text!r}")
    return value


class Comm:
    """An mpi4py communicator with what data-parallel training needs from it."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        # ranks sharing this machine: they share its cores too
        local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_size = local.Get_size()
        local.Free()
        self._since: float | None = None  # start of the watched collective in progress
        self._what = ""
        self._watchdog: threading.Thread | None = None
        self.timeout = timeout()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Comm(rank={self.rank}, size={self.size}, local_size={self.local_size})"

    # --- collectives ------------------------------------------------------------------
    def allreduce_sum(self, buffer: np.ndarray, what: str = "gradient") -> np.ndarray:
        """Sum ``buffer`` over all ranks, in place (one MPI_Allreduce), under the watchdog."""
        with self.watched(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def allreduce_max(self, value: int, what: str) -> int:
        with self.watched(what):
            return int(self.comm.allreduce(int(value), op=self.MPI.MAX))

    def bcast(self, value: Any) -> Any:
        """``value`` of rank 0 on every rank."""
        return self.comm.bcast(value, root=0)

    def root_first(self, load: Callable[[], Any]) -> Any:
        """``load()`` on rank 0 first (a download or a parse cache is made once), then on
        the others, which meanwhile wait. If rank 0 fails, the others raise PeerFailed."""
        if self.is_root:
            try:
                result = load()
            except BaseException as e:
                self.comm.bcast(str(e) or type(e).__name__, root=0)
                raise
            self.comm.bcast(None, root=0)
            return result
        failure = self.comm.bcast(None, root=0)
        if failure is not None:
            raise PeerFailed(f"rank 0 failed: {failure}")
        return load()

    # --- the watchdog ---------------------------------------------------------------------
    @contextmanager
    def watched(self, what: str):
        self._start_watchdog()
        self._what, self._since = what, time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True, name="numrec-mpi")
            self._watchdog.start()

    def _watch(self) -> None:
        period = min(1.0, self.timeout / 4)
        while True:
            time.sleep(period)
            since = self._since
            if since is not None and time.monotonic() - since > self.timeout:
                print(
                    f"numrec: rank {self.rank} of {self.size}: the {self._what} exchange got "
                    f"no answer for {self.timeout:g} s: another rank died or hangs; stopping "
                    f"this one too (set {TIMEOUT_VARIABLE} to wait longer)",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(EXIT_LOST_RANK)  # the main thread is stuck inside MPI


_world: Comm | None = None


def world() -> Comm | None:
    """The job's communicator when this process is one of several MPI ranks, else None.

    Raises MPIUnavailable when a launcher started several ranks but mpi4py is missing.
    """
    global _world
    if _world is not None:
        return _world
    n = launched_ranks()
    if n <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MPIUnavailable(
            f"this process is one of {n} started by an MPI launcher, but mpi4py cannot be "
            f"imported ({e}); install the MPI extra: {INSTALL_HINT}"
        ) from None
    comm = Comm(MPI.COMM_WORLD)
    _world = comm if comm.size > 1 else None
    return _world


def in_job() -> bool:
    """Whether this process has joined a job of several MPI ranks (``world()``)."""
    return _world is not None


def abort_job(code: int) -> None:
    """End every rank of this job at once with exit status ``code``, when this process
    is one of several MPI ranks. For a failure of this rank alone (say, rank 0 cannot
    write the metrics file): the others would wait for it in their next collective,
    and MPICH's mpiexec does not end them when a rank merely exits."""
    if not in_job():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    _world.comm.Abort(code)


_wrapped: list[Comm] = []  # one Comm (and watchdog thread) per communicator, reused


def as_comm(comm: Any) -> Comm | None:
    """A ``Comm`` of several ranks from a ``Comm`` or an mpi4py communicator; None for
    None or a communicator of one rank (then training runs in this process alone)."""
    if comm is None:
        return None
    if not isinstance(comm, Comm):
        known = [w for w in _wrapped if w.comm == comm]
        if not known:
            _wrapped.append(Comm(comm))
            known = _wrapped[-1:]
        comm = known[0]
    return comm if comm.size > 1 else None


def partition(n: int, size: int, rank: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share [lo, hi) of n rows, sizes differing by at most 1."""
    return rank * n // size, (rank + 1) * n // size
