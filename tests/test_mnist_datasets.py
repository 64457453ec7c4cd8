"""The numrec_mnist plugin: data_dir -> cache -> download, the shipped mnist-sample, and
real data where it is at hand (Debian's Fashion-MNIST, the shared MNIST test set)."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import numrec
from numrec import DatasetError, DownloadError
from numrec.download import mirror_urls
from numrec.idx import encode_idx, read_image_label_pair, write_idx

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_T10K = Path(__file__).resolve().parents[1].parent / "shared/data/mnist-t10k"
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip


@pytest.fixture
def mnist_plugin(numrec_plugin_host, numrec_cache):
    """The numrec_mnist module, as the plugin host loaded it."""
    return numrec_plugin_host.get_plugin_manager().get_plugin("numrec_mnist")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this test must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def fake_files(folder: Path, n_train=6, n_test=4, gz=(True, False, True, False), side=28):
    """Four small MNIST-layout files (some compressed); returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for name, array, compress in zip(FILES, arrays, gz, strict=True):
        write_idx(folder / (name if compress else name.removesuffix(".gz")), array)
    return arrays


def test_declarations(mnist_plugin):
    assert mnist_plugin.MNIST.mirrors == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    for source in mnist_plugin.SOURCES:
        assert [f for f, _ in source.resources] == list(FILES)
        assert all(len(sha) == 64 and int(sha, 16) >= 0 for _, sha in source.resources)
        assert len(source.classes) == 10
    assert mnist_plugin.FASHION_MNIST.classes[0] == "T-shirt/top"
    assert mnist_plugin.KMNIST.classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya",
                                            "re", "wo")  # fmt: skip


def test_numrec_mirror_comes_first(monkeypatch, mnist_plugin):
    monkeypatch.setenv("NUMREC_MIRROR", "http://mirror.local/data")
    urls = mirror_urls("mnist", FILES[0], list(mnist_plugin.MNIST.mirrors))
    assert urls[0] == "http://mirror.local/data/mnist/" + FILES[0]
    assert urls[1].startswith("https://ossci-datasets")


def test_data_dir_gz_or_uncompressed(tmp_path, mnist_plugin, no_network):
    arrays = fake_files(tmp_path / "data")
    ds = numrec.load_dataset("mnist", data_dir=str(tmp_path / "data"))
    assert (len(ds.train), len(ds.test), ds.n_features) == (6, 4, 784)
    assert ds.train.X.dtype == np.uint8 and ds.class_names == [str(d) for d in range(10)]
    np.testing.assert_array_equal(ds.train.X, arrays[0].reshape(6, -1))
    np.testing.assert_array_equal(ds.test.y, arrays[3])
    assert ds.source == str(tmp_path / "data") and ds.meta["origin"] == "data_dir"


def test_data_dir_missing_files_or_wrong_size(tmp_path, mnist_plugin):
    fake_files(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="missing t10k-labels-idx1-ubyte.gz") as info:
        numrec.load_dataset("kmnist", data_dir=tmp_path / "d")
    assert str(tmp_path / "d") in str(info.value)
    fake_files(tmp_path / "small", side=20)
    with pytest.raises(DatasetError, match="400 pixels; expected 28x28"):
        numrec.load_dataset("fashion-mnist", data_dir=tmp_path / "small")
    with pytest.raises(DatasetError, match="not a folder"):
        numrec.load_dataset("mnist", data_dir=tmp_path / "nowhere")


def test_download_then_cache_then_data_dir(tmp_path, mnist_plugin, numrec_http_server):
    server = numrec_http_server
    arrays = fake_files(tmp_path / "served", gz=(True,) * 4)
    resources = []
    for name in FILES:
        body = (tmp_path / "served" / name).read_bytes()
        server.files[f"/mnist/{name}"] = body
        resources.append((name, hashlib.sha256(body).hexdigest()))
    source = replace(
        mnist_plugin.MNIST, mirrors=(server.url + "/gone/", server.url + "/mnist/"),
        resources=tuple(resources),
    )  # fmt: skip
    ds = source.load(progress=False)
    assert ds.source == server.url + "/mnist/" and ds.meta["origin"] == "download"
    np.testing.assert_array_equal(ds.train.X, arrays[0].reshape(6, -1))
    assert len(server.requests) == 8  # each file: 404 from the first mirror, then 200
    ds = source.load()
    assert ds.meta["origin"] == "cache" and ds.source == str(numrec.download.data_root() / "mnist")
    fake_files(tmp_path / "mine")
    assert source.load(data_dir=tmp_path / "mine").meta["origin"] == "data_dir"
    assert len(server.requests) == 8  # neither the cache nor data_dir asked the server


def test_wrong_checksum_everywhere(tmp_path, mnist_plugin, numrec_http_server, numrec_cache):
    fake_files(tmp_path / "served", gz=(True,) * 4)
    for name in FILES:
        numrec_http_server.files[f"/m/{name}"] = (tmp_path / "served" / name).read_bytes()
    source = replace(mnist_plugin.MNIST, mirrors=(numrec_http_server.url + "/m/",))
    with pytest.raises(DownloadError, match="checksum mismatch: expected sha256 440fcabf"):
        source.load(progress=False)
    assert not any(p.is_file() for p in numrec_cache.rglob("*"))


def test_mnist_sample_offline_and_exact(mnist_plugin, no_network):
    sample = mnist_plugin.sample
    ds = numrec.load_dataset("mnist-sample")
    assert (len(ds.train), len(ds.test)) == (8000, 2000)
    assert ds.train.X.dtype == np.uint8 and ds.train.X.shape == (8000, 784)
    assert np.bincount(ds.train.y, minlength=10).tolist() == list(sample.TRAIN_COUNTS)
    assert np.bincount(ds.test.y, minlength=10).tolist() == list(sample.TEST_COUNTS)
    assert ds.class_names == [str(d) for d in range(10)]
    # the content is byte for byte what the build script restored from the npm digits
    arrays = [ds.train.X.reshape(-1, 28, 28), ds.train.y.astype(np.uint8),
              ds.test.X.reshape(-1, 28, 28), ds.test.y.astype(np.uint8)]  # fmt: skip
    for name, array in zip(sample.CONTENT_SHA256, arrays, strict=True):
        assert hashlib.sha256(encode_idx(array)).hexdigest() == sample.CONTENT_SHA256[name]
    # the shipped files are those the constants describe, and decompress to that content
    for name, sha in sample.SHA256.items():
        data = (sample.FOLDER / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        assert hashlib.sha256(gzip.decompress(data)).hexdigest() == sample.CONTENT_SHA256[name]
    assert (sample.FOLDER / "PROVENANCE.md").is_file()


def test_mnist_sample_refuses_a_damaged_file(tmp_path, mnist_plugin, monkeypatch):
    sample = mnist_plugin.sample
    copy = shutil.copytree(sample.FOLDER, tmp_path / "sample")
    with open(copy / "t10k-labels-idx1-ubyte.gz", "r+b") as f:
        f.seek(30)
        f.write(b"\xff")
    monkeypatch.setattr(sample, "FOLDER", copy)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: damaged file"):
        numrec.load_dataset("mnist-sample")


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} is absent "
                    "(apt-get install dataset-fashion-mnist)")  # fmt: skip
def test_real_fashion_mnist_from_debian(mnist_plugin, no_network):
    ds = numrec.load_dataset("fashion-mnist", data_dir=FASHION_DIR)
    assert (len(ds.train), len(ds.test), ds.n_features) == (60000, 10000, 784)
    assert ds.class_names[9] == "Ankle boot" and ds.train.X.dtype == np.uint8
    for split, prefix in ((ds.train, "train"), (ds.test, "t10k")):
        raw = gzip.decompress((FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
        assert raw[:4] == b"\x00\x00\x08\x01"
        np.testing.assert_array_equal(split.y, np.frombuffer(raw, np.uint8, offset=8))
    assert np.bincount(ds.train.y).tolist() == [6000] * 10


@pytest.mark.skipif(not MNIST_T10K.is_dir(), reason=f"{MNIST_T10K} is absent")
def test_real_mnist_test_set():
    images = MNIST_T10K / "t10k-images-idx3-ubyte.gz"
    X, y = read_image_label_pair(images, MNIST_T10K / "t10k-labels-idx1-ubyte.gz")
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    raw = gzip.decompress(images.read_bytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    np.testing.assert_array_equal(X.ravel(), np.frombuffer(raw, np.uint8, offset=16))
    # MNIST's test set has these many of each digit
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert X.min() == 0 and X.max() == 255
