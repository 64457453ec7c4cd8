"""A checkpoint is data: ``numrec-train --resume`` checks every stored setting by the rule of
the flag it came from, and writes only where its own command line (or the checkpoint's own
path) says, whatever the checkpoint contains. (Hardening, item 2.)"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from cli_helpers import cli_env

import numrec
from numrec.cli import train as cli_train
from numrec.config import NetworkConfig, TrainConfig
from numrec.serialize import save_checkpoint
from numrec.training import Trainer


def make_checkpoint(tmp_path, **run_changes):
    """A real numrec-train checkpoint of a short run on mnist-sample, with ``run`` edited."""
    config = TrainConfig(epochs=2, batch_size=64)
    network = NetworkConfig(hidden=(8,))
    ds = numrec.load_dataset("mnist-sample")
    net = network.build(784, 10, seed=0)
    trainer = Trainer(net, ds, config, progress=False)
    run = {"dataset": "mnist-sample", "dataset_options": {}, "config": config.to_dict(),
           "network": network.to_dict()}  # fmt: skip
    for key, value in run_changes.items():
        target = run
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return save_checkpoint(tmp_path / "ck.npz", trainer, {"run": run, "numrec_train": True})


def resume(tmp_path, monkeypatch, capsys, *argv):
    for key, value in cli_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    code = cli_train.main(["--resume", str(tmp_path / "ck.npz"), "--quiet", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config.lr": "x"}, "stored lr must be a positive number, got 'x'"),
        ({"config.momentum": None}, "stored momentum must be a number in [0, 1)"),
        ({"config.threads": "2"}, "stored threads must be a whole number"),
        ({"network.alpha": 10**400}, "stored alpha must be a number"),
        ({"config.save": "/etc/passwd"}, "stored unknown setting(s): save"),
        ({"dataset": ["mnist"]}, "data set must be a name"),
        ({"dataset_options": {"path": {"x": 1}}}, "options must be plain values"),
    ],
)
def test_stored_values_are_checked_like_flags(tmp_path, monkeypatch, capsys, change, message):
    make_checkpoint(tmp_path, **change)
    code, err = resume(tmp_path, monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0] and "ck.npz" in lines[0]


def test_a_resume_writes_only_where_its_command_line_says(tmp_path, monkeypatch, capsys):
    make_checkpoint(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    code, err = resume(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    # no model file (none was named), no metrics: only the checkpoint itself may change
    assert {p.name for p in tmp_path.iterdir()} - before <= {"numrec-data"}
    model = tmp_path / "out.npz"
    code, err = resume(tmp_path, monkeypatch, capsys, "--save", str(model))
    assert code == 0, err
    assert model.is_file()
    assert numrec.Network.load(model).sizes == (784, 8, 10)


def test_old_or_foreign_checkpoints_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    path = make_checkpoint(tmp_path)
    with zipfile.ZipFile(path) as z:
        meta = json.loads(np.load(z.open("meta.npy")).item())
    assert meta["extra"]["numrec_train"] is True
    ds = numrec.load_dataset("mnist-sample")
    trainer = Trainer(numrec.Network([784, 8, 10]), ds, epochs=1, progress=False)
    save_checkpoint(tmp_path / "ck.npz", trainer, {"args": {"dataset": "mnist-sample"}})
    code, err = resume(tmp_path, monkeypatch, capsys)
    assert code == 2 and "not written by this numrec-train" in err
