"""``numrec-predict``: the label a model gives each image (PNG, BMP, JPEG, PGM, any size),
or the prediction for each row of a CSV file (a model trained on the ``csv`` data set).

    numrec-predict model.npz digit.png photo-of-a-7.jpg
    numrec-predict model.npz scans/*.bmp --top 3 --json
    numrec-predict model.npz new-rows.csv > predictions.csv

A model trained on CSV data carries its preprocessing (the feature columns by name and
order, their standardisation, the target scaling, the class names): each row of the
files given is read as the training rows were and gets one prediction - the label and
its probability, the 0/1 labels and their probabilities (multilabel), or the values in
the training file's units (regression) - written as CSV to stdout, or with ``--json``
as a list of objects. Where the file has a header, the features are found by name (other
columns, e.g. the targets, are ignored); without one, a row holds the features or every
column of the training file.

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
  numrec-predict csv-model.npz rows.csv       one prediction per row, as CSV

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
    parser.add_argument(
        "images", type=Path, nargs="+", metavar="IMAGE",
        help="image files (CSV files of rows for a model trained on CSV data)",
    )  # fmt: skip
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
    net = common.load_model(PROG, args.model)  # a checkpoint too (said on stderr)
    if "feature_columns" in net.meta:  # trained on CSV rows: the arguments are CSV files
        return predict_rows(net, args)
    common.need_module("PIL", "image", "reading images", package="Pillow")
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


def predict_rows(net, args) -> int:
    """One prediction per row of the CSV files ``args.images``: CSV on stdout, or JSON."""
    import csv
    import importlib

    from ..plugins import import_builtin

    import_builtin("numrec_csv")
    tasks = importlib.import_module("numrec_csv.tasks")
    task, k = net.task, net.sizes[-1]
    names = net.class_names or [str(i) for i in range(k)]
    results = []
    for path in args.images:
        raw, lines = tasks.read_rows(path, net.meta)
        if str(net.meta.get("input_scaling", "")).startswith("uint8"):
            if raw.size and not ((raw >= 0) & (raw <= 255) & (raw == np.floor(raw))).all():
                raise ValueError(
                    f"{path}: the model was trained on whole numbers 0..255 (kept as bytes, "
                    "scaled by 1/255); these rows hold other values"
                )
            X = raw.astype(np.uint8)
        else:
            X = net.preprocess(raw) if "mean" in net.meta else raw.astype(np.float32)
        P = net.forward(X) if len(X) else np.zeros((0, k), np.float32)
        values = net.predict(X) if len(X) and task == "regression" else None
        for i, line in enumerate(lines):
            row = {"path": str(path), "line": line}
            if task == "regression":
                row["values"] = {n: float(v) for n, v in zip(names, values[i], strict=True)}
            elif task == "multilabel":
                row["labels"] = [n for n, p in zip(names, P[i], strict=True) if p >= 0.5]
                row["probabilities"] = {n: float(p) for n, p in zip(names, P[i], strict=True)}
            else:
                p = P[i] if net.output == "softmax" else P[i] / max(P[i].sum(), 1e-12)
                best = int(np.argmax(p))
                row.update(label=names[best], probability=float(p[best]))
            results.append(row)
    if args.json:
        print(json.dumps(results, indent=2))
        return common.EXIT_OK
    out = csv.writer(sys.stdout, lineterminator="\n")
    if task == "regression":
        out.writerow(["path", "line", *names])
        out.writerows([r["path"], r["line"], *(f"{v:.9g}" for v in r["values"].values())]
                      for r in results)  # fmt: skip
    elif task == "multilabel":
        out.writerow(["path", "line", *names])
        out.writerows([r["path"], r["line"], *(int(p >= 0.5) for p in r["probabilities"].values())]
                      for r in results)  # fmt: skip
    else:
        out.writerow(["path", "line", "label", "probability"])
        out.writerows([r["path"], r["line"], r["label"], f"{r['probability']:.6f}"]
                      for r in results)  # fmt: skip
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
