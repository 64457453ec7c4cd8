"""Downloading data files into numrec's cache: mirrors side by side, checksums, atomic writes.

    from numrec.download import fetch
    path = fetch("mnist", "t10k-labels-idx1-ubyte.gz",
                 ["https://ossci-datasets.s3.amazonaws.com/mnist/"], sha256="f7ae60f9...")

The cache is ``$NUMREC_DATA`` or the platform's user cache directory; file F of data set
D lives at ``<root>/D/F``. Otherwise ``$NUMREC_MIRROR/D/F`` is tried first when that
variable is set, then each mirror.

Offline is recognised fast: every mirror is asked at once, and the first in the list that
answers within ``answer_timeout`` seconds (5) is downloaded from; a mirror that is slow
to send its file once it has answered still sends it in full (``timeout`` applies to
each read). Where connections hang rather than fail (a firewall that drops packets), the
caller hears "no mirror answered" after 5 s, not after 30 s per mirror; a note on stderr
says what is being waited for after the first second.

A download goes to a temporary file next to its destination, opened as ``open()`` would
(the umask decides its permissions), fsynced and renamed into place only after its size
and checksum check out, so the cache never holds a partial file. Temporary files are
named ``.<file>.<host>-<pid>.<random>.numrec-tmp``; one left by a process killed
mid-download is removed by the next download into that folder. No more than the expected
size (or ``max_size``) is ever read from a server.

A cached file is not trusted blindly: beside it, ``.<file>.numrec-sum`` records its
size, SHA-256 and its stat (size, mtime, inode); a hit whose stat still matches is
trusted, any other is hashed again, and a file that no longer matches its checksum is
downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import __version__
from .errors import DatasetError, DownloadError
from .fileio import fsync_folder, remove_stale_temps, temp_path, write_bytes

_CHUNK = 1 << 16
ANSWER_TIMEOUT = 5.0  # seconds for some mirror to start answering before "offline"
NOTE_AFTER = 1.0  # seconds without an answer before saying what is being waited for
MAX_SIZE = 1 << 30  # bytes read from a server when the caller gives no size (EMNIST: 0.56 GB)
SUM_SUFFIX = ".numrec-sum"
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


@dataclass(frozen=True)
class Expected:
    """What the downloaded file must be: its checksums and size, where known."""

    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    max_size: int = MAX_SIZE

    @property
    def limit(self) -> int:
        """The most bytes worth reading from a server."""
        return self.size if self.size is not None else self.max_size


def fetch(
    dataset: str,
    filename: str,
    mirrors: list[str],
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = 30,
    progress: bool = True,
    answer_timeout: float = ANSWER_TIMEOUT,
    max_size: int = MAX_SIZE,
) -> Path:
    """The cached path of ``filename``, downloading it first if it is not cached.

    Every URL is asked at once; they are used in order, the first that answers (within
    ``answer_timeout`` seconds) with a file of the right size and checksum wins. An HTTP
    error, no answer, a wrong size or a checksum mismatch moves on to the next. When all
    fail, ``DownloadError`` lists each URL and why it failed. ``timeout`` (seconds)
    applies to each read once a mirror has answered. At most ``size`` bytes (else
    ``max_size``) are read from a server.
    """
    dest = data_root() / dataset / filename
    expected = Expected(sha256, md5, size, max_size)
    if dest.is_file() and _trusted(dest, expected):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(
            f"cannot create the cache folder {dest.parent}: {e.strerror or e}; "
            f"set NUMREC_DATA to a writable folder"
        ) from e
    urls = mirror_urls(dataset, filename, mirrors)
    attempts: list[tuple[str, str]] = []
    calls = [_Call.start(url, timeout) for url in urls]  # side by side
    deadline = time.monotonic() + answer_timeout
    note = _WaitNote(filename, calls, answer_timeout, progress)
    try:
        for call in calls:
            if not call.wait_until(deadline, note):
                attempts.append((call.url, f"timed out: no answer within {answer_timeout:g} s"))
                continue
            if call.why is not None:
                attempts.append((call.url, call.why))
                continue
            why = _download(call, dest, expected, timeout, progress)
            if why is None:
                _origins[dest] = call.url
                return dest
            attempts.append((call.url, why))
    finally:
        for call in calls:
            call.abandon()
    raise DownloadError(filename, attempts)


# --- asking the mirrors side by side ----------------------------------------------------


@dataclass
class _Call:
    """One mirror's request, made in a thread: its response (headers read) or why not."""

    url: str
    response: Any = None
    why: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False

    @classmethod
    def start(cls, url: str, timeout: float) -> _Call:
        call = cls(url)
        thread = threading.Thread(target=call._ask, args=(timeout,), daemon=True)
        thread.name = "numrec-download"
        thread.start()
        return call

    def _ask(self, timeout: float) -> None:
        request = urllib.request.Request(self.url, headers={"User-Agent": f"numrec/{__version__}"})
        response, why = None, None
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except BaseException as e:  # reported, never raised in this thread
            why = _failure(e, timeout)
        with self.lock:
            if self.abandoned:  # answered too late: nobody reads it
                if response is not None:
                    response.close()
                return
            self.response, self.why = response, why
            self.done.set()

    def wait_until(self, deadline: float, note: _WaitNote) -> bool:
        """Whether the mirror answered (or failed) before ``deadline``."""
        while not self.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.done.wait(min(left, note.due()))
            note.maybe_say()
        return True

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            if self.response is not None:
                self.response.close()
                self.response = None

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc or self.url


class _WaitNote:
    """Says once, on stderr, which mirrors are being waited for, after NOTE_AFTER s."""

    def __init__(self, filename: str, calls: list[_Call], limit: float, enabled: bool) -> None:
        self.filename, self.calls, self.limit, self.enabled = filename, calls, limit, enabled
        self.at = time.monotonic() + NOTE_AFTER
        self.said = False

    def due(self) -> float:
        return max(0.05, self.at - time.monotonic()) if not self.said else 3600.0

    def maybe_say(self) -> None:
        if self.said or not self.enabled or time.monotonic() < self.at:
            return
        self.said = True
        waiting = [c.host for c in self.calls if not c.done.is_set()]
        if waiting:
            print(
                f"numrec: downloading {self.filename}: waiting for an answer from "
                f"{', '.join(dict.fromkeys(waiting))} (asked side by side; giving up after "
                f"{self.limit:g} s)",
                file=sys.stderr,
                flush=True,
            )


def _failure(e: BaseException, timeout: float) -> str:
    """Why a request failed, in words that ``is_network_failure`` reads."""
    if isinstance(e, urllib.error.HTTPError):
        e.close()
        return f"HTTP {e.code} {e.reason}".rstrip()
    if isinstance(e, urllib.error.URLError):
        if isinstance(e.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return f"cannot connect: {e.reason}"
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(e, (OSError, HTTPException)):
        return f"connection failed: {type(e).__name__}: {e}"
    if isinstance(e, ValueError):  # urllib's answer to a malformed URL
        return f"bad URL: {e}"
    return f"connection failed: {type(e).__name__}: {e}"


# --- writing the file -------------------------------------------------------------------


class _LocalWriteError(Exception):
    """Writing to the cache failed: every mirror would fail the same way, so stop."""


def _download(
    call: _Call, dest: Path, expected: Expected, timeout: float, progress: bool
) -> str | None:
    """Stream ``call``'s answer into ``dest``; None on success, else why it failed.

    The temp file is removed whatever happens, KeyboardInterrupt included; one left by a
    SIGKILL is removed by the next download into this folder.
    """
    remove_stale_temps(dest.parent)
    tmp = temp_path(dest)
    try:
        # 0o666 and the umask: the permissions a plain open() gives (mkstemp's are 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise _cache_error(dest, e) from e
    try:
        with os.fdopen(fd, "wb") as out:
            why, digests = _transfer(call, out, expected, timeout, progress, dest.name)
            if why is None:
                out.flush()
                os.fsync(out.fileno())
        if why is None:
            os.replace(tmp, dest)
            fsync_folder(dest.parent)
            _write_record(dest, digests["sha256"])
        return why
    except (OSError, _LocalWriteError) as e:
        cause = e.__cause__ if isinstance(e, _LocalWriteError) else e
        raise _cache_error(dest, cause) from cause
    finally:
        tmp.unlink(missing_ok=True)


def _cache_error(dest: Path, e: BaseException) -> DatasetError:
    why = getattr(e, "strerror", None) or e
    return DatasetError(f"cannot write {dest}: {why}; set NUMREC_DATA to a writable folder")


def _hashers(expected: Expected) -> dict[str, Any]:
    # sha256 always (the cache record keeps it); md5 only when asked for: it may be
    # missing on a FIPS system
    hashers = {"sha256": hashlib.sha256()}
    if expected.md5:
        hashers["md5"] = hashlib.md5(usedforsecurity=False)
    return hashers


def _transfer(call, out, expected: Expected, timeout, progress, label):
    """Stream the answer into the open file ``out`` and verify it: (why not, digests)."""
    hashers = _hashers(expected)
    response = call.response
    limit = expected.limit
    length = response.headers.get("Content-Length")
    announced = int(length) if length and length.isdigit() else None
    if announced is not None and announced > limit:
        return _too_big(expected, f"the server announces {announced} bytes"), {}
    try:
        with tqdm(
            total=announced or expected.size, desc=label, unit="B", unit_scale=True,
            unit_divisor=1024, disable=not progress, leave=False,
        ) as bar:  # fmt: skip
            got = _stream(response, out, hashers.values(), bar, limit)
    except TimeoutError:
        return f"timed out after {timeout:g} s", {}
    except (OSError, HTTPException) as e:
        return f"connection failed: {type(e).__name__}: {e}", {}
    if got > limit:
        return _too_big(expected, f"the server sent more than {limit} bytes"), {}
    if expected.size is not None and got != expected.size:
        return f"size mismatch: expected {expected.size} bytes, got {got}", {}
    digests = {kind: h.hexdigest() for kind, h in hashers.items()}
    for kind, want in (("sha256", expected.sha256), ("md5", expected.md5)):
        if want and digests[kind] != want.lower():
            return f"checksum mismatch: expected {kind} {want}, got {digests[kind]}", {}
    return None, digests


def _too_big(expected: Expected, what: str) -> str:
    if expected.size is not None:
        return f"size mismatch: expected {expected.size} bytes, {what}; stopped"
    return f"too large: {what}, over the limit of {expected.max_size} bytes; stopped"


def _stream(response, out, hashers, bar, limit: int) -> int:
    """Copy the response body to ``out``, updating the hashes and the progress bar; reads
    no more than ``limit`` + 1 bytes (one more shows that the body is too long)."""
    got = 0
    while got <= limit:
        chunk = response.read(min(_CHUNK, limit + 1 - got))
        if not chunk:
            break
        try:
            out.write(chunk)
        except OSError as e:
            raise _LocalWriteError() from e
        for h in hashers:
            h.update(chunk)
        got += len(chunk)
        bar.update(len(chunk))
    return got


# --- temporary files: numrec.fileio's naming and clean-up (one scheme for every writer) ---


# --- trusting a cached file ---------------------------------------------------------------


def _record_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}{SUM_SUFFIX}")


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def _write_record(dest: Path, sha256: str) -> None:
    """Record ``dest``'s size, SHA-256 and stat beside it (best effort: a read-only cache
    then costs a hash on every hit, nothing more)."""
    try:
        text = json.dumps({"sha256": sha256, "stat": _stat_key(dest.stat())})
        write_bytes(_record_path(dest), text.encode("utf-8"))
    except OSError:
        pass


def _read_record(dest: Path) -> dict | None:
    """The record beside ``dest`` if it is well formed (it is data: anything else is None)."""
    try:
        with open(_record_path(dest), encoding="utf-8") as f:
            record = json.loads(f.read(4096))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    sha, stat = record.get("sha256"), record.get("stat")
    if not (isinstance(sha, str) and isinstance(stat, list)):
        return None
    return record


def _trusted(dest: Path, expected: Expected) -> bool:
    """Whether the cached ``dest`` is the file wanted: its size, then its stat against the
    record (unchanged since it was verified), else its checksums. A file that fails is
    removed with its record, so that it is downloaded again."""
    try:
        st = dest.stat()
        record = _read_record(dest)
        if expected.size is not None and st.st_size != expected.size:
            why = f"{st.st_size} bytes, expected {expected.size}"
        elif (
            record is not None
            and record["stat"] == _stat_key(st)
            and (expected.sha256 or record["sha256"]).lower() == record["sha256"]
            and not expected.md5
        ):
            return True
        else:
            digests = _hash_file(dest, _hashers(expected))
            wants = [
                ("sha256", expected.sha256 or (record or {}).get("sha256")),
                ("md5", expected.md5),
            ]
            bad = [kind for kind, want in wants if want and digests[kind] != want.lower()]
            if not bad:
                _write_record(dest, digests["sha256"])
                return True
            why = f"its {bad[0]} does not match"
    except OSError:
        return False
    print(
        f"numrec: the cached {dest} is damaged or changed ({why}); downloading it again",
        file=sys.stderr,
        flush=True,
    )
    for path in (dest, _record_path(dest)):
        with contextlib.suppress(OSError):
            path.unlink()
    return False


def _hash_file(path: Path, hashers: dict[str, Any]) -> dict[str, str]:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashers.values():
                h.update(chunk)
    return {kind: h.hexdigest() for kind, h in hashers.items()}
