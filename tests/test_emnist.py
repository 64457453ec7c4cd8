"""Tests of the ``emnist`` data set plugin (plugins/numrec_emnist).

Each test builds a small EMNIST in the official layout: a ``gzip.zip`` whose ``gzip/``
folder holds gzipped IDX files of *transposed* images and the mapping files (3 columns
for letters, 2 for the others). No test touches the internet: the download test serves
the zip from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

import numrec
from numrec import DatasetError, DownloadError
from numrec.idx import encode_idx

try:
    import numrec_emnist
except ModuleNotFoundError:  # an editable install older than the plugin: the host finds it
    from numrec.plugins import get_plugin_manager

    numrec_emnist = get_plugin_manager().get_plugin("numrec_emnist")
from numrec_emnist import plugin, resources, source  # noqa: E402
from numrec_emnist.mapping import parse_mapping  # noqa: E402

DIGITS = [str(d) for d in range(10)]
UPPER = [chr(c) for c in range(65, 91)]
LOWER = [chr(c) for c in range(97, 123)]
BALANCED = DIGITS + UPPER + list("abdefghnqrt")
# (first label, mapping text, class names numrec should give)
MAPPINGS = {
    "letters": (1, "".join(f"{i} {64 + i} {96 + i}\n" for i in range(1, 27)), LOWER),
    "balanced": (0, "".join(f"{i} {ord(c)}\n" for i, c in enumerate(BALANCED)), BALANCED),
    "digits": (0, "".join(f"{i} {48 + i}\n" for i in range(10)), DIGITS),
}


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "numrec-data"
    monkeypatch.setenv("NUMREC_DATA", str(root))
    monkeypatch.delenv("NUMREC_MIRROR", raising=False)
    return root


def fake_split(split: str, n_train: int = 23, n_test: int = 9, seed: int = 0) -> dict:
    """Upright images and file labels for ``split``, and its files as EMNIST stores them."""
    first, mapping, names = MAPPINGS[split]
    rng = np.random.default_rng(seed)
    upright = {p: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
               for p, n in (("train", n_train), ("test", n_test))}  # fmt: skip
    labels = {p: rng.integers(first, first + len(names), len(upright[p]), dtype=np.uint8)
              for p in upright}  # fmt: skip
    files = {f"emnist-{split}-mapping.txt": mapping.encode()}
    for part in ("train", "test"):
        stored = upright[part].transpose(0, 2, 1)  # EMNIST's files hold the transpose
        files[f"emnist-{split}-{part}-images-idx3-ubyte"] = encode_idx(stored)
        files[f"emnist-{split}-{part}-labels-idx1-ubyte"] = encode_idx(labels[part])
    return {"upright": upright, "labels": labels, "first": first, "names": names, "files": files}


def write_zip(path: Path, *splits: dict) -> Path:
    """``gzip.zip`` as NIST ships it: gzip/<IDX file>.gz and gzip/<mapping>.txt."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for fake in splits:
            for name, data in fake["files"].items():
                if name.endswith(".txt"):
                    zf.writestr(f"gzip/{name}", data)
                else:
                    zf.writestr(f"gzip/{name}.gz", gzip.compress(data, mtime=0))
    return path


def assert_loaded(ds: numrec.Dataset, fake: dict) -> None:
    for part, split in (("train", ds.train), ("test", ds.test)):
        n = len(fake["upright"][part])
        assert split.X.shape == (n, 784) and split.X.dtype == np.uint8
        # upright: row i, reshaped, is the image as drawn - not its transpose
        np.testing.assert_array_equal(split.X.reshape(n, 28, 28), fake["upright"][part])
        np.testing.assert_array_equal(split.y, fake["labels"][part].astype(int) - fake["first"])
    assert ds.class_names == fake["names"]


@pytest.mark.parametrize("split", list(MAPPINGS))
def test_each_split_loads_upright_from_the_official_zip(tmp_path, split):
    fakes = {s: fake_split(s, seed=i) for i, s in enumerate(MAPPINGS)}
    write_zip(tmp_path / "gzip.zip", *fakes.values())
    ds = plugin.load_emnist(split=split, data_dir=tmp_path)
    assert_loaded(ds, fakes[split])
    assert ds.name == "emnist" and ds.meta["split"] == split
    assert ds.meta["upright"] is True and ds.meta["class_names_from"] == "mapping"
    assert not list(tmp_path.glob("**/*ubyte*")), "nothing may be extracted to disk"


def test_letters_are_numbered_from_zero_and_named_a_to_z(tmp_path):
    fake = fake_split("letters", n_train=200)
    write_zip(tmp_path / "gzip.zip", fake)
    ds = plugin.load_emnist(split="letters", data_dir=tmp_path)
    assert ds.num_classes == 26 and ds.class_names[0] == "a" and ds.class_names[-1] == "z"
    assert ds.train.y.min() == 0 and ds.train.y.max() == 25
    assert parse_mapping("1 65\n2 66\n", "m", "letters") == (1, ["a", "b"])  # 2 columns too


def test_sample_counts_come_from_the_idx_headers(tmp_path):
    fake = fake_split("digits", n_train=3, n_test=41)
    write_zip(tmp_path / "gzip.zip", fake)
    ds = plugin.load_emnist(split="digits", data_dir=tmp_path)
    assert (len(ds.train), len(ds.test)) == (3, 41)


@pytest.mark.parametrize("layout", ["gz-in-gzip-folder", "raw-flat"])
def test_a_folder_of_extracted_files(tmp_path, layout):
    fake = fake_split("balanced")
    folder = tmp_path / "emnist"
    target = folder / "gzip" if layout.endswith("gzip-folder") else folder
    target.mkdir(parents=True)
    for name, data in fake["files"].items():
        if layout.startswith("gz") and not name.endswith(".txt"):
            (target / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (target / name).write_bytes(data)
    ds = plugin.load_emnist(split="balanced", data_dir=folder)
    assert_loaded(ds, fake)
    assert ds.meta["origin"] == "data_dir"


def test_a_folder_without_mapping_uses_the_official_names(tmp_path):
    # torchvision's raw/ folder: gunzipped IDX files, mapping files deleted
    fake = fake_split("letters")
    for name, data in fake["files"].items():
        if not name.endswith(".txt"):
            (tmp_path / name).write_bytes(data)
    ds = plugin.load_emnist(split="letters", data_dir=tmp_path)
    assert_loaded(ds, fake)
    assert ds.meta["class_names_from"] == "built-in"


def test_download_through_the_mirror_then_the_cache(
    numrec_http_server, data_root, monkeypatch, tmp_path
):
    fake = fake_split("digits")
    body = write_zip(tmp_path / "gzip.zip", fake).read_bytes()
    numrec_http_server.files["/emnist/gzip.zip"] = body
    monkeypatch.setenv("NUMREC_MIRROR", numrec_http_server.url)
    monkeypatch.setattr(resources, "MIRRORS", ())  # never the real NIST server
    # the real constants describe the real 536 MB zip: describe the test's instead
    import hashlib

    monkeypatch.setattr(resources, "ZIP_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(resources, "ZIP_SIZE", len(body))
    ds = plugin.load_emnist(split="digits", progress=False)
    assert_loaded(ds, fake)
    assert numrec_http_server.paths() == ["/emnist/gzip.zip"]
    assert (data_root / "emnist" / "gzip.zip").read_bytes() == body
    assert ds.meta["origin"] == "download"
    again = plugin.load_emnist(split="digits", cache=False)
    assert_loaded(again, fake)
    assert again.meta["origin"] == "cache"
    assert numrec_http_server.paths() == ["/emnist/gzip.zip"]  # no second request


def test_a_download_with_the_wrong_checksum_is_refused(numrec_http_server, monkeypatch, tmp_path):
    body = write_zip(tmp_path / "gzip.zip", fake_split("digits")).read_bytes()
    numrec_http_server.files["/emnist/gzip.zip"] = body
    monkeypatch.setenv("NUMREC_MIRROR", numrec_http_server.url)
    monkeypatch.setattr(resources, "MIRRORS", ())
    monkeypatch.setattr(resources, "ZIP_SIZE", len(body))  # the real SHA-256 stays
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        plugin.load_emnist(split="digits", progress=False)
    assert f"{numrec_http_server.url}/emnist/gzip.zip" in str(info.value)


def test_the_parsed_split_is_cached(tmp_path, data_root, monkeypatch):
    fake = fake_split("balanced")
    zip_path = write_zip(tmp_path / "gzip.zip", fake)
    plugin.load_emnist(split="balanced", data_dir=tmp_path)
    assert len(list((data_root / "emnist" / "parsed").glob("balanced-*.npz"))) == 1

    def no_read(*args, **kwargs):
        raise AssertionError("read the zip again")

    monkeypatch.setattr(source.Source, "read", no_read)
    ds = plugin.load_emnist(split="balanced", data_dir=tmp_path)
    assert_loaded(ds, fake)
    assert ds.meta["origin"] == "data_dir+parsed-cache"
    with pytest.raises(AssertionError, match="again"):
        plugin.load_emnist(split="balanced", data_dir=tmp_path, cache=False)
    monkeypatch.undo()
    monkeypatch.setenv("NUMREC_DATA", str(data_root))
    other = fake_split("balanced", seed=7)  # a changed zip: read again, stale entry dropped
    write_zip(zip_path, other)
    assert_loaded(plugin.load_emnist(split="balanced", data_dir=tmp_path), other)
    assert len(list((data_root / "emnist" / "parsed").glob("balanced-*.npz"))) == 1


# --- bad input ---------------------------------------------------------------------------


def test_a_split_missing_from_the_zip(tmp_path):
    write_zip(tmp_path / "gzip.zip", fake_split("digits"))
    with pytest.raises(DatasetError, match=r"gzip\.zip: no emnist-byclass-train-images"):
        plugin.load_emnist(split="byclass", data_dir=tmp_path)


def test_missing_files_in_a_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"missing emnist-mnist-train-images-idx3-ubyte\[\.gz\]"):
        plugin.load_emnist(split="mnist", data_dir=tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        plugin.load_emnist(split="mnist", data_dir=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="expected one of"):
        plugin.load_emnist(split="everything", data_dir=tmp_path)


def test_a_bad_mapping_line_names_member_and_line(tmp_path):
    fake = fake_split("digits")
    fake["files"]["emnist-digits-mapping.txt"] = b"0 48\n1 49\n2 fifty\n"
    write_zip(tmp_path / "gzip.zip", fake)
    with pytest.raises(
        DatasetError, match=r"gzip\.zip:gzip/emnist-digits-mapping\.txt: line 3: '2 fifty'"
    ):
        plugin.load_emnist(split="digits", data_dir=tmp_path)


def test_labels_outside_the_mapping(tmp_path):
    fake = fake_split("digits")
    fake["files"]["emnist-digits-mapping.txt"] = b"0 48\n1 49\n"
    write_zip(tmp_path / "gzip.zip", fake)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: labels 0\.\.9, but"):
        plugin.load_emnist(split="digits", data_dir=tmp_path)


def test_a_damaged_zip(tmp_path):
    path = write_zip(tmp_path / "gzip.zip", fake_split("digits"))
    data = bytearray(path.read_bytes())
    data[60:80] = bytes(20)  # inside the first member's data
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"gzip\.zip"):
        plugin.load_emnist(split="digits", data_dir=tmp_path)


def test_through_the_plugin_host(tmp_path, numrec_plugin_host):
    fake = fake_split("digits")
    write_zip(tmp_path / "gzip.zip", fake)
    assert "emnist" in numrec.list_datasets()
    ds = numrec.load_dataset("emnist", split="digits", data_dir=str(tmp_path))
    assert_loaded(ds, fake)
    with pytest.raises(DatasetError, match="split"):
        numrec.load_dataset("emnist", split="bogus", data_dir=str(tmp_path))
