"""The ``images`` data set (numrec_images): folders of real PNG/JPEG files made here, read
through the plugin host and the real console scripts; numrec-predict prepares an image as
the model's training did."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, mnist_t10k, run

import numrec
from numrec import DatasetError

Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")


@pytest.fixture(autouse=True)
def fresh_host(numrec_cache, numrec_plugin_host):
    """Every test: its own empty data cache, and a plugin host with the built-ins only."""
    return numrec_cache


def write_digits(root: Path, X: np.ndarray, y: np.ndarray, names=None) -> list[Path]:
    """``root/<label>/<name>.png`` for each 28x28 row of ``X``; the paths, in row order."""
    paths = []
    for i, (row, label) in enumerate(zip(X, y)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{names[i] if names is not None else f'{i:05d}'}.png"
        Image.fromarray(row.reshape(28, 28)).save(path)
        paths.append(path)
    return paths


def sample_digits(per_class: int, part: str = "train"):
    """The first ``per_class`` digits of each class of mnist-sample (X rows, labels)."""
    ds = numrec.load_dataset("mnist-sample")
    split = getattr(ds, part)
    rows = np.concatenate([np.flatnonzero(split.y == c)[:per_class] for c in range(10)])
    return split.X[rows], split.y[rows]


@pytest.fixture
def digit_folder(tmp_path):
    """(root, X, y): 30 digits of each class as PNG files root/<digit>/<nnnnn>.png."""
    X, y = sample_digits(30)
    root = tmp_path / "digits"
    write_digits(root, X, y)
    return root, X, y


def rows_by_file(ds, part: str, root: Path) -> dict[str, np.ndarray]:
    split = getattr(ds, part)
    return dict(zip(ds.meta["files"][part], split.X))


# --- reading a folder ------------------------------------------------------------------------


def test_a_folder_of_pngs_loads_pixel_for_pixel_with_a_seeded_split(digit_folder):
    root, X, y = digit_folder
    ds = numrec.load_dataset("images", root=root)
    assert ds.name == "images" and ds.class_names == [str(d) for d in range(10)]
    assert (len(ds.train), len(ds.test)) == (240, 60)
    assert np.bincount(ds.test.y).tolist() == [6] * 10  # 20 % of each class
    assert ds.train.X.dtype == np.uint8 and ds.n_features == 784
    assert ds.meta["image_shape"] == (28, 28)
    assert ds.meta["image_prep"] == {
        "size": [28, 28], "channels": 1, "fit": "stretch", "mnist_style": False,
    }  # fmt: skip
    for part in ("train", "test"):
        split = getattr(ds, part)
        for path, row, label in zip(ds.meta["files"][part], split.X, split.y):
            i = int(Path(path).stem)
            assert path == f"{y[i]}/{i:05d}.png" and label == y[i]
            np.testing.assert_array_equal(row, X[i])
    again = numrec.load_dataset("images", root=root)
    assert again.meta["files"] == ds.meta["files"]
    other = numrec.load_dataset("images", root=root, seed=1, test_fraction=0.1)
    assert len(other.test) == 30 and other.meta["files"]["test"] != ds.meta["files"]["test"]


def test_class_names_are_the_sorted_folder_names(tmp_path):
    X, y = sample_digits(3)
    names = np.array(["zebra", "Apple", "mango", "10", "2", "b", "c", "d", "e", "f"])
    root = tmp_path / "named"
    for row, label in zip(X, y):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(row.reshape(28, 28)).save(folder / f"{len(list(folder.iterdir()))}.png")
    ds = numrec.load_dataset("images", root=root, test_fraction=0.34)
    assert ds.class_names == sorted(names.tolist())  # "10" < "2" < "Apple" < "b" ...
    for path, label in zip(ds.meta["files"]["train"], ds.train.y):
        assert path.split("/")[0] == ds.class_names[label]


def test_train_and_test_folders_and_the_validation_folder(tmp_path):
    X, y = sample_digits(8)
    X_test, y_test = sample_digits(2, "test")
    root = tmp_path / "split"
    write_digits(root / "train", X, y)
    keep = y_test != 9  # a test folder may lack a class
    write_digits(root / "test", X_test[keep], y_test[keep])
    ds = numrec.load_dataset("images", root=root)
    assert ds.meta["layout"] == "splits" and ds.class_names == [str(d) for d in range(10)]
    assert (len(ds.train), len(ds.test)) == (80, 18)
    np.testing.assert_array_equal(np.sort(ds.test.y), np.sort(y_test[keep]))

    write_digits(root / "validation", X_test[:4], y_test[:4], names=["a", "b", "c", "d"])
    ds = numrec.load_dataset("images", root=root)
    assert len(ds.validation) == 4

    (root / "test" / "unknown").mkdir()
    Image.fromarray(X[0].reshape(28, 28)).save(root / "test" / "unknown" / "x.png")
    with pytest.raises(DatasetError, match=r"unknown: class 'unknown' has no folder in .*train"):
        numrec.load_dataset("images", root=root)
    (root / "test").rename(root / "other")
    with pytest.raises(DatasetError, match="has a train folder but no test folder"):
        numrec.load_dataset("images", root=root)


def test_size_and_fit_stretch_pad_crop(tmp_path):
    root = tmp_path / "wide"
    picture = np.zeros((20, 40), np.uint8)
    picture[:, :20] = 200  # left half light: the fits differ in where it lands
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        Image.fromarray(picture).save(root / label / "0.png")
        Image.fromarray(picture).save(root / label / "1.png")
    rows = {}
    for fit in ("stretch", "pad", "crop"):
        ds = numrec.load_dataset("images", root=root, size="10x10", fit=fit, test_fraction=0.5)
        assert ds.n_features == 100 and ds.meta["image_shape"] == (10, 10)
        rows[fit] = ds.train.X[0].reshape(10, 10).astype(int)
    assert (rows["stretch"][:, :4] == 200).all() and (rows["stretch"][:, 6:] == 0).all()
    # pad: 40x20 -> 10x5, centred: black bands above and below
    assert (rows["pad"][:2] == 0).all() and (rows["pad"][-3:] == 0).all()
    assert (rows["pad"][3:7, :4] == 200).all()
    # crop: 40x20 -> 20x10, the middle 10 columns: left half light, right half dark
    assert (rows["crop"][:, :4] == 200).all() and (rows["crop"][:, 6:] == 0).all()
    assert rows["crop"][:, 4:6].min() > 0  # no band of black: it filled the frame
    # default size: the first image's (40x20), exact pixels
    ds = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert ds.meta["image_shape"] == (20, 40)
    np.testing.assert_array_equal(ds.train.X[0], picture.reshape(-1))
    with pytest.raises(DatasetError, match="size='ten'"):
        numrec.load_dataset("images", root=root, size="ten")


def test_mnist_style_prepares_photos_of_digits_as_predict_does(tmp_path):
    from numrec.imageprep import prepare_image

    X, y = sample_digits(4)
    root = tmp_path / "paper"
    for i, (row, label) in enumerate(zip(X, y)):
        big = np.kron(255 - row.reshape(28, 28), np.ones((3, 3), np.uint8))  # dark on white
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(big).convert("RGB").save(root / str(label) / f"{i}.jpg", quality=95)
    ds = numrec.load_dataset("images", root=root, mnist_style=True, test_fraction=0.25)
    assert ds.meta["image_prep"]["mnist_style"] and ds.meta["image_shape"] == (28, 28)
    for path, row in rows_by_file(ds, "train", root).items():
        np.testing.assert_array_equal(row, prepare_image(root / path))
    with pytest.raises(DatasetError, match="mnist_style needs square grey images"):
        numrec.load_dataset("images", root=root, mnist_style=True, channels=3)


# --- training and predicting through the console scripts ------------------------------------


def test_train_then_predict_a_file_as_training_prepared_it(digit_folder, tmp_path):
    root, _, _ = digit_folder
    env = cli_env(tmp_path)
    model = tmp_path / "digits.npz"
    options = ("--size", "16x12", "--fit", "pad")  # not MNIST's 28x28: predict must follow
    result = run("numrec-train", "--dataset", "images", "--root", root, *options,
                 "--hidden", "16", "--epochs", "3", "--save", model, "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dataset"] == "images"
    net = numrec.Network.load(model)
    assert net.sizes[0] == 16 * 12
    assert net.meta["image_prep"] == {"size": [16, 12], "channels": 1, "fit": "pad",
                                      "mnist_style": False}  # fmt: skip
    ds = numrec.load_dataset("images", root=root, size="16x12", fit="pad")
    files = ds.meta["files"]["test"][:6]
    answer = run("numrec-predict", model, *(root / f for f in files), "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    got = json.loads(answer.stdout)
    expected = net.forward(ds.test.X[:6])
    for a, p in zip(got, expected):
        assert a["label"] == net.class_names[int(np.argmax(p))]
        assert a["probability"] == pytest.approx(float(p.max()), rel=1e-6)


def shapes_folder(root: Path, per_class: int, side: int = 24, seed: int = 0) -> None:
    """Circles, squares and triangles of random colours on dark backgrounds (sizes and
    places vary a little: a small network learns them from a hundred of each)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((side, side)) + 0.5
    for shape in ("circle", "square", "triangle"):
        (root / shape).mkdir(parents=True)
        for k in range(per_class):
            r = rng.uniform(side * 0.28, side * 0.38)
            cy, cx = side / 2 + rng.uniform(-2, 2, 2)
            if shape == "circle":
                inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
            elif shape == "square":
                inside = (abs(rows - cy) <= r * 0.8) & (abs(cols - cx) <= r * 0.8)
            else:  # apex up: wider towards the bottom
                dy = rows - (cy - r)
                inside = (dy >= 0) & (dy <= 2 * r) & (abs(cols - cx) <= dy / 2)
            background = rng.integers(0, 70, 3)  # a dark background, a bright shape of any hue
            colour = rng.integers(0, 256, 3)
            colour[rng.integers(3)] = rng.integers(200, 256)
            picture = np.where(inside[..., None], colour, background).astype(np.uint8)
            Image.fromarray(picture, "RGB").save(root / shape / f"{k:03d}.png")


def test_rgb_shapes_train_with_three_channels(tmp_path):
    root = tmp_path / "shapes"
    shapes_folder(root, per_class=120)
    ds = numrec.load_dataset("images", root=root, channels=3)
    assert ds.class_names == ["circle", "square", "triangle"]
    assert ds.meta["image_shape"] == (24, 24, 3) and ds.n_features == 24 * 24 * 3
    path = ds.meta["files"]["train"][0]
    with Image.open(root / path) as image:
        np.testing.assert_array_equal(ds.train.X[0], np.asarray(image).reshape(-1))
    env = cli_env(tmp_path)
    model = tmp_path / "shapes.npz"
    # --augment none: the default "auto" (made for digits: elastic, rotation) blurs these
    # small shapes; measured 63.9 % with it, 88.9 % without
    settings = ("--hidden", "64", "--epochs", "15", "--augment", "none", "--save", model,
                "--json")  # fmt: skip
    result = run("numrec-train", "--dataset", "images", "--root", root, "--channels", "3",
                 *settings, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    accuracy = json.loads(result.stdout)["test_accuracy"]
    assert accuracy >= 0.8, accuracy  # chance is 1/3
    net = numrec.Network.load(model)
    answer = run("numrec-predict", model, root / ds.meta["files"]["test"][0], "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)[0]["label"] == net.class_names[net.predict(ds.test.X[:1])[0]]


# --- bad input --------------------------------------------------------------------------------


def test_a_corrupt_file_is_named(digit_folder, tmp_path):
    root, X, _ = digit_folder
    good = (root / "3" / "00090.png").read_bytes()
    (root / "3" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match=r"3/truncated\.png: damaged image"):
        numrec.load_dataset("images", root=root)
    (root / "3" / "truncated.png").unlink()
    (root / "4" / "garbage.jpg").write_bytes(b"this is not a picture" * 10)
    with pytest.raises(DatasetError, match=r"4/garbage\.jpg: not an image Pillow can read"):
        numrec.load_dataset("images", root=root)
    result = run("numrec-train", "--dataset", "images", "--root", root, env=cli_env(tmp_path))
    assert_usage_error(result, "garbage.jpg", "not an image", "on_error=skip")


def test_on_error_skip_warns_with_the_count_and_names(digit_folder):
    root, _, _ = digit_folder
    for k in range(7):
        (root / str(k) / f"bad{k}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DatasetError, match=r"bad0\.png: .*\(6 more bad file\(s\): 1/bad1\.png"):
        numrec.load_dataset("images", root=root)
    for decoded in (0, 0):  # the bad files are remembered by the cache: the same warning
        with pytest.warns(UserWarning, match=r"skipped 7 file\(s\) .*: 0/bad0\.png, 1/bad1\.png, "
                          r"2/bad2\.png, 3/bad3\.png, 4/bad4\.png, \.\.\."):  # fmt: skip
            ds = numrec.load_dataset("images", root=root, on_error="skip")
        assert len(ds.train) + len(ds.test) == 300 and len(ds.meta["skipped"]) == 7
        assert ds.meta["cache"]["decoded"] == decoded
    for k in range(1, 7):
        (root / str(k) / f"bad{k}.png").unlink()
    for name in os.listdir(root / "0"):  # a class whose every image is bad
        if name != "bad0.png":
            (root / "0" / name).unlink()
    with pytest.raises(DatasetError, match="every image of class '0' failed to decode"):
        numrec.load_dataset("images", root=root, on_error="skip")


def test_an_empty_class_and_a_single_class_are_refused(digit_folder, tmp_path):
    root, _, _ = digit_folder
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("nothing here yet")
    with pytest.raises(DatasetError, match=r"empty: no image files .*an empty class.*1 hidden"):
        numrec.load_dataset("images", root=root)
    result = run("numrec-train", "--dataset", "images", "--root", root, env=cli_env(tmp_path))
    assert_usage_error(result, "empty class")

    lonely = tmp_path / "lonely"
    write_digits(lonely, *sample_digits(1))
    for d in range(1, 10):
        os.rename(lonely / str(d) / f"{d:05d}.png", lonely / "0" / f"{d:05d}.png")
        (lonely / str(d)).rmdir()
    with pytest.raises(DatasetError, match=r"only one class folder \('0'\); .*two or more"):
        numrec.load_dataset("images", root=lonely)
    with pytest.raises(DatasetError, match="no class folders .*10 image file"):
        numrec.load_dataset("images", root=lonely / "0")
    with pytest.raises(DatasetError, match="no such folder"):
        numrec.load_dataset("images", root=tmp_path / "missing")
    with pytest.raises(DatasetError, match="no folder given"):
        numrec.load_dataset("images")


def test_hidden_and_non_image_files_are_ignored_and_said_so(digit_folder, tmp_path):
    root, X, _ = digit_folder
    before = numrec.load_dataset("images", root=root, cache=False)
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "README.txt").write_text("digits")
    (root / "1" / "._00001.png").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS resource fork
    (root / "1" / "labels.csv").write_text("a,b\n")
    (root / "2" / ".thumbnails").mkdir()
    Image.fromarray(X[0].reshape(28, 28)).save(root / "2" / ".thumbnails" / "x.png")
    after = numrec.load_dataset("images", root=root, cache=False)
    assert after.meta["files"] == before.meta["files"] and after.meta["ignored"] == 5
    np.testing.assert_array_equal(after.train.X, before.train.X)
    Image.fromarray(X[0].reshape(28, 28)).save(root / "loose.png")
    with pytest.warns(UserWarning, match="1 image file.* outside any class folder"):
        numrec.load_dataset("images", root=root, cache=False)

    listing = run("numrec-datasets", "--json", env=cli_env(tmp_path))
    assert listing.returncode == 0, listing.stderr
    specs = {d["name"]: d for p in json.loads(listing.stdout)["plugins"] for d in p["datasets"]}
    assert "hidden and non-image files ignored" in specs["images"]["description"]
    root_help = next(o["help"] for o in specs["images"]["options"] if o["name"] == "root")
    assert "hidden files and files that are not images" in root_help


def test_the_cache_notices_changed_added_and_removed_files(digit_folder, numrec_cache):
    root, X, y = digit_folder
    first = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert first.meta["cache"]["decoded"] == 300
    entries = list((numrec_cache / "images").iterdir())
    assert [e.suffix for e in entries] == [".npz"]  # one entry, no temp file left behind
    warm = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert warm.meta["cache"]["decoded"] == 0
    np.testing.assert_array_equal(warm.train.X, first.train.X)

    target = first.meta["files"]["train"][0]
    changed = 255 - X[0].reshape(28, 28)
    Image.fromarray(changed).save(root / target)
    st = os.stat(root / target)
    os.utime(root / target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a later edit
    again = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert again.meta["cache"]["decoded"] == 1
    np.testing.assert_array_equal(rows_by_file(again, "train", root)[target], changed.ravel())

    Image.fromarray(X[5].reshape(28, 28)).save(root / "7" / "new.png")
    (root / first.meta["files"]["test"][0]).unlink()
    (root / first.meta["files"]["test"][1]).unlink()
    grown = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert grown.meta["cache"]["decoded"] == 1
    everything = grown.meta["files"]["train"] + grown.meta["files"]["test"]
    assert len(everything) == 299 and "7/new.png" in everything
    assert first.meta["files"]["test"][0] not in everything
    # a damaged cache entry is ignored with a warning, never fatal
    entries[0].write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="ignoring the unreadable image cache"):
        rebuilt = numrec.load_dataset("images", root=root, test_fraction=0.5)
    assert rebuilt.meta["cache"]["decoded"] == 299


def test_an_over_large_image_is_refused_from_its_header(digit_folder, tmp_path):
    root, _, _ = digit_folder
    huge = root / "5" / "huge.png"
    Image.new("1", (9000, 9000)).save(huge)  # 81 megapixels in a 10 kB file
    assert huge.stat().st_size < 100_000
    with pytest.raises(DatasetError, match=r"huge\.png: image too large: 9000x9000 = 81,000,000"):
        numrec.load_dataset("images", root=root)
    env = cli_env(tmp_path)
    model = tmp_path / "m.npz"
    huge.unlink()
    result = run("numrec-train", "--dataset", "images", "--root", root, "--hidden", "8",
                 "--epochs", "1", "--save", model, "--quiet", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    Image.new("1", (9000, 9000)).save(huge)
    for trained in (model,):
        answer = run("numrec-predict", trained, huge, env=env)
        assert_usage_error(answer, "huge.png", "image too large", "9000x9000")


def test_predict_keeps_the_mnist_preparation_for_models_without_image_prep(tmp_path):
    from numrec.imageprep import prepare_image

    X, _ = sample_digits(1)
    path = tmp_path / "digit.png"
    Image.fromarray(255 - np.kron(X[3].reshape(28, 28), np.ones((2, 2), np.uint8))).save(path)
    net = numrec.Network([784, 10], seed=0)
    net.class_names = [str(d) for d in range(10)]
    model = net.save(tmp_path / "plain.npz")
    assert "image_prep" not in numrec.Network.load(model).meta
    answer = run("numrec-predict", model, path, "--json", env=cli_env(tmp_path))
    assert answer.returncode == 0, answer.stderr
    p = net.forward(prepare_image(path)[None])[0]
    assert json.loads(answer.stdout)[0]["probability"] == pytest.approx(float(p.max()), rel=1e-6)


# --- the real MNIST test set as 10,000 PNG files ----------------------------------------------


@pytest.mark.slow
def test_ten_thousand_pngs_train_like_the_idx_files(tmp_path, numrec_cache):
    from numrec.idx import write_idx

    X, y = mnist_t10k()
    root = tmp_path / "t10k"
    write_digits(root, X, y)
    env = cli_env(tmp_path, NUMREC_DATA=str(numrec_cache))
    settings = ("--hidden", "128", "--epochs", "5", "--seed", "0", "--json")
    model = tmp_path / "images.npz"
    result = run("numrec-train", "--dataset", "images", "--root", root, "--test-fraction", "0.2",
                 *settings, "--save", model, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    from_images = json.loads(result.stdout)["test_accuracy"]

    start = time.perf_counter()
    ds = numrec.load_dataset("images", root=root, test_fraction=0.2)
    warm = time.perf_counter() - start
    assert ds.meta["cache"]["decoded"] == 0
    assert warm < 1.0, f"a warm load of 10,000 images took {warm:.2f} s"

    # the same digits in each part, as IDX files in the folder's row order: the same rows in
    # the same order must train the same model (in MNIST's original order the validation
    # split and the batches differ, and the two accuracies differ by chance, 0.1-0.6 points)
    index = {part: np.array([int(Path(f).stem) for f in ds.meta["files"][part]])
             for part in ("train", "test")}  # fmt: skip
    for part in ("train", "test"):
        np.testing.assert_array_equal(getattr(ds, part).X, X[index[part]])
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    for prefix, part in (("train", "train"), ("t10k", "test")):
        rows = index[part]
        write_idx(idx_dir / f"{prefix}-images-idx3-ubyte", X[rows].reshape(-1, 28, 28))
        write_idx(idx_dir / f"{prefix}-labels-idx1-ubyte", y[rows].astype(np.uint8))
    result = run("numrec-train", "--dataset", "mnist", "--data-dir", idx_dir, *settings, env=env)
    assert result.returncode == 0, result.stderr
    from_idx = json.loads(result.stdout)["test_accuracy"]
    print(f"test accuracy: images {from_images:.4f}, IDX {from_idx:.4f}; warm load {warm:.3f} s")
    assert abs(from_images - from_idx) <= 0.005, (from_images, from_idx)

    net = numrec.Network.load(model)
    file = ds.meta["files"]["test"][17]
    answer = run("numrec-predict", model, root / file, "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    label = net.class_names[net.predict(ds.test.X[17:18])[0]]
    assert json.loads(answer.stdout)[0]["label"] == label
