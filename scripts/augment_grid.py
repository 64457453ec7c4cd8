"""Draw what each augmentation setting does: docs/augment.png.

    python scripts/augment_grid.py [OUT.png]

One row per setting of ``--augment``, the first column the original image, then the
same image as eight successive epochs see it (drawn by the training kernels' own
generator and warp: ``kernels.augment``). Digits from the bundled mnist-sample; the flip
row shows a Fashion-MNIST item when /usr/share/datasets/fashion-mnist is there (a
mirrored shoe is still a shoe; a mirrored digit is not). Needs matplotlib.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import numrec
from numrec.kernels.augment import elastic_displacements, sample_transform, warp_image
from numrec.noise import make_augment, make_noise

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
EPOCHS = 8
SETTINGS = [
    ("shift=2", "shift=2: up to 2 px each way"),
    ("rotate=15", "rotate=15: up to 15 degrees"),
    ("scale=0.15", "scale=0.15: zoom 0.85-1.15"),
    ("elastic=34,sigma=4", "elastic=34,sigma=4 (Simard)"),
    ("flip", "flip: mirrored half the time"),
    ("shift=2,rotate=10,scale=0.1,elastic=20,sigma=4",
     "shift=2,rotate=10,scale=0.1,\nelastic=20,sigma=4"),
]  # fmt: skip


def augmented(image: np.ndarray, spec: str, epoch: int, sample: int = 0) -> np.ndarray:
    """``image`` (28 x 28 uint8) as the training gather gives it in ``epoch``."""
    h, w = image.shape
    noise = make_noise(0, epoch, 0, np.zeros(0), 0.0, make_augment(spec, (h, w, 1)))
    none = np.zeros(0, dtype=np.float32)
    ex, ey = elastic_displacements(noise, sample) if noise.elastic > 0 else (none, none)
    transform = sample_transform(noise, 0, epoch, sample)
    return warp_image(image.ravel(), np.float32(1 / 255), h, w, 1, *transform, ex, ey).reshape(h, w)


def main(out: str = str(ROOT / "docs" / "augment.png")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    digits = numrec.load_dataset("mnist-sample").train
    digit = digits.X[int(np.flatnonzero(digits.y == 4)[0])].reshape(28, 28)
    item = digit
    if FASHION.is_dir():
        fashion = numrec.load_dataset("fashion-mnist", data_dir=str(FASHION)).test
        item = fashion.X[int(np.flatnonzero(fashion.y == 9)[0])].reshape(28, 28)  # a boot
    size = (1.1 * (EPOCHS + 1) + 1.6, 1.15 * len(SETTINGS))
    fig, axes = plt.subplots(len(SETTINGS), EPOCHS + 1, figsize=size)
    for row, (spec, label) in enumerate(SETTINGS):
        image = item if spec == "flip" else digit
        cells = [image / 255.0] + [augmented(image, spec, e) for e in range(EPOCHS)]
        for col, cell in enumerate(cells):
            ax = axes[row, col]
            ax.imshow(cell, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("original" if col == 0 else f"epoch {col}", fontsize=8)
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("numrec-train --augment: one training image as successive epochs see it",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
