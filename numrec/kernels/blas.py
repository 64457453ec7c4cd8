"""Single-precision matrix products with strides, called from compiled code.

``np.dot`` in numba takes whole contiguous matrices only. The training step also needs
products into a block of columns of a larger matrix (one thread's units of a layer) and
from a block of columns of the weights, which BLAS's leading dimensions express without
a copy. ``gemm`` calls the same BLAS as numba's ``np.dot`` (scipy's, through numba's own
``numba_xxgemm`` helper), by symbol name, so compiled callers stay cacheable.

Row-major throughout: ``C = alpha op(A) op(B) + beta C`` with ``C`` an (m, n) matrix whose
rows lie ``ldc`` elements apart, ``op(A)`` (m, k) and ``op(B)`` (k, n); ``trans_a`` says
that ``A`` is stored as its transpose, a (k, m) matrix with rows ``lda`` apart.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .codes import INNER_JIT

_F32P = types.CPointer(types.float32)
# int numba_xxgemm(kind, transa, transb, m, n, k, *alpha, *a, lda, *b, ldb, *beta, *c, ldc):
# Fortran's column-major sgemm, its integers passed by value
_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
               _F32P, _F32P, types.intp, _F32P, types.intp, _F32P, _F32P, types.intp),
)  # fmt: skip

_S, _N, _T = ord("s"), ord("n"), ord("t")


@njit(**INNER_JIT)
def gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
    """C[:m, :n] <- alpha op(A) op(B) + beta C for row-major float32 buffers whose first
    element is A[0], B[0], C[0] (1-D views starting at each matrix's first element).

    A row-major matrix is its transpose in Fortran's column-major view, so the row-major
    product C = op(A) op(B) is Fortran's C^T = op(B)^T op(A)^T: the operands swap, the
    transpose flags stay."""
    if m == 0 or n == 0:
        return
    scalars = np.empty(2, dtype=np.float32)
    scalars[0] = alpha
    scalars[1] = beta
    _xxgemm(_S, _T if trans_b else _N, _T if trans_a else _N, n, m, k, scalars[:1].ctypes,
            B.ctypes, ldb, A.ctypes, lda, scalars[1:].ctypes, C.ctypes, ldc)  # fmt: skip
