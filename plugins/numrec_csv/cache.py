"""The parsed-file cache: a parsed CSV file kept as an uncompressed .npz.

A CSV file is parsed once; later loads read ``<data root>/csv-cache/<key>.npz``, a
plain copy of the arrays (tens of milliseconds for MNIST's 60,000 rows). The key is a
SHA-256 of the file's absolute path, size and modification time (ns) and of the parse
options, so an edited file is parsed again. Writes go to a temporary file renamed into
place, so a crash or a concurrent load never leaves half a cache file; a cache that
cannot be read or written is skipped with a warning, never fatal. Only the newest entry
of each CSV file is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .layout import Layout
from .parse import Table

VERSION = 1  # bump when the parser's output for the same file would change


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
        with np.load(entry, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            X, labels = npz["X"], npz["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring the unreadable CSV cache {entry}: {e}", stacklevel=2)
        return None
    columns = tuple(meta["columns"]) if meta["columns"] is not None else None
    layout = Layout(
        Path(path), meta["delimiter"], columns, meta["n_columns"], meta["label_index"],
        meta["first_line"], meta["data_offset"], meta["data_line"],
    )  # fmt: skip
    return Table(X, labels, layout)


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
    # Named by hand rather than by mkstemp, whose files are private (0600) whatever
    # the umask; the cache is as shareable as the user's other files.
    tmp = entry.with_name(f".{entry.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "xb") as f:
                np.savez(f, X=table.X, labels=table.labels, meta=np.array(json.dumps(meta)))
            os.replace(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"could not write the CSV cache for {lay.path}: {e}", stacklevel=2)
        return False
    _drop_stale(entry)
    return True


def _drop_stale(entry: Path) -> None:
    """Remove the entries of earlier versions of the same CSV file (other size or time)."""
    file_id, stat_id, _ = entry.stem.split("-")
    for old in entry.parent.glob(f"{file_id}-*.npz"):
        if old.stem.split("-")[1] != stat_id:
            old.unlink(missing_ok=True)
