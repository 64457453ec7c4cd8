"""Downloading data files into numrec's cache: mirrors in order, checksums, atomic writes.

    from numrec.download import fetch
    path = fetch("mnist", "t10k-labels-idx1-ubyte.gz",
                 ["https://ossci-datasets.s3.amazonaws.com/mnist/"], sha256="f7ae60f9...")

The cache is ``$NUMREC_DATA`` or the platform's user cache directory; file F of data set
D lives at ``<root>/D/F``. A file in the cache is used as it is (no network). Otherwise
``$NUMREC_MIRROR/D/F`` is tried first when that variable is set, then each mirror. A
download goes to a temporary file next to its destination and is renamed into place
only after its size and checksum check out, so the cache never holds a partial file.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from . import __version__
from .errors import DatasetError, DownloadError

_CHUNK = 1 << 16
_origins: dict[Path, str] = {}  # cache path -> URL it was downloaded from by this process


def data_root() -> Path:
    """The root of numrec's data cache: ``$NUMREC_DATA``, else the user cache directory."""
    env = os.environ.get("NUMREC_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "numrec"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "numrec" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "numrec"
    return Path.home() / ".cache" / "numrec"


def cached(dataset: str, filename: str) -> Path | None:
    """The cached copy of ``filename`` of ``dataset``, or None if it is not in the cache."""
    path = data_root() / dataset / filename
    return path if path.is_file() else None


def origin(path: Path) -> str | None:
    """The URL this process downloaded ``path`` from, or None (e.g. it was already cached)."""
    return _origins.get(Path(path))


def is_network_failure(error: DownloadError) -> bool:
    """True if no mirror could be reached at all (offline), rather than one answering badly.

    Lets a caller fall back to offline data when there is no network, but never when a
    server sent a wrong file (checksum or size mismatch) or refused it (HTTP error).
    """
    offline = ("timed out", "cannot connect", "connection failed")
    return bool(error.attempts) and all(why.startswith(offline) for _, why in error.attempts)


def mirror_urls(dataset: str, filename: str, mirrors: list[str]) -> list[str]:
    """The URLs ``fetch`` tries, in order: ``$NUMREC_MIRROR`` first, then the mirrors."""
    bases = list(mirrors)
    override = os.environ.get("NUMREC_MIRROR")
    if override:
        bases.insert(0, f"{override.rstrip('/')}/{dataset}")
    return [f"{base.rstrip('/')}/{filename}" for base in bases]


def fetch(
    dataset: str,
    filename: str,
    mirrors: list[str],
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = 30,
    progress: bool = True,
) -> Path:
    """The cached path of ``filename``, downloading it first if it is not cached.

    Each URL is tried in turn; an HTTP error, a timeout, a wrong size or a checksum
    mismatch moves on to the next. When all fail, ``DownloadError`` lists each URL and
    why it failed. ``timeout`` (seconds) applies to connecting and to each read.
    """
    dest = data_root() / dataset / filename
    if dest.is_file():
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create the cache folder {dest.parent}: {e.strerror or e}; "
            f"set NUMREC_DATA to a writable folder"
        ) from e
    attempts: list[tuple[str, str]] = []
    for url in mirror_urls(dataset, filename, mirrors):
        why = _download(url, dest, sha256, md5, size, timeout, progress)
        if why is None:
            _origins[dest] = url
            return dest
        attempts.append((url, why))
    raise DownloadError(filename, attempts)


class _LocalWriteError(Exception):
    """Writing to the cache failed: every mirror would fail the same way, so stop."""


def _download(
    url: str,
    dest: Path,
    sha256: str | None,
    md5: str | None,
    size: int | None,
    timeout: float,
    progress: bool,
) -> str | None:
    """Download ``url`` into ``dest``; None on success, else why it failed.

    The temp file is removed whatever happens, KeyboardInterrupt included.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise _cache_error(dest, e) from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            why = _transfer(url, out, sha256, md5, size, timeout, progress, dest.name)
        if why is None:
            os.replace(tmp, dest)
        return why
    except (OSError, _LocalWriteError) as e:
        cause = e.__cause__ if isinstance(e, _LocalWriteError) else e
        raise _cache_error(dest, cause) from cause
    finally:
        tmp.unlink(missing_ok=True)


def _cache_error(dest: Path, e: BaseException) -> DatasetError:
    why = getattr(e, "strerror", None) or e
    return DatasetError(f"cannot write {dest}: {why}; set NUMREC_DATA to a writable folder")


def _transfer(url, out, sha256, md5, size, timeout, progress, label) -> str | None:
    """Stream ``url`` into the open file ``out`` and verify it; None if all is well."""
    request = urllib.request.Request(url, headers={"User-Agent": f"numrec/{__version__}"})
    hashers = {}  # only the ones asked for: md5 may be missing on a FIPS system
    if sha256:
        hashers["sha256"] = hashlib.sha256()
    if md5:
        hashers["md5"] = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else size
            with tqdm(
                total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not progress, leave=False,
            ) as bar:  # fmt: skip
                got = _stream(response, out, hashers.values(), bar)
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} {e.reason}".rstrip()
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return f"cannot connect: {e.reason}"
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except (OSError, HTTPException) as e:
        return f"connection failed: {type(e).__name__}: {e}"
    except ValueError as e:  # urllib's answer to a malformed URL
        return f"bad URL: {e}"
    if size is not None and got != size:
        return f"size mismatch: expected {size} bytes, got {got}"
    for kind, want in (("sha256", sha256), ("md5", md5)):
        if want and hashers[kind].hexdigest() != want.lower():
            return f"checksum mismatch: expected {kind} {want}, got {hashers[kind].hexdigest()}"
    return None


def _stream(response, out, hashers, bar) -> int:
    """Copy the response body to ``out``, updating the hashes and the progress bar."""
    got = 0
    while chunk := response.read(_CHUNK):
        try:
            out.write(chunk)
        except OSError as e:
            raise _LocalWriteError() from e
        for h in hashers:
            h.update(chunk)
        got += len(chunk)
        bar.update(len(chunk))
    return got
