"""numrec-train's --dropout, --input-dropout and --augment: their errors, and the README's
"Best accuracy" commands run in a shortened form so that they cannot rot."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from cli_helpers import assert_usage_error, cli_env, mnist_t10k, run, write_csv

import numrec

README = Path(__file__).resolve().parents[1] / "README.md"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_bad_dropout_and_augment_flags_say_what_they_take(tmp_path):
    env = cli_env(tmp_path)
    sample = ("--dataset", "mnist-sample", "--epochs", "1")
    assert_usage_error(
        run("numrec-train", *sample, "--augment", "rotate=400", env=env),
        "--augment: rotate must be degrees between 0 and 180, got '400'",
    )
    assert_usage_error(
        run("numrec-train", *sample, "--augment", "shear=2", env=env),
        "--augment: unknown augmentation 'shear'", "shift, rotate, scale",
    )  # fmt: skip
    assert_usage_error(
        run("numrec-train", *sample, "--dropout", "0.2,1.5", env=env),
        "--dropout: must be rates, each in [0, 1), got '0.2,1.5'",
    )
    assert_usage_error(
        run("numrec-train", *sample, "--hidden", "32", "--dropout", "0.2,0.5", env=env),
        "dropout has 2 rates but the network has 1 hidden layer(s)",
    )
    data = write_csv(tmp_path / "rows.csv", 60)
    assert_usage_error(
        run("numrec-train", "--dataset", "csv", "--path", data, "--augment", "shift=1", env=env),
        "augment needs images", "declares no image shape",
    )  # fmt: skip


def readme_command(marker: str) -> list[str]:
    """The numrec-train command of the README's "Best accuracy" line holding ``marker``."""
    text = README.read_text()
    section = text[text.index("## Best accuracy") :]
    for line in section.splitlines():
        line = line.strip()
        if line.startswith("numrec-train ") and marker in line:
            return shlex.split(line)[1:]
    raise AssertionError(f"no numrec-train command with {marker!r} in README's Best accuracy")


def shortened(words: list[str], epochs: int) -> list[str]:
    """The command with fewer epochs (and no paths to write)."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("--epochs", "--save", "--metrics", "--plot"):
            skip = True
            continue
        out.append(word)
    return [*out, "--epochs", str(epochs)]


def train_json(words: list[str], tmp_path: Path, model: Path) -> dict:
    result = run("numrec-train", *words, "--save", model, "--json", "--quiet",
                 env=cli_env(tmp_path), cwd=tmp_path, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_the_readme_mnist_recipe_runs_shortened(tmp_path):
    """The MNIST recipe (the bundled 8,000 digits) for a few epochs: it trains with its
    dropout and augmentation and already generalises to the real MNIST test set."""
    X, y = mnist_t10k()
    words = readme_command("mnist-sample")
    assert "--augment" in words and "--dropout" in words
    model = tmp_path / "digits.npz"
    summary = train_json(shortened(words, 5), tmp_path, model)
    accuracy = numrec.Network.load(model).evaluate(X, y)["accuracy"]
    print(f"MNIST recipe, 5 epochs: {100 * accuracy:.2f} % on the real MNIST test set, "
          f"{summary['train_seconds']:.0f} s")  # fmt: skip
    # (the whole recipe: 98.57 %; its first 5 of 150 epochs gave 95.05 % on the sample's test)
    assert accuracy >= 0.94


@pytest.mark.slow
def test_the_readme_fashion_recipe_runs_shortened(tmp_path):
    if not FASHION.is_dir():
        pytest.skip(f"Fashion-MNIST is not at {FASHION} (apt-get install dataset-fashion-mnist)")
    words = readme_command("fashion-mnist")
    assert "--augment" in words and "--dropout" in words
    summary = train_json(shortened(words, 2), tmp_path, tmp_path / "fashion.npz")
    print(f"Fashion-MNIST recipe, 2 epochs: {100 * summary['test_accuracy']:.2f} %, "
          f"{summary['train_seconds']:.0f} s")  # fmt: skip
    # (the whole recipe: 90.30 %; its first 2 epochs of 45 gave 84-86 %)
    assert summary["test_accuracy"] >= 0.83
