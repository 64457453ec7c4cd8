"""The decode cache of an image folder: each file decoded once, reloaded in milliseconds.

One entry per folder and preparation: ``<data root>/images/<root id>-<prep id>.npz``,
the ids being SHA-256s of the folder's absolute path and of ``ImagePrep.to_meta()`` (and
``VERSION``). An entry holds the rows ``X`` (uint8, one per file) and a manifest: the path
(relative to the folder), size and modification time (ns) of the file each row came
from, plus the files that failed to decode and why. A load lists the folder and takes
from the entry every row whose file has the same path, size and time; only new or
changed files are decoded, and removed ones are dropped, so an edit anywhere is noticed
without reading any image again. (Like ``make``, this trusts file times: a file rewritten
with the same size within the same nanosecond tick would not be noticed.)

Writes go to a temporary file in the cache folder, flushed to disk and renamed over the
entry, so a crash or a concurrent load never leaves half an entry; a cache that cannot be
read or written is skipped with a warning, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .prep import ImagePrep

VERSION = 1  # bump when the rows made from the same file would change
Stamp = tuple  # (relative path, size, mtime_ns): see layout.ImageFile.stamp


@dataclass
class Rows:
    """Decoded files: row i of ``X`` is the file of ``stamps[i]``; ``failures`` maps the
    stamp of each file that would not decode to the error message."""

    X: np.ndarray
    stamps: list[Stamp]
    failures: dict[Stamp, str] = field(default_factory=dict)


def cache_dir() -> Path:
    from numrec.download import data_root

    return data_root() / "images"


def cache_path(root: Path, prep: ImagePrep) -> Path:
    """Where the rows of the folder ``root`` prepared by ``prep`` are cached."""
    parts = (str(Path(root).resolve()), [VERSION, prep.to_meta()])
    root_id, prep_id = (
        hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:16] for p in parts
    )
    return cache_dir() / f"{root_id}-{prep_id}.npz"


def load(entry: Path, n_features: int) -> Rows | None:
    """The rows cached at ``entry``, or None (none yet, or unreadable: then with a warning)."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as npz:
            manifest = json.loads(str(npz["manifest"]))
            X = npz["X"]
        stamps = [tuple(s) for s in manifest["rows"]]
        failures = {tuple(s): why for *s, why in manifest["failures"]}
        if manifest.get("version") != VERSION or X.shape != (len(stamps), n_features):
            raise ValueError(f"rows of shape {X.shape} for {len(stamps)} files")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring the unreadable image cache {entry}: {e}", stacklevel=2)
        return None
    return Rows(X, stamps, failures)


def save(entry: Path, rows: Rows, root: Path) -> bool:
    """Store ``rows`` at ``entry`` atomically; False (with a warning) if it cannot."""
    manifest = {
        "version": VERSION,
        "root": str(Path(root).resolve()),
        "rows": [list(s) for s in rows.stamps],
        "failures": [[*s, why] for s, why in rows.failures.items()],
    }
    # Named by hand rather than by mkstemp, whose files are private (0600) whatever the
    # umask; the cache is as shareable as the user's other files.
    tmp = entry.with_name(f".{entry.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "xb") as f:
                np.savez(f, X=rows.X, manifest=np.array(json.dumps(manifest)))
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename makes it the entry
            os.replace(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"could not write the image cache for {root}: {e}", stacklevel=2)
        return False
    return True
