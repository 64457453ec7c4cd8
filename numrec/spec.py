"""What a dataset plugin declares: a ``DatasetSpec`` with its ``Option`` list and loader.

The host validates and converts option values against these declarations before the
loader runs, and the command line turns them into ``--flags`` with their help text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option a data set's loader takes (passed to it as a keyword argument)."""

    name: str
    type: type = str  # str, int, float, bool or pathlib.Path
    default: Any = None
    help: str = ""
    choices: tuple | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A data set a plugin provides: ``loader(**options) -> numrec.Dataset``."""

    name: str
    description: str
    loader: Callable[..., Any]
    options: tuple[Option, ...] = ()
