"""A training callback that writes each epoch's metrics and the run's settings for TensorBoard.

    from numrec.tensorboard import TensorBoardLogger
    numrec.train(net, ds, epochs=10, callbacks=[TensorBoardLogger("runs/mnist-256")])
    # then: tensorboard --logdir runs

Per epoch (the step is the epoch number) one scalar for every number in the epoch's
record - "loss", "val_loss", "val_accuracy", "test_accuracy", "test_loss", "lr",
"samples_per_s", "seconds", ... - under the record's own key, so the charts carry the
names of ``numrec-train --metrics``' file. At the start, the training settings
(``config.to_dict()``) and the network's shape as hyperparameters, for TensorBoard's
HPARAMS tab, which puts runs of different settings side by side.

The writer is TensorBoard's own (``tensorboard.summary.writer``, the one PyTorch's
``torch.utils.tensorboard`` uses too), with the hparams plugin's protocol buffers: the
events are written by the package that reads them, without TensorFlow or PyTorch, and
the optional extra that brings it (``pip install 'numrec[tensorboard]'``) is the one
that is needed to look at the logs anyway.
"""

from __future__ import annotations

import json
import math
import os
import time
from numbers import Real
from pathlib import Path
from typing import Any

EXTRA = "tensorboard"
STEP_KEY = "epoch"  # the record's key that numbers the steps; not a chart of its own


def _require_tensorboard() -> None:
    try:
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
    except ImportError:
        raise ImportError(
            "the TensorBoard logger needs the tensorboard package, which is not installed; "
            f"install it with: pip install 'numrec[{EXTRA}]'"
        ) from None


def scalars(record: dict) -> dict[str, float]:
    """The numbers of an epoch's record, by key (None, text, flags and the epoch left out)."""
    return {
        key: float(value)
        for key, value in record.items()
        if key != STEP_KEY and isinstance(value, Real) and not isinstance(value, bool)
    }


def hparam_values(config: dict, network=None) -> dict[str, bool | float | str]:
    """Settings as hyperparameter values TensorBoard accepts: numbers, flags and text.

    Nested settings become "outer.inner" keys; lists and None become their JSON text, so
    that a setting keeps one type from run to run. The network adds "network" (its layer
    sizes, "784-256-10") and its activations, loss and initialisation.
    """
    values: dict[str, bool | float | str] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for inner, v in value.items():
                add(f"{key}.{inner}", v)
        elif isinstance(value, bool):
            values[key] = value
        elif isinstance(value, Real) and math.isfinite(float(value)):
            values[key] = float(value)
        elif isinstance(value, str):
            values[key] = value
        else:  # None, lists, tuples, paths, inf: as text
            values[key] = json.dumps(value, default=str)

    for key, value in config.items():
        add(str(key), value)
    if network is not None:
        arch = network.config()
        values.setdefault("network", "-".join(map(str, arch["sizes"])))
        for key in ("hidden", "alpha", "output", "loss", "init"):
            if key in arch:
                add(f"network.{key}", arch[key])
    return values


class TensorBoardLogger:
    """Writes a training run's events to a TensorBoard event file in ``log_dir``.

    A callback: pass it to ``numrec.train(..., callbacks=[...])`` (``numrec-train
    --tensorboard DIR`` makes one). Each run - a resumed one too - writes its own event
    file in ``log_dir``; give each run its own folder under a common ``--logdir`` to
    compare runs.
    """

    def __init__(self, log_dir: str | os.PathLike, flush_secs: float = 10.0) -> None:
        _require_tensorboard()
        self.log_dir = Path(log_dir).expanduser()
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise NotADirectoryError(
                f"{self.log_dir}: is a file; the TensorBoard log needs a folder"
            )
        self.flush_secs = flush_secs
        self._writer = None

    # -- the callback's three methods (the trainer calls them) ------------------------------
    def on_train_begin(self, config, network) -> None:
        """Record the settings and the network's shape as the run's hyperparameters."""
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb

        settings = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        self._add(hparams_pb(hparam_values(settings, network), start_time_secs=time.time()), 0)
        self.flush()

    def on_epoch_end(self, record: dict, network=None) -> None:
        """One scalar per number of the record, at step ``record["epoch"]``."""
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary()
        for key, value in scalars(record).items():
            summary.value.add(tag=key, simple_value=value)
        self._add(summary, int(record[STEP_KEY]))
        self.flush()  # a live TensorBoard shows the epoch at once

    def on_train_end(self, history: list[dict], network=None) -> None:
        """Mark the run finished (for the HPARAMS tab) and close the event file."""
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS,
                                             end_time_secs=time.time())  # fmt: skip
        summary = summary_pb2.Summary()
        summary.value.add(
            tag=metadata.SESSION_END_INFO_TAG,
            metadata=metadata.create_summary_metadata(
                plugin_data_pb2.HParamsPluginData(session_end_info=end)
            ),
            tensor=metadata.NULL_TENSOR,
        )
        last = int(history[-1][STEP_KEY]) if history else 0
        self._add(summary, last)
        self.close()

    # -- the event file ------------------------------------------------------------------------
    def _add(self, summary, step: int) -> None:
        from tensorboard.compat.proto import event_pb2

        if self._writer is None:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = EventFileWriter(str(self.log_dir), flush_secs=self.flush_secs)
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write what is pending and close the event file (a later event opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
