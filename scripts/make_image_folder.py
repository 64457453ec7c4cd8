"""Write a small folder of digit images (PNG) from the MNIST sample shipped with numrec.

    python scripts/make_image_folder.py digit-images --per-class 40
    numrec-train --dataset images --root digit-images --save digits.npz

The folder has the layout the ``images`` data set reads: ``OUT/<digit>/<nnnn>.png``, the
first ``--per-class`` digits of each class of ``mnist-sample``'s training part, as 28x28
grey PNGs (light ink on black, as MNIST stores them). Files of the same name are
overwritten, so running it again gives the same folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write OUT/<digit>/<nnnn>.png from numrec's bundled MNIST sample."
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="the folder to write")
    parser.add_argument(
        "--per-class", type=int, default=50, metavar="N",
        help="images of each digit (1 to 690, the rarest digit's count; default 50)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        from PIL import Image
    except ImportError:
        parser.error("writing PNG files needs Pillow: pip install 'numrec[image]'")
    import numrec

    sample = numrec.load_dataset("mnist-sample")
    X, y = sample.train.X, sample.train.y
    fewest = int(np.bincount(y).min())
    if not 1 <= args.per_class <= fewest:
        parser.error(f"--per-class {args.per_class}: expected 1 to {fewest}")
    for label, name in enumerate(sample.class_names):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for k, row in enumerate(np.flatnonzero(y == label)[: args.per_class]):
            Image.fromarray(X[row].reshape(28, 28)).save(folder / f"{k:04d}.png")
    total = args.per_class * len(sample.class_names)
    print(f"wrote {total} PNG files to {args.out}/<digit>/ (28x28, from mnist-sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
