"""The IDX reader/writer: round trips for every type code, and each malformed file."""

from __future__ import annotations

import gzip
import io
import mmap

import numpy as np
import pytest

from numrec import DatasetError, idx
from numrec.idx import encode_idx, read_idx, read_image_label_pair, write_idx

DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32,
          0x0E: np.float64}  # fmt: skip


def sample_array(dtype, shape=(3, 4, 5)) -> np.ndarray:
    values = np.arange(np.prod(shape)) - 7  # negatives too, where the type has them
    if np.dtype(dtype).kind == "u":
        values = values % 256
    if np.dtype(dtype).kind == "f":
        values = values * 1.25 + 1e-3
    return values.astype(dtype).reshape(shape)


@pytest.mark.parametrize("code", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type_code(tmp_path, code, suffix):
    array = sample_array(DTYPES[code])
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    # the on-disk layout: two zero bytes, the type code, ndim, big-endian sizes and values
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw[:4] == bytes([0, 0, code, 3])
    assert raw[4:16] == b"\0\0\0\x03\0\0\0\x04\0\0\0\x05"
    assert raw[16:] == array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("shape", [(0,), (7,), (2, 3), (1, 1, 1, 2)])
def test_round_trip_shapes_bytes_and_file_objects(shape):
    array = sample_array(np.int32, shape)
    data = encode_idx(array)
    np.testing.assert_array_equal(read_idx(data), array)
    np.testing.assert_array_equal(read_idx(io.BytesIO(data)), array)
    np.testing.assert_array_equal(read_idx(gzip.compress(data)), array)


def test_raw_files_are_read_whole_up_to_MAP_ABOVE(tmp_path):
    # issue 20 item 5: a mapped file that shrinks kills the process with SIGBUS; files
    # that fit comfortably in memory are read instead (test_hardening truncates one)
    array = sample_array(np.uint8, (10, 28, 28))
    path = write_idx(tmp_path / "images-idx3-ubyte", array)
    back = read_idx(path)
    owner = back
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert not isinstance(owner.obj if isinstance(owner, memoryview) else owner, mmap.mmap)
    back[0, 0, 0] ^= 0xFF
    np.testing.assert_array_equal(read_idx(path), array)


def test_raw_files_above_MAP_ABOVE_are_memory_mapped_copy_on_write(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "MAP_ABOVE", 0)
    array = sample_array(np.uint8, (10, 28, 28))
    path = write_idx(tmp_path / "images-idx3-ubyte", array)
    on_disk = path.read_bytes()
    back = read_idx(path)
    back[0, 0, 0] ^= 0xFF  # writable, as gzip files' arrays are (one type for numba) ...
    assert path.read_bytes() == on_disk  # ... but the file never changes
    np.testing.assert_array_equal(read_idx(path), array)
    owner = back
    while isinstance(owner, np.ndarray):  # follow the views down to the memory's owner
        owner = owner.base
    assert isinstance(owner.obj if isinstance(owner, memoryview) else owner, mmap.mmap)


def test_gzip_is_recognised_by_content_not_suffix(tmp_path):
    array = sample_array(np.uint8)
    (tmp_path / "compressed.idx").write_bytes(gzip.compress(encode_idx(array)))
    (tmp_path / "plain.gz").write_bytes(encode_idx(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def test_multi_member_gzip_and_zero_padding(tmp_path):
    data = encode_idx(sample_array(np.uint8))
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(data[:10]) + gzip.compress(data[10:]) + b"\0" * 8)
    np.testing.assert_array_equal(read_idx(path), sample_array(np.uint8))


def test_write_idx_gzip_is_deterministic(tmp_path):
    array = sample_array(np.uint8)
    a = write_idx(tmp_path / "a.gz", array).read_bytes()
    b = write_idx(tmp_path / "sub.gz", array).read_bytes()
    assert a == b  # no mtime, no file name in the gzip header


def test_writing_an_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="uint16"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))


GOOD = encode_idx(np.zeros((2, 3), np.uint8))  # header 00 00 08 02 | 2 | 3, then 6 bytes

MALFORMED = {
    "empty": (b"", "empty file"),
    "bad magic": (b"\x12\x34" + GOOD[2:], "bad magic number 0x12340802"),
    "unknown type code": (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX type code 0x0A"),
    "zero dimensions": (GOOD[:3] + b"\x00", "0 dimensions"),
    "truncated header": (GOOD[:9], "truncated header"),
    "truncated data": (GOOD[:-1], "truncated data.*6 bytes.*only 5"),
    "trailing bytes": (GOOD + b"\x00\x00", "2 unexpected trailing bytes"),
    "too short": (b"\x00\x00", "only 2 byte"),
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_files_name_the_file(tmp_path, case, compress):
    data, message = MALFORMED[case]
    if compress and data:
        data = gzip.compress(data)
    path = tmp_path / f"broken-{case.replace(' ', '-')}.idx"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_malformed_bytes_are_named_by_the_caller():
    with pytest.raises(DatasetError, match="^my-labels: bad magic"):
        read_idx(b"\x01\x02\x08\x01\x00\x00\x00\x00", name="my-labels")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda gz: gz[: len(gz) // 2], "ends early"),  # truncated download
        (lambda gz: gz[:20] + bytes(b ^ 0xFF for b in gz[20:40]) + gz[40:], "corrupt gzip"),
        (lambda gz: gz[:-8] + b"\0\0\0\0" + gz[-4:], "corrupt gzip"),  # CRC wrong
        (lambda gz: gz + b"garbage!", "unexpected bytes after the end of the gzip data"),
        (lambda gz: gz[:3] + b"\xff" + gz[4:], "corrupt gzip"),  # header flags wrong
        (lambda gz: gz[:2], "ends early"),  # nothing but the magic bytes
    ],
)
def test_corrupt_gzip_names_the_file(tmp_path, damage, message):
    gz = gzip.compress(encode_idx(sample_array(np.uint8, (50, 28, 28))))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(gz))
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="nope.idx: cannot read"):
        read_idx(tmp_path / "nope.idx")


def write_pair(folder, images, labels, suffix=".gz"):
    return (
        write_idx(folder / f"images-idx3-ubyte{suffix}", images),
        write_idx(folder / f"labels-idx1-ubyte{suffix}", labels),
    )


def test_image_label_pair(tmp_path):
    images = sample_array(np.uint8, (6, 4, 3))
    labels = np.array([0, 1, 2, 3, 4, 5], np.uint8)
    for suffix in ("", ".gz"):
        X, y = read_image_label_pair(*write_pair(tmp_path, images, labels, suffix))
        assert X.dtype == np.uint8 and X.shape == (6, 12)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(X, images.reshape(6, 12))
        np.testing.assert_array_equal(y, labels)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    images_path, labels_path = write_pair(
        tmp_path, sample_array(np.uint8, (6, 4, 3)), np.zeros(5, np.uint8)
    )
    with pytest.raises(DatasetError, match="6 images but .* 5 labels") as info:
        read_image_label_pair(images_path, labels_path)
    assert str(images_path) in str(info.value) and str(labels_path) in str(info.value)


@pytest.mark.parametrize(
    "images, labels, bad",
    [
        (np.zeros((6, 12), np.uint8), np.zeros(6, np.uint8), "images"),  # 2-D images
        (np.zeros((6, 4, 3), np.float32), np.zeros(6, np.uint8), "images"),  # not uint8
        (np.zeros((6, 4, 3), np.uint8), np.zeros((6, 1), np.uint8), "labels"),  # 2-D labels
        (np.zeros((6, 4, 3), np.uint8), np.zeros(6, np.float64), "labels"),  # float labels
    ],
)
def test_image_label_pair_wrong_ndim_or_type(tmp_path, images, labels, bad):
    images_path, labels_path = write_pair(tmp_path, images, labels)
    with pytest.raises(DatasetError, match="expected") as info:
        read_image_label_pair(images_path, labels_path)
    assert str(images_path if bad == "images" else labels_path) in str(info.value)
