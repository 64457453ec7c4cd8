"""TrainConfig / NetworkConfig: one set of settings and defaults for the API and the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli_helpers import cli_env

import numrec
from numrec.cli import train as cli_train
from numrec.config import NetworkConfig, TrainConfig


def test_the_cli_and_the_api_train_bit_identical_weights(tmp_path, monkeypatch, capsys):
    """No drift: the command line's defaults are TrainConfig's and Network's."""
    for key, value in cli_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    model = tmp_path / "a.npz"
    argv = ["--dataset", "mnist-sample", "--epochs", "2", "--seed", "3", "--save", str(model)]
    assert cli_train.main([*argv, "--quiet"]) == 0
    net = numrec.Network([784, *NetworkConfig().hidden, 10], seed=3)
    numrec.train(net, numrec.load_dataset("mnist-sample"), epochs=2, seed=3, progress=False)
    np.testing.assert_array_equal(numrec.Network.load(model).theta, net.theta)


def test_every_setting_is_a_flag_with_its_default_and_help():
    parser, _ = cli_train.build_parser("mnist-sample")
    actions = {a.dest: a for a in parser._actions}
    for kind in (TrainConfig, NetworkConfig):
        for f in kind.settings():
            action = actions[f.name]
            assert "--" + f.name.replace("_", "-") in action.option_strings
            assert action.help and f.metadata["help"] in action.help or f.name == "hidden"
            default = action.default
            assert (tuple(default) if isinstance(default, list) else default) == f.default


def test_settings_are_checked_by_name():
    with pytest.raises(ValueError, match="batch_size must be a whole number, 1 or more, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="monitor must be one of val_loss, val_accuracy"):
        TrainConfig(monitor="test_accuracy")
    with pytest.raises(ValueError, match="min_lr must be between 0 and lr"):
        TrainConfig(lr=0.01, min_lr=0.1)
    with pytest.raises(ValueError, match="alpha must be a number"):
        NetworkConfig(alpha=10**400)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0  # type: ignore[misc]
    assert TrainConfig(epochs=3.0).epochs == 3 and isinstance(TrainConfig(lr=1).lr, float)


def test_stored_settings_round_trip_and_are_checked_like_flags():
    config = TrainConfig(epochs=4, patience=2, lr=0.1)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert NetworkConfig.from_dict(NetworkConfig(hidden=(8, 4)).to_dict()).hidden == (8, 4)
    for bad, message in [
        ({"lr": "x"}, "lr must be a positive number"),
        ({"momentum": None}, "momentum must be a number"),
        ({"threads": "2"}, "threads must be a whole number"),
        ({"surprise": 1}, "unknown setting"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(bad, "ck.npz: stored ")
    with pytest.raises(ValueError, match="settings must be a JSON object"):
        TrainConfig.from_dict([1, 2])


def test_which_settings_a_resume_may_change_is_field_metadata():
    resumable = {f.name for f in TrainConfig.settings() if f.metadata["resumable"]}
    assert resumable == {"epochs", "patience", "target_accuracy", "threads"}
    assert not any(f.metadata["resumable"] for f in NetworkConfig.settings())


def test_a_config_object_and_overrides():
    ds = numrec.load_dataset("mnist-sample")
    train = numrec.Split(ds.train.X[:500], ds.train.y[:500])
    test = numrec.Split(ds.test.X[:100], ds.test.y[:100])
    small = numrec.Dataset("s", train, test, ds.class_names)
    config = TrainConfig(epochs=1, batch_size=50, validation_fraction=0.2)
    a, b = numrec.Network([784, 8, 10], seed=1), numrec.Network([784, 8, 10], seed=1)
    numrec.train(a, small, config, progress=False)
    numrec.train(b, small, TrainConfig(), epochs=1, batch_size=50, validation_fraction=0.2,
                 progress=False)  # fmt: skip
    np.testing.assert_array_equal(a.theta, b.theta)


def test_concurrent_predicts_beside_training_match_serial_calls_and_restore_blas():
    """3 threads predicting while a 4th trains: each prediction equals the serial one, and
    the BLAS thread count afterwards is what it was before."""
    import threading

    from threadpoolctl import threadpool_info

    from numrec.runtime import _controller

    _controller()  # the BLAS numba calls is loaded, so threadpoolctl sees it
    before = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    ds = numrec.load_dataset("mnist-sample")
    model = numrec.Network([784, 32, 10], seed=0)
    X = ds.test.X[:1000]
    expected = model.forward(X)
    trainee = numrec.Network([784, 32, 10], seed=1)
    results, errors = [], []

    def predict():
        try:
            for _ in range(20):
                results.append(model.forward(X))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=predict) for _ in range(3)]
    trainer = threading.Thread(
        target=lambda: numrec.train(trainee, ds, epochs=2, progress=False, threads=1)
    )
    for t in [trainer, *threads]:
        t.start()
    for t in [trainer, *threads]:
        t.join()
    assert not errors and len(results) == 60
    for got in results:
        np.testing.assert_array_equal(got, expected)
    assert [(i["internal_api"], i["num_threads"]) for i in threadpool_info()] == before
