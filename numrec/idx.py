"""The IDX file format (LeCun's MNIST files) as pure functions: read, write, validate.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 size per dimension, then the values in C order,
big-endian. See http://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").

    from numrec.idx import read_idx, write_idx, read_image_label_pair
    X, y = read_image_label_pair("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")

Files may be gzip-compressed (recognised by their first two bytes, not by the suffix).
The header is read first and the size it declares is checked against the file (or what
its compressed bytes can hold) before anything is allocated; gzip data is inflated in
bounded steps into one buffer of the declared size, stopping as soon as more follows.
Uncompressed files are read into memory, or memory-mapped (copy-on-write) when larger than
``MAP_ABOVE``. Every problem raises ``numrec.DatasetError`` naming the file, what is wrong
and what was expected.
"""

from __future__ import annotations

import gzip
import itertools
import mmap
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .errors import DatasetError
from .fileio import atomic_write

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
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand more than this: bounds a header's claim
# Raw files up to this size are read into memory; larger ones are memory-mapped (see
# _load_file). Reading costs a copy per process; a map shares the OS cache but dies with
# SIGBUS if the file shrinks while mapped.
MAP_ABOVE = 1 << 30


def read_idx(source: Source, name: str | None = None, size: int | None = None) -> np.ndarray:
    """Read one IDX array from a path, a binary file object or bytes.

    ``name`` is used in error messages (default: the path or the file object's name).
    ``size``: a file object's size in bytes, when known (a zip member's); a gzip stream
    whose header declares more than that many bytes can hold is refused before inflating.
    Returns an array in native byte order with the header's shape; uint8/int8 data is a
    view of the file (copy-on-write for memory-mapped raw files), multi-byte types are
    converted to native order.
    """
    buf, label = _load(source, name, size)
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
    the same checksum. Written atomically (``numrec.fileio``).
    """
    path = Path(path)
    data = encode_idx(array)
    with atomic_write(path) as f:
        if path.suffix == ".gz":
            with gzip.GzipFile("", "wb", 9, f, mtime=0) as gz:
                gz.write(data)
        else:
            f.write(data)
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


class _Header:
    """What an IDX header declares: type code, shape, and the sizes that follow from it."""

    def __init__(self, code: int, shape: tuple[int, ...]) -> None:
        self.code, self.shape = code, shape
        self.dtype = TYPE_CODES[code]
        self.length = 4 + 4 * len(shape)  # bytes of the header itself
        count = 1
        for d in shape:
            count *= d
        self.count = count
        self.total = self.length + count * self.dtype.itemsize  # bytes of the whole file

    def describe(self) -> str:
        return (
            f"shape {self.shape} of {_TYPE_NAMES[self.code]} = "
            f"{self.total - self.length} bytes after the {self.length}-byte header"
        )


def _header(buf, label: str) -> _Header | None:
    """The header at the start of ``buf``; None while ``buf`` is too short to hold it
    (for a stream still being read); DatasetError for a malformed one."""
    n = len(buf)
    if n < 4:
        return None
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    magic = int.from_bytes(bytes(buf[:4]), "big")
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
    if n < 4 + 4 * ndim:
        return None
    shape = tuple(int.from_bytes(bytes(buf[4 + 4 * i : 8 + 4 * i]), "big") for i in range(ndim))
    nonzero = 1
    for d in shape:
        nonzero *= max(d, 1)
    if nonzero * TYPE_CODES[code].itemsize >= 2**62:  # numpy's shapes live in int64
        raise DatasetError(
            f"{label}: the header declares shape {shape}, larger than any array can be; "
            f"expected an IDX file's real sizes"
        )
    return _Header(code, shape)


def _short_header(n: int, buf, label: str) -> DatasetError:
    """The error for a file of ``n`` bytes that ends inside its header."""
    if n == 0:
        return DatasetError(f"{label}: empty file; expected an IDX header (4-byte magic)")
    if n < 4:
        return DatasetError(f"{label}: only {n} byte(s); expected an IDX header of 4+ bytes")
    ndim = buf[3]
    return DatasetError(
        f"{label}: truncated header: {ndim} dimension(s) need a {4 + 4 * ndim}-byte "
        f"header, but the file has only {n} bytes"
    )


def _check_size(header: _Header, have: int, label: str) -> None:
    """DatasetError unless ``have`` bytes are exactly what ``header`` declares."""
    data = have - header.length
    if have < header.total:
        raise DatasetError(
            f"{label}: truncated data: the header declares {header.describe()}, "
            f"but only {data} bytes follow"
        )
    if have > header.total:
        raise DatasetError(
            f"{label}: {have - header.total} unexpected trailing bytes: the header declares "
            f"{header.describe()}, but {data} bytes follow"
        )


def _load(source: Source, name: str | None, size: int | None = None) -> tuple[memoryview, str]:
    """The uncompressed bytes of ``source`` (a view, mapped where large) and its label."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = memoryview(source).cast("B")
        if data[:2] == _GZIP_MAGIC:
            return _gunzip(_chunks_of(data), len(data), label), label
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
        return _load_stream(source, label, size), label
    raise TypeError(f"read_idx needs a path, bytes or a binary file, not {type(source)!r}")


def _load_file(f: BinaryIO, label: str) -> memoryview:
    size = os.fstat(f.fileno()).st_size
    head = f.read(4 + 4 * 255)
    if head[:2] == _GZIP_MAGIC:
        f.seek(0)
        return _gunzip(iter(lambda: f.read(_IN_CHUNK), b""), size, label)
    header = _header(head, label)
    if header is None:
        raise _short_header(size, head, label)
    _check_size(header, size, label)  # before a byte of the data is read or mapped
    if size <= MAP_ABOVE:
        # Read, not mapped: a mapped file that shrinks under training (another program
        # rewriting it) kills the process with SIGBUS, no message, no checkpoint. Reading
        # MNIST's 47 MB costs about 0.03 s from the OS cache.
        out = np.empty(size, np.uint8)
        f.seek(0)
        _read_into(f, memoryview(out), label)
        return memoryview(out)
    # Map rather than read the files too large to copy comfortably (each MPI rank would
    # hold its own copy): the pages come from the OS file cache, shared and uncopied until
    # written. Copy-on-write rather than read-only, so the arrays are writable like those
    # of gzip files: a read-only array is another type to numba, and training on one
    # compiled every kernel a second time (~19 s here). Writes never reach the file. Such
    # a file must not shrink while it is used (see MAP_ABOVE).
    return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))


def _read_into(f: BinaryIO, out: memoryview, label: str) -> None:
    pos = 0
    while pos < len(out):
        got = f.readinto(out[pos : pos + _OUT_CHUNK])
        if not got:
            raise DatasetError(
                f"{label}: the file shrank while it was read ({pos} of {len(out)} bytes); "
                f"expected a file that nothing else is writing"
            )
        pos += got


def _load_stream(f: BinaryIO, label: str, size: int | None) -> memoryview:
    """Read a stream (a zip member, a socket...) without knowing its size in advance:
    the header says how much to read, and nothing more is read or allocated."""
    head = f.read(2)
    if not isinstance(head, (bytes, bytearray)):
        raise TypeError(f"{label}: read_idx needs a binary file, got {type(head).__name__}")
    if head == _GZIP_MAGIC:
        first = [bytes(head)]
        chunks = itertools.chain(first, iter(lambda: f.read(_IN_CHUNK), b""))
        return _gunzip(chunks, size, label)
    head += f.read(2)
    if len(head) == 4:
        head += f.read(4 * head[3])
    header = _header(head, label)
    if header is None:
        raise _short_header(len(head), head, label)
    if size is not None and header.total > size:
        _check_size(header, size, label)  # raises: truncated, before allocating
    out = _allocate(header, None, label)  # untouched pages cost nothing
    out[: len(head)] = np.frombuffer(head, np.uint8)
    pos = len(head)
    view = memoryview(out)
    while pos < header.total:
        got = f.readinto(view[pos : pos + _OUT_CHUNK])
        if not got:
            break
        pos += got
    extra = len(f.read(_IN_CHUNK)) if pos == header.total else 0
    _check_size(header, pos + extra, label)
    return view


def _chunks_of(data: memoryview):
    for start in range(0, len(data), _IN_CHUNK):
        yield data[start : start + _IN_CHUNK]


def _gunzip(chunks, compressed_size: int | None, label: str) -> memoryview:
    """Inflate the gzip member(s) in ``chunks`` into one buffer of the size the IDX header
    declares, and no more.

    The header is inflated first; its declared size is checked against what the
    compressed bytes can hold (deflate expands at most ~1032 times) before the buffer is
    allocated; inflating stops as soon as the data goes past the declared size. So a
    small file that inflates to gigabytes costs at most the declared size, and a header
    that declares more than the file can hold costs nothing.
    """
    head = bytearray()  # the inflated bytes until the header is complete
    header: _Header | None = None
    out = view = None
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
                if header is None:
                    room = 4 + 4 * 255 - len(head)
                else:  # one byte past the declared end is enough to know there is more
                    room = min(_OUT_CHUNK, header.total - pos + 1)
                piece = inflater.decompress(pending, room)
                pending = inflater.unconsumed_tail
                if header is None:
                    head += piece
                    header = _header(head, label)
                    if header is not None:
                        out, pos = _allocate(header, compressed_size, label), 0
                        view = memoryview(out)
                        piece, head = bytes(head), None
                if header is not None and piece:
                    if pos + len(piece) > header.total:
                        _check_size(header, pos + len(piece), label)  # raises: trailing
                    view[pos : pos + len(piece)] = piece
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
    if header is None:
        raise _short_header(len(head), head, label)
    _check_size(header, pos, label)
    return view


def _allocate(header: _Header, compressed_size: int | None, label: str) -> np.ndarray:
    """The buffer for the whole inflated file, once its size is shown to be possible."""
    if compressed_size is not None and header.total > compressed_size * _MAX_DEFLATE_RATIO:
        raise DatasetError(
            f"{label}: the header declares {header.describe()}, but {compressed_size} "
            f"bytes of gzip data cannot hold that many (at most "
            f"{compressed_size * _MAX_DEFLATE_RATIO}); expected a complete IDX file"
        )
    try:
        return np.empty(header.total, np.uint8)  # pages are only touched when filled
    except MemoryError:
        raise DatasetError(
            f"{label}: the header declares {header.describe()}: more memory than this "
            f"machine can give"
        ) from None


def _parse(buf: memoryview, label: str) -> np.ndarray:
    header = _header(buf, label)
    if header is None:
        raise _short_header(len(buf), buf, label)
    _check_size(header, len(buf), label)
    disk = header.dtype
    array = np.frombuffer(buf, disk, header.count, header.length).reshape(header.shape)
    if disk.byteorder == ">":  # multi-byte values are big-endian on disk
        array = array.astype(disk.newbyteorder("="))
    return array
