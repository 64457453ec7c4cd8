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

Three routines, the cheapest that applies (``warp_sample``; times for a 28 x 28 image on
this project's machine): whole-pixel shifts and flips are copies (``shift_flip``, ~0.1
us); one channel without an elastic field is ``warp_gray`` (fixed-point coordinates,
~1 us); colour or elastic is the float32 ``warp`` (~3.5 us, and the elastic field
itself, drawn and smoothed per sample, ~13 us more). Compiled without fastmath
(``codes.EXACT_JIT``), so that the pictures are the same bits in every process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .codes import EXACT_INNER_JIT, EXACT_JIT
from .random import AUGMENT_STREAM, absorb, stream_key, uniform

# counters of a sample's augmentation sequence: 0..4 the transform, then the elastic field
ELASTIC_COUNTER = 8
# pixels of zero border around the picture in warp_gray's copy: small shifts, turns and
# zooms then never sample beyond it, and need no clamping
GRAY_BORDER = 8


@njit(**EXACT_INNER_JIT)
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


@njit(**EXACT_INNER_JIT)
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


@njit(**EXACT_INNER_JIT)
def smooth(field, pad, height, width, taps):
    """field <- field convolved with ``taps`` along rows, then along columns (zero
    outside the image). ``pad``: scratch for the field with a margin of the taps' radius
    on every side, (height + 2r) * (width + 2r) values; its margins must be zero. Each
    output row is a sum of shifted rows, so the inner loops run over whole rows."""
    r = (taps.size - 1) // 2
    pw = width + 2 * r
    for y in range(height):  # the field into the middle of pad
        for x in range(width):
            pad[(y + r) * pw + r + x] = field[y * width + x]
    for y in range(height):  # along rows: pad -> field
        out = field[y * width : (y + 1) * width]
        out[:] = 0.0
        base = (y + r) * pw
        for k in range(taps.size):
            t = taps[k]
            src = pad[base + k : base + k + width]
            for x in range(width):
                out[x] += t * src[x]
    for y in range(height):  # the row-smoothed field back into pad
        for x in range(width):
            pad[(y + r) * pw + r + x] = field[y * width + x]
    for y in range(height):  # along columns: pad -> field
        out = field[y * width : (y + 1) * width]
        out[:] = 0.0
        for k in range(taps.size):
            t = taps[k]
            src = pad[(y + k) * pw + r : (y + k) * pw + r + width]
            for x in range(width):
                out[x] += t * src[x]


@njit(**EXACT_INNER_JIT)
def elastic_field(aug, key, taps, ex, ey, pad):
    """Simard et al.'s displacement field: uniform(-1, 1) per pixel and axis, smoothed,
    times ``aug.elastic`` pixels (``pad``: scratch for ``smooth``, zeroed)."""
    n = aug.height * aug.width
    for i in range(n):
        ex[i] = np.float32(2.0) * uniform(key, ELASTIC_COUNTER + 2 * i) - np.float32(1.0)
        ey[i] = np.float32(2.0) * uniform(key, ELASTIC_COUNTER + 2 * i + 1) - np.float32(1.0)
    smooth(ex, pad, aug.height, aug.width, taps)
    smooth(ey, pad, aug.height, aug.width, taps)
    a = np.float32(aug.elastic)
    for i in range(n):
        ex[i] *= a
        ey[i] *= a


@njit(**EXACT_INNER_JIT)
def padded_size(aug, taps):
    """The size of ``smooth``'s scratch for this image and kernel."""
    r = (taps.size - 1) // 2
    return (aug.height + 2 * r) * (aug.width + 2 * r)


@njit(**EXACT_INNER_JIT)
def padded(height, width, channels):
    """A zeroed scratch image for ``warp``: the picture with a border of zeros, one pixel
    wide at the top and left, two at the bottom and right."""
    return np.zeros((height + 3) * (width + 3) * channels, dtype=np.float32)


@njit(**EXACT_INNER_JIT)
def warp(src, out, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey,
         pad):  # fmt: skip
    """out <- ``src`` (one image row, (height, width, channels)) warped as the module
    docstring says, bilinearly sampled and multiplied by ``scale``. ``ex``/``ey``: the
    elastic displacement per output pixel, or empty for none; ``pad``: from ``padded``.

    Written for speed (about 2.5 us for a 28 x 28 image): the picture is copied into the
    zero border of ``pad`` and every source point clamped into it, so that the loop has
    no branches (a point outside the picture reads only zeros)."""
    pw = (width + 3) * channels
    for y in range(height):
        for k in range(width * channels):
            pad[(y + 1) * pw + channels + k] = np.float32(src[y * width * channels + k])
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = math.cos(angle) / factor, math.sin(angle) / factor
    mirror = -1.0 if flipped else 1.0
    # q = c + F(R(-angle) (p + e - c - d) / s) is linear in p: along a row of output
    # pixels the source moves by a fixed step (ax, ay) per pixel; e moves it by E @ e
    ax, ay = np.float32(mirror * cos), np.float32(-sin)
    exx, exy = np.float32(mirror * cos), np.float32(mirror * sin)
    eyx, eyy = np.float32(-sin), np.float32(cos)
    elastic = ex.size > 0
    one = np.float32(1.0)
    w32, h32 = np.float32(width), np.float32(height)
    for y in range(height):
        py = y - cy - dy
        px0 = -cx - dx
        sx0 = np.float32(cx + mirror * (cos * px0 + sin * py))
        sy0 = np.float32(cy + (-sin * px0 + cos * py))
        for x in range(width):
            sx = sx0 + ax * np.float32(x)
            sy = sy0 + ay * np.float32(x)
            if elastic:
                ux, uy = ex[y * width + x], ey[y * width + x]
                sx += exx * ux + exy * uy
                sy += eyx * ux + eyy * uy
            # clamped to [-1, size]: beyond, the four neighbours are border zeros
            sx = min(max(sx, -one), w32)
            sy = min(max(sy, -one), h32)
            ix = np.int64(sx + one)  # floor(sx) + 1, the column in pad
            iy = np.int64(sy + one)
            fx = sx + one - np.float32(ix)
            fy = sy + one - np.float32(iy)
            i = iy * pw + ix * channels
            o = (y * width + x) * channels
            for c in range(channels):
                a, b = pad[i + c], pad[i + channels + c]
                d, e = pad[i + pw + c], pad[i + pw + channels + c]
                top = a + fx * (b - a)
                bottom = d + fx * (e - d)
                out[o + c] = (top + fy * (bottom - top)) * scale


@njit(**EXACT_INNER_JIT)
def gray_planes(height, width):
    """Zeroed scratch for ``warp_gray``: the picture with a zero border of GRAY_BORDER
    pixels, and its differences along rows, one plane after the other."""
    return np.zeros(2 * (height + 2 * GRAY_BORDER) * (width + 2 * GRAY_BORDER), dtype=np.float32)


@njit(**EXACT_INNER_JIT)
def bilinear_rows(P, G, out, width, s_x, s_y, step_x, step_y, row_x, row_y, pw, top, clamp):
    """out <- the bilinear samples of P (row stride ``pw``, G its differences along rows)
    at fixed-point source coordinates: output pixel (y, x) samples (s_x + y row_x +
    x step_x, s_y + y row_y + x step_y). With ``clamp``, coordinates are clamped into
    [0, ``top``] first (on both axes), which keeps every tap inside P."""
    upw = np.uint64(pw)
    low = np.int64(0xFFFFFFFF)
    inv = np.float32(1.0 / 4294967296.0)
    nought = np.int64(0)
    top_x, top_y = top
    for y in range(out.size // width):
        row = out[y * width : (y + 1) * width]
        qx0 = s_x + row_x * y
        qy0 = s_y + row_y * y
        for x in range(width):
            qx = qx0 + step_x * x
            qy = qy0 + step_y * x
            if clamp:
                qx = min(max(qx, nought), top_x)
                qy = min(max(qy, nought), top_y)
            fx = np.float32(qx & low) * inv
            fy = np.float32(qy & low) * inv
            # unsigned: numba checks a signed index for a negative value at every access
            i = np.uint64(qy >> 32) * upw + np.uint64(qx >> 32)
            upper = P[i] + fx * G[i]
            lower = P[i + upw] + fx * G[i + upw]
            row[x] = upper + fy * (lower - upper)


@njit(**EXACT_INNER_JIT)
def warp_gray(src, out, scale, height, width, angle, factor, dx, dy, flipped, planes):
    """``warp`` for one channel without an elastic field (the common case), several
    times faster, and closer to the exact bilinear warp (within 1e-3 grey levels).

    Source coordinates are fixed point (32 fraction bits), so stepping to the next
    pixel is one integer addition per axis. A pixel reads the picture P (scaled, in a
    zero border of GRAY_BORDER pixels) and its difference along rows G = P[x + 1] - P[x]
    at its top-left tap and the one below: bilinear is upper + fy (lower - upper) with
    upper = P + fx G, four loads and four multiply-adds, no branch. When the source of
    the whole output (the affine map's extremes are at its corners) lies in the border,
    no coordinate needs clamping; else (large shifts or zooms out) every coordinate is
    clamped to the border's edge, where the taps are zero (outside the picture the image
    is black). ``planes``: from ``gray_planes``, its border zero."""
    B = GRAY_BORDER
    pw = width + 2 * B
    size = (height + 2 * B) * pw
    P = planes[:size]
    G = planes[size : 2 * size]
    last = width - 1
    for y in range(height):  # slices indexed from 0: numba's loops over them vectorise
        start = (y + B) * pw + B
        d = P[start : start + width]
        # G where a pair of taps meets the picture (zero elsewhere): pad columns B - 1
        # .. B + width - 1, the same differences as P's, from the same products
        g = G[start - 1 : start + width]
        r = src[y * width : (y + 1) * width]
        before = r[:last]
        after = r[1:]
        first = np.float32(r[0]) * scale
        d[0] = first
        g[0] = first
        for x in range(last):
            a = np.float32(before[x]) * scale
            b = np.float32(after[x]) * scale
            d[x + 1] = b
            g[x + 1] = b - a
        g[width] = -(np.float32(r[last]) * scale)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = math.cos(angle) / factor, math.sin(angle) / factor
    mirror = -1.0 if flipped else 1.0
    unit = 4294967296.0  # 2^32: one pixel in fixed point
    # q = c + F(R(-angle) (p - c - d) / s) + B (pad coordinates), linear in p = (x, y):
    # q = q(0, 0) + x (step_x, step_y) + y (row_x, row_y)
    px0, py0 = -cx - dx, -cy - dy
    qx00 = cx + B + mirror * (cos * px0 + sin * py0)
    qy00 = cy + B + (-sin * px0 + cos * py0)
    ux, uy = mirror * cos, -sin  # per output column
    vx, vy = mirror * sin, cos  # per output row
    # the extremes over the output, at its corners, at least a pixel inside the border
    ex, ey = (width - 1) * ux, (width - 1) * uy
    fx, fy = (height - 1) * vx, (height - 1) * vy
    low_x = qx00 + min(ex, 0.0) + min(fx, 0.0)
    high_x = qx00 + max(ex, 0.0) + max(fx, 0.0)
    low_y = qy00 + min(ey, 0.0) + min(fy, 0.0)
    high_y = qy00 + max(ey, 0.0) + max(fy, 0.0)
    inside = low_x >= 1.0 and low_y >= 1.0 and high_x <= pw - 3.0 and high_y <= height + 2 * B - 3.0
    # past the picture by B - 1 >= 1 pixels: both taps there are zero
    top = (np.int64(pw - 2) << 32, np.int64(height + 2 * B - 2) << 32)
    s_x = np.int64(math.floor(qx00 * unit + 0.5))
    s_y = np.int64(math.floor(qy00 * unit + 0.5))
    step_x = np.int64(math.floor(ux * unit + 0.5))
    step_y = np.int64(math.floor(uy * unit + 0.5))
    row_x = np.int64(math.floor(vx * unit + 0.5))
    row_y = np.int64(math.floor(vy * unit + 0.5))
    # the common case needs no clamping (the test on ``clamp`` is the same for every pixel
    # of the call, a branch the processor predicts)
    if inside:
        bilinear_rows(P, G, out, width, s_x, s_y, step_x, step_y, row_x, row_y, pw, top, False)
    else:
        bilinear_rows(P, G, out, width, s_x, s_y, step_x, step_y, row_x, row_y, pw, top, True)


@njit(**EXACT_INNER_JIT)
def shift_flip(src, out, scale, height, width, channels, dx, dy, flipped):
    """The warp for whole-pixel shifts and flips alone: a copy of pixels, no sampling
    (the same result as ``warp``, faster). Unflipped, the rows that have a source row are
    one contiguous run of the picture, moved by dy rows and dx columns: one long copy,
    after which the columns that wrapped round a row's end are zeroed. Loops run over
    slices from index 0, which numba vectorises (a signed index into an array costs a
    negative-index check per element, which stops vectorisation)."""
    zero = np.float32(0.0)
    rw = width * channels
    y0, y1 = max(0, dy), min(height, height + dy)  # output rows with a source row
    y1 = max(y0, y1)
    head = out[: y0 * rw]
    for k in range(head.size):
        head[k] = zero
    tail = out[y1 * rw :]
    for k in range(tail.size):
        tail[k] = zero
    lo, hi = max(0, dx), min(width, width + dx)  # output columns with a source column
    hi = max(lo, hi)
    if not flipped:
        offset = dy * rw + dx * channels  # output element e takes source element e - offset
        first, stop = y0 * rw + lo * channels, (y1 - 1) * rw + hi * channels
        if y1 > y0 and stop > first:
            o = out[first:stop]
            s = src[first - offset : stop - offset]
            for k in range(o.size):
                o[k] = np.float32(s[k]) * scale
        for y in range(y0, y1):  # columns that came from across a row's end
            row = out[y * rw : (y + 1) * rw]
            for k in range(lo * channels):
                row[k] = zero
            edge = row[hi * channels :]
            for k in range(edge.size):
                edge[k] = zero
        return
    for y in range(y0, y1):  # flipped: output column x takes column width - 1 - x + dx
        row = out[y * rw : (y + 1) * rw]
        s = src[(y - dy) * rw : (y - dy + 1) * rw]
        for k in range(lo * channels):
            row[k] = zero
        edge = row[hi * channels :]
        for k in range(edge.size):
            edge[k] = zero
        if channels == 1:
            o = row[lo:hi]
            r = s[width - hi + dx : width - lo + dx][::-1]
            for x in range(o.size):
                o[x] = np.float32(r[x]) * scale
        else:
            for x in range(lo, hi):
                t = (width - 1 - x + dx) * channels
                for c in range(channels):
                    row[x * channels + c] = np.float32(s[t + c]) * scale


@njit(**EXACT_INNER_JIT)
def warp_sample(src, out, scale, height, width, channels, angle, factor, dx, dy, flipped,
                ex, ey, pad, gray):  # fmt: skip
    """One image warped by the cheapest routine for it: a copy for whole-pixel shifts
    and flips (exactly ``warp``'s result), ``warp_gray`` for one channel without an
    elastic field, else ``warp``. ``pad``: from ``padded`` (for ``warp``), ``gray``:
    from ``gray_planes`` (for ``warp_gray``)."""
    if ex.size == 0 and angle == 0.0 and factor == 1.0:
        shift_flip(src, out, scale, height, width, channels, dx, dy, flipped)
    elif ex.size == 0 and channels == 1:
        warp_gray(src, out, scale, height, width, angle, factor, dx, dy, flipped, gray)
    else:
        warp(src, out, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey,
             pad)  # fmt: skip


@njit(**EXACT_INNER_JIT)
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
    taps = gaussian_taps(aug.sigma) if n else np.zeros(1, dtype=np.float32)
    pad = np.zeros(padded_size(aug, taps) if n else 0, dtype=np.float32)
    picture = padded(h, w, ch) if (affine and ch > 1) or n else np.zeros(0, dtype=np.float32)
    gray = gray_planes(h, w) if affine and ch == 1 else np.zeros(0, dtype=np.float32)
    for i in range(count):
        r = rows[start + i]
        key = absorb(key0, r + noise.row_offset)
        angle, factor, dx, dy, flipped = draw_transform(aug, key)
        if n:
            elastic_field(aug, key, taps, ex, ey, pad)
        warp_sample(X[r], A0[i], scale, h, w, ch, angle, factor, dx, dy, flipped, ex, ey,
                    picture, gray)  # fmt: skip


@njit(**EXACT_JIT)
def warp_image(image, scale, height, width, channels, angle, factor, dx, dy, flipped, ex, ey):
    """``warp`` of one row, from Python (tests compare it with scipy.ndimage)."""
    out = np.empty(height * width * channels, dtype=np.float32)
    pad = padded(height, width, channels)
    gray = gray_planes(height, width)
    warp_sample(image, out, scale, height, width, channels, angle, factor, dx, dy, flipped, ex,
                ey, pad, gray)  # fmt: skip
    return out


@njit(**EXACT_JIT)
def sample_transform(aug, seed, epoch, sample):
    """The (angle, scale factor, dx, dy, flipped) that global sample ``sample`` gets in
    ``epoch`` under ``seed`` (``aug``: a ``Noise``; for tests and scripts)."""
    key = absorb(stream_key(seed, epoch, AUGMENT_STREAM), sample)
    return draw_transform(aug, key)


@njit(**EXACT_JIT)
def elastic_displacements(noise, sample):
    """(ex, ey): the elastic field of global sample ``sample`` in ``noise.epoch`` (for
    tests and scripts)."""
    key = absorb(stream_key(noise.seed, noise.epoch, AUGMENT_STREAM), sample)
    n = noise.height * noise.width
    ex = np.empty(n, dtype=np.float32)
    ey = np.empty(n, dtype=np.float32)
    taps = gaussian_taps(noise.sigma)
    pad = np.zeros(padded_size(noise, taps), dtype=np.float32)
    elastic_field(noise, key, taps, ex, ey, pad)
    return ex, ey


@njit(**EXACT_JIT)
def augmented_rows(X, rows, scale, noise):
    """The float32 inputs that training gathers for X[rows] in ``noise.epoch``
    (augmented, no dropout): for tests, scripts and benchmarks that feed numrec's
    augmentation to another framework."""
    out = np.empty((rows.size, X.shape[1]), dtype=np.float32)
    augment_rows(X, rows, 0, rows.size, scale, out, noise)
    return out
