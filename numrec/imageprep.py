"""Turn any picture of a digit into the kind of image MNIST is made of.

    from numrec.imageprep import prepare_image
    pixels = prepare_image("photo.jpg")        # (784,) uint8, ready for net.predict

MNIST digits were size-normalised to fit a 20x20 box (keeping their aspect ratio) and
centred by their centre of mass in a 28x28 field, as light ink on a black background
(LeCun et al., http://yann.lecun.com/exdb/mnist/). A network trained on them only
recognises digits presented the same way, so every image goes through the same steps:

1. decode (Pillow; any format it reads: PNG, BMP, JPEG, PGM, GIF, TIFF...), refusing
   images over ``MAX_PIXELS`` before decoding and shrinking large ones to ``MAX_SIDE``
   first (bounded memory), apply the EXIF orientation of photos, drop colour and
   transparency;
2. make the ink light on a dark background: a light background (paper) is inverted;
3. subtract the background level (grey paper, uneven light) and stretch the ink to 0..255;
4. crop to the ink, fit it in a 20x20 box preserving its aspect ratio (area averaging);
5. place it in 28x28 so that its centre of mass is the centre.

Pillow only decodes; the rest is numpy. Other sizes scale the same proportions (a 20/28
box in a ``side`` x ``side`` field).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import DatasetError

MNIST_SIDE, MNIST_BOX = 28, 20
# Larger images are refused before they are decoded: an 8000x8000 PNG would need 2 GB on
# the way to float64. Decoding itself (and Pillow's shrinking, which may copy an RGBA
# image once) is bounded by the decoded size. (A JPEG is decoded at 1/2 to 1/8 of its
# size where that is enough, so larger photos pass.)
MAX_PIXELS = 30_000_000
MAX_DECODED_BYTES = 64 << 20  # e.g. 30 Mpx grey, 22 Mpx RGB (5700x3900), 16 Mpx RGBA
# Images are box-averaged down to this side before any float64 copy (a digit ends in a
# 20x20 box; 1024 keeps ~50 source pixels a side per output pixel for the area resize;
# each float64 copy of the steps below is then at most 8 MB).
MAX_SIDE = 1024
# share of the strongest ink that counts as ink when cropping: lower lets paper noise widen
# the crop, higher cuts the faint ends of strokes (0.25 was best on noisy, enlarged digits)
INK_THRESHOLD = 0.25


def load_greyscale(path: str | os.PathLike) -> np.ndarray:
    """The image at ``path`` as a float64 array of grey levels (any range, 2-D)."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise ImportError(
            "reading images needs Pillow, which is not installed; "
            "install it with: pip install 'numrec[image]'"
        ) from None
    path = Path(path).expanduser()
    try:
        with Image.open(path) as image:
            # JPEG can decode at 1/2, 1/4 or 1/8 of its size: enough for a 20x20 digit
            image.draft(image.mode if image.mode in ("L", "RGB") else None, (MAX_SIDE, MAX_SIDE))
            width, height = image.size  # from the header: nothing is decoded yet
            decoded = width * height * _bytes_per_pixel(image.mode)
            if width * height > MAX_PIXELS or decoded > MAX_DECODED_BYTES:
                raise DatasetError(
                    f"{path}: an image of {width}x{height} = {width * height:,} pixels "
                    f"({image.mode}, {decoded / 2**20:.0f} MB decoded); expected at most "
                    f"{MAX_PIXELS:,} pixels and {MAX_DECODED_BYTES >> 20} MB: scale it down first"
                )
            image = _shrink(image)
            image = ImageOps.exif_transpose(image)  # photos from phones are often rotated
            return _grey(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise DatasetError(
            f"{path}: not an image Pillow can read (expected PNG, BMP, JPEG, PGM, GIF, TIFF...)"
        ) from None
    except Image.DecompressionBombError as e:
        raise DatasetError(f"{path}: image too large to decode safely: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise DatasetError(f"{path}: damaged image: {e}") from None


def _bytes_per_pixel(mode: str) -> int:
    if mode in ("I", "F", "RGBX", "RGBA", "CMYK", "RGBa"):
        return 4
    if mode.startswith("I;16") or mode in ("LA", "PA", "La"):
        return 2
    return 3 if mode in ("RGB", "YCbCr", "LAB", "HSV") else 1


def _shrink(image):
    """Box-average an image larger than MAX_SIDE down to it (an integer factor), in
    Pillow's own mode, before it becomes float64 (8 bytes a pixel)."""
    factor = -(-max(image.size) // MAX_SIDE)
    if factor <= 1:
        return image
    if image.mode not in ("L", "LA", "RGB", "RGBA", "F"):
        has_alpha = image.mode in ("P", "PA") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "F" if image.mode[0] == "I" else "L")
    return image.reduce(factor)


def _grey(image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit PGM/PNG, float TIFF
        return np.asarray(image, dtype=np.float64)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's "L"
        alpha = rgba[..., 3] / 255.0
        if alpha.min() < 1.0:
            # Transparent pixels have no colour of their own: show the strokes over a
            # background that contrasts with them (a drawing app's dark ink, or light ink).
            opaque = grey[alpha > 0.5]
            background = 255.0 if opaque.size == 0 or np.median(opaque) < 128 else 0.0
            grey = alpha * grey + (1.0 - alpha) * background
        return grey
    return np.asarray(image.convert("L"), dtype=np.float64)


def normalise_ink(grey: np.ndarray) -> np.ndarray:
    """Light ink on a zero background, in 0..1 (steps 2 and 3)."""
    grey = np.asarray(grey, dtype=np.float64)
    low, high = float(grey.min()), float(grey.max())
    if high - low < 1e-9:
        return np.zeros_like(grey)
    grey = (grey - low) / (high - low)
    # The background is what most of the picture is: a digit covers a minority of it.
    background = float(np.median(grey))
    if background > 0.5:
        grey = 1.0 - grey
        background = 1.0 - background
    ink = np.clip(grey - background, 0.0, None)
    peak = float(ink.max())
    if peak <= 1e-9:
        return np.zeros_like(grey)
    # (zeroing faint values as "paper grain" was tried: it cost accuracy on noisy photos)
    return ink / peak


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize by area averaging: each output pixel is the mean of the input area it
    covers (exact for shrinking, a smooth block enlargement for growing)."""
    return _area_matrix(image.shape[0], height) @ image @ _area_matrix(image.shape[1], width).T


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: the overlap of output cell i with input cell j, normalised."""
    edges_out = np.linspace(0.0, n_in, n_out + 1)  # output cells in input coordinates
    left, right = edges_out[:-1, None], edges_out[1:, None]
    cells = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(right, cells + 1) - np.maximum(left, cells), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def centre_in_field(digit: np.ndarray, side: int) -> np.ndarray:
    """Place ``digit`` in a ``side`` x ``side`` field with its centre of mass at the centre
    (a whole-pixel shift, as MNIST; what would fall outside the field is cut)."""
    field = np.zeros((side, side), dtype=np.float64)
    total = digit.sum()
    rows, cols = np.indices(digit.shape)
    cy = (rows * digit).sum() / total
    cx = (cols * digit).sum() / total
    # MNIST's centres of mass sit at pixel index 14.0 (mean over the test set, std 0.3),
    # i.e. at side / 2 in index coordinates, not at the geometric centre 13.5
    top = int(round(side / 2 - cy))
    left = int(round(side / 2 - cx))
    h, w = digit.shape
    # the part of the digit that lands inside the field
    y0, x0 = max(0, -top), max(0, -left)
    y1, x1 = min(h, side - top), min(w, side - left)
    field[top + y0 : top + y1, left + x0 : left + x1] = digit[y0:y1, x0:x1]
    return field


def prepare_array(grey: np.ndarray, side: int = MNIST_SIDE, name: str = "image") -> np.ndarray:
    """Steps 2-5 on a grey image: the (side*side,) uint8 row the network expects."""
    ink = normalise_ink(grey)
    mask = ink >= INK_THRESHOLD
    if not mask.any():
        raise DatasetError(f"{name}: no digit found (the image is blank or has no contrast)")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    box = max(1, round(side * MNIST_BOX / MNIST_SIDE))
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    digit = area_resize(crop, *size)
    field = centre_in_field(digit, side)
    return np.clip(np.rint(field * 255.0), 0, 255).astype(np.uint8).reshape(-1)


def prepare_image(path: str | os.PathLike, side: int = MNIST_SIDE) -> np.ndarray:
    """The image file at ``path`` as MNIST would have it: (side*side,) uint8."""
    return prepare_array(load_greyscale(path), side, name=str(path))
