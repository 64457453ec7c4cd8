"""The ``images`` data set: a folder of image files, one sub-folder per class.

    import numrec
    ds = numrec.load_dataset("images", root="photos")                  # photos/<class>/*
    ds = numrec.load_dataset("images", root="digits", mnist_style=True)  # like MNIST
    ds = numrec.load_dataset("images", root="shapes", size="32x32", channels=3, fit="pad")

``numrec_images.layout`` says how the folder is read (which files, which classes, which
split), ``numrec_images.prep`` how a file becomes a row, ``numrec_images.cache`` how the
decoded rows are kept. The data set's ``meta`` holds ``image_shape`` ((H, W) or
(H, W, C)) and ``image_prep`` (the preparation, which a trained model keeps, so that
``numrec-predict`` prepares its images the same way) and ``files``: the path of each row,
relative to the folder, per part.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from numrec import Dataset, DatasetError, DatasetSpec, Option, Split, hookimpl
from numrec.imageprep import MNIST_SIDE

from .decode import read_rows
from .layout import FolderLayout, scan
from .prep import CHANNELS, FITS, ImagePrep, image_size, parse_size

NAME = "images"
ON_ERROR = ("raise", "skip")
SHOWN = 5  # bad files named in a warning or an error

OPTIONS = (
    Option(
        "root", Path, None,
        "the folder: ROOT/<class>/<image> (split by test_fraction), or ROOT/train/<class> + "
        "ROOT/test/<class> (+ ROOT/validation/<class>); class names are the folder names, "
        "sorted; any format Pillow reads; hidden files and files that are not images "
        "(by extension) are ignored",
    ),
    Option("test_fraction", float, 0.2,
           "with ROOT/<class> folders: the share of each class held out for test"),
    Option("seed", int, 0, "with ROOT/<class> folders: the seed of the train/test split"),
    Option(
        "size", str, None,
        "resize every image to WIDTHxHEIGHT (e.g. 64x48, or 32 for 32x32); default: the "
        f"size of the first image (with mnist_style: {MNIST_SIDE})",
    ),
    Option("channels", int, 1, "1: grey; 3: colour (RGB)", choices=CHANNELS),
    Option(
        "fit", str, "stretch",
        "how an image of another shape meets size: stretch (resize, ignoring the aspect "
        "ratio), pad (fit inside, black borders) or crop (fill, cutting the middle out)",
        choices=FITS,
    ),
    Option(
        "mnist_style", bool, False,
        "prepare each image as numrec-predict does for MNIST: light ink on dark, cropped "
        "to the ink, fitted in 20x20 and centred by mass in 28x28 (photos of digits)",
    ),
    Option(
        "on_error", str, "raise",
        "a file that does not decode: raise (stop, naming it) or skip (leave it out "
        "with a warning)", choices=ON_ERROR,
    ),
    Option("cache", bool, True,
           "keep the decoded rows in the data cache; a reload decodes only changed files"),
)  # fmt: skip


@hookimpl
def register_datasets(register) -> None:
    register(
        DatasetSpec(
            name=NAME,
            description="your own images: a folder per class (any format Pillow reads; "
            "hidden and non-image files ignored)",
            loader=load_images,
            options=OPTIONS,
        )
    )


def load_images(
    root: str | Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    size: str | tuple[int, int] | None = None,
    channels: int = 1,
    fit: str = "stretch",
    mnist_style: bool = False,
    on_error: str = "raise",
    cache: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load the image folder ``root`` as a data set (see the module docstring and OPTIONS).

    ``progress=False`` hides the decoding progress bar (it shows only on a terminal anyway).
    """
    if root is None:
        raise DatasetError(
            "images: no folder given; pass root, the folder of class folders (--root DIR)"
        )
    if on_error not in ON_ERROR:
        raise DatasetError(f"on_error={on_error!r}: expected one of {', '.join(ON_ERROR)}")
    layout = scan(Path(root))
    if layout.kind == "classes" and not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction={test_fraction}: expected a number between 0 and 1")
    prep = _prep(layout, size, channels, fit, mnist_style, on_error)
    if layout.loose:
        where = layout.root / layout.loose[0]
        warnings.warn(
            f"{where}: {len(layout.loose)} image file(s) outside any class folder are not "
            f"used; put each in the folder of its class",
            stacklevel=2,
        )
    rows = read_rows(layout, prep, cache, progress)
    if rows.failures:
        _bad_files(layout.root, rows.failures, on_error)
    files = layout.files
    labels = np.array([f.label for f in files], np.int64)
    parts = _parts(layout, labels, rows.ok, test_fraction, seed)
    splits = {part: Split(rows.X[index], labels[index]) for part, index in parts.items()}
    meta = {
        "image_shape": prep.image_shape,
        "image_prep": prep.to_meta(),
        "root": str(layout.root.resolve()),
        "layout": layout.kind,
        "files": {part: [files[i].path for i in index] for part, index in parts.items()},
        "ignored": len(layout.ignored),
        "skipped": [path for path, _ in rows.failures],
        "cache": {"path": str(rows.cache) if rows.cache else None, "decoded": rows.decoded},
    }
    if layout.kind == "classes":
        meta.update(test_fraction=test_fraction, seed=seed)
    return Dataset(
        name=NAME,
        train=splits["train"],
        test=splits["test"],
        class_names=list(layout.class_names),
        source=str(layout.root),
        meta=meta,
        validation=splits.get("validation"),
    )


def _prep(
    layout: FolderLayout, size, channels: int, fit: str, mnist_style: bool, on_error: str
) -> ImagePrep:
    wanted = size if isinstance(size, tuple) else parse_size(size)
    if wanted is None and mnist_style:
        wanted = (MNIST_SIDE, MNIST_SIDE)
    for file in layout.files if wanted is None else ():
        try:  # the first image's size (from its header); a bad file is decoded later
            wanted = image_size(layout.root / file.path)
            break
        except DatasetError:
            if on_error == "raise":
                raise
    if wanted is None:
        raise DatasetError(f"{layout.root}: not one of its images can be read")
    return ImagePrep(wanted, channels, fit, mnist_style)


def _bad_files(root: Path, failures: list[tuple[str, str]], on_error: str) -> None:
    if on_error == "raise":
        more = len(failures) - 1
        others = ""
        if more:
            names = ", ".join(path for path, _ in failures[1 : 1 + SHOWN])
            others = f" ({more} more bad file(s): {names}{', ...' if more > SHOWN else ''})"
        raise DatasetError(
            f"{failures[0][1]}{others}; fix or remove it, or pass on_error=skip "
            f"(--on-error skip) to leave bad files out"
        )
    names = ", ".join(path for path, _ in failures[:SHOWN])
    warnings.warn(
        f"{root}: skipped {len(failures)} file(s) that would not decode: {names}"
        f"{', ...' if len(failures) > SHOWN else ''} (first: {failures[0][1]})",
        stacklevel=3,
    )


def _parts(
    layout: FolderLayout, labels: np.ndarray, ok: np.ndarray, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """The rows (indices into ``layout.files``) of each part, each in file order."""
    start, parts = 0, {}
    for part, files in layout.parts.items():
        index = np.arange(start, start + len(files))
        start += len(files)
        index = index[ok[index]]
        missing = sorted(set(range(len(layout.class_names))) - set(labels[index].tolist()))
        if part in ("train", "all") and missing:
            name = layout.class_names[missing[0]]
            where = layout.root / ("" if part == "all" else part) / name
            raise DatasetError(
                f"{where}: every image of class {name!r} failed to decode and was skipped; "
                f"expected at least one image per class"
            )
        parts[part] = index
    if layout.kind == "splits":
        return parts
    train, test = _stratified(parts.pop("all"), labels, test_fraction, seed)
    return {"train": train, "test": test}


def _stratified(
    index: np.ndarray, labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) rows: ``round(test_fraction * n)`` of each class's n images, drawn at
    random with ``seed``, go to test (every class keeps at least one training image)."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(index), bool)
    for label in np.unique(labels[index]):
        members = np.flatnonzero(labels[index] == label)
        n_test = min(int(round(test_fraction * len(members))), len(members) - 1)
        is_test[rng.permutation(members)[:n_test]] = True
    if not is_test.any():
        raise DatasetError(
            f"test_fraction={test_fraction} of {len(index)} images leaves no test images "
            f"(each class keeps at least one training image); expected more images"
        )
    return index[~is_test], index[is_test]
