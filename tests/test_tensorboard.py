"""Training events: the hooks in numrec.hookspecs, the TensorBoard logger (read back with
TensorBoard's own reader), and the logger-plugin example of docs/plugins.md."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import numrec

pytest.importorskip("tensorboard", reason="needs TensorBoard: pip install 'numrec[tensorboard]'")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, metadata  # noqa: E402

from numrec.tensorboard import TensorBoardLogger, hparam_values, scalars  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


@dataclasses.dataclass
class StandInConfig:
    """The shape of numrec.TrainConfig the hooks promise: attributes and to_dict()."""

    epochs: int = 3
    batch_size: int = 64
    optimizer: str = "momentum"
    lr: float = 0.05
    patience: int | None = None
    dropout: tuple = ()
    augment: dict | None = dataclasses.field(default_factory=lambda: {"shift": 2, "rotate": 10})
    restore_best: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_config(**settings):
    """numrec.TrainConfig where it exists (the lead is adding it), else the stand-in."""
    try:
        return numrec.TrainConfig(**settings)
    except AttributeError:
        return StandInConfig(**settings)


def records(n: int) -> list[dict]:
    """Epoch records as the trainer makes them, with some values not measured (None)."""
    out = []
    for e in range(1, n + 1):
        out.append({"epoch": e, "loss": 1.0 / e, "train_accuracy": 0.5 + 0.1 * e,
                    "val_loss": 1.2 / e, "val_accuracy": 0.4 + 0.1 * e,
                    "test_accuracy": None if e == 2 else 0.45 + 0.1 * e,
                    "test_loss": None if e == 2 else 1.1 / e, "lr": 0.05 * 0.5 ** (e - 1),
                    "seconds": 0.25 * e, "samples_per_s": 8000.0 + e,
                    "target_reached": e == n})  # fmt: skip
    return out


def read_back(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def run_logger(log_dir: Path, history: list[dict], net, config) -> None:
    logger = TensorBoardLogger(log_dir)
    logger.on_train_begin(config, net)
    for record in history:
        logger.on_epoch_end(record, net)
    logger.on_train_end(history, net)


def test_every_epochs_scalars_are_read_back(tmp_path):
    net = numrec.Network([6, 5, 3], seed=0)
    history = records(4)
    run_logger(tmp_path / "run", history, net, make_config(epochs=4))
    acc = read_back(tmp_path / "run")
    numeric = ["loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy",
               "test_loss", "lr", "seconds", "samples_per_s"]  # fmt: skip
    assert sorted(acc.Tags()["scalars"]) == sorted(numeric)  # no "epoch", no flag
    for key in numeric:
        events = acc.Scalars(key)
        expected = [(r["epoch"], r[key]) for r in history if r[key] is not None]
        assert [e.step for e in events] == [step for step, _ in expected], key
        # TensorBoard keeps scalars as float32
        np.testing.assert_allclose([e.value for e in events], [v for _, v in expected],
                                   rtol=1e-6, err_msg=key)  # fmt: skip
    assert [e.step for e in acc.Scalars("test_accuracy")] == [1, 3, 4]  # epoch 2: None


def test_hyperparameters_and_run_status(tmp_path):
    net = numrec.Network([6, 5, 3], hidden="tanh", seed=0)
    config = make_config(epochs=2, lr=0.125, optimizer="adam")
    run_logger(tmp_path / "run", records(2), net, config)
    content = read_back(tmp_path / "run").PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    hp = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    assert hp["epochs"] == 2 and hp["lr"] == 0.125 and hp["optimizer"] == "adam"
    assert hp["network"] == "6-5-3" and hp["network.hidden"] == "tanh"
    # every setting of the config is there, nested ones as "outer.inner"
    settings = hparam_values(config.to_dict())
    assert set(settings) <= set(hp)
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS


def test_hparam_values_keep_one_type_per_setting():
    values = hparam_values(
        {"patience": None, "dropout": (0.2, 0.1), "augment": {"shift": 2}, "seed": 0,
         "restore_best": False, "monitor": "val_loss", "target_accuracy": float("inf")}
    )  # fmt: skip
    assert values == {"patience": "null", "dropout": "[0.2, 0.1]", "augment.shift": 2.0,
                      "seed": 0.0, "restore_best": False, "monitor": "val_loss",
                      "target_accuracy": "Infinity"}  # fmt: skip
    assert scalars({"epoch": 3, "loss": 0.5, "lr": np.float32(0.25), "x": None,
                    "flag": True, "name": "a"}) == {"loss": 0.5, "lr": 0.25}  # fmt: skip


def test_a_resumed_run_adds_to_the_same_log(tmp_path):
    # a resumed run begins again (a second event file); the reader joins the epochs
    net = numrec.Network([6, 5, 3], seed=0)
    history = records(4)
    run_logger(tmp_path / "run", history[:2], net, make_config(epochs=4))
    logger = TensorBoardLogger(tmp_path / "run")
    logger.on_train_begin(make_config(epochs=4), net)
    for record in history[2:]:
        logger.on_epoch_end(record, net)
    logger.on_train_end(history, net)
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 2
    assert [e.step for e in read_back(tmp_path / "run").Scalars("loss")] == [1, 2, 3, 4]


def test_bad_log_dir_and_missing_package(tmp_path, monkeypatch):
    file = tmp_path / "log.txt"
    file.write_text("")
    with pytest.raises(NotADirectoryError, match="log.txt: is a file"):
        TensorBoardLogger(file)
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    with pytest.raises(ImportError, match=r"pip install 'numrec\[tensorboard\]'"):
        TensorBoardLogger(tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


# --- the hooks ------------------------------------------------------------------------------


def test_training_hooks_are_declared(numrec_plugin_host):
    pm = numrec_plugin_host.get_plugin_manager()
    for name, args in (("train_begin", ("config", "network")),
                       ("epoch_end", ("record", "network")),
                       ("train_end", ("history", "network"))):  # fmt: skip
        caller = getattr(pm.hook, name)
        assert caller.spec is not None and tuple(caller.spec.argnames) == args
        assert "Called" in caller.spec.function.__doc__


def test_a_plugin_receives_the_events(numrec_plugin_host, tmp_path):
    """The trainer calls every registered plugin's training hooks: a logger needs no
    change to numrec. A failing plugin is reported by name and training goes on."""
    seen = []

    class Recorder:
        @numrec.hookimpl
        def train_begin(self, config):
            seen.append(("begin", config.epochs))

        @numrec.hookimpl
        def epoch_end(self, record, network):
            seen.append(("epoch", record["epoch"], network.sizes))

        @numrec.hookimpl
        def train_end(self, history):
            seen.append(("end", len(history)))

    class Broken:
        @numrec.hookimpl
        def epoch_end(self, record):
            raise RuntimeError("disk full")

    ds = numrec.load_dataset("mnist-sample")
    net = numrec.Network([784, 5, 10], seed=0)
    with numrec_plugin_host.temporary_plugin(Recorder(), name="recorder") as pm:
        pm.check_pending()  # every hookimpl matches a declared hook
        with numrec_plugin_host.temporary_plugin(Broken(), name="broken"):
            failed = "plugin 'broken' failed in its epoch_end"
            with pytest.warns(numrec_plugin_host.PluginWarning, match=failed):
                history = numrec.train(net, ds, epochs=2, progress=False)
    assert len(history) == 2
    assert seen == [("begin", 2), ("epoch", 1, (784, 5, 10)), ("epoch", 2, (784, 5, 10)),
                    ("end", 2)]  # fmt: skip


def docs_logger_example() -> str:
    """The Python block of docs/plugins.md that shows a logger plugin."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = [b.split("\n```", 1)[0] for b in text.split("```python\n")[1:]]
    found = [b for b in blocks if "def epoch_end" in b]
    assert len(found) == 1, "docs/plugins.md should show one logger plugin example"
    return found[0]


def test_docs_logger_plugin_example_runs(numrec_plugin_host):
    code = docs_logger_example()
    namespace = {"__name__": "docs_logger_example"}
    exec(compile(code, str(DOCS), "exec"), namespace)  # its own asserts check the file
    log = namespace["log"]
    lines = Path(log).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


# --- end to end: the trainer calls the callback; numrec-train --tensorboard ------------------


def test_train_with_the_logger_callback(tmp_path):
    ds = numrec.load_dataset("mnist-sample")
    net = numrec.Network([784, 16, 10], seed=0)
    history = numrec.train(net, ds, epochs=2, threads=1, progress=False,
                           callbacks=[TensorBoardLogger(tmp_path / "run")])  # fmt: skip
    acc = read_back(tmp_path / "run")
    for key in ("loss", "test_accuracy", "lr", "samples_per_s"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [r["epoch"] for r in history] == [1, 2]
        np.testing.assert_allclose([e.value for e in events], [r[key] for r in history],
                                   rtol=1e-6)  # fmt: skip


def test_numrec_train_tensorboard_flag(tmp_path, monkeypatch, capsys):
    from cli_helpers import cli_env

    from numrec.cli import train as cli_train

    for key, value in cli_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    argv = ["--dataset", "mnist-sample", "--hidden", "8", "--epochs", "2",
            "--tensorboard", str(tmp_path / "tb")]  # fmt: skip
    assert cli_train.main(argv) == 0
    acc = read_back(tmp_path / "tb")
    assert [e.step for e in acc.Scalars("val_loss")] == [1, 2]
    assert "TensorBoard events written to" in capsys.readouterr().out


# --- what TensorBoard itself shows ------------------------------------------------------------


@pytest.mark.slow
def test_tensorboard_server_shows_the_runs(tmp_path):
    # the real TensorBoard, on 127.0.0.1, serving two logged runs: the SCALARS data and the
    # HPARAMS tab's experiment (hyperparameters and metrics found in the event files)
    import re
    import subprocess
    import urllib.request

    net = numrec.Network([6, 5, 3], seed=0)
    history = records(3)
    run_logger(tmp_path / "runs" / "a", history, net, make_config(epochs=3, lr=0.05))
    run_logger(tmp_path / "runs" / "b", history, net, make_config(epochs=3, lr=0.1))
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "runs"),
         "--host", "127.0.0.1", "--port", "0", "--load_fast", "false"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url, said = None, []
        for line in server.stdout:  # it prints its address once it listens
            said.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "".join(said)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy

        def get(path: str, body: dict | None = None):
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}
            request = urllib.request.Request(url + path, data=data, headers=headers)
            with direct.open(request, timeout=60) as response:
                return json.loads(response.read())

        assert sorted(get("data/runs")) == ["a", "b"]
        loss = get("data/plugin/scalars/scalars?run=a&tag=loss")
        assert [(step, pytest.approx(value)) for _, step, value in loss] == [
            (r["epoch"], r["loss"]) for r in history
        ]
        experiment = get("data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = {h["name"]: h for h in experiment["hparamInfos"]}
        assert hparams["lr"]["domainInterval"] == {"minValue": 0.05, "maxValue": 0.1}
        assert hparams["network"]["domainDiscrete"] == ["6-5-3"]
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"loss", "val_accuracy", "test_accuracy", "lr"} <= metrics
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
