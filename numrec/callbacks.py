"""Training callbacks: objects the trainer calls at its events, as Keras's callbacks.

Any object may be a callback; the trainer calls the methods it has:

- ``on_train_begin(config, network)``: before the first epoch (after compiling);
- ``on_epoch_begin(epoch, epochs, samples, done)``, ``on_batches(samples, loss,
  accuracy)``, ``on_interrupt()``: progress within an epoch (per chunk of batches);
- ``on_epoch_end(record, network)``: after each epoch's evaluation; return True to stop;
- ``on_train_end(history, network)``: after the last epoch (best weights restored).

Plugins get the training events too, as hooks (``numrec.hookspecs``). The progress bar
and ``numrec-train``'s metrics file are callbacks like any other.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def clean(value: Any) -> Any:
    """JSON-safe: inf and NaN (not valid JSON) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class ProgressBar:
    """A tqdm bar per epoch: training loss and accuracy as it goes, then the epoch's
    validation and test metrics."""

    def __init__(self) -> None:
        self.bar = None

    def on_epoch_begin(self, epoch: int, epochs: int, samples: int, done: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=samples,
            initial=done,
            desc=f"epoch {epoch + 1}/{epochs}",
            unit=" samples",
            unit_scale=True,
            leave=True,
            dynamic_ncols=True,
        )

    def on_batches(self, samples: int, loss: float, accuracy: float | None) -> None:
        self.bar.update(samples)
        if accuracy is None:  # multilabel and regression: no arg-max accuracy
            self.bar.set_postfix(loss=f"{loss:.4f}")
        else:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.3f}")

    def on_epoch_end(self, record: dict, network) -> None:
        if self.bar is None:
            return
        postfix = {"loss": f"{record['loss']:.4f}"}
        # the task's headline metric: accuracy, multilabel subset accuracy, regression R^2
        key, short = next(
            ((k, s) for k, s in (("subset_accuracy", "subset_acc"), ("r2", "r2"))
             if f"test_{k}" in record),
            ("accuracy", "acc"),
        )  # fmt: skip
        if record.get("val_loss") is not None:
            postfix["val_loss"] = _fmt(record["val_loss"], ".4f")
            postfix[f"val_{short}"] = _fmt(record.get(f"val_{key}"), ".4f")
        postfix[f"test_{short}"] = _fmt(record.get(f"test_{key}"), ".4f")
        postfix["train"] = f"{record['samples_per_s']:.3g}/s"  # training alone
        self.bar.set_postfix(postfix)
        self.bar.close()
        self.bar = None

    def on_interrupt(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class MetricsFile:
    """A JSON-lines file with one record per finished epoch, flushed as each epoch ends,
    so ``tail -f`` follows a run and a killed run keeps its finished epochs.

    The file is truncated, not appended to: ``start(history)`` (called by numrec-train,
    else by the first epoch's end) rewrites it with the epochs the run already carries (a
    resumed run's earlier ones), so it always holds the whole run and nothing else."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.started = False

    def start(self, history: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as f:
            for record in history:
                f.write(json.dumps(clean(record)) + "\n")
        self.started = True

    def on_epoch_end(self, record: dict, network) -> None:
        if not self.started:
            self.start([])
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean(record)) + "\n")
