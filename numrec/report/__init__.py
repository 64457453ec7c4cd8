"""See the model: a self-contained HTML report of a trained network on a data split.

    from numrec.report import write_report
    write_report("report.html", net, ds.test.X, ds.test.y, names=ds.class_names,
                 source="mnist test split", image_shape=(28, 28))

or ``numrec-eval MODEL --report report.html`` / ``numrec-train ... --report report.html``.
One HTML file: the run (data set, network, settings, numrec version, dates, training
time), learning curves with the best epoch, test metrics, per-class precision / recall /
F1, the confusion matrix as a heat map, and the most confident mistakes and examples of
each class (as images for image data sets, as rows for tables); for regression, predicted
vs true and the residuals. Figures are inline SVG, images ``data:`` PNGs; no script, and
nothing is fetched, so the file reads the same offline and as a mail attachment.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .document import render, sections, write_text
from .page import ReportInput

__all__ = ["ReportInput", "build_report", "render", "run_report", "sections", "write_report"]

TASKS = ("classification", "multilabel", "regression")


def task_of(net, meta: dict, dataset=None) -> str:
    """The model's task: as recorded (model file, data set, network), else from its output
    layer (linear: regression)."""
    task = meta.get("task") or getattr(dataset, "task", None) or getattr(net, "task", None)
    if task is None:
        task = "regression" if getattr(net, "output", "") == "linear" else "classification"
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: the report covers {', '.join(TASKS)}")
    return task


def report_input(
    net,
    X,
    y,
    *,
    names: list[str] | None = None,
    source: str = "",
    image_shape=None,
    model_path: str | os.PathLike | None = None,
    meta: dict | None = None,
    task: str | None = None,
    threads: int | None = None,
) -> ReportInput:
    """Run ``net`` on the rows ``X`` and gather what the report shows. ``meta`` defaults to
    the network's own (a loaded model file's: data set, training history, image shape)."""
    meta = dict(net.meta if meta is None else meta)
    task = task or task_of(net, meta)
    X = np.asarray(X)
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    if len(X) == 0:
        raise ValueError("a report needs at least one sample to evaluate")
    evaluated = loss = None
    if task == "classification":
        outputs = net.forward(X, threads)
        y = net.labels(np.asarray(y), len(X))
        loss = net.loss_of(outputs, y)
    else:
        # the task's own metrics (numrec.metrics: r2, rmse, mae; or subset accuracy, F1...)
        # and, for regression, the predictions in the targets' units (the network's target
        # scaling undone), which the scatter plots compare with the targets
        evaluated = net.evaluate(X, y, threads)
        loss = evaluated.get("loss")
        outputs = net.predict(X, threads) if task == "regression" else net.forward(X, threads)
        outputs = np.asarray(outputs, dtype=np.float64).reshape(len(X), -1)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        if y.shape != outputs.shape:
            raise ValueError(f"targets have shape {y.shape}; the network gives {outputs.shape}")
    k = outputs.shape[1]
    names = [str(c) for c in (names or net.class_names or [])]
    names += [str(i) for i in range(len(names), k)]
    shape = image_shape if image_shape is not None else meta.get("image_shape")
    if shape is not None and math.prod(shape) != X.shape[1]:
        shape = None  # not the model's images (other data): show the rows as a table
    path = None if model_path is None else Path(model_path)
    return ReportInput(
        outputs=outputs,
        targets=y,
        rows=X,
        names=names,
        source=source,
        task=task,
        architecture=net.config(),
        meta=meta,
        loss=loss,
        evaluated=evaluated,
        image_shape=tuple(int(s) for s in shape) if shape is not None else None,
        probabilities=getattr(net, "output", "") == "softmax",
        model_path=None if path is None else str(path),
        model_time=path.stat().st_mtime if path is not None and path.is_file() else None,
    )


def build_report(net, X, y, **options) -> str:
    """The report's HTML (see ``report_input`` for the options)."""
    return render(report_input(net, X, y, **options))


def write_report(path: str | os.PathLike, net, X, y, **options) -> Path:
    """Write the report of ``net`` on rows ``X`` with labels (or targets) ``y`` to ``path``
    (atomically); the path written."""
    return write_text(path, build_report(net, X, y, **options))


def run_report(
    path: str | os.PathLike,
    net,
    ds,
    trainer,
    settings: dict,
    model_path: str | os.PathLike | None = None,
) -> Path:
    """The report numrec-train writes as a run ends: ``net`` on ``ds``'s test split, with
    the trainer's history (what the saved model's metadata carries)."""
    from .. import __version__

    split = ds.test if len(ds.test) else ds.train
    part = "test" if len(ds.test) else "train (no test split)"
    # what a saved model's metadata would say: the network's own (e.g. its task), the data
    # set's columns and scaling (to show table rows as in the file), this run's history
    kept = ("task", "columns", "feature_columns", "mean", "std", "image_shape")
    meta = {
        **net.meta,
        **{key: ds.meta[key] for key in kept if key in ds.meta},
        "dataset": ds.name,
        "numrec_version": __version__,
        "trained": {
            "epochs": trainer.epoch,
            "history": trainer.history,
            "best_epoch": trainer.selection.best_epoch,
            "stop_reason": trainer.stop_reason,
            "settings": settings,
        },
    }
    source = f"{ds.name} {part} split ({len(split):,} samples)"
    return write_report(
        path,
        net,
        split.X,
        split.y,
        names=list(ds.class_names),
        source=source,
        model_path=model_path,
        meta=meta,
        task=task_of(net, meta, ds),
        threads=trainer.config.threads,
    )
