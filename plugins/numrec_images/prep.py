"""How one image file becomes one row of a data set: ``ImagePrep`` and ``prepare_file``.

    prep = ImagePrep(size=(32, 32), channels=3, fit="pad", mnist_style=False)
    row = prepare_file("cat.jpg", prep)        # (32 * 32 * 3,) uint8, rows of (R, G, B)

The same function prepares the training images and, through the prep stored in a model
(``prep.to_meta()``, kept as ``image_prep``), the images given to ``numrec-predict``, so a
model sees its inputs exactly as it was trained on them.

Steps: the header is read first and an image of more than ``MAX_PIXELS`` pixels is
refused before it is decoded; the EXIF orientation of photos is applied; the picture is
converted to grey (Pillow's "L": ITU-R 601 luma) or RGB (transparency is dropped, as
torchvision's and Keras's loaders do) and brought to ``size`` by ``fit``:

- ``stretch``: resized to W x H, whatever its aspect ratio (Keras's default);
- ``pad``: resized to fit inside W x H keeping its aspect ratio, centred on black;
- ``crop``: resized to cover W x H keeping its aspect ratio, the middle cut out.

Resizing is bilinear with Pillow's antialiasing; an image already W x H is not resampled,
so its pixels come through exactly. A JPEG much larger than W x H is decoded at a reduced
scale (Pillow's ``draft``: the JPEG decoder's own 1/2, 1/4, 1/8), about twice as fast.

``mnist_style`` instead applies numrec's MNIST preparation (``numrec.imageprep``, what
``numrec-predict`` does for MNIST models): light ink on dark, cropped to the ink, fitted
in a 20x20 box and centred by its centre of mass in 28x28 (or the same proportions of a
square ``size``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numrec import DatasetError

FITS = ("stretch", "pad", "crop")
CHANNELS = (1, 3)
# The largest image decoded: 64 megapixels (8000 x 8000), more than any camera's photo.
# A header claiming more is refused before its pixels are read: a small, highly
# compressed file can otherwise expand into gigabytes (a "decompression bomb").
MAX_PIXELS = 64_000_000
_ORIENTATION = 0x0112  # the EXIF tag; values 5..8 turn the picture by a quarter
_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class ImagePrep:
    """How files become rows: ``size`` (width, height), ``channels``, ``fit``, ``mnist_style``."""

    size: tuple[int, int]
    channels: int = 1
    fit: str = "stretch"
    mnist_style: bool = False

    def __post_init__(self) -> None:
        width, height = self.size
        if width < 1 or height < 1:
            raise DatasetError(f"size={width}x{height}: expected a width and height of 1 or more")
        if self.channels not in CHANNELS:
            raise DatasetError(f"channels={self.channels}: expected 1 (grey) or 3 (RGB)")
        if self.fit not in FITS:
            raise DatasetError(f"fit={self.fit!r}: expected one of {', '.join(FITS)}")
        if self.mnist_style and (width != height or self.channels != 1):
            raise DatasetError(
                f"mnist_style needs square grey images; got size={width}x{height}, "
                f"channels={self.channels} (expected e.g. size=28, channels=1)"
            )

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for grey images, (H, W, C) for colour: how a row folds into a picture."""
        width, height = self.size
        return (height, width) if self.channels == 1 else (height, width, self.channels)

    @property
    def n_features(self) -> int:
        return math.prod(self.image_shape)

    def to_meta(self) -> dict:
        """The JSON-able form stored in a data set's and a model's ``image_prep``."""
        return {
            "size": [int(self.size[0]), int(self.size[1])],
            "channels": int(self.channels),
            "fit": self.fit,
            "mnist_style": bool(self.mnist_style),
        }

    @classmethod
    def from_meta(cls, meta: object, where: str = "image_prep") -> ImagePrep:
        """The prep ``to_meta`` wrote; DatasetError naming ``where`` if it is malformed."""
        try:
            size = meta["size"]
            width, height = (int(v) for v in size)
            if [width, height] != list(size):
                raise ValueError("the size is not two whole numbers")
            return cls(
                (width, height), int(meta["channels"]), str(meta["fit"]),
                bool(meta["mnist_style"]),
            )  # fmt: skip
        except (TypeError, KeyError, ValueError) as e:
            raise DatasetError(
                f"{where}: malformed image preparation {meta!r} ({e}); expected "
                f'{{"size": [W, H], "channels": 1 or 3, "fit": ..., "mnist_style": ...}}'
            ) from None


def parse_size(text: str | int | None) -> tuple[int, int] | None:
    """``"32"`` -> (32, 32); ``"64x48"`` -> (64, 48) (width x height); None stays None."""
    if text is None:
        return None
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or min(numbers) < 1:
        raise DatasetError(
            f"size={text!r}: expected WIDTHxHEIGHT (e.g. 64x48) or one number for a square"
        )
    return (numbers[0], numbers[-1])


def pillow():
    """The PIL.Image module, or ImportError saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading images needs Pillow, which is not installed; "
            "install it with: pip install 'numrec[image]'"
        ) from None
    return Image


def image_extensions() -> frozenset[str]:
    """The file name endings (lower case, with the dot) of every format Pillow reads."""
    Image = pillow()
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def check_pixels(path: str | os.PathLike, size: tuple[int, int]) -> None:
    """DatasetError if an image of ``size`` (from its header) is too large to decode."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise DatasetError(
            f"{path}: image too large: {width}x{height} = {width * height:,} pixels; "
            f"numrec decodes at most {MAX_PIXELS:,} pixels per image (shrink it first)"
        )


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header of the image at ``path`` (its pixels are not read)."""
    with _opened(path) as image:
        return image.size


def prepare_file(path: str | os.PathLike, prep: ImagePrep) -> np.ndarray:
    """The image at ``path`` as a row of ``prep.n_features`` uint8 values.

    DatasetError names the file when it is not an image Pillow reads, is damaged, is too
    large, or (``mnist_style``) holds no ink.
    """
    path = Path(path)
    if prep.mnist_style:
        from numrec.imageprep import prepare_image

        image_size(path)  # reads the header: refuses a huge image before it is decoded
        return prepare_image(path, prep.size[0])
    with _opened(path) as image:
        try:
            fitted = _fit(image, prep)
            row = np.asarray(fitted, dtype=np.uint8)
        except DatasetError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt data
            raise DatasetError(f"{path}: damaged image: {e}") from None
    return row.reshape(-1)


class _opened:
    """``with _opened(path) as image``: Image.open, checked for size, errors as DatasetError."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.image = None

    def __enter__(self):
        Image = pillow()
        from PIL import UnidentifiedImageError

        try:
            self.image = Image.open(self.path)
        except FileNotFoundError:
            raise DatasetError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise DatasetError(f"{self.path}: is a folder, not an image") from None
        except Image.DecompressionBombError as e:
            raise DatasetError(f"{self.path}: image too large to decode safely: {e}") from None
        except UnidentifiedImageError:  # not a format Pillow knows, or garbage
            raise DatasetError(
                f"{self.path}: not an image Pillow can read (expected PNG, JPEG, BMP, GIF, "
                f"TIFF, WebP, PGM...)"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # a damaged header
            raise DatasetError(f"{self.path}: damaged image: {e}") from None
        try:
            check_pixels(self.path, self.image.size)
        except DatasetError:
            self.image.close()
            raise
        return self.image

    def __exit__(self, *exc) -> None:
        self.image.close()


def _fit(image, prep: ImagePrep):
    """The decoded ``image`` in ``prep``'s mode and size (see the module docstring)."""
    from PIL import ImageOps

    Image = pillow()
    width, height = prep.size
    if image.format == "JPEG":
        image.draft(_MODES[prep.channels], _draft_size(image, prep))
    image = ImageOps.exif_transpose(image)  # photos from phones are often stored turned
    image = _convert(image, prep.channels)
    if image.size == (width, height):
        return image
    method = Image.Resampling.BILINEAR
    if prep.fit == "stretch":
        return image.resize((width, height), method)
    if prep.fit == "pad":
        return ImageOps.pad(image, (width, height), method, color=0)
    return ImageOps.fit(image, (width, height), method)


def _convert(image, channels: int):
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey (PNG, PGM, TIFF): Pillow's convert would clip at 255, not scale
        Image = pillow()
        grey = np.asarray(image, dtype=np.int64)
        top = 65535 if image.mode.startswith("I;16") or grey.max() > 255 else 255
        grey = np.clip(np.rint(grey * (255 / top)), 0, 255).astype(np.uint8)
        image = Image.fromarray(grey, "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # what Pillow itself advises for such palettes
    return image.convert(_MODES[channels])


def _draft_size(image, prep: ImagePrep) -> tuple[int, int]:
    """The smallest decoded size (in the file's orientation) from which ``prep.fit`` still
    makes ``prep.size`` without enlarging: the JPEG decoder may reduce down to it."""
    w, h = image.size
    width, height = prep.size
    turned = image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
    if turned:
        w, h = h, w
    if prep.fit == "stretch":
        need = (width, height)
    else:
        scale = (max if prep.fit == "crop" else min)(width / w, height / h)
        need = (math.ceil(w * scale), math.ceil(h * scale))
    return (need[1], need[0]) if turned else need
