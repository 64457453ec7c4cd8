"""The defaults of a run (``TrainConfig``, ``NetworkConfig``): augment="auto" augments
the data sets that declare an image shape and nothing else; the README's claim about
the default ``numrec-train`` (its accuracy on the real MNIST test set, its time) is
checked by test_cli_train's default-run test."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, run
from engine_helpers import blobs

import numrec
from numrec.config import AUTO_AUGMENT
from numrec.noise import make_augment
from numrec.training import Trainer


def images(n=64, side=6, seed=0):
    """A tiny image data set: ``blobs`` rows declared as side x side pictures."""
    ds = blobs(n=n, features=side * side, seed=seed)
    ds.meta["image_shape"] = [side, side]
    return ds


def test_auto_augments_declared_images_only():
    config = numrec.TrainConfig()
    assert config.augment == "auto"
    assert config.augment_for({"image_shape": [28, 28]}) == AUTO_AUGMENT
    assert config.augment_for({}) is None and config.augment_for(None) is None
    assert numrec.TrainConfig(augment="none").augment_for({"image_shape": [28, 28]}) is None
    assert numrec.TrainConfig(augment=" Auto ").augment == "auto"
    # stored in a checkpoint as "auto", read back the same
    assert numrec.TrainConfig.from_dict(config.to_dict()).augment == "auto"

    on_images = Trainer(numrec.Network([36, 8, 3]), images(), progress=False)
    assert on_images.augment == make_augment(AUTO_AUGMENT, (6, 6, 1))
    # a data set without an image shape: no augmentation, and no complaint either
    plain = Trainer(numrec.Network([12, 8, 3]), blobs(n=64), progress=False)
    assert plain.augment == make_augment(None, None)
    # asked for by name, augmentation still needs images
    with pytest.raises(ValueError, match="augment needs images"):
        Trainer(numrec.Network([12, 8, 3]), blobs(n=64), augment="shift=1", progress=False)


def test_auto_augmentation_changes_training_and_none_turns_it_off():
    def trained(**options):
        net = numrec.Network([36, 8, 3], seed=1)
        numrec.train(net, images(), epochs=1, batch_size=16, progress=False, **options)
        return net.theta.copy()

    auto, spelled = trained(), trained(augment=AUTO_AUGMENT)
    off = trained(augment=None)
    np.testing.assert_array_equal(auto, spelled)
    assert not np.array_equal(auto, off)


def test_the_command_line_takes_auto_and_none(tmp_path):
    env = cli_env(tmp_path)
    tiny = ("--dataset", "mnist-sample", "--hidden", "8", "--threads", "1", "--epochs", "1",
            "--json", "--quiet")  # fmt: skip
    for value in ("auto", "none"):
        result = run("numrec-train", *tiny, "--augment", value, env=env)
        assert result.returncode == 0, result.stderr
    help_text = run("numrec-train", "--help", env=env).stdout
    assert "auto (the default)" in " ".join(help_text.split())
    assert_usage_error(run("numrec-train", *tiny, "--augment", "autoo", env=env), "--augment")


def test_the_command_line_shows_the_network_default():
    from numrec.cli import train as cli_train

    assert cli_train.DEFAULT_HIDDEN == ",".join(map(str, numrec.NetworkConfig().hidden))
