"""Kernels that exist only for the epochs that need them, chosen when numba compiles.

``when(kind, kernel, otherwise)`` is a function to call from compiled code with the
epoch's ``Noise`` as its last argument: it is ``kernel`` when that Noise is of class
``kind`` (``structs.AugmentedNoise``, ``structs.DropoutNoise``), else ``otherwise`` (None:
a function that does nothing). The choice is made while numba types the caller, by the
Noise's class, which is part of its type: the kernel not chosen is never typed or
compiled. (A runtime ``if`` compiles both, and the augmentation and dropout kernels,
linked and optimised again into every caller, were 8.6 of the 21.4 s of CPU a cold
start spent compiling with neither on.)

The chosen kernel's Python function is compiled as the implementation itself, not as a
call from a wrapper: a wrapper would be one more module into which numba links and
optimises the kernel again (measured: +2.4 s of compiling for an augmented run).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from numba import types
from numba.extending import overload

from .codes import INNER_JIT


def of_kind(noise_type: types.Type, kind: type) -> bool:
    """Whether a numba type is that of a Noise of class ``kind`` (None: never)."""
    return isinstance(noise_type, types.BaseNamedTuple) and issubclass(
        noise_type.instance_class, kind
    )


def when(kind: type, kernel: Callable, otherwise: Callable | None = None) -> Callable:
    """``kernel`` for a Noise (the last argument) of class ``kind``, else ``otherwise``
    (None: nothing); both take the same arguments and compile with the flags of
    ``kernel`` (numba dispatchers, or plain functions: ``codes.INNER_JIT``)."""
    chosen = getattr(kernel, "py_func", kernel)
    if otherwise is None:
        # what numba reads of a function's arguments is its signature, which wraps() makes
        # that of the kernel: a function of the same arguments that does nothing
        other = functools.wraps(chosen)(lambda *args: None)
    else:
        other = getattr(otherwise, "py_func", otherwise)

    @functools.wraps(chosen)
    def variant(*args):
        raise TypeError(f"{chosen.__name__} (a kernel variant) is called from compiled code only")

    @functools.wraps(chosen)
    def choose(*args):
        return chosen if of_kind(args[-1], kind) else other

    # compiled with the kernel's own flags (fastmath or not), and not cached on their
    # own: the compiled callers that use them are, with them inside
    options = dict(getattr(kernel, "targetoptions", INNER_JIT), cache=False)
    overload(variant, jit_options=options)(choose)
    return variant
