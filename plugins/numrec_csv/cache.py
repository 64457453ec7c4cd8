"""The parsed-file cache: a parsed CSV file kept as an uncompressed .npz, memory-mapped.

A CSV file is parsed once; later loads read ``<data root>/csv-cache/<key>.npz``. The key
is a SHA-256 of the file's absolute path, size and modification time (ns) and of the
parse options, so an edited file is parsed again. Writes go through ``numrec.fileio`` (a
temporary file renamed into place), so a crash or a concurrent load never leaves half a
cache file; a cache that
cannot be read or written is skipped with a warning, never fatal. Only the newest entry
of each CSV file is kept.

The feature matrix ``X`` comes back as a memory map of its member of the .npz, not a
copy: a load costs the metadata and the labels, and the rows are read from the OS file
cache only where they are used (an MPI rank's ``X[lo:hi]`` reads only its own pages,
and the ranks of one machine share them). The map is copy-on-write, not read-only: the
file is never written, but the array stays writable like an array read whole, so the
engine's compiled functions see the type they always saw (a read-only float32 matrix
would be a new Numba specialisation, half a minute of compiling the first time), and a
caller that writes into it changes its own pages only.

``np.load`` cannot map a member of an .npz, so ``_mapped`` finds the member's bytes
itself: the zip's local file header, then the .npy header. Members are written 64-byte
aligned (a zip "extra field" pads the local header, as Android's zipalign does) so that
a mapped float32 matrix is aligned like an allocated one. A member that is compressed,
unaligned or odd in any other way is read whole, as ``np.load`` would. The mapping is
safe because an entry is never written in place, only replaced by a rename: a mapped
file stays intact while it is mapped, even if a newer entry replaces it. (A mapped
member's CRC is not checked, as that would read it all; atomic writes leave no torn one.)

A cache entry may hold its rows in another order than the file's (``Table.order``, the
file row of each stored row): a file split into train and test is stored train rows
first, so that the two parts are contiguous row ranges of the mapped matrix.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import time
import warnings
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from numrec.fileio import atomic_write

from .layout import Layout
from .parse import Table

VERSION = 2  # bump when the parser's output for the same file would change
ALIGN = 64  # the byte alignment of each member's .npy, hence of its data (numpy pads to 64)
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., file name length, extra length
_ZIP64_EXTRA = 20  # the zip64 extra field zipfile adds to a local header when forced
_PAD_ID = 0xD935  # zipalign's extra field: uint16 alignment, then zero bytes


def cache_dir() -> Path:
    from numrec.download import data_root

    return data_root() / "csv-cache"


def cache_path(path: Path, options: dict) -> Path:
    """Where the parse of ``path`` with ``options`` is cached (as the file is now).

    Take it before parsing, so that a file changed while it is parsed is not cached
    under its new size and time.
    """
    path = Path(path).resolve()
    st = path.stat()
    parts = (str(path), [VERSION, st.st_size, st.st_mtime_ns], sorted(options.items()))
    file_id, stat_id, options_id = (
        hashlib.sha256(json.dumps(p, default=str).encode()).hexdigest()[:16] for p in parts
    )
    return cache_dir() / f"{file_id}-{stat_id}-{options_id}.npz"


def load(entry: Path, path: Path) -> Table | None:
    """The parse of ``path`` cached at ``entry``, or None (none yet, or unreadable)."""
    if not entry.is_file():
        return None
    try:
        # One open file for the zip directory and the map: were the entry replaced
        # meanwhile, the map and the labels still come from the same version of it.
        with open(entry, "rb") as f, np.load(f, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            labels = _labels(npz["label_names"], npz["label_codes"])
            order = npz["order"] if "order" in npz.files else None
            X = _mapped(f, npz.zip.getinfo("X.npy"))
            if X is None:
                X = npz["X"]
        _check_shapes(X, labels, order)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring the unreadable CSV cache {entry}: {e}", stacklevel=2)
        return None
    columns = tuple(meta["columns"]) if meta["columns"] is not None else None
    layout = Layout(
        Path(path), meta["delimiter"], columns, meta["n_columns"], meta["label_index"],
        meta["first_line"], meta["data_offset"], meta["data_line"],
    )  # fmt: skip
    return Table(X, labels, layout, order)


def _labels(names: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The per-row label texts (an object array of shared str) from names and codes."""
    if names.ndim != 1 or codes.ndim != 1 or codes.dtype.kind not in "iu":
        raise ValueError("malformed label names or codes")
    if len(codes) and (codes.min() < 0 or codes.max() >= len(names)):
        raise ValueError("a label code out of range")
    texts = np.empty(len(names), object)
    texts[:] = [str(n) for n in names]
    return texts[codes]


def _check_shapes(X: np.ndarray, labels: np.ndarray, order: np.ndarray | None) -> None:
    """ValueError unless the members fit together (a wrong order would mix up rows)."""
    if X.ndim != 2 or labels.shape != (len(X),):
        raise ValueError(f"X of shape {X.shape} and labels of shape {labels.shape}")
    if order is not None and not (
        order.shape == labels.shape
        and order.dtype.kind in "iu"
        and np.array_equal(np.sort(order), np.arange(len(order)))
    ):
        raise ValueError("the stored row order is not a permutation of the rows")


def _mapped(f: BinaryIO, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The array of the stored (uncompressed) .npy member ``info`` of the open zip ``f``,
    as a view of a copy-on-write memory map; None when it cannot be mapped as it is."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # 0x1: encrypted
        return None
    try:
        f.seek(info.header_offset)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if signature != b"PK\x03\x04":
            return None
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        f.seek(start)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, struct.error):
        return None  # the full read says what is wrong, if anything is
    if (
        dtype.hasobject
        or nbytes == 0
        or offset - start + nbytes != info.file_size
        or offset + nbytes > size
        or offset % dtype.alignment  # e.g. a float32 entry of np.savez: read it aligned
    ):
        return None
    # The map outlives ``f``: mmap keeps its own handle, and the array keeps the map.
    view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    return np.ndarray(shape, dtype, buffer=view, offset=offset, order="F" if fortran else "C")


def save(entry: Path, table: Table) -> bool:
    """Store ``table`` at ``entry`` atomically; False (with a warning) if it cannot."""
    lay = table.layout
    meta = {
        "delimiter": lay.delimiter,
        "columns": list(lay.columns) if lay.columns is not None else None,
        "n_columns": lay.n_columns,
        "label_index": lay.label_index,
        "first_line": lay.first_line,
        "data_offset": lay.data_offset,
        "data_line": lay.data_line,
        "source": str(Path(lay.path).resolve()),
    }
    # labels as their distinct texts and a code per row: a str array would give every
    # row the width of the longest label
    names, codes = np.unique(np.asarray(table.labels, object), return_inverse=True)
    arrays = {
        "X": table.X,
        "label_names": np.array([str(n) for n in names], dtype=str),
        "label_codes": codes.reshape(-1).astype(np.int64),
        "meta": np.array(json.dumps(meta)),
    }
    if table.order is not None:
        arrays["order"] = np.asarray(table.order, np.int64)
    try:
        with atomic_write(entry) as f:
            _write_npz(f, arrays)
    except OSError as e:
        warnings.warn(f"could not write the CSV cache for {lay.path}: {e}", stacklevel=2)
        return False
    _drop_stale(entry)
    return True


def _write_npz(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez`` writes (stored .npy members, zip64 headers), each member's
    data ``ALIGN``-byte aligned in the file so that it can be mapped as it is."""
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=stamp)
            start = f.tell() + _LOCAL_HEADER.size + len(info.filename.encode()) + _ZIP64_EXTRA
            info.extra = _padding(-start % ALIGN)
            # force_zip64 as np.savez does: the header is written before the size is known.
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _padding(gap: int) -> bytes:
    """An extra field of ``gap`` bytes (plus ``ALIGN`` if ``gap`` is too short for one)."""
    if gap == 0:
        return b""
    while gap < 6:  # id, length and alignment: the smallest such field
        gap += ALIGN
    return struct.pack("<HHH", _PAD_ID, gap - 4, ALIGN) + bytes(gap - 6)


def _drop_stale(entry: Path) -> None:
    """Remove the entries of earlier versions of the same CSV file (other size or time)."""
    file_id, stat_id, _ = entry.stem.split("-")
    for old in entry.parent.glob(f"{file_id}-*.npz"):
        if old.stem.split("-")[1] != stat_id:
            try:
                old.unlink(missing_ok=True)
            except OSError:  # e.g. still mapped on Windows: dropped by a later save
                pass
