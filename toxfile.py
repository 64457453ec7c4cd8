"""tox's inline plugin for numrec: an environment whose CPython is missing says how to get it.

tox itself only says "could not find python interpreter with spec(s): py310", and in
``tox p`` not even that (a skipped environment shows only "SKIP"). So each such environment
gets a line after tox's summary, the last thing on the screen, that names the version and
how to get it. CI (which sets TOX_SKIP_MISSING_INTERPRETERS=false) fails on the same
environment and prints the same line.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import sys

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.errors import Skip
from tox.tox_env.python.api import NoInterpreter, Python

_missing: list[str] = []  # the hints, printed once tox has printed its summary


def _pyenv_bins(version: str) -> list[str]:
    """Folders of pyenv's installed CPython ``version`` (e.g. "3.10"), newest last."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin"))
    return sorted(
        found, key=lambda d: [int(n) for n in re.findall(r"\d+", d.split("versions")[-1])]
    )


def missing_interpreter_hint(env_name: str) -> str | None:
    """What to do about environment ``pyXY``, whose CPython is not on PATH; None for others."""
    match = re.fullmatch(r"py3(\d+)", env_name)
    if match is None:
        return None
    version = f"3.{match.group(1)}"
    found = _pyenv_bins(version)
    if found:
        how = f'pyenv has it: export PATH="$PATH:{found[-1]}" before running tox again'
    else:
        how = f"install it (pyenv install {version}, or your system's python{version} package)"
    return (
        f"{env_name}: not run: Python {version} is not on PATH, so numrec was not tested on "
        f"it; to test it too, {how}"
    )


@impl
def tox_env_teardown(tox_env: ToxEnv) -> None:
    if not isinstance(tox_env, Python):
        return
    try:
        tox_env.base_python  # noqa: B018 (the lookup is cached: this does not search again)
    except (Skip, NoInterpreter):
        hint = missing_interpreter_hint(tox_env.name)
        if hint is not None and hint not in _missing:
            if not _missing:
                atexit.register(_print_missing)
            _missing.append(hint)


def _print_missing() -> None:
    # the real stderr: during a run tox redirects sys.stderr per environment
    stream = sys.__stderr__ or sys.stderr
    for hint in _missing:
        print(hint, file=stream, flush=True)
