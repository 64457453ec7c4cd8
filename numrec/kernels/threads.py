"""The number of threads a parallel loop will use, read inside compiled code.

``numba.get_num_threads()`` works in compiled code too, but it reaches numba's threading
layer through a ctypes pointer, and a function holding one cannot be cached on disk
("dynamic globals"): every process would compile the training kernels again. This
intrinsic calls the same C function by its symbol name instead, as numba's own parallel
loops do, so the machine code stays cacheable.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def thread_count(typingctx):
    """The current ``numba.get_num_threads()`` (an intp), from compiled code."""
    numba.get_num_threads()  # starts the threading layer, which defines the symbol

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(types.intp.bitwidth), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen
