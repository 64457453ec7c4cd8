"""The example outside plugin ``examples/numrec-spirals`` works as docs/plugins.md says.

It must be installed like any third-party plugin (tox does: ``pip install
examples/numrec-spirals``); this module installs nothing. Without it the tests skip, unless
``NUMREC_REQUIRE_EXAMPLE_PLUGIN`` is set (tox sets it to 1), when they fail: a how-to whose
example no longer installs, lists or trains must break the suite, not vanish from it.

The command-line tests run the real console scripts ``numrec-datasets`` and
``numrec-train`` in subprocesses, finding the plugin through its entry point exactly as a
user's shell would. The in-process tests register the module with ``temporary_plugin``.
The docs tests (which need no install) check that every excerpt docs/plugins.md quotes
from the example is still in its files and that its runnable snippet runs; the training
test runs the very ``numrec-train`` command the page shows.

    pip install -e examples/numrec-spirals && pytest tests/test_example_plugin.py
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numrec
from numrec.plugins import temporary_plugin

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins.md"
DISTRIBUTION = "numrec-spirals"
OPTION_NAMES = ["classes", "samples", "noise", "seed", "test_fraction"]
TIMEOUT = 300  # seconds; a cold numba compile of the training kernels takes about a minute
# 20 epochs at lr 0.1 reach 0.95-0.98 test accuracy over seeds 0-3 (0.96 for seed 0, the
# one run here, in about a second once compiled); 0.85 leaves room for other platforms.
MIN_ACCURACY = 0.85


def _distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        how = f"install it with: pip install examples/{DISTRIBUTION}"
        if os.environ.get("NUMREC_REQUIRE_EXAMPLE_PLUGIN", "") not in ("", "0"):
            pytest.fail(
                f"NUMREC_REQUIRE_EXAMPLE_PLUGIN is set, but the example plugin "
                f"{DISTRIBUTION} is not installed; {how}"
            )
        pytest.skip(f"the example plugin {DISTRIBUTION} is not installed; {how}")


@pytest.fixture(scope="module")
def dist() -> importlib.metadata.Distribution:
    """The installed example; the tests that use it skip (or fail) without it."""
    return _distribution()


@pytest.fixture(scope="module")
def spirals(dist):
    """The plugin module, imported only once the distribution is known to be there."""
    import numrec_spirals

    return numrec_spirals


@pytest.fixture(scope="module")
def entry_point(dist) -> importlib.metadata.EntryPoint:
    points = [ep for ep in dist.entry_points if ep.group == "numrec"]
    assert len(points) == 1, f"{DISTRIBUTION} should declare one numrec entry point: {points}"
    return points[0]


def test_declares_its_entry_point(entry_point):
    assert (entry_point.name, entry_point.value) == ("spirals", "numrec_spirals")


# --- through the console scripts ----------------------------------------------------------


def _env(tmp_path: Path, load_plugins: str = DISTRIBUTION) -> dict[str, str]:
    # The caller's NUMREC_* (tox sets NUMREC_LOAD_PLUGINS empty) must not leak in; the
    # distribution name is one of the two names NUMREC_LOAD_PLUGINS accepts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMREC_")}
    env.update(NUMREC_DATA=str(tmp_path / "numrec-data"), NUMREC_LOAD_PLUGINS=load_plugins)
    return env


def _run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The scripts installed with this Python, not whatever another PATH entry holds.
    path = Path(sys.executable).parent / script
    assert path.exists(), f"{path} is missing; is numrec installed in this environment?"
    return subprocess.run(
        [str(path), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def _listing(tmp_path: Path, load_plugins: str = DISTRIBUTION) -> dict:
    result = _run("numrec-datasets", "--json", env=_env(tmp_path, load_plugins))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _spirals_plugin(listing: dict) -> dict | None:
    owners = [p for p in listing["plugins"] if "spirals" in [d["name"] for d in p["datasets"]]]
    assert len(owners) <= 1, owners
    return owners[0] if owners else None


def test_numrec_datasets_lists_plugin_and_options(tmp_path, dist, entry_point):
    plugin = _spirals_plugin(_listing(tmp_path))
    assert plugin is not None, "numrec-datasets does not list the spirals data set"
    # the host names an outside plugin after its entry point and takes the version from
    # the distribution
    assert plugin["name"] == entry_point.name
    assert (plugin["kind"], plugin["version"], plugin["error"]) == (
        "outside",
        dist.version,
        None,
    )
    (dataset,) = plugin["datasets"]
    assert "spirals" in dataset["description"]
    options = {o["name"]: o for o in dataset["options"]}
    assert list(options) == OPTION_NAMES
    assert (options["classes"]["type"], options["classes"]["default"]) == ("integer", 3)
    assert (options["noise"]["type"], options["noise"]["default"]) == ("number", 0.2)
    assert options["classes"]["flag"] == "--classes"
    assert all(o["help"] for o in options.values())


@pytest.mark.parametrize("load_plugins", ["spirals", "numrec_spirals"])
def test_numrec_load_plugins_accepts_either_name(tmp_path, dist, load_plugins):
    # the entry-point name, or the distribution name spelt with an underscore
    assert _spirals_plugin(_listing(tmp_path, load_plugins)) is not None


def test_numrec_load_plugins_empty_loads_no_outside_plugin(tmp_path, dist):
    listing = _listing(tmp_path, load_plugins="")
    assert _spirals_plugin(listing) is None
    assert all(p["kind"] == "builtin" for p in listing["plugins"])


def test_numrec_train_learns_spirals(tmp_path, dist):
    # the very command docs/plugins.md tells readers to run, plus a parseable summary
    command = _docs_train_command()
    assert command[:3] == ["numrec-train", "--dataset", "spirals"], command
    result = _run(*command, "--seed", "0", "--quiet", "--json", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dataset"] == "spirals"
    # two features in (x, y), one output per arm
    sizes = summary["architecture"]["sizes"]
    assert (sizes[0], sizes[-1]) == (2, int(command[command.index("--classes") + 1]))
    assert summary["test_accuracy"] > MIN_ACCURACY, summary


@pytest.mark.parametrize(
    "args, words",
    [
        (["--classes", "1"], ["classes", "2 to 10", "got 1"]),  # checked by the loader
        (["--noise", "-0.5"], ["noise", "0 or more"]),  # checked by the loader
        (["--classes", "three"], ["classes", "integer", "'three'"]),  # checked by the host
    ],
)
def test_numrec_train_bad_option_is_one_line(tmp_path, dist, args, words):
    result = _run(
        "numrec-train", "--dataset", "spirals", *args, "--epochs", "1", env=_env(tmp_path)
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("numrec-train: error: ")
    for word in words:
        assert word in lines[0]


def test_docs_listing_is_what_numrec_datasets_prints(tmp_path, dist):
    result = _run("numrec-datasets", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    (shown,) = [lines for language, lines in _docs_blocks() if language == "text"]
    missing = [line for line in shown if line not in printed]
    assert not missing, f"docs/plugins.md shows lines numrec-datasets does not print: {missing}"


# --- in-process ---------------------------------------------------------------------------


@pytest.fixture
def host(numrec_plugin_host, spirals):
    """A plugin host with no installed outside plugin and the example registered by hand,
    as a plugin's own tests would do it."""
    with temporary_plugin(spirals, name="spirals"):
        yield numrec_plugin_host


def test_loader_shapes_dtype_labels(host):
    ds = numrec.load_dataset("spirals", classes=4, samples=100, test_fraction=0.25)
    assert (ds.train.X.shape, ds.test.X.shape) == ((300, 2), (100, 2))
    assert ds.train.X.dtype == ds.test.X.dtype == np.float32
    assert ds.class_names == ["arm 0", "arm 1", "arm 2", "arm 3"]
    # every arm is split the same way, so both parts are balanced
    assert np.bincount(ds.train.y).tolist() == [75] * 4
    assert np.bincount(ds.test.y).tolist() == [25] * 4
    # roughly standardised: the engine uses float features as they are
    X = np.concatenate([ds.train.X, ds.test.X])
    assert np.all(np.abs(X.mean(axis=0)) < 0.2)
    assert np.all((0.8 < X.std(axis=0)) & (X.std(axis=0) < 1.2))
    assert ds.meta["classes"] == 4


def test_loader_is_deterministic_for_a_seed(host):
    a = numrec.load_dataset("spirals", seed=7)
    b = numrec.load_dataset("spirals", seed=7)
    c = numrec.load_dataset("spirals", seed=8)
    for part in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, part).X, getattr(b, part).X)
        np.testing.assert_array_equal(getattr(a, part).y, getattr(b, part).y)
    assert not np.array_equal(a.train.X, c.train.X)


def test_options_are_converted_by_the_host(host):
    # the command line passes text; the host turns it into the declared types
    ds = numrec.load_dataset("spirals", classes="2", samples="40", noise="0")
    assert ds.num_classes == 2 and len(ds.train) + len(ds.test) == 80


@pytest.mark.parametrize(
    "options, words",
    [
        ({"classes": 1}, "classes must be 2 to 10"),
        ({"classes": 11}, "classes must be 2 to 10"),
        ({"noise": -1.0}, "noise must be 0 or more"),
        ({"noise": float("nan")}, "noise must be 0 or more"),
        ({"seed": -1}, "seed must be 0 or more"),
        ({"test_fraction": 0.0}, "test_fraction must lie between 0 and 1"),
        ({"samples": 2}, "leaves an arm without train or test points"),
    ],
)
def test_loader_rejects_bad_values(host, options, words):
    with pytest.raises(numrec.DatasetError, match=words):
        numrec.load_dataset("spirals", **options)


# --- docs/plugins.md --------------------------------------------------------------------


def _docs_blocks() -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced code block of docs/plugins.md, in order."""
    blocks: list[tuple[str, list[str]]] = []
    language, lines = "", None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if lines is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append((language, lines))
                lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def _docs_train_command() -> list[str]:
    for language, lines in _docs_blocks():
        for line in lines if language == "sh" else ():
            if line.startswith("numrec-train --dataset spirals"):
                return shlex.split(line, comments=True)
    pytest.fail("docs/plugins.md shows no `numrec-train --dataset spirals ...` command")


def _chunks(lines: list[str]) -> list[list[str]]:
    """The runs of lines between the ``...`` lines that mark an omission."""
    chunks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == "...":
            chunks.append([])
        else:
            chunks[-1].append(line)
    return [chunk for chunk in chunks if chunk]


def test_docs_excerpts_are_in_the_example():
    # a block whose first line is "# examples/<file>" quotes that file: each run of lines
    # between "..." must be there verbatim, and in the same order
    excerpts = [
        (lines[0][2:].strip(), lines[1:])
        for _, lines in _docs_blocks()
        if lines and lines[0].startswith("# examples/")
    ]
    assert len(excerpts) >= 5, "docs/plugins.md no longer quotes the example"
    for path, lines in excerpts:
        source = (ROOT / path).read_text(encoding="utf-8").splitlines()
        start = 0
        for chunk in _chunks(lines):
            found = [
                i
                for i in range(start, len(source) - len(chunk) + 1)
                if source[i : i + len(chunk)] == chunk
            ]
            assert found, (
                f"docs/plugins.md quotes {path}, which no longer holds (in this order):\n"
                + "\n".join(chunk)
            )
            start = found[0] + len(chunk)


def test_docs_python_snippets_run(numrec_plugin_host):
    snippets = [
        "\n".join(lines)
        for language, lines in _docs_blocks()
        if language == "python" and not (lines and lines[0].startswith("# examples/"))
    ]
    assert snippets, "docs/plugins.md has no runnable Python snippet"
    for code in snippets:
        exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_snippet"})
