"""Tiny PNG files of data-set images, as ``data:`` URIs for the report's galleries.

The standard library's zlib is all a PNG needs (signature, IHDR, one IDAT, IEND; each
chunk with its CRC-32: https://www.w3.org/TR/png/), so the report needs no Pillow.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, RGBA = 0, 2, 6  # PNG colour types
COLOUR_TYPE = {1: GREY, 3: RGB, 4: RGBA}  # channels -> colour type


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG of ``pixels``: (H, W) grey, or (H, W, C) with 1, 3 or 4 channels."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in COLOUR_TYPE or pixels.dtype != np.uint8:
        raise ValueError(
            f"expected uint8 pixels (H, W) or (H, W, 1|3|4), got {pixels.dtype} {pixels.shape}"
        )
    height, width, channels = pixels.shape
    if height == 0 or width == 0:
        raise ValueError(f"an image needs at least one pixel, got {height}x{width}")
    # each scanline starts with its filter type; 0 (none) keeps the encoder trivial and the
    # tiny images of a gallery compress well enough with it
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE[channels], 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def data_uri(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def as_pixels(row: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """One data-set row as uint8 pixels of ``image_shape``: uint8 rows as they are, float
    rows (standardised or scaled images) stretched to 0..255."""
    row = np.asarray(row)
    if row.dtype != np.uint8:
        row = row.astype(np.float64)
        low, high = np.nanmin(row), np.nanmax(row)
        span = high - low if high > low else 1.0
        row = np.clip(np.round(255 * (np.nan_to_num(row, nan=low) - low) / span), 0, 255)
        row = row.astype(np.uint8)
    return row.reshape(image_shape)
