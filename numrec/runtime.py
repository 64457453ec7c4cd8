"""How the compiled kernels run: thread counts, BLAS threads, and the compile notice.

Each shard of a mini-batch already runs on its own Numba thread; a multi-threaded BLAS
inside each would oversubscribe the cores, and could change the order of floating-point
sums and so the results. So BLAS is kept on one thread while our kernels run. One
threadpoolctl controller is made once (finding the BLAS libraries costs a millisecond).

The first call of a kernel may compile it (tens of seconds, once: the machine code is
cached on disk). A user must not stare at a silent terminal meanwhile, so a call that has
not returned after a second prints a notice.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from functools import lru_cache

import numba
from threadpoolctl import ThreadpoolController

_warm: set[str] = set()

# GNU OpenMP (numba's "omp" threading layer) spins 300,000 times at each barrier before
# sleeping. A mini-batch has two parallel passes, so on a machine shared with another
# busy process the spinning threads steal the cores the working ones need: measured
# here, 2 threads at batch 64 fell from ~55,000 to ~11,000 samples/s beside one busy
# process; with 10,000 spins it kept ~18,000, and lost nothing when the machine was quiet.
# Only a default (a user's own setting wins), and only read when libgomp starts, which
# is at our first parallel call unless another library started it before.
SPIN_DEFAULT = "10000"
NOTICE_AFTER = 1.0  # seconds; a warm start (cache load) takes less


def _load_cython_blas() -> None:
    """Load ``scipy.linalg.cython_blas``, the BLAS that numba's compiled code calls,
    without running ``scipy.linalg/__init__`` (~0.3-0.4 s of a ~1.5 s warm start: it
    imports all of scipy.linalg, which numrec never uses). Numba imports the module by
    its full name, and an entry already in ``sys.modules`` satisfies that import without
    the package. Anything unexpected: the ordinary import. (If scipy.linalg is imported
    only later, the attribute ``scipy.linalg.cython_blas`` stays unset; ``from scipy.linalg
    import cython_blas`` and ``import scipy.linalg.cython_blas as cb`` still work.)"""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return
    try:
        import importlib.machinery
        import importlib.util

        import scipy

        folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "cython_blas" + suffix)
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[name] = module
                if "scipy.linalg" in sys.modules:  # as an ordinary import would
                    sys.modules["scipy.linalg"].cython_blas = module
                return
    except Exception:  # noqa: BLE001 - an unusual scipy layout: fall back below
        sys.modules.pop(name, None)
    import scipy.linalg.cython_blas  # noqa: F401


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    _load_cython_blas()  # the BLAS numba calls: loaded first, so the controller finds it
    return ThreadpoolController()


def max_threads() -> int:
    return int(numba.config.NUMBA_NUM_THREADS)


_blas = {"users": 0, "limit": None}  # callers inside engine_threads, the active limit
_blas_lock = threading.Lock()


def _release_blas_control() -> None:
    """threadpoolctl lets only one thread (the first to set a limit) change a shared
    OpenBLAS pool and silently ignores the others; the thread that set numrec's limit may
    not be the one that undoes it, so hand control back first."""
    try:
        from threadpoolctl import OpenBLASController

        OpenBLASController.clear_controlling_thread(force=True)
    except (ImportError, AttributeError, TypeError):  # an older threadpoolctl: no such rule
        pass


@contextmanager
def _blas_single_threaded():
    """BLAS on one thread while any numrec kernel runs, and as it was once none does.
    The limit is process-wide: several threads inside numrec at once (one training,
    others predicting) share one limit, set by the first to enter and undone by the last
    to leave, so nobody restores it while another still needs it."""
    with _blas_lock:
        if _blas["users"] == 0:
            _release_blas_control()
            limit = _controller().limit(limits=1, user_api="blas")
            limit.__enter__()
            _blas["limit"] = limit
        _blas["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas["users"] -= 1
            if _blas["users"] == 0:
                _release_blas_control()
                _blas["limit"].__exit__(None, None, None)
                _release_blas_control()
                _blas["limit"] = None


@contextmanager
def engine_threads(threads: int | None = None):
    """Run the body with BLAS on one thread and Numba on ``threads`` (None: all cores).

    Numba's thread count is per calling thread, so concurrent callers do not disturb
    each other. The one process-wide choice is GNU OpenMP's spin count (``SPIN_DEFAULT``,
    read when libgomp starts): set ``GOMP_SPINCOUNT`` yourself to override it."""
    n = max_threads() if threads is None else int(threads)
    if not 1 <= n <= max_threads():
        raise ValueError(
            f"threads must be between 1 and {max_threads()} (the cores numba may use), "
            f"got {threads}"
        )
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_DEFAULT)
    previous = numba.get_num_threads()
    with _blas_single_threaded():
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(previous)


_notices = [True]  # whether this process shows compile notices at all


def hide_compile_notices() -> None:
    """No compile notices from this process (an MPI rank other than 0: rank 0 shows them)."""
    _notices[0] = False


@contextmanager
def compile_notice(kernel: str):
    """Wrap the first call of the ``kernel`` group: if it is still compiling after a
    second, say so on stderr, and say how long it took once done."""
    if kernel in _warm or not _notices[0]:
        yield
        return
    start = time.perf_counter()
    shown = threading.Event()

    def announce():
        shown.set()
        print(
            f"numrec: compiling the {kernel} kernels for first use "
            "(once; cached on disk for next time)...",
            file=sys.stderr,
            flush=True,
        )

    timer = threading.Timer(NOTICE_AFTER, announce)
    timer.daemon = True
    timer.start()
    try:
        yield
        _warm.add(kernel)
    finally:
        timer.cancel()
        if shown.is_set():
            took = time.perf_counter() - start
            print(f"numrec: compiled in {took:.1f} s", file=sys.stderr, flush=True)
