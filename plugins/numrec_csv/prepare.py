"""From parsed tables to training data: class numbers, a stratified split, scaling.

Labels (decided over train and test together, so both use one numbering):

- integers that already look like class numbers - starting at 0, with at most half of
  0..max unused - are kept as they are, with names "0".."max" (an MNIST CSV gives the
  same labels and names as the IDX files);
- any other numbers (1..26, 10/20/30, 0.5...) and any words are numbered in sorted
  order, and their text becomes the class name.

Scaling (``scale``): "auto" keeps the matrices as uint8 when every cell of train and test
is an integer in 0..255 - the engine then scales by 1/255 exactly as for IDX images -
and otherwise gives float32 values unchanged; "none" always gives float32 unchanged;
"standardize" gives float32 ``(x - mean) / std`` per column with the training rows'
mean and (population) std, a std of 0 taken as 1; the two vectors go in ``meta``.
"""

from __future__ import annotations

import numpy as np

from numrec import DatasetError

SCALES = ("auto", "none", "standardize")
_CHUNK = 8192  # rows per step of the column statistics: bounded float64 temporaries


def encode_labels(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(y_train, y_test, class names) from the label texts of both files."""
    both = np.concatenate([train, test])
    try:
        values = both.astype(np.float64)
    except ValueError:  # some label is a word: all labels are names
        classes, y = np.unique(both, return_inverse=True)
        names = [str(c) for c in classes]
    else:
        distinct = np.unique(values)
        integral = bool((distinct == np.floor(distinct)).all())
        top = distinct[-1]
        if integral and distinct[0] == 0 and top + 1 <= 2 * len(distinct):
            y = values.astype(np.int64)
            names = [str(i) for i in range(int(top) + 1)]
        else:
            y = np.searchsorted(distinct, values)
            names = [_number_name(v) for v in distinct]
    y = np.asarray(y, np.int64).reshape(-1)
    return y[: len(train)], y[len(train) :], names


def _number_name(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 2**53 else repr(float(value))


def check_classes(y: np.ndarray, labels: np.ndarray, where: str) -> None:
    """A classifier needs two classes or more among the training rows."""
    if len(np.unique(y)) < 2:
        raise DatasetError(
            f"{where}: all {len(y)} data rows have the same label {str(labels[0])!r}; "
            f"expected at least two classes"
        )


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows), each in file order, drawn at random with ``seed``.

    ``round(test_fraction * rows)`` rows go to test, shared out over the classes in
    proportion to their sizes (largest remainders first, ties at random), and every
    class keeps at least one training row.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction={test_fraction}: expected a number between 0 and 1")
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    _, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    quota = test_fraction * counts
    n_test = np.minimum(np.floor(quota).astype(np.int64), counts - 1)
    extra = max(int(round(test_fraction * len(y))), 1) - int(n_test.sum())
    for c in np.lexsort((rng.random(len(counts)), -(quota - np.floor(quota)))):
        if extra <= 0:
            break
        if n_test[c] < counts[c] - 1:
            n_test[c] += 1
            extra -= 1
    if n_test.sum() == 0:
        raise DatasetError(
            f"test_fraction={test_fraction} of {len(y)} rows leaves no test rows (each "
            f"class keeps at least one training row); expected more rows or a test file"
        )
    is_test = np.zeros(len(y), bool)
    for start, count, k in zip(starts, counts, n_test, strict=True):
        is_test[rng.permutation(order[start : start + count])[:k]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def scale(X_train: np.ndarray, X_test: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(X_train, X_test, meta) scaled as ``how`` says (see the module docstring)."""
    (X_train, X_test), meta = scale_parts([X_train, X_test], how)
    return X_train, X_test, meta


def scale_parts(parts: list[np.ndarray], how: str) -> tuple[list[np.ndarray], dict]:
    """The matrices (train first, then test, validation...) scaled as ``how`` says, with
    the training rows' statistics, and the meta that records it."""
    # copy=False: a float32 matrix is kept as it is - for a cached file, a memory map
    # whose pages are read only where rows are used - rather than copied whole.
    if how == "auto":
        if all(X.dtype == np.uint8 for X in parts):
            return list(parts), {}
        # All float, or the engine would scale some by 1/255 and not the others.
        return [X.astype(np.float32, copy=False) for X in parts], {}
    if how == "none":
        return [X.astype(np.float32, copy=False) for X in parts], {}
    if how != "standardize":
        raise DatasetError(f"scale={how!r}: expected one of {', '.join(SCALES)}")
    mean, std = _column_moments(parts[0])
    std[std == 0] = 1.0  # a constant column (e.g. an image border) stays 0, not NaN
    meta = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    return [_standardize(X, mean, std) for X in parts], meta


def _column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of each column, in float64, two passes over row chunks."""
    n = max(len(X), 1)
    total = np.zeros(X.shape[1])
    for i in range(0, len(X), _CHUNK):
        total += X[i : i + _CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros(X.shape[1])
    for i in range(0, len(X), _CHUNK):
        d = X[i : i + _CHUNK] - mean
        squares += np.einsum("ij,ij->j", d, d)
    return mean, np.sqrt(squares / n)


def _standardize(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = np.empty(X.shape, np.float32)
    for i in range(0, len(X), _CHUNK):
        out[i : i + _CHUNK] = (X[i : i + _CHUNK] - mean) / std
    return out
