"""Augmentation of one image row as it is gathered: an affine warp (shift, rotation,
scaling, left-right flip) and an elastic distortion, sampled bilinearly from the uint8
row straight into the float32 input of the network. No augmented copy of a data set is
ever made; each sample's transformation is drawn from ``kernels.random`` keyed by (seed,
epoch, sample), so it is the same whatever the threads, shards or MPI ranks.

Geometry (``x`` = column, ``y`` = row, centre ``c = ((W - 1) / 2, (H - 1) / 2)``): the
output pixel ``p`` takes the input at

    q = c + F(R(-angle) (p + e(p) - c - d) / s)

with ``d`` the shift, ``s`` the scale factor, ``R`` a rotation, ``F`` the left-right
mirror (x -> -x) when flipped and ``e`` the elastic displacement field at ``p``. That is,
the image is flipped, rotated by ``angle`` and scaled about its centre, then shifted by
``d``: a positive angle turns the picture clockwise as displayed (rows go down).
Outside the input the image is 0 (black), as MNIST's background.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .codes import INNER_JIT, JIT
from .random import AUGMENT_STREAM, absorb, stream_key, uniform

# counters of a sample's augmentation sequence: 0..4 the transform, then the elastic field
ELASTIC_COUNTER = 8


@njit(**INNER_JIT)
def draw_transform(aug, key):
    """(angle in radians, scale factor, dx, dy, flipped) for the sample with ``key``;
    ``aug``: a ``structs.Noise`` (its augmentation fields)."""
    angle = np.float64(0.0)
    factor = np.float64(1.0)
    dx = dy = 0
    if aug.rotate > 0:
        angle = (2.0 * uniform(key, 0) - 1.0) * aug.rotate * (math.pi / 180.0)
    if aug.scale > 0:
        factor = 1.0 + (2.0 * uniform(key, 1) - 1.0) * aug.scale
    if aug.shift > 0:
        span = 2 * aug.shift + 1
        dx = min(int(uniform(key, 2) * span), span - 1) - aug.shift
        dy = min(int(uniform(key, 3) * span), span - 1) - aug.shift
    flipped = aug.flip and uniform(key, 4) < 0.5
    return angle, factor, dx, dy, flipped


@njit(**INNER_JIT)
def gaussian_taps(sigma):
    """A normalised Gaussian kernel of standard deviation ``sigma``, radius ceil(3 sigma)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    taps = np.empty(2 * radius + 1, dtype=np.float32)
    total = 0.0
    for k in range(-radius, radius + 1):
        w = math.exp(-0.5 * (k / sigma) ** 2)
        taps[k + radius] = w
        total += w
    for k in range(taps.size):
        taps[k] = np.float32(taps[k] / total)
    return taps


@njit(**INNER_JIT)
def smooth(field, tmp, height, width, taps):
    """field <- field convolved with ``taps`` along rows, then columns (zero outside)."""
    r = (taps.size - 1) // 2
    for y in range(height):
        for x in range(width):
            total = np.float32(0.0)
            for k in range(max(-r, -x), min(r, width - 1 - x) + 1):
                total += taps[k + r] * field[y * width + x + k]
            tmp[y * width + x] = total
    for y in range(height):
        for x in range(width):
            total = np.float32(0.0)
            for k in range(max(-r, -y), min(r, height - 1 - y) + 1):
                total += taps[k + r] * tmp[(y + k) * width + x]
            field[y * width + x] = total


@njit(**INNER_JIT)
def elastic_field(aug, key, taps, ex, ey, tmp):
    """Simard et al.'s displacement field: uniform(-1, 1) per pixel and axis, smoothed,
    times ``aug.elastic`` pixels."""
    n = aug.height * aug.width
    for i in range(n):
        ex[i] = np.float32(2.0) * uniform(key, ELASTIC_COUNTER + 2 * i) - np.float32(1.0)
        ey[i] = np.float32(2.0) * uniform(key, ELASTIC_COUNTER + 2 * i + 1) - np.float32(1.0)
    smooth(ex, tmp, aug.height, aug.width, taps)
    smooth(ey, tmp, aug.height, aug.width, taps)
    a = np.float32(aug.elastic)
    for i in range(n):
        ex[i] *= a
        ey[i] *= a


@njit(**INNER_JIT)
def warp(src, out, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey):
    """out <- ``src`` (one image row, (height, width, channels)) warped as the module
    docstring says, bilinearly sampled and multiplied by ``scale``. ``ex``/``ey``: the
    elastic displacement per output pixel, or empty for none."""
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = math.cos(angle) / factor, math.sin(angle) / factor
    mirror = -1.0 if flipped else 1.0
    elastic = ex.size > 0
    for y in range(height):
        for x in range(width):
            px, py = x - cx - dx, y - cy - dy
            if elastic:
                px += ex[y * width + x]
                py += ey[y * width + x]
            # R(-angle) / s, then the mirror, then back to the corner origin
            sx = cx + mirror * (cos * px + sin * py)
            sy = cy + (-sin * px + cos * py)
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = np.float32(sx - x0), np.float32(sy - y0)
            ix, iy = int(x0), int(y0)
            w00 = (np.float32(1.0) - fx) * (np.float32(1.0) - fy)
            w01 = fx * (np.float32(1.0) - fy)
            w10 = (np.float32(1.0) - fx) * fy
            w11 = fx * fy
            in_x0, in_x1 = 0 <= ix < width, 0 <= ix + 1 < width
            in_y0, in_y1 = 0 <= iy < height, 0 <= iy + 1 < height
            for c in range(channels):
                v = np.float32(0.0)
                if in_y0:
                    row = (iy * width) * channels + c
                    if in_x0:
                        v += w00 * np.float32(src[row + ix * channels])
                    if in_x1:
                        v += w01 * np.float32(src[row + (ix + 1) * channels])
                if in_y1:
                    row = ((iy + 1) * width) * channels + c
                    if in_x0:
                        v += w10 * np.float32(src[row + ix * channels])
                    if in_x1:
                        v += w11 * np.float32(src[row + (ix + 1) * channels])
                out[(y * width + x) * channels + c] = v * scale


@njit(**INNER_JIT)
def shift_flip(src, out, scale, height, width, channels, dx, dy, flipped):
    """The warp for whole-pixel shifts and flips alone: a copy of pixels, no sampling
    (the same result as ``warp``, faster)."""
    for y in range(height):
        sy = y - dy
        for x in range(width):
            sx = width - 1 - x + dx if flipped else x - dx
            base = (y * width + x) * channels
            if 0 <= sy < height and 0 <= sx < width:
                s = (sy * width + sx) * channels
                for c in range(channels):
                    out[base + c] = np.float32(src[s + c]) * scale
            else:
                for c in range(channels):
                    out[base + c] = np.float32(0.0)


@njit(**INNER_JIT)
def augment_rows(X, rows, start, count, scale, A0, noise):
    """A0[i] <- the augmented X[rows[start + i]] * scale, each sample's transformation
    drawn from its global index rows[start + i] + noise.row_offset."""
    aug = noise
    h, w, ch = aug.height, aug.width, aug.channels
    key0 = stream_key(noise.seed, noise.epoch, AUGMENT_STREAM)
    affine = aug.rotate > 0 or aug.scale > 0
    n = h * w if aug.elastic > 0 else 0
    ex = np.empty(n, dtype=np.float32)
    ey = np.empty(n, dtype=np.float32)
    tmp = np.empty(n, dtype=np.float32)
    taps = gaussian_taps(aug.sigma) if n else np.empty(0, dtype=np.float32)
    for i in range(count):
        r = rows[start + i]
        key = absorb(key0, r + noise.row_offset)
        angle, factor, dx, dy, flipped = draw_transform(aug, key)
        if n:
            elastic_field(aug, key, taps, ex, ey, tmp)
        if affine or n:
            warp(X[r], A0[i], scale, h, w, ch, angle, factor, dx, dy, flipped, ex, ey)
        else:
            shift_flip(X[r], A0[i], scale, h, w, ch, dx, dy, flipped)


@njit(**JIT)
def warp_image(image, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey):
    """``warp`` of one row, from Python (tests compare it with scipy.ndimage)."""
    out = np.empty(height * width * channels, dtype=np.float32)
    warp(image, out, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey)
    return out


@njit(**JIT)
def sample_transform(aug, seed, epoch, sample):
    """The (angle, scale factor, dx, dy, flipped) that global sample ``sample`` gets in
    ``epoch`` under ``seed`` (``aug``: a ``Noise``; for tests and scripts)."""
    key = absorb(stream_key(seed, epoch, AUGMENT_STREAM), sample)
    return draw_transform(aug, key)


@njit(**JIT)
def elastic_displacements(noise, sample):
    """(ex, ey): the elastic field of global sample ``sample`` in ``noise.epoch`` (for
    tests and scripts)."""
    key = absorb(stream_key(noise.seed, noise.epoch, AUGMENT_STREAM), sample)
    n = noise.height * noise.width
    ex = np.empty(n, dtype=np.float32)
    ey = np.empty(n, dtype=np.float32)
    elastic_field(noise, key, gaussian_taps(noise.sigma), ex, ey, np.empty(n, dtype=np.float32))
    return ex, ey
