"""The HTML report (numrec.report; numrec-eval / numrec-train --report).

Fast tests read the HTML itself: its numbers against numrec-eval's own (separately
computed) confusion matrix and per-class scores, a page that can fetch nothing, the PNGs
against Pillow's decoder, the CLI flags. The slow tests open reports in headless Chromium
(Debian's ``chromium`` driven by Playwright) and check what a reader would see: no console
error, no network request, every section, every image decoded, a page that is not blank
and, for 26 and 47 classes, no sideways scrolling.

Playwright rather than Selenium: it reports console messages, page errors and every
request as events out of the box (Selenium needs chromium-driver plus CDP logging for the
same), drives the system Chromium through ``executable_path`` with no browser download,
and takes full-page screenshots in one call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import CLOSED_PORT, MNIST_T10K, mnist_t10k, write_csv, write_idx_digits

import numrec
from numrec.report import ReportInput, build_report, render, write_report
from numrec.report.png import png_bytes

IMAGE_SECTIONS = ["run", "curves", "metrics", "classes", "confusion", "mistakes", "examples"]
FASHION = Path("/usr/share/datasets/fashion-mnist")
INSTALL = "apt-get install chromium && pip install playwright"


# --- small real models --------------------------------------------------------------------


def digits_dataset(tmp_path: Path, train: int = 600, test: int = 300) -> numrec.Dataset:
    folder = write_idx_digits(tmp_path / "digits", train, test)
    return numrec.load_dataset("mnist", data_dir=folder, progress=False)


def trained(ds, hidden: int = 16, epochs: int = 2) -> numrec.Network:
    net = numrec.Network([ds.n_features, hidden, ds.num_classes], seed=0)
    # the settings these reports were written for (the defaults before augment="auto" and
    # batch 64): a model that predicts every class, so every per-class number exists
    history = numrec.train(net, ds, epochs=epochs, batch_size=32, augment=None, progress=False)
    net.class_names = list(ds.class_names)
    best = max(h["epoch"] for h in history if h["best"])
    settings = {"dataset": ds.name, "config": {"epochs": epochs}}
    run = {"history": history, "best_epoch": best, "stop_reason": "epochs", "settings": settings}
    net.meta.update(dataset=ds.name, image_shape=ds.meta.get("image_shape"), trained=run)
    return net


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    ds = digits_dataset(tmp_path_factory.mktemp("digits"))
    return ds, trained(ds)


class Page(HTMLParser):
    """What the report's HTML holds: tags, section ids, URLs, heat-map cell tooltips."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []
        self.urls: list[str] = []
        self.titles: list[str] = []
        self.text: list[str] = []
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs["id"])
        self.urls += [attrs[a] for a in ("src", "href", "action", "poster") if a in attrs]
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.titles.append(data)

    def confusion(self, names: list[str]) -> np.ndarray:
        """The heat map read back from its cells' tooltips (a cell not drawn is empty)."""
        index = {n: i for i, n in enumerate(names)}
        counts = np.zeros((len(names), len(names)), dtype=np.int64)
        for title in self.titles:
            m = re.fullmatch(r"true (.+), predicted (.+): (\d+) \(.*\)", title)
            if m:
                counts[index[m[1]], index[m[2]]] = int(m[3])
        return counts


# --- fast: the HTML itself ------------------------------------------------------------------


def test_numbers_agree_with_numrec_eval(digits):
    from numrec.cli.evaluate import evaluate

    ds, net = digits
    html = build_report(net, ds.test.X, ds.test.y, source="digits test")
    page = Page(html)
    expected = evaluate(net, ds.test.X, ds.test.y, list(ds.class_names))
    assert np.array_equal(page.confusion(list(ds.class_names)), np.array(expected["confusion"]))
    text = " ".join(page.text)
    assert f"{100 * expected['accuracy']:.2f} %" in text
    assert f"{expected['loss']:.4f}" in text
    for c in expected["classes"]:  # the per-class table, rounded as shown
        row = f"{100 * c['precision']:.1f} % {100 * c['recall']:.1f} % {100 * c['f1']:.1f} %"
        assert row in re.sub(r"\s+", " ", " ".join(page.text)), (c, row)
    assert page.sections == IMAGE_SECTIONS
    # the gallery: one image per shown mistake and 8 per class, all PNG data URIs
    wrong = int(np.sum(net.predict(ds.test.X) != ds.test.y))
    images = [u for u in page.urls if u.startswith("data:image/png;base64,")]
    assert len(images) == min(wrong, 40) + 8 * 10


def test_page_can_fetch_nothing(digits):
    ds, net = digits
    net = net.copy()
    names = ["<b>zero</b>", 'one "1"', "two & three", *map(str, range(3, 10))]
    html = build_report(net, ds.test.X, ds.test.y, names=names, source="<script>x</script>")
    page = Page(html)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert all(u.startswith(("data:", "#")) for u in page.urls), page.urls
    # the only http in the page: the SVG namespace names (never fetched)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in html  # a Content-Security-Policy forbids any fetch
    assert "<b>zero</b>" not in html and "&lt;b&gt;zero&lt;/b&gt;" in html
    assert "<script>x</script>" not in html
    assert page.confusion(names).sum() == len(ds.test)  # escaped names read back


@pytest.mark.parametrize("k", [10, 26, 47, 62, 100])
def test_heat_map_fits_a_page(k):
    from numrec.report.svg import heat_map

    rng = np.random.default_rng(k)
    counts = np.diag(rng.integers(300, 400, k)) + rng.poisson(0.3, (k, k))
    names = [f"class {c}" for c in range(k)]
    svg = heat_map(counts, names)
    width = float(re.search(r'width="(\d+)"', svg)[1])
    assert width <= 1070, (k, width)  # the page's column at 1120 px, less its padding
    counts_drawn = re.findall(r'text-anchor="middle">(\d+)</text>', svg)
    if k <= 62:  # every non-empty cell shows its count while digits stay legible
        assert len(counts_drawn) == np.count_nonzero(counts)
    assert svg.count("<title>") == np.count_nonzero(counts | np.eye(k, dtype=np.int64))


def test_png_decodes_with_pillow():
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")
    import io

    rng = np.random.default_rng(0)
    for shape in [(28, 28), (5, 7, 3), (4, 3, 4), (1, 1)]:
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        image = Image.open(io.BytesIO(png_bytes(pixels)))
        assert np.array_equal(np.asarray(image), pixels), shape
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="at least one pixel"):
        png_bytes(np.zeros((0, 3), np.uint8))


def test_tables_show_rows_not_images(tmp_path):
    path = write_csv(tmp_path / "t.csv", 300, features=14)
    ds = numrec.load_dataset("csv", path=path, progress=False)
    net = trained(ds, hidden=8, epochs=2)
    page = Page(build_report(net, ds.test.X, ds.test.y, source="csv test"))
    assert page.sections == IMAGE_SECTIONS
    assert "img" not in page.tags
    text = " ".join(page.text)
    assert "Rows of each class" in text and "… 2 more" in text  # 12 of 14 features shown


def test_table_rows_as_in_the_file(tmp_path):
    from numrec.report.examples import feature_columns

    path = write_csv(tmp_path / "t.csv", 200, features=5)
    ds = numrec.load_dataset("csv", path=path, scale="standardize", progress=False)
    net = trained(ds, hidden=8, epochs=1)
    net.meta.update(mean=ds.meta["mean"].tolist(), std=ds.meta["std"].tolist())
    page = Page(build_report(net, ds.test.X, ds.test.y))
    cells = re.sub(r"\s+", " ", " ".join(page.text))
    # the first example row: the integers of the file, not the standardised values
    lines = path.read_text().splitlines()[1:]
    row = int(np.flatnonzero(ds.test.y == ds.test.y.min())[0])
    wanted = next(v.split(",")[1:] for v in lines if _values(v) == _rounded(ds, row))
    assert " ".join(wanted) in cells
    meta = {"columns": ["label", "height", "width"], "feature_columns": [1, 2]}
    assert feature_columns(meta, 2) == ["height", "width"]
    assert feature_columns(meta, 3) == ["x1", "x2", "x3"]  # not this data's columns
    assert feature_columns({}, 2) == ["x1", "x2"]


def _values(line: str) -> list[int]:
    return [int(v) for v in line.split(",")[1:]]


def _rounded(ds, row: int) -> list[int]:
    mean, std = np.asarray(ds.meta["mean"]), np.asarray(ds.meta["std"])
    return [int(round(v)) for v in ds.test.X[row] * std + mean]


def test_regression_section():
    targets = np.array([[1.0], [2.0], [3.0], [4.0]])
    outputs = np.array([[1.0], [2.0], [3.0], [5.0]])
    report = ReportInput(outputs=outputs, targets=targets, rows=np.zeros((4, 2), np.float32),
                         names=["price"], source="four rows", task="regression",
                         architecture={"sizes": [2, 1]}, probabilities=False)  # fmt: skip
    html = render(report)
    page = Page(html)
    assert page.sections == ["run", "metrics", "regression"]
    cells = re.sub(r"\s+", " ", " ".join(page.text))
    # by hand: MAE 1/4, RMSE sqrt(1/4), R^2 = 1 - 1 / 5
    assert "price 0.25 0.5 0.8000" in cells
    assert html.count('class="dot"') == 2 * 4  # predicted-vs-true and residual points


def test_without_history_or_test_split(digits):
    ds, net = digits
    bare = numrec.Network(net.sizes, seed=1)  # no class names, no meta
    page = Page(build_report(bare, ds.test.X[:50], ds.test.y[:50]))
    assert "curves" not in page.sections  # nothing to draw
    assert "no training history in this model file" in " ".join(page.text)
    assert "img" not in page.tags  # no image shape known: rows as a table
    with pytest.raises(ValueError, match="at least one sample"):
        build_report(bare, ds.test.X[:0], ds.test.y[:0])


def test_write_is_atomic(digits, tmp_path):
    ds, net = digits
    path = write_report(tmp_path / "out" / "r.html", net, ds.test.X, ds.test.y)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.html"]  # no temp file left
    with pytest.raises(IsADirectoryError, match="is a folder; expected a file name"):
        write_report(tmp_path, net, ds.test.X, ds.test.y)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """In-process console scripts with an empty cache and no way to the internet."""
    monkeypatch.setenv("NUMREC_DATA", str(tmp_path / "numrec-data"))
    monkeypatch.setenv("NUMREC_LOAD_PLUGINS", "")
    for name in ("NUMREC_MIRROR", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, CLOSED_PORT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_eval_and_train_write_reports(offline, capsys):
    from numrec.cli import evaluate, train

    folder = write_idx_digits(offline / "digits", 500, 200)
    model, report = offline / "m.npz", offline / "train.html"
    code = train.main(["--dataset", "mnist", "--data-dir", str(folder), "--epochs", "2",
                       "--hidden", "8", "--save", str(model), "--report", str(report)])  # fmt: skip
    assert code == 0
    assert f"report written to {report}" in capsys.readouterr().err
    page = Page(report.read_text())
    assert page.sections == IMAGE_SECTIONS
    text = " ".join(page.text)
    assert "best: epoch" in text and str(model) in text and "--data-dir" not in text
    assert "data_dir=" in text  # the data set's options, as the run recorded them

    again = offline / "eval.html"
    argv = [str(model), "--dataset", "mnist", "--data-dir", str(folder), "--part", "train"]
    assert evaluate.main([*argv, "--report", str(again)]) == 0
    assert f"report written to {again}" in capsys.readouterr().out
    page = Page(again.read_text())
    assert page.sections == IMAGE_SECTIONS
    assert "mnist train split (500 samples)" in " ".join(page.text)

    assert evaluate.main([*argv, "--report", "r.txt"]) == 2
    assert "--report: 'r.txt' must end in .html or .htm" in capsys.readouterr().err
    (offline / "folder.html").mkdir()
    assert evaluate.main([*argv, "--report", str(offline / "folder.html")]) == 2
    assert "folder.html: is a folder" in capsys.readouterr().err


def test_resume_command_names_the_report(tmp_path):
    from numrec.cli.train import build_parser, resume_command

    parser, _ = build_parser("mnist")
    args = parser.parse_args(["--report", str(tmp_path / "r.html")])
    assert f"--report {tmp_path / 'r.html'}" in resume_command(tmp_path / "c.npz", args)


# --- in a real browser --------------------------------------------------------------------------


def _required() -> bool:
    """Whether a missing browser fails rather than skips: in CI (CI=true), where asked
    (NUMREC_REQUIRE_BROWSER=1), and in a strict tox run (tox.ini hands the tests
    TOX_SKIP_MISSING_INTERPRETERS as NUMREC_SKIP_MISSING: CI sets it to false)."""
    return (
        os.environ.get("CI") == "true"
        or os.environ.get("NUMREC_REQUIRE_BROWSER") == "1"
        or os.environ.get("NUMREC_SKIP_MISSING", "").lower() == "false"
    )


@pytest.mark.parametrize(
    "env, required",
    [({}, False), ({"NUMREC_SKIP_MISSING": "true"}, False),
     ({"NUMREC_SKIP_MISSING": "false"}, True), ({"NUMREC_REQUIRE_BROWSER": "1"}, True),
     ({"CI": "true"}, True)],
)  # fmt: skip
def test_a_missing_browser_fails_only_where_the_run_is_strict(monkeypatch, env, required):
    for key in ("CI", "NUMREC_REQUIRE_BROWSER", "NUMREC_SKIP_MISSING"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _required() is required


def test_tox_hands_its_strictness_to_the_tests():
    """tox.ini passes CI's one strict setting on (a newcomer's tox run skips the browser
    tests where Chromium is missing; CI's fails them)."""
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(Path(__file__).resolve().parents[1] / "tox.ini")
    setenv = dict(
        line.split("=", 1) for line in tox["testenv"]["setenv"].splitlines() if "=" in line
    )
    setenv = {k.strip(): v.strip() for k, v in setenv.items()}
    assert setenv["NUMREC_SKIP_MISSING"] == "{env:TOX_SKIP_MISSING_INTERPRETERS:true}"
    assert "NUMREC_REQUIRE_BROWSER" not in setenv


def _chromium() -> str | None:
    candidates = [os.environ.get("NUMREC_CHROMIUM"), "chromium", "chromium-browser"]
    for name in filter(None, candidates):
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's, not a download); skipped where it is missing,
    except where the run is strict (``_required``), where that is a failure."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = f"needs Playwright: {INSTALL}"
    executable = _chromium()
    if missing is None and executable is None:
        missing = f"needs Chromium (or NUMREC_CHROMIUM=PATH): {INSTALL}"
    if missing:
        if _required():
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable)
        yield chromium
        chromium.close()


@dataclass
class Seen:
    """What Chromium made of a report."""

    sections: list[str]
    errors: list[str]  # console errors and uncaught page errors
    requests: list[str]  # every request but the report file itself
    images: int
    broken: list[str]  # alt texts of images that did not decode
    svgs: int
    empty_svgs: int
    overflow: int  # px the page is wider than the window (sideways scrolling)
    shrunk: float  # the smallest figure's drawn width over its own (1: full size)
    screenshot: Path


def look(browser, report: Path, shots: Path, width: int = 1200) -> Seen:
    context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    url = report.resolve().as_uri()
    page.on("request", lambda r: requests.append(r.url) if r.url != url else None)
    page.goto(url, wait_until="load")
    facts = page.evaluate("""() => ({
        sections: [...document.querySelectorAll('section')].map(s => s.id),
        images: document.images.length,
        broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                    .map(i => i.alt),
        svgs: document.querySelectorAll('svg').length,
        empty: [...document.querySelectorAll('svg')].filter(s => {
            const r = s.getBoundingClientRect(); return r.width < 50 || r.height < 50; }).length,
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        shrunk: Math.min(...[...document.querySelectorAll('svg')].map(
            s => s.getBoundingClientRect().width / s.width.baseVal.value)),
    })""")
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / (report.stem + ".png")
    page.screenshot(path=str(shot), full_page=True)
    context.close()
    f = facts
    return Seen(f["sections"], errors, requests, f["images"], f["broken"], f["svgs"], f["empty"],
                f["overflow"], f["shrunk"], shot)  # fmt: skip


def assert_renders(seen: Seen, sections: list[str], images: bool = True) -> None:
    Image = pytest.importorskip("PIL.Image", reason="needs Pillow: pip install 'numrec[image]'")
    assert seen.errors == []
    assert seen.requests == []
    assert seen.sections == sections
    assert seen.broken == []
    assert (seen.images > 0) == images
    assert seen.svgs >= 1 and seen.empty_svgs == 0
    assert seen.overflow <= 0, f"the page scrolls sideways by {seen.overflow} px"
    assert seen.shrunk >= 0.99, f"a figure is drawn at {seen.shrunk:.0%} of its size"
    pixels = np.asarray(Image.open(seen.screenshot).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 900 and pixels.std() > 10  # a page with content, not blank
    assert np.mean(pixels < 128) > 0.002  # text, lines and images: dark pixels


@pytest.mark.slow
def test_browser_mnist_sample(browser, offline, capsys):
    from numrec.cli import train

    report = offline / "mnist-sample.html"
    code = train.main(["--dataset", "mnist-sample", "--epochs", "2", "--save",
                       str(offline / "m.npz"), "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    assert_renders(look(browser, report, offline / "shots"), IMAGE_SECTIONS)


@pytest.mark.slow
def test_browser_fashion_mnist(browser, offline):
    from numrec.cli import evaluate, train

    if not (FASHION / "t10k-labels-idx1-ubyte.gz").is_file():
        reason = f"Fashion-MNIST is not at {FASHION} (apt-get install dataset-fashion-mnist)"
        if _required():
            pytest.fail(reason)
        pytest.skip(reason)
    model = offline / "fashion.npz"
    code = train.main(["--dataset", "fashion-mnist", "--data-dir", str(FASHION), "--epochs",
                       "1", "--hidden", "64", "--save", str(model), "--quiet"])  # fmt: skip
    assert code == 0
    report = offline / "fashion.html"
    argv = [str(model), "--dataset", "fashion-mnist", "--data-dir", str(FASHION), "--json"]
    assert evaluate.main([*argv, "--report", str(report)]) == 0
    html = report.read_text()
    assert "Ankle boot" in html and "T-shirt/top" in html
    assert_renders(look(browser, report, offline / "shots"), IMAGE_SECTIONS)


def glyphs(names: list[str], per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """EMNIST-like 28x28 images: each class's character drawn with Pillow's font, shifted,
    rotated, some bold, on noise; learnable but with the confusions of real handwriting
    (O / 0 / D, 1 / I / l). EMNIST itself cannot be downloaded in the tests."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=22)
    y = np.repeat(np.arange(len(names)), per_class)
    X = np.empty((len(y), 784), np.uint8)
    for i, c in enumerate(y):
        image = Image.new("L", (28, 28))
        where = (14 + int(rng.integers(-3, 4)), 14 + int(rng.integers(-3, 4)))
        ImageDraw.Draw(image).text(where, names[c], fill=255, font=font, anchor="mm")
        if rng.random() < 0.5:
            image = image.filter(ImageFilter.MaxFilter(3))
        image = image.rotate(float(rng.uniform(-15, 15)))
        noisy = np.asarray(image, np.float64) + rng.normal(0, 30, (28, 28))
        X[i] = np.clip(noisy, 0, 255).reshape(-1)
    order = rng.permutation(len(y))
    return X[order], y[order]


@pytest.mark.slow
@pytest.mark.parametrize("split", ["balanced", "letters"])
def test_browser_many_classes(browser, tmp_path, split):
    """EMNIST balanced (47 classes) and letters (26) with their real class names: the heat
    map, the per-class table and the galleries stay on the page (no sideways scrolling)."""
    pytest.importorskip("PIL.ImageFont", reason="needs Pillow: pip install 'numrec[image]'")
    from numrec_emnist.resources import FALLBACK_NAMES

    names = list(FALLBACK_NAMES[split])
    assert len(names) == {"balanced": 47, "letters": 26}[split]
    (X, y), (X_test, y_test) = glyphs(names, 40, 0), glyphs(names, 20, 1)
    ds = numrec.Dataset(f"emnist-{split}-like", numrec.Split(X, y), numrec.Split(X_test, y_test),
                        names, meta={"image_shape": (28, 28)})  # fmt: skip
    net = trained(ds, hidden=48, epochs=3)
    report = write_report(tmp_path / f"{split}.html", net, X_test, y_test,
                          source=f"EMNIST-like {split} test")  # fmt: skip
    page = Page(report.read_text())
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (y_test, net.predict(X_test)), 1)
    assert np.array_equal(page.confusion(names), confusion)  # read back by the real names
    seen = look(browser, report, tmp_path / "shots")
    assert_renders(seen, IMAGE_SECTIONS)
    per_class = 5
    assert seen.images == per_class * len(names) + min(
        40, int(np.sum(net.predict(X_test) != y_test))
    )


@pytest.mark.slow
def test_browser_table_and_regression(browser, tmp_path):
    path = write_csv(tmp_path / "t.csv", 300, features=20)
    ds = numrec.load_dataset("csv", path=path, progress=False)
    report = write_report(tmp_path / "table.html", trained(ds, 8, 2), ds.test.X, ds.test.y)
    assert_renders(look(browser, report, tmp_path / "shots"), IMAGE_SECTIONS, images=False)

    rng = np.random.default_rng(0)
    targets = rng.normal(size=(500, 2))
    outputs = targets + rng.normal(scale=0.3, size=targets.shape)
    regression = ReportInput(outputs=outputs, targets=targets, rows=np.zeros((500, 3)),
                             names=["x", "y"], source="500 rows", task="regression",
                             architecture={"sizes": [3, 2]}, probabilities=False)  # fmt: skip
    report = tmp_path / "regression.html"
    report.write_text(render(regression), encoding="utf-8")
    seen = look(browser, report, tmp_path / "shots")
    assert_renders(seen, ["run", "metrics", "regression"], images=False)
    assert seen.svgs == 2 * 3  # per output: scatter, residuals, histogram


def write_regression_csv(path: Path, rows: int = 600) -> Path:
    """Two targets (price, area) of four features, a little noise: R^2 near 1 is learnable."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 4))
    price = 3 * X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 2] * X[:, 3] + rng.normal(0, 0.3, rows) + 50
    area = 10 * X[:, 1] + rng.normal(0, 1, rows) + 100
    lines = ["a,b,c,d,price,area"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{p:.3f},{a:.3f}" for row, p, a in zip(X, price, area)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_browser_csv_regression(browser, offline, capsys):
    """numrec-train and numrec-eval --report on a CSV regression (the tasks work: linear
    outputs, Network.evaluate's r2 / rmse / mae, predictions in the targets' units)."""
    from numrec.cli import evaluate, train

    if not hasattr(numrec.Network, "target_scaling"):
        pytest.skip("regression models need the tasks work (Network.target_scaling)")
    path = write_regression_csv(offline / "houses.csv")
    data = ["--dataset", "csv", "--path", str(path), "--target-columns", "price,area",
            "--scale", "standardize"]  # fmt: skip
    model, trained_report, report = offline / "r.npz", offline / "train.html", offline / "r.html"
    code = train.main([*data, "--epochs", "12", "--hidden", "32", "--save", str(model),
                       "--report", str(trained_report), "--quiet"])  # fmt: skip
    assert code == 0
    assert evaluate.main([str(model), *data, "--report", str(report), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    page = Page(report.read_text())
    cells = re.sub(r"\s+", " ", " ".join(page.text))
    for j, name in enumerate(["price", "area"]):  # the per-output table, as numrec-eval says
        mae, rmse, r2 = (scores[f"{m}_outputs"][j] for m in ("mae", "rmse", "r2"))
        assert f"{name} {mae:.4g} {rmse:.4g} {r2:.4f}" in cells
    assert scores["r2"] > 0.8
    sections = ["run", "curves", "metrics", "regression"]
    for html in (trained_report, report):
        seen = look(browser, html, offline / "shots" / html.stem)
        assert_renders(seen, sections, images=False)
        assert seen.svgs == 2 + 2 * 3  # two learning curves; per output three charts


@pytest.mark.slow
def test_default_model_on_real_mnist_is_small(offline, capsys):
    """The default numrec-train model (offline: mnist-sample) reported on the real MNIST
    test set: at most 2 MB (the seconds it took are printed, not asserted: a loaded
    machine is no fault of the report)."""
    from numrec.cli import train

    X, y = mnist_t10k()
    assert train.main(["--save", str(offline / "m.npz"), "--quiet"]) == 0
    assert "mnist-sample" in capsys.readouterr().err  # the offline fallback
    net = numrec.Network.load(offline / "m.npz")
    start = time.perf_counter()
    report = write_report(offline / "mnist.html", net, X, y, model_path=offline / "m.npz",
                          source=f"MNIST test set ({MNIST_T10K})")  # fmt: skip
    seconds = time.perf_counter() - start
    size = report.stat().st_size
    print(f"report of the default model on MNIST t10k: {size / 1e6:.2f} MB in {seconds:.2f} s")
    assert size <= 2_000_000
    assert Page(report.read_text()).sections == IMAGE_SECTIONS
