"""MNIST, Fashion-MNIST and KMNIST, declared as data (torchvision style) and loaded.

The three share one file layout (four IDX files) and one loader; a variant is only its
mirrors, its files' SHA-256 and its class names. Files are found in ``data_dir`` if given
(format-checked only: repackaged copies, e.g. Debian's, have other checksums), else in
numrec's cache, else they are downloaded (checksum-verified) into the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from numrec import Dataset, DatasetError, DatasetSpec, Option, Split
from numrec.download import cached, fetch, origin
from numrec.idx import read_image_label_pair

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)  # the order of ``resources``
IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True)
class IdxSource:
    """A data set made of the four MNIST-layout IDX files."""

    name: str
    description: str
    mirrors: tuple[str, ...]
    resources: tuple[tuple[str, str], ...]  # (file name, SHA-256), in the order of FILES
    classes: tuple[str, ...]
    license: str = ""

    def spec(self) -> DatasetSpec:
        data_dir = Option(
            "data_dir",
            Path,
            None,
            help="folder holding the four IDX files (.gz or uncompressed); "
            "default: numrec's cache, downloading what is missing",
        )
        return DatasetSpec(self.name, self.description, self.load, (data_dir,))

    def load(self, data_dir: Path | None = None, progress: bool = True) -> Dataset:
        """Read the data set from ``data_dir``, else the cache, else download it."""
        if data_dir is not None:
            paths = self.find_in(Path(data_dir).expanduser())
            origin_kind, source = "data_dir", str(Path(data_dir).expanduser())
        else:
            missing = [file for file, _ in self.resources if cached(self.name, file) is None]
            paths = [
                fetch(self.name, file, list(self.mirrors), sha256=sha256, progress=progress)
                for file, sha256 in self.resources
            ]
            origin_kind = "download" if missing else "cache"
            source = str(paths[0].parent)
            if missing:  # name the mirror the data came from
                url = origin(paths[[p.name for p in paths].index(missing[0])]) or source
                source = url.rsplit("/", 1)[0] + "/"
        X, y = read_image_label_pair(paths[0], paths[1])
        X_test, y_test = read_image_label_pair(paths[2], paths[3])
        pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        for images, X_part in ((paths[0], X), (paths[2], X_test)):
            if X_part.shape[1] != pixels:
                raise DatasetError(
                    f"{images}: images of {X_part.shape[1]} pixels; expected "
                    f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} = {pixels} for {self.name}"
                )
        meta = {
            "origin": origin_kind,
            "files": [str(p) for p in paths],
            "image_shape": IMAGE_SHAPE,
            "license": self.license,
        }
        return Dataset(
            self.name, Split(X, y), Split(X_test, y_test), list(self.classes), source, meta
        )

    def find_in(self, folder: Path) -> list[Path]:
        """The four files in ``folder``, each as ``name.gz`` or uncompressed ``name``."""
        if not folder.is_dir():
            raise DatasetError(
                f"{folder}: not a folder; data_dir must be a folder holding "
                f"{', '.join(FILES)} for data set {self.name!r}"
            )
        found, missing = [], []
        for file, _ in self.resources:
            candidates = [folder / file, folder / file.removesuffix(".gz")]
            hit = next((p for p in candidates if p.is_file()), None)
            if hit is None:
                missing.append(file)
            else:
                found.append(hit)
        if missing:
            raise DatasetError(
                f"{folder}: missing {', '.join(missing)} (or the same without .gz); "
                f"data set {self.name!r} needs {', '.join(FILES)}"
            )
        return found


MNIST = IdxSource(
    name="mnist",
    description="MNIST handwritten digits: 28x28 grey, 10 classes, 60,000 train / 10,000 test",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    resources=(
        (TRAIN_IMAGES, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        (TRAIN_LABELS, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        (TEST_IMAGES, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        (TEST_LABELS, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
    classes=tuple(str(d) for d in range(10)),
    license="CC BY-SA 3.0",
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    description="Fashion-MNIST (Zalando) clothes: 28x28 grey, 10 classes, 60,000 / 10,000",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    resources=(
        (TRAIN_IMAGES, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        (TRAIN_LABELS, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        (TEST_IMAGES, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        (TEST_LABELS, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),  # fmt: skip
    license="MIT",
)

KMNIST = IdxSource(
    name="kmnist",
    description="Kuzushiji-MNIST cursive hiragana: 28x28 grey, 10 classes, 60,000 / 10,000",
    mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    resources=(
        (TRAIN_IMAGES, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        (TRAIN_LABELS, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        (TEST_IMAGES, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        (TEST_LABELS, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    ),
    classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    license="CC BY-SA 4.0",
)

SOURCES = (MNIST, FASHION_MNIST, KMNIST)
