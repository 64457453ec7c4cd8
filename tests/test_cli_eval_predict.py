"""numrec-eval, numrec-predict and numrec-datasets through their real console scripts, on a
model that numrec-train made; the image preparation (as MNIST was made) on its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, mnist_t10k, run, seed_model_path, write_csv

import numrec
from numrec.imageprep import area_resize, normalise_ink, prepare_array


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model path, env): a small model trained by numrec-train on the bundled sample."""
    tmp = tmp_path_factory.mktemp("trained")
    env = cli_env(tmp)
    model = tmp / "digits.npz"
    result = run("numrec-train", "--dataset", "mnist-sample", "--hidden", "32", "--epochs", "3",
                 "--threads", "1", "--save", model, "--quiet", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return model, env


def sample_test_digits(n: int):
    ds = numrec.load_dataset("mnist-sample")
    return ds.test.X[:n].reshape(n, 28, 28), ds.test.y[:n]


# --- numrec-eval --------------------------------------------------------------------------


def test_eval_text_report(trained):
    model, env = trained
    result = run("numrec-eval", model, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "mnist-sample test split (2,000 samples)" in out  # the model's own data set
    assert "accuracy:" in out and "loss:" in out
    assert "precision" in out and "recall" in out
    assert "confusion matrix (rows: true class, columns: predicted class)" in out
    matrix = out.split("columns: predicted class)\n", 1)[1].splitlines()
    counts = np.array([[int(v) for v in row.split()[1:]] for row in matrix[1:11]])
    assert counts.shape == (10, 10) and counts.sum() == 2000


def test_eval_json_and_plot(trained, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib: pip install 'numrec[plot]'")
    model, env = trained
    plot = tmp_path / "confusion.png"
    result = run("numrec-eval", model, "--json", "--plot", plot, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 2000 and 0.85 < report["accuracy"] <= 1
    assert [c["name"] for c in report["classes"]] == [str(d) for d in range(10)]
    confusion = np.array(report["confusion"])
    assert np.trace(confusion) / confusion.sum() == pytest.approx(report["accuracy"])
    recall = [c["recall"] for c in report["classes"]]
    assert recall == pytest.approx(list(np.diag(confusion) / confusion.sum(1)))
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_eval_train_split(trained):
    model, env = trained
    result = run("numrec-eval", model, "--part", "train", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 8000


def test_eval_takes_only_the_stored_data_set_name_never_its_options(tmp_path):
    # issue 20 item 1: a model is data; its stored CSV path is not read again
    env = cli_env(tmp_path)
    data = write_csv(tmp_path / "rows.csv", 500)
    model = tmp_path / "csv.npz"
    args = ("--dataset", "csv", "--path", data, "--hidden", "8", "--epochs", "1", "--threads", "1")
    trained = run("numrec-train", *args, "--save", model, "--quiet", env=env)
    assert trained.returncode == 0, trained.stderr
    result = run("numrec-eval", model, "--json", env=env, cwd=tmp_path.parent)
    assert_usage_error(result, "csv: no data")
    assert "note: no --dataset given: evaluating on data set 'csv'" in result.stderr
    assert "never used" in result.stderr
    # named on the command line, it works (the data set flags are the CSV plugin's)
    result = run("numrec-eval", model, "--path", data, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 100  # test_fraction 0.2 of 500 rows


def test_seed_model_scores_95_34_percent(tmp_path):
    # the seed's text model, read column-major, on the real MNIST test set
    X, y = mnist_t10k()
    net = numrec.Network.load(seed_model_path())
    assert net.evaluate(X, y)["accuracy"] == pytest.approx(0.9534, abs=1e-9)
    images = seed_model_path().parents[1] / "data" / "mnist-t10k"
    result = run("numrec-eval", seed_model_path(), "--images",
                 images / "t10k-images-idx3-ubyte.gz", "--labels",
                 images / "t10k-labels-idx1-ubyte.gz", "--json", env=cli_env(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 10_000 and report["accuracy"] == pytest.approx(0.9534, abs=1e-9)


# --- numrec-predict -----------------------------------------------------------------------


def _as_paper(digit: np.ndarray, scale: int, rng) -> np.ndarray:
    """An MNIST digit as a scan of dark ink on light, slightly noisy, uneven paper."""
    big = np.kron(digit.astype(np.float64), np.ones((scale, scale)))
    h, w = big.shape
    page = np.full((h + 3 * scale, w + 5 * scale), 225.0)
    page += np.linspace(0, 20, page.shape[1])[None, :] + rng.normal(0, 4, page.shape)
    top, left = scale, 3 * scale
    page[top : top + h, left : left + w] -= big * 0.8
    return np.clip(page, 0, 255).astype(np.uint8)


def test_predict_images_of_any_format_and_size(trained, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")
    model, env = trained
    digits, labels = sample_test_digits(20)
    net = numrec.Network.load(model)
    rng = np.random.default_rng(0)
    paths = []
    for i, digit in enumerate(digits):
        fmt = ("png", "bmp", "jpg", "pgm")[i % 4]
        path = tmp_path / f"digit{i}.{fmt}"
        if fmt == "bmp":  # the seed's input: a 28x28 8-bit BMP, white ink on black
            Image.fromarray(digit).save(path)
        elif fmt == "png":  # a colour scan
            Image.fromarray(_as_paper(digit, 4, rng)).convert("RGB").save(path)
        else:
            Image.fromarray(_as_paper(digit, 3 + i % 5, rng)).save(path)
        paths.append(path)
    result = run("numrec-predict", model, *paths, "--json", env=env)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["path"] for a in answers] == [str(p) for p in paths]
    assert all(set(a) == {"path", "label", "probability"} for a in answers)
    assert all(0 < a["probability"] <= 1 for a in answers)
    got = np.array([int(a["label"]) for a in answers])
    direct = net.predict(digits.reshape(20, -1))  # what the model says of the raw digits
    assert np.mean(got == labels) >= 0.8, (got, labels)
    assert np.mean(got == direct) >= 0.85, (got, direct)


def test_predict_top_k_text_and_json(trained, tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")
    model, env = trained
    digits, _ = sample_test_digits(2)
    paths = [tmp_path / f"d{i}.png" for i in range(2)]
    for digit, path in zip(digits, paths):
        Image.fromarray(255 - digit).save(path)  # dark on white: inverted by the preparation
    result = run("numrec-predict", model, *paths, "--top", "3", "--json", env=env)
    assert result.returncode == 0, result.stderr
    for answer in json.loads(result.stdout):
        top = answer["top"]
        assert len(top) == 3 and top[0]["label"] == answer["label"]
        probabilities = [t["probability"] for t in top]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    text = run("numrec-predict", model, *paths, "--top", "2", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and all("%" in line and "next:" in line for line in lines)


# --- the image preparation ----------------------------------------------------------------


def test_an_mnist_digit_comes_back_unchanged():
    # MNIST digits are already fitted in 20x20 and centred by mass: preparing is a no-op
    digits, _ = sample_test_digits(50)
    same = [np.array_equal(prepare_array(d), d.reshape(-1)) for d in digits]
    assert np.mean(same) >= 0.5  # the rest differ at faint stroke ends cut by the crop
    diff = np.mean([np.abs(prepare_array(d).astype(int) - d.reshape(-1)).mean() for d in digits])
    assert diff < 2.0


def test_enlarged_inverted_noisy_digits_are_still_recognised():
    X, y = mnist_t10k()
    X, y = X[:300].reshape(-1, 28, 28), y[:300]
    net = numrec.Network.load(seed_model_path())
    rng = np.random.default_rng(1)
    prepared = np.stack([prepare_array(_as_paper(d, 5, rng)) for d in X])
    raw = net.evaluate(X.reshape(300, -1), y)["accuracy"]
    assert net.evaluate(prepared, y)["accuracy"] >= raw - 0.03


def test_ink_is_made_light_on_dark():
    page = np.full((10, 10), 200.0)
    page[3:7, 4:6] = 20.0  # dark ink on light paper
    ink = normalise_ink(page)
    assert ink[4, 4] == 1.0 and ink[0, 0] == 0.0
    assert np.array_equal(normalise_ink(255 - page), ink)  # already light on dark


def test_area_resize_keeps_the_mean_and_the_shape():
    image = np.random.default_rng(0).random((37, 53))
    small = area_resize(image, 20, 14)
    assert small.shape == (20, 14)
    assert small.mean() == pytest.approx(image.mean())
    assert np.allclose(area_resize(np.ones((3, 5)), 20, 20), 1.0)


def test_thin_digit_keeps_its_aspect_and_is_centred():
    one = np.zeros((100, 100))
    one[10:90, 48:52] = 255  # a tall thin stroke: a "1"
    out = prepare_array(one).reshape(28, 28)
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 <= 2
    centre = (np.indices(out.shape) * out).sum(axis=(1, 2)) / out.sum()
    assert np.allclose(centre, 14, atol=0.6)


def test_transparent_and_sixteen_bit_images(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")
    from numrec.imageprep import prepare_image

    digit, _ = sample_test_digits(1)
    expected = prepare_array(digit[0])
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)  # black strokes on a transparent canvas
    rgba[..., 3] = digit[0]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert np.abs(prepare_image(tmp_path / "t.png").astype(int) - expected).max() <= 2
    wide = Image.fromarray(digit[0].astype(np.uint16) * 257)  # 16-bit grey
    wide.save(tmp_path / "w.png")
    assert np.abs(prepare_image(tmp_path / "w.png").astype(int) - expected).max() <= 2


# --- numrec-datasets ----------------------------------------------------------------------


def test_datasets_lists_plugins_options_and_cache(tmp_path):
    env = cli_env(tmp_path)
    cache = tmp_path / "numrec-data" / "mnist"
    cache.mkdir(parents=True)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x" * 1234)
    listing = run("numrec-datasets", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert {"numrec_mnist", "numrec_csv"} <= set(plugins)
    assert all(p["version"] for p in plugins.values())
    sets = {d["name"]: d for p in data["plugins"] for d in p["datasets"]}
    assert {"mnist", "mnist-sample", "fashion-mnist", "csv"} <= set(sets)
    assert sets["mnist"]["cached"]["bytes"] == 1234
    assert sets["fashion-mnist"]["cached"]["files"] == []
    flags = {o["name"]: o["flag"] for o in sets["csv"]["options"]}
    assert flags["label_column"] == "--label-column" and flags["seed"] == "--csv-seed"
    text = run("numrec-datasets", env=env)
    assert text.returncode == 0
    assert "plugin numrec_mnist" in text.stdout and "mnist-sample" in text.stdout
    assert "--data-dir" in text.stdout and "cached: 1 file(s)" in text.stdout
