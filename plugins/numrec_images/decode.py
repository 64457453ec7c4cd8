"""Decoding the files of an image folder into rows: from the cache where it can, else with
Pillow, on a few threads when the files are large enough to gain from them, under a
progress bar.

Threads rather than processes: Pillow releases the GIL while it decodes and resizes, and
threads need no pickling of rows back. But a small file is mostly Python work (opening,
header parsing, conversion), which holds the GIL, and there threads only add contention.
Measured on the 2-core development machine (shared with other work; each a load with the
cache off, chunks of 64 files per task):

    files                                    mean size   1 thread    2 threads
    10,000 MNIST PNGs 28x28 (grey)              0.3 kB   0.70 s      0.93-1.11 s
    2,000 PNGs 64x64 -> 32x32 (RGB)             9.5 kB   0.33-0.38   0.35-0.40
    1,000 JPEGs 256x256 -> 32x32                 21 kB   0.25-0.26   0.17-0.26
    1,000 PNGs 128x128 -> 32x32                  38 kB   0.38-0.40   0.25-0.42
    200 JPEGs 1024x768 -> 64x64                 385 kB   0.57-0.67   0.37-0.60

so files of ``THREADS_FROM`` bytes on average or more are decoded on threads, smaller
ones on one. (One task per file rather than per chunk was slower still: 0.54-0.60 s
against 0.40 s for the MNIST PNGs in an earlier measurement.)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from numrec import DatasetError

from . import cache as row_cache
from .layout import FolderLayout, ImageFile
from .prep import ImagePrep, prepare_file

CHUNK = 64  # files per thread task: fewer tasks, less overhead per small file
MAX_WORKERS = 4
THREADS_FROM = 16_384  # mean file size (bytes) from which threads pay (see above)


@dataclass
class Decoded:
    """One row per file of the layout (in ``layout.files`` order); failed files have a
    zero row, ``ok`` False and their message in ``failures`` (relative path, why)."""

    X: np.ndarray
    ok: np.ndarray
    failures: list[tuple[str, str]]
    decoded: int  # files decoded by this load (the rest came from the cache)
    cache: Path | None


def read_rows(
    layout: FolderLayout, prep: ImagePrep, use_cache: bool = True, progress: bool = True
) -> Decoded:
    """The rows of every file of ``layout``, decoding only what the cache does not hold."""
    files = layout.files
    stamps = [f.stamp for f in files]
    n, width = len(files), prep.n_features
    entry = row_cache.cache_path(layout.root, prep) if use_cache else None
    cached = row_cache.load(entry, width) if entry is not None else None
    if cached is None:
        cached = row_cache.Rows(np.empty((0, width), np.uint8), [])
    where = {s: i for i, s in enumerate(cached.stamps)}
    source = np.array([where.get(s, -1) for s in stamps], dtype=np.int64)
    errors: dict[int, str] = {
        i: cached.failures[s] for i, s in enumerate(stamps) if s in cached.failures
    }
    todo = [i for i in range(n) if source[i] < 0 and i not in errors]
    if not todo and not errors and np.array_equal(source, np.arange(len(cached.stamps))):
        X = cached.X  # the folder is as cached: no copy
    else:
        X = np.zeros((n, width), np.uint8)
        have = source >= 0
        X[have] = cached.X[source[have]]
        for i, row, why in _decode(layout.root, [files[i] for i in todo], todo, prep, progress):
            if why is None:
                X[i] = row
            else:
                errors[i] = why
    ok = np.ones(n, bool)
    ok[list(errors)] = False
    kept = set(stamps)
    unchanged = not todo and kept == set(cached.stamps) | set(cached.failures)
    if entry is not None and not unchanged:
        failures = {stamps[i]: why for i, why in errors.items()}
        good = [s for s, fine in zip(stamps, ok) if fine]
        row_cache.save(entry, row_cache.Rows(X[ok], good, failures), layout.root)
    failed = [(files[i].path, errors[i]) for i in sorted(errors)]
    return Decoded(X, ok, failed, len(todo), entry)


def _decode(root: Path, files: list[ImageFile], index: list[int], prep: ImagePrep, progress):
    """(index, row, None) or (index, None, why) for each file, in order."""
    chunks = [range(lo, min(lo + CHUNK, len(files))) for lo in range(0, len(files), CHUNK)]

    def work(chunk: range) -> list:
        out = []
        for k in chunk:
            try:
                out.append((index[k], prepare_file(root / files[k].path, prep), None))
            except DatasetError as e:
                out.append((index[k], None, str(e)))
        return out

    mean_size = sum(f.size for f in files) / max(1, len(files))
    workers = min(MAX_WORKERS, os.cpu_count() or 1, len(chunks))
    if mean_size < THREADS_FROM:
        workers = 1
    with tqdm(
        total=len(files), desc=f"decoding {root.name}", unit=" images", leave=False,
        disable=None if progress else True,
    ) as bar:  # fmt: skip
        if workers <= 1:
            results = map(work, chunks)
        else:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="numrec-images")
            results = pool.map(work, chunks)
        try:
            for done in results:
                bar.update(len(done))
                yield from done
        finally:
            if workers > 1:
                pool.shutdown(cancel_futures=True)
