"""Every usage or data error of the console scripts: exit status 2, one line on stderr that
says what was wrong, and no traceback (unless --debug asks for one).

The cases run in this process through each script's ``main(argv)`` (a subprocess costs
about 0.3 s of imports each); a handful at the end run the real installed scripts, so
that the entry points, the exit status a shell sees and the missing-extra messages are
tested as a user meets them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, run, run_main

import numrec


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path)


@pytest.fixture
def cli(cli_inprocess, capsys):
    """``cli("numrec-train", *args)``: the script's main(argv) in this process."""
    return lambda name, *args: run_main(name, *args, capsys=capsys)


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
def test_train_usage_and_data_errors(cli, args, fragments):
    assert_usage_error(cli("numrec-train", *args), *fragments)


def test_train_resume_from_a_model_file_is_refused(cli, model):
    assert_usage_error(cli("numrec-train", "--resume", model),
                       str(model), "not a numrec checkpoint", "it is a model")  # fmt: skip


def test_train_resume_from_garbage(cli, not_a_model):
    assert_usage_error(cli("numrec-train", "--resume", not_a_model), "not a numrec")


def test_train_csv_with_bad_row_names_the_line(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,a,b\n0,1,2\n1,3,oops\n")
    message = assert_usage_error(cli("numrec-train", "--dataset", "csv", "--path", bad))
    assert str(bad) in message and "3" in message


def test_eval_errors(cli, tmp_path, not_a_model, model):
    assert_usage_error(cli("numrec-eval", tmp_path / "missing.npz"), "missing.npz", "no such file")
    assert_usage_error(cli("numrec-eval", not_a_model), str(not_a_model), "not a numrec")
    assert_usage_error(cli("numrec-eval"), "MODEL")
    assert_usage_error(cli("numrec-eval", model, "--dataset", "nope"), "unknown data set")
    assert_usage_error(cli("numrec-eval", model, "--images", "x.gz"), "--labels")
    assert_usage_error(cli("numrec-eval", model, "--threads", "0"), "--threads")
    mismatched = numrec.Network([12, 4, 3], seed=0).save(tmp_path / "small.npz")
    assert_usage_error(cli("numrec-eval", mismatched, "--dataset", "mnist-sample"),
                       "12 inputs", "784 features")  # fmt: skip


def test_hostile_model_file_is_refused(cli, tmp_path):
    # a pickled object array inside an .npz must never be unpickled
    evil = tmp_path / "evil.npz"
    np.savez(evil, theta=np.array([object()], dtype=object), meta=np.array("{}"))
    assert_usage_error(cli("numrec-eval", evil), str(evil))


def test_predict_errors(cli, tmp_path, model, not_a_model):
    pytest.importorskip(
        "PIL", reason="image decoding needs the 'image' extra: pip install 'numrec[image]'"
    )
    assert_usage_error(cli("numrec-predict", model, tmp_path / "nope.png"),
                       "nope.png", "no such file")  # fmt: skip
    text = tmp_path / "digit.png"
    text.write_text("not really a PNG")
    assert_usage_error(cli("numrec-predict", model, text), "digit.png", "not an image")
    assert_usage_error(cli("numrec-predict", not_a_model, text), "not a numrec")
    assert_usage_error(cli("numrec-predict", model), "IMAGE")
    assert_usage_error(cli("numrec-predict", model, text, "--top", "0"), "--top")
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    assert_usage_error(cli("numrec-predict", model, blank), "blank.png", "no digit")
    flat = numrec.Network([12, 4, 3], seed=0).save(tmp_path / "flat.npz")
    Image.new("L", (40, 40), 0).save(tmp_path / "x.png")
    assert_usage_error(cli("numrec-predict", flat, tmp_path / "x.png"), "square image")


def test_debug_shows_the_traceback_in_process(cli, not_a_model):
    with pytest.raises(numrec.DatasetError, match="not a numrec"):
        cli("numrec-eval", not_a_model, "--debug")


# --- the real console scripts, in subprocesses --------------------------------------------


def test_the_installed_scripts_exit_2_with_one_line(env, not_a_model):
    assert_usage_error(run("numrec-train", "--epochs", "-3", env=env), "--epochs", "0 or more")
    assert_usage_error(run("numrec-eval", not_a_model, env=env), str(not_a_model), "not a numrec")


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
