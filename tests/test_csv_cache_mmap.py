"""Tests of the CSV plugin's memory-mapped parse cache (plugins/numrec_csv/cache.py).

A second load of a CSV file maps the cached matrix instead of reading it, so that a slice
of rows (an MPI rank's share) reads only its own pages; a file split into train and test
is cached train rows first, so both parts are slices too. Whatever the path - parsed,
mapped, read whole from an entry that cannot be mapped, reordered - the arrays are the
same.
"""

from __future__ import annotations

import json
import mmap
import warnings
from pathlib import Path

import numpy as np
import pytest

import numrec


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    """A Kaggle-style CSV: a header, then the label and the features of each row."""
    lines = ["label," + ",".join(f"pixel{i}" for i in range(X.shape[1]))]
    lines += [f"{label}," + ",".join(map(str, row)) for label, row in zip(y, X.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def images(n: int, features: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, features), dtype=np.uint8), rng.integers(0, 10, n)


def mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The mmap under ``array`` (following ``.base``), or None when it owns its memory."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def file_offset(array: np.ndarray, mapping: mmap.mmap) -> int:
    """Where the first byte of ``array`` lies in the mapped file."""
    start = np.frombuffer(mapping, np.uint8).ctypes.data
    return array.ctypes.data - start


def entry_of(root: Path) -> Path:
    (entry,) = (root / "csv-cache").glob("*.npz")
    return entry


@pytest.fixture
def load(numrec_cache, numrec_plugin_host):
    """``numrec.load_dataset("csv", ...)`` through the plugin host, with a temp cache."""
    return lambda **options: numrec.load_dataset("csv", **options)


def test_second_load_maps_X_copy_on_write(tmp_path, load, numrec_cache):
    X, y = images(300)
    path = write_csv(tmp_path / "train.csv", X, y)
    first = load(train=path, test=path)
    assert mapping_of(first.train.X) is None  # parsed: in memory
    second = load(train=path, test=path)
    assert second.train.X.dtype == np.uint8 and second.train.X.flags.c_contiguous
    assert mapping_of(second.train.X) is not None
    np.testing.assert_array_equal(second.train.X, first.train.X)
    np.testing.assert_array_equal(second.train.X, X)
    np.testing.assert_array_equal(second.train.y, first.train.y)
    assert second.class_names == first.class_names
    # Writable as an array read whole is, but a write stays in this process's pages.
    assert second.train.X.flags.writeable
    before = entry_of(numrec_cache).read_bytes()
    second.train.X[:10] = 0
    assert entry_of(numrec_cache).read_bytes() == before
    np.testing.assert_array_equal(load(train=path, test=path).train.X, X)


def test_a_slice_is_the_bytes_of_its_rows_in_the_file(tmp_path, load, numrec_cache):
    X, y = images(1000, features=100)
    path = write_csv(tmp_path / "train.csv", X, y)
    load(train=path, test=path)
    ds = load(train=path, test=path)
    mapping = mapping_of(ds.train.X)
    whole = file_offset(ds.train.X, mapping)
    assert whole % 64 == 0  # aligned like an allocated array
    lo, hi = 400, 700
    part = ds.train.X[lo:hi]
    assert mapping_of(part) is mapping  # a view: no copy of the other rows
    offset = file_offset(part, mapping)
    assert offset == whole + lo * X.shape[1]
    # Exactly these bytes of the cache file hold the slice, so reading it reads
    # only their pages.
    with open(entry_of(numrec_cache), "rb") as f:
        f.seek(offset)
        stored = np.frombuffer(f.read(part.nbytes), np.uint8).reshape(part.shape)
    np.testing.assert_array_equal(stored, X[lo:hi])
    np.testing.assert_array_equal(part, X[lo:hi])


def test_float_matrices_are_mapped_aligned_and_kept_as_they_are(tmp_path, load):
    X, y = images(200)
    values = X / 8 - 3.5  # exact in float32
    path = write_csv(tmp_path / "f.csv", values, y)
    first = load(train=path, test=path, scale="none")
    second = load(train=path, test=path, scale="none")  # float32 already: no copy
    assert second.train.X.dtype == np.float32 and second.train.X.flags.aligned
    assert mapping_of(second.train.X) is not None
    np.testing.assert_array_equal(second.train.X, first.train.X)
    np.testing.assert_array_equal(second.train.X, values.astype(np.float32))
    standardized = load(train=path, test=path, scale="standardize")  # computed: in memory
    assert mapping_of(standardized.train.X) is None


def test_a_split_file_is_cached_train_rows_first(tmp_path, load, numrec_cache):
    X, y = images(500)
    path = write_csv(tmp_path / "all.csv", X, y)
    first = load(path=path, test_fraction=0.25, seed=5)
    second = load(path=path, test_fraction=0.25, seed=5)
    mapping = mapping_of(second.train.X)
    assert mapping is not None and mapping_of(second.test.X) is mapping
    for part in ("train", "test"):
        a, b = getattr(first, part), getattr(second, part)
        np.testing.assert_array_equal(b.X, a.X)
        np.testing.assert_array_equal(b.y, a.y)
    # The test rows follow the training rows in the file.
    end = file_offset(second.train.X, mapping) + second.train.X.nbytes
    assert file_offset(second.test.X, mapping) == end
    # Both parts are rows of the file, each in file order.
    rows = {row.tobytes(): i for i, row in enumerate(X)}
    for part in (second.train, second.test):
        where = [rows[row.tobytes()] for row in part.X]
        assert where == sorted(where)
        np.testing.assert_array_equal(part.y, y[where])


def test_another_order_reorders_and_rewrites_the_entry(tmp_path, load, numrec_cache):
    X, y = images(400)
    path = write_csv(tmp_path / "all.csv", X, y)
    split = load(path=path, seed=1)
    other = load(path=path, seed=2)  # another split of the same entry
    assert not np.array_equal(other.test.X, split.test.X)
    assert mapping_of(load(path=path, seed=2).train.X) is not None  # stored in seed 2's order
    whole = load(train=path, test=path)  # file order again
    np.testing.assert_array_equal(whole.train.X, X)
    again = load(path=path, seed=1)
    np.testing.assert_array_equal(again.test.X, split.test.X)
    np.testing.assert_array_equal(again.train.y, split.train.y)
    assert len(list((numrec_cache / "csv-cache").glob("*.npz"))) == 1


def rewrite(entry: Path, compress: bool, **changes) -> None:
    """Write ``entry`` again by hand, with numpy's own writer (members unaligned)."""
    with np.load(entry) as npz:
        arrays = {name: npz[name] for name in npz.files} | changes
    (np.savez_compressed if compress else np.savez)(entry, **arrays)


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "np.savez"])
def test_an_entry_that_cannot_be_mapped_is_read_whole(tmp_path, load, numrec_cache, compress):
    X, y = images(300)
    values = (X / 4).astype(np.float32)
    path = write_csv(tmp_path / "f.csv", values, y)
    first = load(path=path)
    entry = entry_of(numrec_cache)
    # Compressed, or a float32 member at an unaligned offset (np.savez): read whole.
    rewrite(entry, compress)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not an unreadable entry
        second = load(path=path)
    assert mapping_of(second.train.X) is None
    for part in ("train", "test"):
        np.testing.assert_array_equal(getattr(second, part).X, getattr(first, part).X)
        np.testing.assert_array_equal(getattr(second, part).y, getattr(first, part).y)
        assert getattr(second, part).X.dtype == np.float32


def test_a_uint8_entry_of_np_savez_is_mapped(tmp_path, load, numrec_cache):
    X, y = images(100)
    path = write_csv(tmp_path / "u.csv", X, y)
    load(train=path, test=path)
    rewrite(entry_of(numrec_cache), compress=False)  # bytes need no alignment
    ds = load(train=path, test=path)
    assert mapping_of(ds.train.X) is not None
    np.testing.assert_array_equal(ds.train.X, X)


def test_broken_entries_are_unreadable_not_wrong(tmp_path, load, numrec_cache):
    X, y = images(100)
    path = write_csv(tmp_path / "u.csv", X, y)
    load(path=path)
    entry = entry_of(numrec_cache)
    with np.load(entry) as npz:
        order = npz["order"]
    rewrite(entry, compress=False, order=np.zeros_like(order))  # not a permutation
    with pytest.warns(UserWarning, match="unreadable CSV cache"):
        load(path=path)
    data = entry.read_bytes()  # written again: now cut short inside X
    entry.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="unreadable CSV cache"):
        ds = load(train=path, test=path)
    np.testing.assert_array_equal(ds.train.X, X)
    with np.load(entry) as npz:
        meta = json.loads(str(npz["meta"]))
    assert meta["n_columns"] == X.shape[1] + 1
