"""Dropout and augmentation: the counter-based generator, the masks (rate, inverted
scaling, gradients through them), the geometry of the augmentations against
scipy.ndimage, no copy of the data, the settings' checks, and bit-identical weights for
1, 2 and 4 threads and across an interrupt + resume."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from engine_helpers import blobs
from numba import njit
from numba.extending import overload

import numrec
from numrec.kernels.augment import (
    augmented_rows,
    elastic_displacements,
    sample_transform,
    warp_image,
)
from numrec.kernels.random import stream_key_of, uniforms, words
from numrec.kernels.step import NO_LABELS, batch_gradient
from numrec.kernels.structs import AugmentedNoise, DropoutNoise, Noise, noise_class
from numrec.kernels.variants import of_kind, when
from numrec.noise import canonical_augment, make_augment, make_noise
from numrec.training import Trainer

MASK64 = (1 << 64) - 1


def splitmix_reference(seed, epoch, stream, sample, n):
    """SplitMix64 as published (Steele, Lea, Flood 2014), in Python integers."""

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def absorb(key, word):
        return mix((key + (word + 1) * 0x9E3779B97F4A7C15) & MASK64)

    key = absorb(absorb(absorb(absorb(0, seed), epoch), stream), sample)
    return [absorb(key, i) for i in range(n)]


def test_the_generator_is_splitmix64_keyed_by_seed_epoch_stream_and_sample():
    assert [int(w) for w in words(3, 1, 2, 12345, 6)] == splitmix_reference(3, 1, 2, 12345, 6)
    u = uniforms(0, 0, 0, 0, 100_000)
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    base = uniforms(1, 2, 3, 4, 8)
    for other in ((2, 2, 3, 4), (1, 3, 3, 4), (1, 2, 4, 4), (1, 2, 3, 5)):
        assert not np.array_equal(base, uniforms(*other, 8)), other
    np.testing.assert_array_equal(base, uniforms(1, 2, 3, 4, 8))  # a pure function
    assert stream_key_of(1, 2, 3) == stream_key_of(1, 2, 3) != stream_key_of(1, 2, 4)


# --- dropout ----------------------------------------------------------------------------


def image_data(n=300, height=3, width=4, classes=3, seed=0):
    """blobs whose rows are declared (height, width) images."""
    ds = blobs(n=n, features=height * width, classes=classes, seed=seed)
    return numrec.Dataset(ds.name, ds.train, ds.test, ds.class_names,
                          meta={"image_shape": (height, width)})  # fmt: skip


def no_augment():
    return make_augment(None, None)


def masks(seed, epoch, stream, samples, units, rate):
    """The kept units (bool, samples x units) as the kernels draw them: 16 bits per unit
    from the sample's words, dropped below round(rate * 65536)."""
    drop = int(np.floor(rate * 65536 + 0.5))
    out = np.zeros((len(samples), units), dtype=bool)
    for i, s in enumerate(samples):
        w = words(seed, epoch, stream, int(s), -(-units // 4))
        bits = [(int(w[j // 4]) >> (16 * (j % 4))) & 0xFFFF for j in range(units)]
        out[i] = np.array(bits) >= drop
    return out, 65536 / (65536 - drop)


def run_gradient(net, X, y, noise):
    n = len(X)
    ws = net.workspace(n)
    T = np.eye(net.sizes[-1], dtype=np.float32)[y]
    batch_gradient(X, NO_LABELS, T, np.arange(n), 0, n, n, np.float32(1 / 255), net.params(),
                   net.codes(), net.plan(n), ws, noise=noise)  # fmt: skip
    return ws


def layer_acts(net, ws, n, layer):
    plan = net.plan(n)
    size = net.sizes[layer]
    return ws.acts[plan.a_off[layer] : plan.a_off[layer] + n * size].reshape(n, size).copy()


def test_dropout_masks_have_the_rate_and_keep_the_expected_activation():
    rng = np.random.default_rng(0)
    n, units = 64, 2000
    X = rng.integers(0, 256, (n, 300), dtype=np.uint8)
    y = rng.integers(0, 2, n)
    net = numrec.Network([300, units, 2], hidden="sigmoid", seed=1)  # activations > 0
    plain = layer_acts(net, run_gradient(net, X, y, None), n, 1)
    for rate in (0.2, 0.5):
        noise = make_noise(7, 3, 0, np.array([rate]), 0.0, no_augment())
        dropped = layer_acts(net, run_gradient(net, X, y, noise), n, 1)
        zero = dropped == 0
        print(f"rate {rate}: dropped {zero.mean():.4f}")
        assert abs(zero.mean() - rate) < 0.01  # 128,000 units: sd 0.0014
        # stream 1: hidden layer 1; keep = 1 / (1 - round(rate * 65536) / 65536)
        expected, keep = masks(7, 3, 1, range(n), units, rate)
        np.testing.assert_array_equal(~zero, expected)
        assert abs(keep - 1 / (1 - rate)) < 1e-5
        np.testing.assert_allclose(dropped[~zero], plain[~zero] * keep, rtol=1e-6)
        # inverted scaling: the mean activation is what inference sees
        assert abs(dropped.mean() / plain.mean() - 1) < 0.01
    # input dropout (stream 0), on the scaled pixels
    noise = make_noise(7, 3, 0, np.zeros(0), 0.3, no_augment())
    inputs = layer_acts(net, run_gradient(net, X, y, noise), n, 0)
    kept, keep = masks(7, 3, 0, range(n), 300, 0.3)
    scaled = X.astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(inputs, np.where(kept, scaled * np.float32(keep), 0), rtol=1e-6)
    assert abs((1 - kept.mean()) - 0.3) < 0.01


@pytest.mark.parametrize("hidden", ["leaky_relu", "tanh", "sigmoid"])
def test_gradients_through_dropout_match_float64_backprop_with_the_same_masks(hidden):
    rng = np.random.default_rng(1)
    n, sizes = 40, [30, 24, 16, 5]
    X = rng.integers(0, 256, (n, sizes[0]), dtype=np.uint8)
    y = rng.integers(0, sizes[-1], n)
    net = numrec.Network(sizes, hidden=hidden, seed=3)
    rates, input_rate, seed, epoch, offset = (0.3, 0.5), 0.2, 11, 4, 1000
    noise = make_noise(seed, epoch, offset, np.array(rates), input_rate, no_augment())
    ws = run_gradient(net, X, y, noise)

    f = {"leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z), "tanh": np.tanh,
         "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[hidden]  # fmt: skip
    df = {"leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
          "tanh": lambda z: 1 - np.tanh(z) ** 2,
          "sigmoid": lambda z: f(z) * (1 - f(z))}[hidden]  # fmt: skip
    samples = np.arange(n) + offset  # the global indices
    W = [w.astype(np.float64) for w in net.weights]
    b = [v.astype(np.float64) for v in net.biases]
    kept, keep = masks(seed, epoch, 0, samples, sizes[0], input_rate)
    A = [X / 255.0 * kept * keep]
    Z, M = [], []
    for l in range(len(W)):
        z = A[-1] @ W[l].T + b[l]
        Z.append(z)
        if l < len(W) - 1:
            m, k = masks(seed, epoch, l + 1, samples, sizes[l + 1], rates[l])
            M.append(m * k)
            A.append(f(z) * M[-1])
        else:
            e = np.exp(z - z.max(1, keepdims=True))
            A.append(e / e.sum(1, keepdims=True))
    delta = (A[-1] - np.eye(sizes[-1])[y]) / n
    grads = [None] * len(W)
    for l in range(len(W) - 1, -1, -1):
        grads[l] = (delta.T @ A[l], delta.sum(0))
        if l:
            delta = (delta @ W[l]) * df(Z[l - 1]) * M[l - 1]
    g = ws.grad
    for l, (dW, db) in enumerate(grads):
        got_w = g[net.w_off[l] : net.w_off[l] + dW.size].reshape(dW.shape)
        got_b = g[net.b_off[l] : net.b_off[l] + db.size]
        scale = np.abs(dW).max()
        assert np.abs(got_w - dW).max() < 1e-4 * scale, (hidden, l)
        assert np.abs(got_b - db).max() < 1e-4 * max(np.abs(db).max(), 1e-6), (hidden, l)
    # a dropped hidden unit gets no gradient at all in the layer below it
    m1, _ = masks(seed, epoch, 1, samples, sizes[1], rates[0])
    never = ~m1.any(0)
    if never.any():
        dW0 = g[net.w_off[0] : net.w_off[0] + sizes[0] * sizes[1]].reshape(sizes[1], sizes[0])
        assert np.all(dW0[never] == 0)


def test_evaluate_and_predict_use_no_masks():
    ds = image_data(n=400)
    net = numrec.Network([12, 32, 3], seed=2)
    numrec.train(net, ds, epochs=2, dropout=(0.5,), input_dropout=0.2, augment="shift=1",
                 progress=False)  # fmt: skip
    X = ds.test.X
    P = net.forward(X)
    np.testing.assert_array_equal(P, net.forward(X))  # nothing random
    Z = (
        np.maximum(X / 255.0 @ net.weights[0].T + net.biases[0], 0)
        + np.minimum(X / 255.0 @ net.weights[0].T + net.biases[0], 0) * 0.01
    )
    Z = Z @ net.weights[1].T + net.biases[1]
    E = np.exp(Z - Z.max(1, keepdims=True))
    np.testing.assert_allclose(P, E / E.sum(1, keepdims=True), atol=1e-5)


# --- augmentation geometry ---------------------------------------------------------------


def picture():
    """A 20 x 24 picture with structure everywhere (so misplacements show)."""
    yy, xx = np.mgrid[0:20, 0:24]
    img = 127 + 60 * np.sin(xx / 2.3) * np.cos(yy / 3.1) + 3 * xx - 2 * yy
    img[3:7, 15:21] = 255
    return np.clip(img, 0, 255).astype(np.uint8)


def reference_affine(img, angle, factor, dx, dy, flipped):
    """scipy.ndimage's bilinear warp for the geometry that augment's docstring states."""
    from scipy import ndimage

    h, w = img.shape
    c = np.array([(h - 1) / 2, (w - 1) / 2])  # (row, column)
    cos, sin, mirror = np.cos(angle), np.sin(angle), -1.0 if flipped else 1.0
    M = np.array([[cos, -sin], [mirror * sin, mirror * cos]]) / factor
    offset = c - M @ (c + np.array([dy, dx]))
    return ndimage.affine_transform(img.astype(np.float64), M, offset=offset, order=1,
                                    mode="grid-constant", cval=0.0)  # fmt: skip


NONE = np.zeros(0, dtype=np.float32)


@pytest.mark.parametrize(
    ("angle", "factor", "dx", "dy", "flipped"),
    [(0.0, 1.0, 2, -1, False), (0.0, 1.0, 0, 0, True), (0.0, 1.0, -3, 2, True),
     (np.radians(10), 1.0, 0, 0, False), (np.radians(-25), 1.0, 1, 2, False),
     (0.0, 1.15, 0, 0, False), (0.0, 0.9, -1, 0, True), (np.radians(7), 0.92, 2, 1, True)],
)  # fmt: skip
def test_warp_matches_scipy_ndimage(angle, factor, dx, dy, flipped):
    img = picture()
    h, w = img.shape
    got = warp_image(img.ravel(), np.float32(1.0), h, w, 1, angle, factor, dx, dy, flipped,
                     NONE, NONE).reshape(h, w)  # fmt: skip
    expected = reference_affine(img, angle, factor, dx, dy, flipped)
    assert np.abs(got - expected).max() < 0.02, np.abs(got - expected).max()
    if angle == 0 and factor == 1:  # whole pixels: an exact copy
        shifted = np.zeros_like(img)
        src = np.fliplr(img) if flipped else img
        shifted[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = src[
            max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
        np.testing.assert_array_equal(got, shifted.astype(np.float32))


@pytest.mark.parametrize(
    ("angle", "factor", "dx", "dy", "flipped"),
    [(np.radians(3), 1.0, 0, 0, False), (np.radians(-10), 1.08, 2, -2, True),
     (np.radians(30), 0.55, 1, 0, False),  # zoomed out past the zero border: clamped
     (np.radians(5), 1.0, 15, -3, False), (np.radians(-5), 1.0, -4, 40, True),
     (np.radians(170), 1.9, 0, 0, True), (1e-9, 1.0, 0, 0, False)],
)  # fmt: skip
def test_one_channel_warp_is_bilinear_to_a_thousandth_of_a_grey_level(angle, factor, dx, dy,
                                                                      flipped):  # fmt: skip
    """The one-channel warp (fixed-point coordinates, no clamping while the source stays
    in its zero border, clamping when a shift or zoom leaves it) against scipy's float64
    bilinear warp, much closer than the 0.02 the float32 warp is held to."""
    img = picture()
    h, w = img.shape
    got = warp_image(img.ravel(), np.float32(1.0), h, w, 1, angle, factor, dx, dy, flipped,
                     NONE, NONE).reshape(h, w)  # fmt: skip
    expected = reference_affine(img, angle, factor, dx, dy, flipped)
    assert np.abs(got - expected).max() < 1e-3, np.abs(got - expected).max()
    assert np.count_nonzero(got) > 0 if abs(dy) < h else not got.any()
    scaled = warp_image(img.ravel(), np.float32(1 / 255), h, w, 1, angle, factor, dx, dy,
                        flipped, NONE, NONE).reshape(h, w)  # fmt: skip
    np.testing.assert_allclose(scaled, expected / 255, atol=1e-5)


def test_whole_pixel_shifts_and_flips_are_exact_copies_for_any_shift():
    img = picture()
    h, w = img.shape
    rgb = np.stack([img, 255 - img], axis=2)
    for channels, pic in ((1, img), (2, rgb)):
        for dx in (-30, -24, -23, -5, -1, 0, 1, 3, 23, 24, 31):
            for dy in (-20, -19, -2, 0, 1, 19, 25):
                for flipped in (False, True):
                    got = warp_image(pic.ravel(), np.float32(1.0), h, w, channels, 0.0, 1.0,
                                     dx, dy, flipped, NONE, NONE).reshape(pic.shape)  # fmt: skip
                    src = pic[:, ::-1] if flipped else pic
                    expected = np.zeros(pic.shape, dtype=np.float32)
                    yo, xo = (
                        slice(max(dy, 0), max(h + min(dy, 0), 0)),
                        slice(max(dx, 0), max(w + min(dx, 0), 0)),
                    )
                    ys, xs = (
                        slice(max(-dy, 0), max(h + min(-dy, 0), 0)),
                        slice(max(-dx, 0), max(w + min(-dx, 0), 0)),
                    )
                    if abs(dx) < w and abs(dy) < h:
                        expected[yo, xo] = src[ys, xs]
                    np.testing.assert_array_equal(got, expected, err_msg=f"{dx} {dy} {flipped}")


def test_colour_channels_move_together():
    rgb = np.stack([picture(), 255 - picture(), picture() // 2], axis=2)
    h, w, _ = rgb.shape
    args = (np.radians(12), 1.05, 1, -2, True)
    got = warp_image(rgb.ravel(), np.float32(1.0), h, w, 3, *args, NONE, NONE).reshape(h, w, 3)
    for c in range(3):
        np.testing.assert_allclose(got[:, :, c], reference_affine(rgb[:, :, c], *args), atol=0.02)


def test_elastic_field_is_a_smoothed_uniform_field_and_warps_as_map_coordinates():
    from scipy import ndimage

    img = picture()
    h, w = img.shape
    spec = make_augment("elastic=8,sigma=4", (h, w, 1))
    noise = make_noise(5, 2, 0, np.zeros(0), 0.0, spec)
    ex, ey = elastic_displacements(noise, 17)
    raw = 2 * uniforms(5, 2, 0x617567, 17, 8 + 2 * h * w)[8:].astype(np.float64) - 1
    for got, field in ((ex, raw[0::2]), (ey, raw[1::2])):
        smooth = ndimage.gaussian_filter(field.reshape(h, w), 4.0, mode="constant", truncate=3)
        np.testing.assert_allclose(got.reshape(h, w), 8 * smooth, atol=1e-4)
    assert 0.05 < np.abs(ex).mean() < 2  # a gentle, smooth displacement of the pixels
    got = warp_image(img.ravel(), np.float32(1.0), h, w, 1, 0.0, 1.0, 0, 0, False, ex, ey)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = [yy + ey.reshape(h, w), xx + ex.reshape(h, w)]
    expected = ndimage.map_coordinates(img.astype(np.float64), coords, order=1,
                                       mode="grid-constant")  # fmt: skip
    assert np.abs(got.reshape(h, w) - expected).max() < 0.02


def test_each_sample_draws_its_transformation_in_the_stated_ranges():
    spec = make_augment("shift=2,rotate=10,scale=0.1,flip", (28, 28, 1))
    noise = make_noise(3, 0, 0, np.zeros(0), 0.0, spec)
    draws = [sample_transform(noise, 3, 0, s) for s in range(4000)]
    angles, factors, dxs, dys, flips = map(np.array, zip(*draws))
    assert np.degrees(np.abs(angles)).max() <= 10 and np.degrees(angles).std() > 5
    assert 0.9 <= factors.min() and factors.max() <= 1.1
    assert set(dxs) == set(dys) == {-2, -1, 0, 1, 2}
    assert abs(flips.mean() - 0.5) < 0.03
    # the epoch changes every draw; the same (seed, epoch, sample) repeats it
    assert sample_transform(noise, 3, 1, 5) != draws[5] == sample_transform(noise, 3, 0, 5)


def test_the_gather_augments_each_row_by_its_global_index():
    """The training gather's input rows equal warp_image of the drawn transformation; with
    row_offset (an MPI rank's share) the same global sample gets the same picture."""
    rng = np.random.default_rng(4)
    h, w, n = 8, 9, 10
    X = rng.integers(0, 256, (n, h * w), dtype=np.uint8)
    y = rng.integers(0, 3, n)
    net = numrec.Network([h * w, 6, 3], seed=0)
    spec = make_augment("shift=1,rotate=15,scale=0.1,flip", (h, w, 1))
    noise = make_noise(9, 1, 0, np.zeros(0), 0.0, spec)
    acts = layer_acts(net, run_gradient(net, X, y, noise), n, 0)
    for s in range(n):
        t = sample_transform(noise, 9, 1, s)
        expected = warp_image(X[s], np.float32(1 / 255), h, w, 1, *t, NONE, NONE)
        np.testing.assert_array_equal(acts[s], expected)
    # what augmented_rows (for other frameworks) gives is what training gathers
    np.testing.assert_array_equal(augmented_rows(X, np.arange(n), np.float32(1 / 255), noise), acts)
    # rows 4.. of the same data, held by a process whose row 0 is global row 4
    later = make_noise(9, 1, 4, np.zeros(0), 0.0, spec)
    part = layer_acts(net, run_gradient(net, X[4:], y[4:], later), n - 4, 0)
    np.testing.assert_array_equal(part, acts[4:])


TYPED = []  # (kernel's tag, numba type of its noise), each time a test kernel is typed


def typed_for(tag, noise):
    """Called from the test kernels: records, when numba types the call, for what."""


@overload(typed_for, prefer_literal=True)
def _typed_for(tag, noise):
    TYPED.append((tag.literal_value, noise))
    return lambda tag, noise: None


def variant_caller(kind, scaled_tag, shifted_tag):
    def scaled_by(x, k, noise):
        typed_for(scaled_tag, noise)
        x[0] *= k

    def shifted_by(x, k, noise):
        typed_for(shifted_tag, noise)
        x[0] += k

    either, maybe = when(kind, scaled_by, shifted_by), when(kind, scaled_by)

    @njit
    def call(x, noise):
        either(x, 3.0, noise)
        maybe(x, 2.0, noise)
        return x

    return call


@pytest.mark.parametrize("kind", [AugmentedNoise, DropoutNoise])
def test_a_kernel_variant_is_chosen_by_the_noise_class_and_the_other_never_compiled(kind):
    """``variants.when``: the kernel for a Noise of the class asked for (or a subclass:
    augmented + dropout is both), the other one (or nothing) else, decided at compile
    time: a kernel not chosen is never even typed."""
    scaled, shifted = 2 * id(kind), 2 * id(kind) + 1  # tags of this test's kernels
    call = variant_caller(kind, scaled, shifted)
    for augmented, dropout in ((False, False), (True, False), (False, True), (True, True)):
        spec = make_augment("shift=1" if augmented else None, (2, 2, 1))
        noise = make_noise(1, 0, 0, np.full(1, 0.5 * dropout), 0.0, spec)
        assert type(noise) is noise_class(augmented, dropout)
        chosen = isinstance(noise, kind)
        assert chosen == (augmented if kind is AugmentedNoise else dropout)
        assert call(np.ones(1), noise)[0] == (6.0 if chosen else 4.0)
    assert call(np.ones(1), None)[0] == 4.0  # inference passes no noise
    mine = [(tag, t) for tag, t in TYPED if tag in (scaled, shifted)]
    # typed for the two classes of that kind; the other for the other two and None
    assert all(of_kind(t, kind) for tag, t in mine if tag == scaled)
    assert not any(of_kind(t, kind) for tag, t in mine if tag == shifted)
    assert len({t for tag, t in mine if tag == scaled}) == 2
    assert len({t for tag, t in mine if tag == shifted}) == 3


def test_input_dropout_alone_makes_a_dropout_noise():
    noise = make_noise(1, 0, 0, np.zeros(2), 0.1, make_augment(None, None))
    assert type(noise) is DropoutNoise
    assert type(make_noise(1, 0, 0, np.zeros(2), 0.0, make_augment(None, None))) is Noise


def test_augmentation_makes_no_copy_of_the_data():
    rng = np.random.default_rng(0)
    n = 20_000  # 15.7 MB of uint8 pixels: a float copy would be 63 MB, a uint8 one 15.7
    X = rng.integers(0, 256, (n, 784), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    ds = numrec.Dataset("big", numrec.Split(X, y), numrec.Split(X[:10], y[:10]),
                        [str(i) for i in range(10)], meta={"image_shape": (28, 28)})  # fmt: skip
    net = numrec.Network([784, 16, 10], seed=0)
    settings = dict(epochs=1, batch_size=64, validation_fraction=0, progress=False,
                    augment="shift=2,rotate=10,scale=0.1,elastic=8", dropout=(0.5,),
                    input_dropout=0.1)  # fmt: skip
    numrec.train(net, ds, epochs=0, **{k: v for k, v in settings.items() if k != "epochs"})
    tracemalloc.start()
    try:
        numrec.train(net, ds, **settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory while training: {peak / 1e6:.2f} MB (X: {X.nbytes / 1e6:.1f} MB)")
    assert peak < X.nbytes / 8


# --- settings ----------------------------------------------------------------------------


def test_augment_specs_are_checked_and_stored_in_one_form():
    assert canonical_augment(" flip, rotate=10,shift=2 ") == "shift=2,rotate=10,flip"
    assert numrec.TrainConfig(augment="scale=0.10").augment == "scale=0.1"
    assert numrec.TrainConfig(dropout=0.5).dropout == (0.5,)
    bad = {
        "rotate=400": "rotate must be degrees between 0 and 180, got '400'",
        "shear=3": "unknown augmentation 'shear'",
        "shift=1.5": "shift must be a whole number of pixels",
        "shift": "shift needs a value",
        "sigma=3": "give elastic=A too",
        "scale=1": "scale must be a fraction in [0, 1)",
        "shift=0": "no augmentation in",
        "flip=2": "'flip' takes no value",
    }
    for spec, message in bad.items():
        with pytest.raises(ValueError, match="augment: ") as e:
            numrec.TrainConfig(augment=spec)
        assert message in str(e.value), (spec, str(e.value))
    for rates in ((1.0,), (-0.1,), (0.2, "x"), "0.5"):
        with pytest.raises(ValueError, match="dropout must be rates, each in"):
            numrec.TrainConfig(dropout=rates)


def test_augmentation_needs_an_image_shape_and_dropout_one_rate_per_layer():
    with pytest.raises(ValueError, match=r"declares no image shape \(meta\['image_shape'\]\)"):
        Trainer(numrec.Network([12, 8, 3]), blobs(n=100), augment="shift=1", progress=False)
    ds = blobs(n=100)
    wrong = numrec.Dataset(ds.name, ds.train, ds.test, ds.class_names,
                           meta={"image_shape": (5, 5)})  # fmt: skip
    with pytest.raises(ValueError, match=r"image_shape \[5, 5\] does not fold its rows of 12"):
        Trainer(numrec.Network([12, 8, 3]), wrong, augment="shift=1", progress=False)
    with pytest.raises(ValueError, match="dropout has 3 rates but the network has 2 hidden"):
        Trainer(numrec.Network([12, 8, 8, 3]), blobs(n=100), dropout=(0.1, 0.2, 0.3),
                progress=False)  # fmt: skip


# --- reproducible ------------------------------------------------------------------------

NOISY = dict(dropout=(0.3, 0.5), input_dropout=0.1,
             augment="shift=1,rotate=10,scale=0.1,elastic=2,sigma=1,flip")  # fmt: skip
SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    sys.path.insert(0, {tests!r})
    from test_noise import trained_noisy
    for threads in (1, 2, 4):
        print(threads, hashlib.sha256(trained_noisy(threads).tobytes()).hexdigest())
    """
)


def trained_noisy(threads, batch=100):
    net = numrec.Network([12, 16, 8, 3], seed=5)
    numrec.train(net, image_data(n=300), epochs=2, batch_size=batch, threads=threads, seed=9,
                 lr=0.05, progress=False, **NOISY)  # fmt: skip
    return net.theta.copy()


def test_dropout_and_augmentation_weights_are_the_same_for_1_2_and_4_threads():
    """numba fixes its pool size at start-up, so 4 threads need a fresh process."""
    tests = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests)],
        env={**os.environ, "NUMBA_NUM_THREADS": "4"},
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout.split()  # fmt: skip
    assert out[0::2] == ["1", "2", "4"]
    assert out[1] == out[3] == out[5], "the thread count changed the weights"
    here = trained_noisy(2)
    assert out[1] == hashlib.sha256(here.tobytes()).hexdigest()
    assert not np.array_equal(here, trained_noisy(2, batch=50))  # the digest means something
    plain = numrec.Network([12, 16, 8, 3], seed=5)
    numrec.train(plain, image_data(n=300), epochs=2, batch_size=100, seed=9, lr=0.05,
                 progress=False)  # fmt: skip
    assert not np.array_equal(here, plain.theta)  # the noise did something


class StopAfter:
    """A callback that asks for Ctrl-C after ``calls`` progress updates."""

    def __init__(self, trainer, calls):
        self.trainer, self.calls = trainer, calls

    def on_batches(self, *args):
        self.calls -= 1
        if self.calls == 0:
            self.trainer._signal = 2


def test_dropout_and_augmentation_resume_bit_identically(tmp_path, monkeypatch):
    from numrec.serialize import load_checkpoint, save_checkpoint
    from numrec.training import TrainingInterrupted

    ds = image_data(n=1200)
    settings = dict(epochs=4, batch_size=8, lr=0.1, progress=False, seed=2, **NOISY)
    monkeypatch.setattr(numrec.training, "CHUNK_SAMPLES", 320)  # 40 batches a chunk
    whole = numrec.Network([12, 8, 6, 3], seed=1)
    expected = Trainer(whole, ds, **settings).run()

    first = Trainer(numrec.Network([12, 8, 6, 3], seed=1), ds, **settings)
    # 1,080 training rows: 135 batches an epoch, 4 chunks; stopped inside epoch 2
    first.callbacks.append(StopAfter(first, 7))
    with pytest.raises(TrainingInterrupted):
        first.run()
    assert first.epoch == 1 and first.batch == 120
    state, _ = load_checkpoint(save_checkpoint(tmp_path / "ck.npz", first))
    second = Trainer(numrec.Network([12, 8, 6, 3], seed=9), ds, **settings)
    second.load_state_dict(state)
    history = second.run()
    np.testing.assert_array_equal(second.net.theta, whole.theta)
    strip = ("seconds", "samples_per_s")
    assert [{k: v for k, v in h.items() if k not in strip} for h in history] == [
        {k: v for k, v in h.items() if k not in strip} for h in expected
    ]
