"""Dropout and data augmentation settings: the ``augment`` spec, its checks, and the
per-epoch ``kernels.structs.Noise`` the training kernels take.

The augment spec is text, parts separated by commas, each optional:

    shift=N       shift by whole pixels, dx and dy each uniform in -N..N
    rotate=D      rotate by an angle uniform in [-D, D] degrees (0 < D <= 180)
    scale=F       zoom by a factor uniform in [1 - F, 1 + F] (0 < F < 1)
    elastic=A     Simard et al.'s (2003) elastic distortion: a field of uniform(-1, 1)
                  displacements per pixel, smoothed by a Gaussian of sigma pixels, times A
                  pixels (Simard used A = 34, sigma = 4 on 29x29 digits)
    sigma=S       the elastic field's smoothness in pixels (default 4; needs elastic)
    flip          mirror left-right half of the time (clothes, not digits)

for example ``shift=2,rotate=10,scale=0.1`` or ``shift=2,flip``. Every training image is
transformed anew each epoch, inside the compiled gather (bilinear sampling, black
outside the picture); the data set is never copied. Augmentation needs to know how a row
folds into a picture: the data set's ``meta["image_shape"]`` ((H, W) or (H, W, C)).
"""

from __future__ import annotations

import math

import numpy as np

from .kernels.structs import Noise, noise_class

# name -> (parse, check, expected); "flip" takes no value
_PARTS = {
    "shift": (int, lambda v: 0 <= v <= 1000, "a whole number of pixels, 0 or more"),
    "rotate": (float, lambda v: 0 <= v <= 180, "degrees between 0 and 180"),
    "scale": (float, lambda v: 0 <= v < 1, "a fraction in [0, 1), e.g. 0.1 for +-10 %"),
    "elastic": (float, lambda v: 0 <= v <= 1000, "pixels, 0 or more (Simard: 34)"),
    "sigma": (float, lambda v: 0.1 <= v <= 100, "pixels between 0.1 and 100 (default 4)"),
}
ORDER = ("shift", "rotate", "scale", "elastic", "sigma", "flip")
DEFAULT_SIGMA = 4.0
EXAMPLE = "shift=2,rotate=10,scale=0.1,elastic=34,sigma=4,flip"


def parse_augment(text: str) -> dict:
    """The parts of an augment spec as a dict (``flip``: True); a ValueError saying which
    part is wrong and what it takes."""
    if not isinstance(text, str):
        raise ValueError(f"expected text like {EXAMPLE!r}, got {text!r}")
    parts: dict = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if name == "flip":
            if eq and value.strip().lower() not in ("1", "true", "yes", "on"):
                raise ValueError(f"'flip' takes no value (leave it out for no flips), got {part!r}")
            parts["flip"] = True
            continue
        if name not in _PARTS:
            raise ValueError(
                f"unknown augmentation {name!r} in {text!r}: expected any of "
                f"{', '.join(ORDER)} (e.g. {EXAMPLE!r})"
            )
        kind, ok, expected = _PARTS[name]
        if not eq:
            raise ValueError(f"{name} needs a value, like {name}=2: {expected}")
        try:
            number = kind(value.strip())
            good = math.isfinite(number) and ok(number)
        except ValueError:
            good = False
        if not good:
            raise ValueError(f"{name} must be {expected}, got {value.strip()!r}")
        if name in parts:
            raise ValueError(f"{name} is given twice in {text!r}")
        parts[name] = number
    if "sigma" in parts and not parts.get("elastic"):
        raise ValueError("sigma is the elastic distortion's smoothness: give elastic=A too")
    if not any(parts.get(k) for k in ORDER):
        raise ValueError(f"no augmentation in {text!r}: expected e.g. {EXAMPLE!r}")
    return parts


def canonical_augment(text: str) -> str:
    """The spec in a fixed order and form (how it is stored in a checkpoint)."""
    parts = parse_augment(text)
    words = []
    for name in ORDER:
        if name == "flip":
            if parts.get("flip"):
                words.append("flip")
        elif parts.get(name):
            words.append(f"{name}={parts[name]:g}")
    return ",".join(words)


def image_geometry(meta: dict, n_features: int, name: str = "the data set") -> tuple:
    """(height, width, channels) from a data set's ``meta["image_shape"]``, checked against
    its row length; a ValueError when it declares none."""
    shape = (meta or {}).get("image_shape")
    if shape is None:
        raise ValueError(
            f"augment needs images, and {name} declares no image shape (meta['image_shape']): "
            "augmentation works on the image data sets (mnist, fashion-mnist, emnist, images); "
            "leave augment out for this one"
        )
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1 or math.prod(shape) != n_features:
        raise ValueError(
            f"{name}'s image_shape {list(shape)} does not fold its rows of {n_features} "
            "features into (height, width) or (height, width, channels)"
        )
    return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)


def make_augment(text: str | None, geometry: tuple | None) -> tuple:
    """The augmentation fields of ``Noise`` (shift .. channels) for a spec and an image
    geometry (no spec: all zero, no augmentation)."""
    if not text:
        return (0, 0.0, 0.0, 0.0, 0.0, False, 0, 0, 0)
    p = parse_augment(text)
    height, width, channels = geometry
    elastic = float(p.get("elastic", 0.0))
    return (
        int(p.get("shift", 0)), float(p.get("rotate", 0.0)), float(p.get("scale", 0.0)),
        elastic, float(p.get("sigma", DEFAULT_SIGMA)) if elastic else 0.0,
        bool(p.get("flip", False)), int(height), int(width), int(channels),
    )  # fmt: skip


def dropout_rates(dropout: tuple, n_hidden: int) -> np.ndarray:
    """The rate of each hidden layer: one value for all of them, or one per layer."""
    if not dropout:
        return np.zeros(0, dtype=np.float32)
    if len(dropout) == 1:
        dropout = tuple(dropout) * n_hidden
    if len(dropout) != n_hidden:
        raise ValueError(
            f"dropout has {len(dropout)} rates but the network has {n_hidden} hidden "
            "layer(s): give one rate per hidden layer, or one for all"
        )
    return np.array(dropout, dtype=np.float32)


def make_noise(seed: int, epoch: int, row_offset: int, rates: np.ndarray, input_dropout: float,
               augment: tuple) -> Noise:  # fmt: skip
    """The ``Noise`` of one epoch (the types fixed, so the compiled code is shared);
    ``augment`` from ``make_augment``. Its class says whether the epoch augments and
    whether it drops out, so that the compiled step has only the kernels it uses."""
    height = augment[-3]  # make_augment's fields end with (height, width, channels)
    dropout = bool(np.any(np.asarray(rates) > 0)) or input_dropout > 0
    return noise_class(height > 0, dropout)(int(seed) % 2**63, int(epoch), int(row_offset),
                 np.ascontiguousarray(rates, dtype=np.float32), float(input_dropout),
                 *augment)  # fmt: skip
