"""The one place where numrec writes files, and reads zip members with bounded memory.

    from numrec.fileio import atomic_write, write_bytes
    with atomic_write("model.npz") as f:      # a binary file object
        np.savez(f, ...)
    write_bytes("t10k-labels-idx1-ubyte", data)

Every file numrec makes (models, checkpoints, the parse caches, downloads, IDX files,
plots) is written to a temporary file in the destination's folder, flushed and fsynced,
renamed over the destination (``os.replace``: readers see the old file or the whole new
one), and then the folder itself is fsynced so that the rename survives a power cut. The
temporary file is created with ``os.open(..., 0o666)``, so the umask decides its
permissions exactly as for a plain ``open``: nothing reads or changes the process umask.

Temporary files are named ``.<destination>.<host>-<pid>.<random>.numrec-tmp``. One left
behind by a process killed mid-write (SIGKILL, power cut) is removed by the next write to
the same folder: when its process is gone (same host), or when it has not changed for a
day (a writer on another host of a shared file system).

``read_member`` reads a zip member (a model's ``.npy`` arrays) with its size checked
against the member's own declared and compressed sizes before any memory is allocated,
and inflated in bounded chunks that stop at the declared size.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import DatasetError

TEMP_SUFFIX = ".numrec-tmp"
STALE_AFTER = 24 * 3600  # seconds without a change after which another host's temp is stale
# Deflate cannot expand data more than about 1032 times (RFC 1951's longest match per
# 2-3 bits); a member or gzip stream claiming more than this is lying.
MAX_DEFLATE_RATIO = 1032
CHUNK = 1 << 20  # bytes inflated or copied per step
_VERIFY_ABOVE = 32 << 20  # compressed members larger than this are inflated once to check


def _host() -> str:
    # a short, file-name-safe tag of this machine: temps of other hosts are judged by age
    name = socket.gethostname() or "host"
    return "".join(c for c in name if c.isalnum())[:16] or "host"


def temp_path(path: Path) -> Path:
    """A fresh temporary name next to ``path`` in numrec's naming (see the module doc)."""
    return path.with_name(
        f".{path.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files of writers that died in ``folder``; the ones removed."""
    removed = []
    host, now = _host(), time.time()
    try:
        candidates = list(Path(folder).glob(f".*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for tmp in candidates:
        # .<name>.<host>-<pid>.<hex>.numrec-tmp
        parts = tmp.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or "-" not in parts[1]:
            continue
        owner_host, _, pid_text = parts[1].rpartition("-")
        if not pid_text.isdigit():
            continue
        try:
            age = now - tmp.stat().st_mtime
        except OSError:
            continue
        if owner_host == host:
            stale = int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))
        else:
            stale = age > STALE_AFTER
        if stale:
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on a folder: nothing to do
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` whole when the block ends
    without an exception; on an exception (or a crash) ``path`` is left as it was."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; expected a file name", str(path))
    folder = path.parent
    for above in (folder, *folder.parents):
        if above.exists():
            if not above.is_dir():  # mkdir would say only "File exists"
                raise NotADirectoryError(
                    errno.ENOTDIR, f"is a file, not a folder (for {path.name})", str(above)
                )
            break
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    tmp = temp_path(path)
    # 0o666 and the umask: the permissions a plain open() would give, without os.umask()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())  # the data must be on disk before the rename is
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_folder(folder)


def write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_write``)."""
    path = Path(path).expanduser()
    with atomic_write(path) as out:
        out.write(data)
    return path


# --- reading zip members with bounded memory -----------------------------------------


def check_member(label: str, info: zipfile.ZipInfo, archive_size: int) -> None:
    """DatasetError unless the member can be read: not encrypted, a known compression,
    and sizes that the archive can hold."""
    if info.flag_bits & 0x1:
        raise DatasetError(
            f"{label}: the zip member {info.filename} is encrypted; expected a plain one"
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DatasetError(
            f"{label}: the zip member {info.filename} uses compression method "
            f"{info.compress_type}; expected stored or deflated"
        )
    if info.compress_size > archive_size:
        raise DatasetError(
            f"{label}: the zip member {info.filename} claims {info.compress_size:,} "
            f"compressed bytes, but the file has only {archive_size:,}"
        )
    limit = info.compress_size * (
        1 if info.compress_type == zipfile.ZIP_STORED else MAX_DEFLATE_RATIO
    )
    if info.file_size > limit + 64:
        raise DatasetError(
            f"{label}: the zip member {info.filename} claims {info.file_size:,} bytes, more "
            f"than its {info.compress_size:,} compressed bytes can hold"
        )


def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str):
    """``zf.open(info)`` with every way it fails as a DatasetError naming ``label``."""
    try:
        return zf.open(info)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as e:
        raise DatasetError(f"{label}: damaged zip member {info.filename}: {e}") from None


def read_exactly(stream, nbytes: int, label: str, what: str) -> np.ndarray:
    """``nbytes`` from ``stream`` as a uint8 array, read in bounded chunks; DatasetError
    if the stream ends early or fails (a CRC error, damaged deflate data)."""
    out = np.empty(nbytes, np.uint8)  # untouched pages cost nothing until written
    view = memoryview(out)
    pos = 0
    try:
        while pos < nbytes:
            got = stream.readinto(view[pos : min(pos + CHUNK, nbytes)])
            if not got:
                break
            pos += got
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
        raise DatasetError(f"{label}: damaged data in {what}: {e}") from None
    if pos != nbytes:
        raise DatasetError(f"{label}: {what} is truncated: expected {nbytes:,} bytes, got {pos:,}")
    return out


def verify_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    """Inflate a compressed member once, keeping nothing, to prove that it holds its
    declared size (and CRC) before that much memory is allocated for it."""
    if info.compress_type == zipfile.ZIP_STORED or info.file_size <= _VERIFY_ABOVE:
        return
    scratch = bytearray(CHUNK)
    total = 0
    with open_member(zf, info, label) as stream:
        try:
            while got := stream.readinto(scratch):
                total += got
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
            raise DatasetError(f"{label}: damaged zip member {info.filename}: {e}") from None
    if total != info.file_size:
        raise DatasetError(
            f"{label}: the zip member {info.filename} holds {total:,} bytes; "
            f"its header says {info.file_size:,}"
        )
