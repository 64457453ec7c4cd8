"""Ctrl-C (or SIGTERM) while a console script is still importing: exit 130, quietly.

A console script (``numrec-train`` and the others) spends its first ~0.1-1 s importing
numrec, numpy and numba. A KeyboardInterrupt raised inside an import would print a
traceback and end the process with status -2. ``install`` - run when this module is
imported, first thing in ``numrec/__init__.py``, and only when the program is one of
numrec's console scripts - makes SIGINT and SIGTERM end it with exit status 130 and
nothing printed, until
``numrec.cli.common.run`` calls ``release`` and its own handling (a message, a checkpoint
during training) takes over. ``import numrec`` in any other program changes nothing.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130
_SIGNALS = ("SIGINT", "SIGTERM")
_installed: dict[int, object] = {}  # signal number -> the handler it had before


def _quit(signum, frame) -> None:
    # Exit at once rather than raise SystemExit: an exception raised inside an import can
    # be turned into another one by the importing C code (numpy's import of datetime
    # then fails with an ImportError and a traceback). Nothing is written yet to lose.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)


def is_console_script() -> bool:
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0).startswith("numrec-")


def install() -> None:
    """Quiet exit 130 on SIGINT/SIGTERM, for a console script's imports."""
    if _installed or not is_console_script():
        return
    for name in _SIGNALS:
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            previous = signal.getsignal(number)
            # leave a handler that someone else chose (only Python's defaults are replaced)
            if previous in (signal.default_int_handler, signal.SIG_DFL):
                signal.signal(number, _quit)
                _installed[number] = previous
        except (ValueError, OSError):  # not the main thread, or an unsupported signal
            continue


def release() -> None:
    """Give the signals back to their previous handlers (where ours is still in place)."""
    for number, previous in list(_installed.items()):
        try:
            if signal.getsignal(number) is _quit:
                signal.signal(number, previous)
        except (ValueError, OSError):
            continue
        del _installed[number]


install()  # on import: ``numrec/__init__.py`` imports this module before anything else
