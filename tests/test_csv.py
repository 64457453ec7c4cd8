"""Tests of the ``csv`` data set plugin (plugins/numrec_csv): layouts, options, errors, cache.

Files are written into tmp_path; the MNIST test set, where it is at hand, checks that a
CSV copy loads to exactly the arrays of the IDX files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import numrec
from numrec import DatasetError

try:
    import numrec_csv
except ModuleNotFoundError:  # an editable install older than the plugin: the host finds it
    from numrec.plugins import get_plugin_manager

    numrec_csv = get_plugin_manager().get_plugin("numrec_csv")
from numrec_csv import cache, parse, plugin  # noqa: E402

MNIST_T10K = Path(__file__).resolve().parents[1].parent / "shared/data/mnist-t10k"


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "numrec-data"
    monkeypatch.setenv("NUMREC_DATA", str(root))
    return root


def images(n: int, features: int = 784, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 rows and labels 0..9 (every class present when n >= 10)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, features), dtype=np.uint8), np.arange(n) % 10


def write_csv(path: Path, X, y, header=None, delimiter=",", label_last=False, newline="\n"):
    rows = []
    if header is not None:
        rows.append(delimiter.join(header))
    for label, row in zip(y, X, strict=True):
        cells = [str(v) for v in row]
        rows.append(delimiter.join(cells + [str(label)] if label_last else [str(label)] + cells))
    path.write_text(newline.join(rows) + newline)
    return path


def load(**options) -> numrec.Dataset:
    return plugin.load_csv(**options)


# --- the common layouts, with no options --------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ["label"] + [f"pixel{i}" for i in range(784)],  # Kaggle Digit Recognizer
        ["label"] + [f"pixel{i}" for i in range(1, 785)],  # Kaggle Fashion-MNIST
        None,  # pjreddie: no header, label first
    ],
    ids=["kaggle", "kaggle-fashion", "pjreddie"],
)
def test_mnist_layouts_load_with_no_options(tmp_path, header):
    X, y = images(30)
    Xt, yt = images(12, seed=1)
    train = write_csv(tmp_path / "train.csv", X, y, header)
    test = write_csv(tmp_path / "test.csv", Xt, yt, header)
    ds = load(train=train, test=test)
    assert ds.train.X.dtype == np.uint8 and ds.test.X.dtype == np.uint8
    np.testing.assert_array_equal(ds.train.X, X)
    np.testing.assert_array_equal(ds.train.y, y)
    np.testing.assert_array_equal(ds.test.X, Xt)
    np.testing.assert_array_equal(ds.test.y, yt)
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.name == "csv" and ds.meta["header"] is (header is not None)


def test_label_column_by_name_index_and_from_the_end(tmp_path):
    X, y = images(20, features=5)
    header = ["a", "b", "c", "d", "e", "digit"]
    path = write_csv(tmp_path / "d.csv", X, y, header, label_last=True)
    for option in ("digit", "5", -1):
        ds = load(path=path, label_column=option)
        assert ds.meta["label_column"] == "digit"
        assert len(ds.train) + len(ds.test) == 20
    path = write_csv(tmp_path / "n.csv", X, y, None, label_last=True)
    ds = load(train=path, test=path, label_column=-1)
    np.testing.assert_array_equal(ds.train.X, X)
    np.testing.assert_array_equal(ds.train.y, y)


def test_label_column_in_the_middle(tmp_path):
    X, y = images(10, features=4)
    rows = ["f0,f1,class,f2,f3"] + [
        f"{r[0]},{r[1]},{c},{r[2]},{r[3]}" for r, c in zip(X, y, strict=True)
    ]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load(train=path, test=path, label_column="class")
    np.testing.assert_array_equal(ds.train.X, X)
    np.testing.assert_array_equal(ds.train.y, y)


@pytest.mark.parametrize("delimiter", [";", "\t", " "], ids=["semicolon", "tab", "space"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    X, y = images(10, features=6)
    path = write_csv(tmp_path / "d.csv", X, y, None, delimiter=delimiter)
    ds = load(train=path, test=path)
    np.testing.assert_array_equal(ds.train.X, X)
    explicit = {";": ";", "\t": "tab", " ": "whitespace"}[delimiter]
    np.testing.assert_array_equal(load(train=path, test=path, delimiter=explicit).train.X, X)


def test_runs_of_whitespace_crlf_bom_blank_lines_and_quotes(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(b"  1   2  3 \r\n\r\n0 4 5\r\n   \n")
    ds = load(train=path, test=path)
    np.testing.assert_array_equal(ds.train.X, [[2, 3], [4, 5]])
    path.write_bytes(b'\xef\xbb\xbf"label","p1"\r\n"1","2"\r\n0,3\r\n')
    ds = load(train=path, test=path)
    assert ds.meta["label_column"] == "label"
    np.testing.assert_array_equal(ds.train.X, [[2], [3]])


def test_string_labels_become_sorted_classes(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('name,x,y\ndog,1,2\ncat,3,4\n"bird, small",5,6\ncat,7,8\n')
    ds = load(train=path, test=path)
    assert ds.class_names == ["bird, small", "cat", "dog"]
    np.testing.assert_array_equal(ds.train.y, [2, 1, 0, 1])
    # no header: words in the label column above words are labels, not column names
    path.write_text("dog,1,2\ncat,3,4\n")
    ds = load(train=path, test=path)
    assert ds.class_names == ["cat", "dog"] and len(ds.train) == 2


def test_numeric_labels_that_are_not_class_numbers(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("1,0\n26,1\n3,2\n26,3\n")
    ds = load(train=path, test=path)
    assert ds.class_names == ["1", "3", "26"]
    np.testing.assert_array_equal(ds.train.y, [0, 2, 1, 2])
    path.write_text("0,0\n5,1\n1.0,2\n")  # class numbers with gaps: kept as they are
    ds = load(train=path, test=path)
    assert ds.class_names == ["0", "1", "2", "3", "4", "5"]
    np.testing.assert_array_equal(ds.train.y, [0, 5, 1])


def test_a_test_file_may_lack_classes_and_have_new_ones(tmp_path):
    train = tmp_path / "a.csv"
    test = tmp_path / "b.csv"
    train.write_text("cat,1\ndog,2\n")
    test.write_text("cow,3\n")
    ds = load(train=train, test=test)
    assert ds.class_names == ["cat", "cow", "dog"]
    np.testing.assert_array_equal(ds.test.y, [1])


# --- scaling -------------------------------------------------------------------------


def test_scale_auto_keeps_bytes_and_floats(tmp_path):
    ints = tmp_path / "i.csv"
    ints.write_text("0,0,255\n1,12.0,7\n")
    ds = load(train=ints, test=ints)
    assert ds.train.X.dtype == np.uint8
    floats = tmp_path / "f.csv"
    floats.write_text("0,0.5,-3\n1,1e3,256\n")
    ds = load(train=floats, test=floats)
    assert ds.train.X.dtype == np.float32
    np.testing.assert_array_equal(ds.train.X, [[0.5, -3], [1000, 256]])
    # bytes in train but not in test: both float, or the engine would scale only one
    ds = load(train=ints, test=floats)
    assert ds.train.X.dtype == ds.test.X.dtype == np.float32
    np.testing.assert_array_equal(ds.train.X, [[0, 255], [12, 7]])


def test_scale_none_and_standardize(tmp_path):
    train = tmp_path / "a.csv"
    test = tmp_path / "b.csv"
    train.write_text("0,1,5,9\n1,3,5,9\n0,5,5,9\n")
    test.write_text("1,3,6,9\n")
    ds = load(train=train, test=test, scale="none")
    assert ds.train.X.dtype == np.float32
    np.testing.assert_array_equal(ds.test.X, [[3, 6, 9]])
    ds = load(train=train, test=test, scale="standardize")
    std = np.sqrt(8 / 3)
    np.testing.assert_allclose(ds.train.X[:, 0], [-2 / std, 0, 2 / std], rtol=1e-6)
    np.testing.assert_array_equal(ds.train.X[:, 1:], 0)  # std 0 is taken as 1
    np.testing.assert_allclose(ds.test.X, [[0, 1, 0]], rtol=1e-6)
    np.testing.assert_allclose(ds.meta["mean"], [3, 5, 9])
    np.testing.assert_allclose(ds.meta["std"], [std, 1, 1], rtol=1e-6)


# --- one file, split by class ---------------------------------------------------------


def test_path_is_split_per_class_with_a_seed(tmp_path):
    X, y = images(200, features=3)
    y = np.where(np.arange(200) < 150, 0, 1)  # 150 of class 0, 50 of class 1
    path = write_csv(tmp_path / "all.csv", X, y)
    ds = load(path=path, test_fraction=0.2, seed=3)
    assert np.bincount(ds.test.y).tolist() == [30, 10]
    assert np.bincount(ds.train.y).tolist() == [120, 40]
    rows = {tuple(r) for r in np.concatenate([ds.train.X, ds.test.X])}
    assert rows == {tuple(r) for r in X}
    again = load(path=path, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again.test.X, ds.test.X)
    other = load(path=path, test_fraction=0.2, seed=4)
    assert not np.array_equal(other.test.X, ds.test.X)
    assert ds.meta["test_fraction"] == 0.2 and ds.meta["seed"] == 3


def test_bad_option_combinations(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("0,1\n1,2\n")
    with pytest.raises(DatasetError, match="either path"):
        load(path=path, train=path)
    with pytest.raises(DatasetError, match="train is not"):
        load(test=path)
    with pytest.raises(DatasetError, match="no data"):
        load()
    with pytest.raises(DatasetError, match="test_fraction"):
        load(path=path, test_fraction=1.5)
    with pytest.raises(DatasetError, match="leaves no test rows"):
        load(path=path)  # one row per class: nothing to hold out
    path.write_text("".join(f"{i % 10},{i}\n" for i in range(20)))  # 2 rows per class
    ds = load(path=path)
    assert len(ds.test) == 4 and len(set(ds.test.y)) == 4  # 0.2 * 20, spread over classes
    with pytest.raises(DatasetError, match="scale"):
        load(path=path, scale="minmax")
    with pytest.raises(DatasetError, match="no such file"):
        load(path=tmp_path / "missing.csv")


# --- bad input: DatasetError naming the file and the line ---------------------------

HEADER = "label,p1,p2,p3\n"
ERRORS = {
    "ragged-short": (HEADER + "1,2,3,4\n0,2,3\n", 3, "ragged row of 3 field"),
    "ragged-long": (HEADER + "1,2,3,4\n0,1,2,3\n\n1,2,3,4,5\n", 5, "ragged row of 5 field"),
    "non-numeric": (HEADER + "1,2,3,4\n0,2,x3,4\n", 3, "column 3 ('p2'): 'x3' is not a number"),
    "empty-cell": ("1,2,3\n0,,3\n", 2, "column 2: an empty cell"),
    "nan": (HEADER + "1,2,3,4\n0,2,nan,4\n", 3, "'nan' is not a finite number"),
    "inf": ("1,2.5,3\n\n0,2,-inf\n", 3, "'-inf' is not a finite number"),
    "nan-label": (HEADER + "1,2,3,4\nNaN,2,3,4\n", 3, "the label 'NaN' is not a finite"),
    "empty-label": (HEADER + "1,2,3,4\n ,2,3,4\n", 3, "an empty label"),
    "empty-file": ("", None, "the file is empty"),
    "blank-file": ("\n  \n\n", None, "the file is empty"),
    "header-only": (HEADER, 1, "a header but no data rows"),
    "header-only-blank-rows": (HEADER + "\n \n", 1, "a header but no data rows"),
    "single-class": (HEADER + "1,2,3,4\n1,5,6,7\n", None, "same label '1'"),
    "one-column": ("1\n2\n", 1, "only one column"),
    "duplicate-name": ("label,a,a\n1,2,3\n", 1, "names column 'a' twice"),
    "not-utf8": (b"1,2\n\xff,3\n", 2, "not UTF-8"),
}


@pytest.mark.parametrize("text, line, message", ERRORS.values(), ids=ERRORS.keys())
def test_bad_input_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DatasetError) as info:
        load(train=path, test=path)
    text = str(info.value)
    assert text.startswith(str(path)), text
    assert message in text
    if line is not None:
        assert f": line {line}" in text


def test_label_column_errors(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("\nkind,a,b\n0,1,2\n1,3,4\n")
    with pytest.raises(DatasetError, match=r"h\.csv: line 2: no column named 'label'"):
        load(path=path, label_column="label")
    with pytest.raises(DatasetError, match=r"line 2: label_column=3 but the rows have 3"):
        load(path=path, label_column=3)
    path.write_text("0,1,2\n1,3,4\n")
    with pytest.raises(DatasetError, match=r"line 1: label_column='kind' names a column"):
        load(path=path, label_column="kind")


def test_test_file_with_other_columns(tmp_path):
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text("label,a,b\n0,1,2\n1,3,4\n")
    test.write_text("label,a\n0,1\n")
    with pytest.raises(DatasetError, match=r"test\.csv: line 1: 2 columns, but the training"):
        load(train=train, test=test)
    test.write_text("label,a,c\n0,1,2\n")
    with pytest.raises(DatasetError, match=r"test\.csv: line 1: column 3 is 'c'"):
        load(train=train, test=test)
    test.write_text("a,b\n0,1\n")  # Kaggle's test.csv: no label column at all
    with pytest.raises(DatasetError, match=r"test\.csv: line 1: 2 columns"):
        load(train=train, test=test)


def test_line_numbers_and_results_across_blocks(tmp_path, monkeypatch):
    X, y = images(300, features=7)
    path = write_csv(tmp_path / "big.csv", X, y, ["label"] + [f"p{i}" for i in range(7)])
    whole = load(train=path, test=path, cache=False)
    monkeypatch.setattr(parse, "BLOCK", 100)  # a few lines per block; some lines span two
    ds = load(train=path, test=path, cache=False)
    np.testing.assert_array_equal(ds.train.X, whole.train.X)
    np.testing.assert_array_equal(ds.train.y, whole.train.y)
    lines = path.read_text().splitlines()
    lines[200] = lines[200] + ",1"
    lines.insert(100, "")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"big\.csv: line 202: a ragged row of 9 field"):
        load(train=path, test=path, cache=False)
    lines[201] = lines[201][: -len(",1")]
    lines[250] = lines[250].rsplit(",", 1)[0] + ",0.5"  # a float row late in the file
    lines[260] = lines[260] + "x"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"line 261, column 8 \('p6'\): '\d+x' is not a"):
        load(train=path, test=path, cache=False)


# --- the parse cache -------------------------------------------------------------------


def test_second_load_comes_from_the_cache(tmp_path, data_root, monkeypatch):
    X, y = images(40, features=10)
    path = write_csv(tmp_path / "c.csv", X, y)
    first = load(path=path)
    entries = list((data_root / "csv-cache").glob("*.npz"))
    assert len(entries) == 1

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(plugin, "parse", no_parse)
    second = load(path=path)
    np.testing.assert_array_equal(second.train.X, first.train.X)
    np.testing.assert_array_equal(second.test.y, first.test.y)
    assert second.class_names == first.class_names
    with pytest.raises(AssertionError, match="parsed again"):  # other parse options
        load(path=path, label_column=1)
    with pytest.raises(AssertionError, match="parsed again"):  # cache off
        load(path=path, cache=False)
    # An edited file is parsed again, and its stale entry is dropped.
    monkeypatch.undo()
    monkeypatch.setenv("NUMREC_DATA", str(data_root))
    write_csv(path, X[:20], y[:20])
    os.utime(path, ns=(1, 1))
    assert len(load(path=path).train) + len(load(path=path).test) == 20
    assert len(list((data_root / "csv-cache").glob("*.npz"))) == 1


def test_an_unreadable_cache_is_ignored(tmp_path, data_root):
    X, y = images(20, features=3)
    path = write_csv(tmp_path / "c.csv", X, y)
    load(train=path, test=path)
    (entry,) = (data_root / "csv-cache").glob("*.npz")
    entry.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable CSV cache"):
        ds = load(train=path, test=path)
    np.testing.assert_array_equal(ds.train.X, X)
    assert np.load(entry)["X"].shape == (20, 3)  # written again


def test_cache_files_are_written_atomically(tmp_path, data_root):
    X, y = images(20, features=3)
    path = write_csv(tmp_path / "c.csv", X, y)
    load(train=path, test=path)
    assert [p.suffix for p in (data_root / "csv-cache").iterdir()] == [".npz"]  # no temp left
    assert cache.cache_path(path, {}) != cache.cache_path(path, {"header": "yes"})


# --- real data -----------------------------------------------------------------------


@pytest.mark.skipif(not MNIST_T10K.is_dir(), reason=f"MNIST test set not found at {MNIST_T10K}")
def test_mnist_csv_loads_to_the_idx_arrays(tmp_path):
    from numrec.idx import read_idx

    images_ = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz")
    X = images_.reshape(len(images_), -1)
    text = [str(i) for i in range(256)]  # byte -> its text, looked up (faster than str())
    path = tmp_path / "mnist_test.csv"
    with open(path, "w") as f:
        f.write("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
        for label, row in zip(labels.tolist(), X.tolist(), strict=True):
            f.write(f"{label}," + ",".join(map(text.__getitem__, row)) + "\n")
    ds = load(train=path, test=path)
    assert ds.train.X.dtype == X.dtype == np.uint8
    np.testing.assert_array_equal(ds.train.X, X)
    np.testing.assert_array_equal(ds.train.y, labels)
    assert ds.class_names == [str(i) for i in range(10)]


def test_through_the_plugin_host(tmp_path, numrec_plugin_host):
    X, y = images(20, features=4)
    train = write_csv(tmp_path / "train.csv", X, y)
    test = write_csv(tmp_path / "test.csv", X[:10], y[:10])
    ds = numrec.load_dataset("csv", train=str(train), test=str(test))
    np.testing.assert_array_equal(ds.train.X, X)
    np.testing.assert_array_equal(ds.test.y, y[:10])
    assert "csv" in numrec.list_datasets()


def test_train_alone_is_split_like_path(tmp_path):
    """``train`` without ``test`` is split by class as ``path`` is (same rows, same seed)."""
    X, y = images(60, features=3)
    y = np.arange(60) % 3
    csv = write_csv(tmp_path / "all.csv", X, y)
    alone = load(train=csv, test_fraction=0.25, seed=1)
    as_path = load(path=csv, test_fraction=0.25, seed=1)
    for part in ("train", "test"):
        np.testing.assert_array_equal(getattr(alone, part).X, getattr(as_path, part).X)
        np.testing.assert_array_equal(getattr(alone, part).y, getattr(as_path, part).y)
    assert len(alone.test) == 15
