"""``numrec-predict``: the label a model gives each image (PNG, BMP, JPEG, PGM, any size).

    numrec-predict model.npz digit.png photo-of-a-7.jpg
    numrec-predict model.npz scans/*.bmp --top 3 --json

A model trained on an image folder (the ``images`` data set) keeps how its images were
prepared (``image_prep``: size, channels, fit, mnist_style), and each image is prepared
exactly so (``numrec_images.prepare_file``). Any other model's images are prepared as
MNIST digits were (``numrec.imageprep``): grey, light ink on a dark background, cropped
to the ink, fitted in 20x20, centred by its centre of mass in 28x28, so a photo of a
digit written on paper works. An image of more than 64 megapixels is refused from its
header, before it is decoded. Decoding needs Pillow (``pip install 'numrec[image]'``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from . import common
from .common import Parser

PROG = "numrec-predict"

EXAMPLES = """\
examples:
  numrec-predict model.npz digit.png
  numrec-predict model.npz photo.jpg scan.bmp --top 3
  numrec-predict model.npz *.png --json       [{"path", "label", "probability"}, ...]

Images need Pillow: pip install 'numrec[image]'.
Exit status: 0 done, 2 bad usage or data (e.g. a file that is not an image), 130 interrupted.
"""


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Predict the class of each image with a trained model. Images of any "
        "size are prepared as the model's training images were: for a model trained on an "
        "image folder, as stored in the model (size, channels, fit, mnist_style); else as "
        "MNIST was (grey, light ink on dark, cropped, fitted in 20x20, centred by centre of "
        "mass in 28x28).",
        epilog=EXAMPLES,
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model file")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument(
        "--top",
        type=common.whole(1),
        default=1,
        metavar="K",
        help="show the K most probable classes of each image",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print [{"path", "label", "probability"}, ...] as JSON '
        '(with --top K > 1, each also has "top": [{"label", "probability"}])',
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.need_module("PIL", "image", "reading images", package="Pillow")
    net = common.load_model(PROG, args.model)  # a checkpoint too (said on stderr)
    prepare = preparation(net, args.model)
    rows = np.stack([prepare(path) for path in args.images])
    probabilities = net.forward(rows)
    if net.output != "softmax":  # sigmoid outputs: scale to shares so they read alike
        probabilities = probabilities / np.maximum(probabilities.sum(1, keepdims=True), 1e-12)
    names = net.class_names or [str(i) for i in range(net.sizes[-1])]
    results = [
        _result(path, p, names, args.top)
        for path, p in zip(args.images, probabilities, strict=True)
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return common.EXIT_OK
    width = max(len(str(r["path"])) for r in results)
    for r in results:
        line = f"{r['path']:<{width}}  {r['label']}  ({100 * r['probability']:.1f} %)"
        if args.top > 1:
            others = ", ".join(f"{t['label']} {100 * t['probability']:.1f} %" for t in r["top"][1:])
            line += f"   next: {others}" if others else ""
        print(line)
    return common.EXIT_OK


def preparation(net, model: Path):
    """``prepare(path) -> row``: the model's own image preparation (``image_prep``, stored
    by training on an image folder), else MNIST's at the model's square input size."""
    from ..plugins import import_builtin

    images = import_builtin("numrec_images")  # also from a checkout's plugins/ folder
    stored = net.meta.get("image_prep")
    if stored is not None:
        prep = images.ImagePrep.from_meta(stored, where=f"{model}: image_prep")
        if prep.n_features != net.sizes[0]:
            raise ValueError(
                f"{model}: its image_prep makes {prep.n_features} inputs, but the network "
                f"takes {net.sizes[0]}; the model file is inconsistent"
            )
        return lambda path: images.prepare_file(path, prep)
    side = image_side(net)
    mnist = images.ImagePrep((side, side), channels=1, mnist_style=True)
    return lambda path: images.prepare_file(path, mnist)


def image_side(net) -> int:
    """The side of the square images the model takes (from its metadata, or its inputs)."""
    shape = net.meta.get("image_shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 2 and shape[0] == shape[1]:
        if shape[0] * shape[1] == net.sizes[0]:
            return int(shape[0])
    side = math.isqrt(net.sizes[0])
    if side * side != net.sizes[0]:
        raise ValueError(
            f"the model takes {net.sizes[0]} inputs, not a square image; numrec-predict "
            f"needs a model trained on square images (like MNIST's 28x28 = 784)"
        )
    return side


def _result(path: Path, p: np.ndarray, names: list[str], top: int) -> dict:
    order = np.argsort(-p, kind="stable")[:top]
    result = {"path": str(path), "label": names[order[0]], "probability": float(p[order[0]])}
    if top > 1:
        result["top"] = [{"label": names[i], "probability": float(p[i])} for i in order]
    return result


if __name__ == "__main__":
    sys.exit(main())
