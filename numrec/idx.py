"""The IDX file format (LeCun's MNIST files) as pure functions: read, write, validate.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 size per dimension, then the values in C order,
big-endian. See http://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").

    from numrec.idx import read_idx, write_idx, read_image_label_pair
    X, y = read_image_label_pair("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")

Files may be gzip-compressed (recognised by their first two bytes, not by the suffix).
Uncompressed files are memory-mapped (copy-on-write) rather than copied; gzip files are
inflated once into a single buffer that the returned array views. Every problem raises
``numrec.DatasetError`` naming the file, what is wrong and what was expected.
"""

from __future__ import annotations

import gzip
import mmap
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .errors import DatasetError

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]

# type code -> big-endian dtype (on-disk layout)
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = {c: d.newbyteorder("=").name for c, d in TYPE_CODES.items()}
_CODE_OF = {(d.kind, d.itemsize): c for c, d in TYPE_CODES.items()}  # for writing
_EXPECTED_TYPES = ", ".join(f"0x{c:02X} ({n})" for c, n in _TYPE_NAMES.items())
_GZIP_MAGIC = b"\x1f\x8b"
_IN_CHUNK = 1 << 20  # compressed bytes fed to zlib at a time
_OUT_CHUNK = 16 << 20  # cap on what one zlib call may produce (guards against gzip bombs)
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand more than this; bounds the size hint


def read_idx(source: Source, name: str | None = None) -> np.ndarray:
    """Read one IDX array from a path, a binary file object or bytes.

    ``name`` is used in error messages (default: the path or the file object's name).
    Returns an array in native byte order with the header's shape; uint8/int8 data is a
    view of the file (copy-on-write for memory-mapped raw files), multi-byte types are
    converted to native order.
    """
    buf, label = _load(source, name)
    return _parse(buf, label)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) of ``array``; its dtype picks the type code."""
    array = np.asarray(array)
    code = _CODE_OF.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise DatasetError(
            f"cannot store dtype {array.dtype} in IDX; expected one of {_EXPECTED_TYPES}"
        )
    disk = TYPE_CODES[code]
    if array.ndim < 1 or array.ndim > 255:
        raise DatasetError(f"IDX needs 1 to 255 dimensions, got shape {array.shape}")
    if any(n >= 2**32 for n in array.shape):
        raise DatasetError(f"IDX sizes are uint32; shape {array.shape} is too large")
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=disk).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    The gzip output is deterministic (mtime 0, no file name) so that rebuilt files have
    the same checksum.
    """
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        with open(path, "wb") as f, gzip.GzipFile("", "wb", 9, f, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return path


def read_image_label_pair(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST-style pair: images (n, rows, cols) and labels (n,).

    Returns ``X`` as uint8 of shape (n, rows * cols) (a view, no copy) and ``y`` as int64.
    """
    images = read_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{images_path}: expected uint8 images of 3 dimensions (count, rows, cols), "
            f"got {images.dtype} with shape {images.shape}"
        )
    labels = read_idx(labels_path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{labels_path}: expected integer labels of 1 dimension (count,), "
            f"got {labels.dtype} with shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; expected one label per image"
        )
    n, rows, cols = images.shape
    return images.reshape(n, rows * cols), labels.astype(np.int64)


# --- reading -------------------------------------------------------------------------


def _load(source: Source, name: str | None) -> tuple[memoryview, str]:
    """The uncompressed bytes of ``source`` (a view, mapped where possible) and its label."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = memoryview(source).cast("B")
        if data[:2] == _GZIP_MAGIC:
            return _gunzip(_chunks_of(data), len(data), _isize(data), label), label
        return data, label
    if isinstance(source, (str, os.PathLike)):
        label = name or os.fspath(source)
        try:
            with open(source, "rb") as f:
                return _load_file(f, label), label
        except OSError as e:
            raise DatasetError(f"{label}: cannot read: {e.strerror or e}") from e
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", "<stream>"))
        return _load_stream(source, label), label
    raise TypeError(f"read_idx needs a path, bytes or a binary file, not {type(source)!r}")


def _load_file(f: BinaryIO, label: str) -> memoryview:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise DatasetError(f"{label}: empty file; expected an IDX header (4-byte magic)")
    if f.read(2) == _GZIP_MAGIC:
        hint = 0
        if size >= 18:  # the smallest gzip file: 10-byte header + 8-byte trailer
            f.seek(-4, os.SEEK_END)
            hint = int.from_bytes(f.read(4), "little")
        f.seek(0)
        return _gunzip(iter(lambda: f.read(_IN_CHUNK), b""), size, hint, label)
    # Map rather than read: the pages come from the OS file cache, shared and uncopied
    # until written. Copy-on-write rather than read-only, so the arrays are writable like
    # those of gzip files: a read-only array is another type to numba, and training on
    # one compiled every kernel a second time (~19 s here). Writes never reach the file.
    return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))


def _load_stream(f: BinaryIO, label: str) -> memoryview:
    data = f.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{label}: read_idx needs a binary file, got {type(data).__name__}")
    return _load(data, label)[0]


def _chunks_of(data: memoryview):
    for start in range(0, len(data), _IN_CHUNK):
        yield data[start : start + _IN_CHUNK]


def _isize(data: memoryview) -> int:
    """The gzip trailer's uncompressed size (mod 2**32): a hint for preallocation."""
    return int.from_bytes(data[-4:], "little") if len(data) >= 18 else 0


def _gunzip(chunks, compressed_size: int, hint: int, label: str) -> memoryview:
    """Inflate the gzip member(s) in ``chunks`` into one preallocated buffer.

    Feeding 1 MiB at a time into a buffer sized from the gzip trailer keeps the peak
    memory at about the uncompressed size: no whole-file read, no growing copies.
    """
    out = np.empty(max(min(hint, compressed_size * _MAX_DEFLATE_RATIO), 1), np.uint8)
    pos = 0
    inflater = zlib.decompressobj(wbits=31)
    try:
        for chunk in chunks:
            pending = bytes(chunk)
            while pending:
                if inflater is None:  # after a member: another member, or zero padding
                    if not pending.strip(b"\0"):
                        break  # trailing zeros, which gzip(1) ignores too
                    if pending[0] != _GZIP_MAGIC[0]:
                        raise DatasetError(
                            f"{label}: unexpected bytes after the end of the gzip data; "
                            f"expected another gzip member or the end of the file"
                        )
                    inflater = zlib.decompressobj(wbits=31)
                piece = inflater.decompress(pending, _OUT_CHUNK)
                pending = inflater.unconsumed_tail
                if pos + len(piece) > len(out):  # the trailer's size was wrong: grow
                    out = np.concatenate([out[:pos], np.empty(len(out) + len(piece), np.uint8)])
                out[pos : pos + len(piece)] = np.frombuffer(piece, np.uint8)
                pos += len(piece)
                if inflater.eof:
                    pending = inflater.unused_data + pending
                    inflater = None
    except zlib.error as e:
        raise DatasetError(
            f"{label}: corrupt gzip data ({e}); expected a valid gzip file - "
            f"delete it and fetch it again"
        ) from e
    if inflater is not None:
        raise DatasetError(
            f"{label}: corrupt gzip data: the compressed stream ends early (truncated "
            f"file?); expected a complete gzip file - delete it and fetch it again"
        )
    # Trim without copying when the hint was right; copy only if much was over-allocated.
    data = out[:pos] if pos * 2 >= len(out) else out[:pos].copy()
    return memoryview(data).cast("B")


def _parse(buf: memoryview, label: str) -> np.ndarray:
    n = len(buf)
    if n == 0:
        raise DatasetError(f"{label}: empty file; expected an IDX header (4-byte magic)")
    if n < 4:
        raise DatasetError(f"{label}: only {n} byte(s); expected an IDX header of 4+ bytes")
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    magic = int.from_bytes(buf[:4], "big")
    if zero0 or zero1:
        raise DatasetError(
            f"{label}: bad magic number 0x{magic:08X}; an IDX file starts with two zero "
            f"bytes (e.g. 0x00000803 for images, 0x00000801 for labels) - is it an IDX file?"
        )
    if code not in TYPE_CODES:
        raise DatasetError(
            f"{label}: unknown IDX type code 0x{code:02X} (magic 0x{magic:08X}); "
            f"expected one of {_EXPECTED_TYPES}"
        )
    if ndim == 0:
        raise DatasetError(f"{label}: magic 0x{magic:08X} declares 0 dimensions; expected 1+")
    header_len = 4 + 4 * ndim
    if n < header_len:
        raise DatasetError(
            f"{label}: truncated header: {ndim} dimension(s) need a {header_len}-byte "
            f"header, but the file has only {n} bytes"
        )
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    disk = TYPE_CODES[code]
    count = 1
    for d in shape:
        count *= d
    expected = count * disk.itemsize
    have = n - header_len
    if have < expected:
        raise DatasetError(
            f"{label}: truncated data: the header declares shape {shape} of "
            f"{_TYPE_NAMES[code]} = {expected} bytes after the {header_len}-byte header, "
            f"but only {have} bytes follow"
        )
    if have > expected:
        raise DatasetError(
            f"{label}: {have - expected} unexpected trailing bytes: the header declares "
            f"shape {shape} of {_TYPE_NAMES[code]} = {expected} bytes after the "
            f"{header_len}-byte header, but {have} bytes follow"
        )
    array = np.frombuffer(buf, disk, count, header_len).reshape(shape)
    if disk.byteorder == ">":  # multi-byte values are big-endian on disk
        array = array.astype(disk.newbyteorder("="))
    return array
