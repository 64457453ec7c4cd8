"""What EMNIST is made of: the official download, its members and the six splits.

Facts from NIST's EMNIST page and the loaders of torchvision and tfds (see the project's
DATASETS.md, section 3): one zip, ``gzip.zip``, holds under ``gzip/`` for every split S
the four IDX files ``emnist-S-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` and the
class mapping ``emnist-S-mapping.txt``. Sample counts are read from the IDX headers,
never from here.
"""

from __future__ import annotations

MIRRORS = ("https://biometrics.nist.gov/cs_links/EMNIST/",)  # the current official URL
ZIP_NAME = "gzip.zip"
# From tfds' url_checksums/emnist.txt; torchvision's MD5 is 58c8d27c78d21e728a6bc7b3cc06412e.
ZIP_SHA256 = "fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e"
ZIP_SIZE = 561_753_746
ZIP_FOLDER = "gzip"  # the folder of the members inside the zip

SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
DEFAULT_SPLIT = "balanced"
PARTS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "test-images-idx3-ubyte", "test-labels-idx1-ubyte")  # fmt: skip
IMAGE_SHAPE = (28, 28)

_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
# The official mappings' characters, used only when a folder lacks the mapping file
# (torchvision's extraction deletes it). Merged splits fold c i j k l m o p s u v w x y z
# into their capitals; letters folds every capital into its small letter.
FALLBACK_NAMES = {
    "byclass": _DIGITS + _UPPER + _LOWER,
    "bymerge": _DIGITS + _UPPER + "abdefghnqrt",
    "balanced": _DIGITS + _UPPER + "abdefghnqrt",
    "letters": _LOWER,
    "digits": _DIGITS,
    "mnist": _DIGITS,
}
FALLBACK_FIRST_LABEL = {"letters": 1}  # letters' files number the classes 1..26


def file_names(split: str) -> list[str]:
    """The four IDX files of ``split`` (without .gz), in the order of ``PARTS``."""
    return [f"emnist-{split}-{part}" for part in PARTS]


def mapping_name(split: str) -> str:
    return f"emnist-{split}-mapping.txt"
