"""Every usage or data error of the console scripts: exit status 2, one line on stderr that
says what was wrong, and no traceback (unless --debug asks for one)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, run

import numrec


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path)


@pytest.fixture
def not_a_model(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("these are my notes, not a model\n")
    return path


@pytest.fixture
def model(tmp_path):
    net = numrec.Network([784, 4, 10], seed=0)
    net.class_names = [str(d) for d in range(10)]
    return net.save(tmp_path / "model.npz", dataset="mnist-sample", image_shape=[28, 28])


TRAIN_ERRORS = [
    (["--epochs", "-3"], ["--epochs", "0 or more", "-3"]),
    (["--epochs", "ten"], ["--epochs", "whole number", "'ten'"]),
    (["--dataset", "nosuchdata"], ["unknown data set 'nosuchdata'", "mnist-sample"]),
    (["--dataset", "mnsit"], ["did you mean 'mnist'"]),
    (["--optimizer", "adagrad"], ["--optimizer", "'adagrad'", "momentum"]),
    (["--hidden", "64,x"], ["--hidden", "256,128"]),
    (["--lr", "-0.1"], ["--lr", "a positive number"]),
    (["--batch-size", "0"], ["--batch-size", "1 or more"]),
    (["--target-accuracy", "97"], ["--target-accuracy", "a number in (0, 1]"]),
    (["--save", "model.pkl"], ["--save", ".npz"]),
    (["--threads", "100000"], ["--threads", "at most"]),
    (["--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
    (["--train", "x.csv"], ["--train is an option of data set csv", "--dataset csv"]),
    (["--dataset", "csv", "--test-fraction", "lots"], ["test_fraction", "number", "'lots'"]),
    (["--dataset", "csv", "--header", "maybe", "--path", "x.csv"], ["header", "auto, yes, no"]),
    (["--dataset", "csv", "--path", "/no/such/file.csv"], ["/no/such/file.csv", "no such file"]),
    (["--dataset", "mnist", "--data-dir", "/no/such/dir"], ["/no/such/dir", "not a folder"]),
    (["--dataset", "mnist-sample", "--data-dir", "/tmp"], ["'mnist-sample' has no option"]),
    (["--resume", "/no/such/checkpoint.npz"], ["/no/such/checkpoint.npz", "no such file"]),
]


@pytest.mark.parametrize(("args", "fragments"), TRAIN_ERRORS, ids=lambda v: " ".join(v))
def test_train_usage_and_data_errors(env, args, fragments):
    assert_usage_error(run("numrec-train", *args, env=env), *fragments)


def test_train_resume_from_a_model_file_is_refused(env, model):
    assert_usage_error(run("numrec-train", "--resume", model, env=env),
                       str(model), "not a numrec checkpoint", "it is a model")  # fmt: skip


def test_train_resume_from_garbage(env, not_a_model):
    assert_usage_error(run("numrec-train", "--resume", not_a_model, env=env), "not a numrec")


def test_train_csv_with_bad_row_names_the_line(env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,a,b\n0,1,2\n1,3,oops\n")
    message = assert_usage_error(run("numrec-train", "--dataset", "csv", "--path", bad, env=env))
    assert str(bad) in message and "3" in message


def test_eval_errors(env, tmp_path, not_a_model, model):
    assert_usage_error(run("numrec-eval", tmp_path / "missing.npz", env=env),
                       "missing.npz", "no such file")  # fmt: skip
    assert_usage_error(run("numrec-eval", not_a_model, env=env), str(not_a_model), "not a numrec")
    assert_usage_error(run("numrec-eval", env=env), "MODEL")
    assert_usage_error(run("numrec-eval", model, "--dataset", "nope", env=env), "unknown data set")
    assert_usage_error(run("numrec-eval", model, "--images", "x.gz", env=env), "--labels")
    assert_usage_error(run("numrec-eval", model, "--threads", "0", env=env), "--threads")
    mismatched = numrec.Network([12, 4, 3], seed=0).save(tmp_path / "small.npz")
    assert_usage_error(run("numrec-eval", mismatched, "--dataset", "mnist-sample", env=env),
                       "12 inputs", "784 features")  # fmt: skip


def test_hostile_model_file_is_refused(env, tmp_path):
    # a pickled object array inside an .npz must never be unpickled
    evil = tmp_path / "evil.npz"
    np.savez(evil, theta=np.array([object()], dtype=object), meta=np.array("{}"))
    assert_usage_error(run("numrec-eval", evil, env=env), str(evil))


def test_predict_errors(env, tmp_path, model, not_a_model):
    pytest.importorskip("PIL", reason="image decoding needs the 'image' extra (Pillow)")
    assert_usage_error(run("numrec-predict", model, tmp_path / "nope.png", env=env),
                       "nope.png", "no such file")  # fmt: skip
    text = tmp_path / "digit.png"
    text.write_text("not really a PNG")
    assert_usage_error(run("numrec-predict", model, text, env=env), "digit.png", "not an image")
    assert_usage_error(run("numrec-predict", not_a_model, text, env=env), "not a numrec")
    assert_usage_error(run("numrec-predict", model, env=env), "IMAGE")
    assert_usage_error(run("numrec-predict", model, text, "--top", "0", env=env), "--top")
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    assert_usage_error(run("numrec-predict", model, blank, env=env), "blank.png", "no digit")
    flat = numrec.Network([12, 4, 3], seed=0).save(tmp_path / "flat.npz")
    Image.new("L", (40, 40), 0).save(tmp_path / "x.png")
    assert_usage_error(run("numrec-predict", flat, tmp_path / "x.png", env=env), "square image")


def test_missing_optional_dependencies_name_the_extra(env, model, tmp_path):
    # run the same entry points with Pillow / matplotlib hidden from the import system
    def without(module, entry, *args):
        code = (
            f"import sys; sys.modules[{module!r}] = None; "
            f"from numrec.cli.{entry} import main; sys.exit(main())"
        )
        return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    assert_usage_error(without("PIL", "predict", model, tmp_path / "a.png"),
                       "Pillow", "pip install 'numrec[image]'")  # fmt: skip
    assert_usage_error(without("matplotlib", "train", "--plot", tmp_path / "c.png"),
                       "matplotlib", "pip install 'numrec[plot]'")  # fmt: skip


def test_datasets_rejects_unknown_flags(env):
    assert_usage_error(run("numrec-datasets", "--bogus", env=env), "--bogus")


def test_debug_shows_the_traceback(env, not_a_model):
    result = run("numrec-eval", not_a_model, "--debug", env=env)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "DatasetError" in result.stderr
