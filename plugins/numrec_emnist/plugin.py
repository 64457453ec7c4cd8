"""The ``emnist`` data set: NIST's Extended MNIST, handwritten digits and letters.

    import numrec
    ds = numrec.load_dataset("emnist", split="letters")
    ds = numrec.load_dataset("emnist", split="balanced", data_dir="~/data/emnist")

Six splits: byclass (62 classes), bymerge and balanced (47), letters (26), digits and
mnist (10). The split is read from ``data_dir`` (the official ``gzip.zip`` or its
extracted files), else from numrec's cache, else ``gzip.zip`` (536 MB, all splits) is
downloaded from NIST, checksum-verified, into the cache.

Images come out upright. The EMNIST files store every 28x28 image transposed (mirrored
and turned a quarter), and torchvision and tfds hand them out like that; numrec
transposes each one, so ``X[i].reshape(28, 28)`` shows the character as it is read.
Class names are the characters of the split's mapping file. ``letters`` has labels
1..26 in its files; numrec shifts them to 0..25 with names a..z, where torchvision keeps
the file's numbers and a dummy class 0 "N/A" (so a model needs no unused 27th output).

The first load of a split keeps the upright arrays in ``<data root>/emnist/parsed/``
(an uncompressed .npz, written atomically), so later loads skip the zip; ``cache=False``
turns this off.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from numrec import Dataset, DatasetError, DatasetSpec, Option, Split, hookimpl
from numrec.download import cached, data_root, fetch
from numrec.fileio import atomic_write

from . import resources
from .mapping import parse_mapping
from .source import RawSplit, Source, find_source

PARSED_VERSION = 1  # bump when what ``_build`` makes of the same files changes
_CHUNK = 4096  # images transposed per step, in place

OPTIONS = (
    Option(
        "split", str, resources.DEFAULT_SPLIT,
        "byclass (62 classes), bymerge, balanced (47), letters (26, named a..z), "
        "digits, mnist (10)", choices=resources.SPLITS,
    ),
    Option(
        "data_dir", Path, None,
        "folder holding the official gzip.zip or its extracted emnist-<split>-* files; "
        "default: numrec's cache, downloading gzip.zip (536 MB) if it is missing",
    ),
    Option("cache", bool, True, "keep the parsed split in the data cache for fast reloads"),
)  # fmt: skip


@hookimpl
def register_datasets(register) -> None:
    register(
        DatasetSpec(
            name="emnist",
            description="EMNIST handwritten digits and letters (NIST): 28x28 grey, "
            "six splits of 10 to 62 classes, upright",
            loader=load_emnist,
            options=OPTIONS,
        )
    )


def load_emnist(
    split: str = resources.DEFAULT_SPLIT,
    data_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load one EMNIST split (see the module docstring)."""
    if split not in resources.SPLITS:
        raise DatasetError(f"EMNIST split {split!r}: expected one of {', '.join(resources.SPLITS)}")
    if data_dir is not None:
        source, how = find_source(Path(data_dir), split), "data_dir"
    else:
        how = "cache" if cached("emnist", resources.ZIP_NAME) else "download"
        path = fetch(
            "emnist", resources.ZIP_NAME, list(resources.MIRRORS),
            sha256=resources.ZIP_SHA256, size=resources.ZIP_SIZE, progress=progress,
        )  # fmt: skip
        source = Source(path, "zip")
    entry = _parsed_path(source, split) if cache else None
    parts = _load_parsed(entry) if entry is not None else None
    if parts is None:
        parts = _build(source.read(split, progress), split)
        if entry is not None:
            _save_parsed(entry, parts)
    else:
        how += "+parsed-cache"
    X, y, X_test, y_test, names, names_from = parts
    meta = {
        "split": split,
        "origin": how,
        "files": [str(source.path)],
        "image_shape": resources.IMAGE_SHAPE,
        "upright": True,
        "class_names_from": names_from,
    }
    return Dataset("emnist", Split(X, y), Split(X_test, y_test), names, str(source.path), meta)


def _build(raw: RawSplit, split: str):
    """(X, y, X_test, y_test, class names, where the names came from) from the files."""
    images, labels, images_test, labels_test = raw.arrays
    name_images, name_labels, name_images_test, name_labels_test = raw.names
    if raw.mapping is not None:
        first, names = parse_mapping(raw.mapping, raw.mapping_name, split)
        names_from = "mapping"
    else:
        first = resources.FALLBACK_FIRST_LABEL.get(split, 0)
        names, names_from = list(resources.FALLBACK_NAMES[split]), "built-in"
    X = upright(images, name_images)
    X_test = upright(images_test, name_images_test)
    y = _labels(labels, name_labels, len(X), name_images, first, names, raw.mapping_name)
    y_test = _labels(
        labels_test, name_labels_test, len(X_test), name_images_test, first, names,
        raw.mapping_name,
    )  # fmt: skip
    return X, y, X_test, y_test, names, names_from


def upright(images: np.ndarray, where: str) -> np.ndarray:
    """(n, 28*28) rows of upright images from the files' transposed (n, 28, 28) ones.

    Transposed in place, a chunk at a time, when the array is writable (it is, when it
    was inflated from gzip), so no second copy of the split is made.
    """
    if images.ndim != 3 or images.shape[1:] != resources.IMAGE_SHAPE or images.dtype != np.uint8:
        raise DatasetError(
            f"{where}: {images.dtype} images of shape {images.shape}; expected uint8 "
            f"images of shape (count, 28, 28)"
        )
    n = len(images)
    if images.flags.writeable and images.flags.c_contiguous:
        for i in range(0, n, _CHUNK):
            block = images[i : i + _CHUNK]
            block[...] = block.transpose(0, 2, 1).copy()
        return images.reshape(n, -1)
    return np.ascontiguousarray(images.transpose(0, 2, 1)).reshape(n, -1)


def _labels(labels, where, count, images_where, first, names, mapping_where) -> np.ndarray:
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{where}: {labels.dtype} labels of shape {labels.shape}; expected integer "
            f"labels of shape (count,)"
        )
    if len(labels) != count:
        raise DatasetError(
            f"{images_where} holds {count} images but {where} holds {len(labels)} labels; "
            f"expected one label per image"
        )
    y = labels.astype(np.int64) - first
    if len(y) and (y.min() < 0 or y.max() >= len(names)):
        source = mapping_where or "numrec's built-in class list"
        raise DatasetError(
            f"{where}: labels {y.min() + first}..{y.max() + first}, but {source} has "
            f"labels {first}..{first + len(names) - 1}; expected every label to be a class"
        )
    return y


# --- the parsed-split cache -------------------------------------------------------------


def _parsed_path(source: Source, split: str) -> Path | None:
    try:
        identity = source.identity(split)
    except OSError:
        return None
    where = hashlib.sha256(str(source.path.resolve()).encode()).hexdigest()[:12]
    what = json.dumps([PARSED_VERSION, identity])
    return (
        data_root() / "emnist" / "parsed"
        / f"{split}-{where}-{hashlib.sha256(what.encode()).hexdigest()[:12]}.npz"
    )  # fmt: skip


def _load_parsed(entry: Path):
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            return (
                npz["X"], npz["y"], npz["X_test"], npz["y_test"],
                meta["class_names"], meta["class_names_from"],
            )  # fmt: skip
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring the unreadable EMNIST cache {entry}: {e}", stacklevel=3)
        return None


def _save_parsed(entry: Path, parts) -> None:
    X, y, X_test, y_test, names, names_from = parts
    meta = json.dumps({"class_names": names, "class_names_from": names_from})
    try:
        with atomic_write(entry) as f:  # readers see the old file or the whole new one
            np.savez(f, X=X, y=y, X_test=X_test, y_test=y_test, meta=np.array(meta))
    except OSError as e:
        warnings.warn(f"could not write the EMNIST cache {entry}: {e}", stacklevel=3)
        return
    # Drop the entries of earlier versions of the same source (it changed since).
    split, where, _ = entry.stem.split("-")
    for old in entry.parent.glob(f"{split}-{where}-*.npz"):
        if old != entry:
            old.unlink(missing_ok=True)
