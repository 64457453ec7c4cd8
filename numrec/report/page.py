"""The report's sections about the whole split: the run, the learning curves, the test
metrics, the per-class table and the confusion matrix (``examples`` has the single rows).

Each section is a function of the ``ReportInput`` that returns its HTML (or "" when it has
nothing to show); ``document.render`` strings them together under a table of contents.
Every piece of text from a data set or a model file (class names, paths, settings) is
escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

import numpy as np

from . import metrics, svg

# the task's main metric per epoch, as the history names it: (key, axis label, scale)
MAIN_METRIC = {
    "classification": ("accuracy", "accuracy (%)", 100.0),
    "multilabel": ("subset_accuracy", "subset accuracy (%)", 100.0),
    "regression": ("r2", "R²", 1.0),
}

STOP_REASONS = {
    "epochs": "all epochs done",
    "patience": "stopped early: no improvement on validation (patience)",
    "target": "stopped early: the validation accuracy reached the target",
    "callback": "stopped by a callback",
}


@dataclass
class ReportInput:
    """Everything a report shows: a network's outputs on some rows, their truth, and what
    the model file says about how it was made."""

    outputs: np.ndarray  # (n, k) the network's output rows
    targets: np.ndarray  # (n,) int labels, or (n, k) target rows for regression
    rows: np.ndarray  # (n, features) the input rows (pixels for images)
    names: list[str]  # class names (classification) or output names (regression)
    source: str  # what was evaluated, e.g. "mnist test split (10,000 samples)"
    task: str = "classification"  # or "regression"
    architecture: dict = field(default_factory=dict)  # Network.config()
    meta: dict = field(default_factory=dict)  # the model file's metadata
    loss: float | None = None  # the network's own loss on these rows
    evaluated: dict | None = None  # Network.evaluate's metrics of the task (not classification)
    image_shape: tuple[int, ...] | None = None  # (H, W) or (H, W, C): show rows as images
    probabilities: bool = True  # outputs are probabilities (softmax), not just scores
    model_path: str | None = None
    model_time: float | None = None  # the model file's modification time (POSIX seconds)


def pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f} %"


def num(x, spec: str = ".4f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, spec) if isinstance(x, float) else escape(str(x))


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _trained(meta: dict) -> dict:
    trained = meta.get("trained")
    return trained if isinstance(trained, dict) else {}


def _history(meta: dict) -> list[dict]:
    history = _trained(meta).get("history")
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


def _dl(items: list[tuple[str, str]]) -> str:
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items)
        + "</dl>"
    )


# --- the run ------------------------------------------------------------------------------


def run_section(r: ReportInput) -> str:
    from .. import __version__

    trained, history = _trained(r.meta), _history(r.meta)
    arch = r.architecture
    sizes = "-".join(map(str, arch.get("sizes", [])))
    parts = [f"{arch[key]} {key}" for key in ("hidden", "output", "loss") if arch.get(key)]
    network = escape(sizes + (f" ({', '.join(parts)})" if parts else ""))
    settings = trained.get("settings") if isinstance(trained.get("settings"), dict) else {}
    dataset = r.meta.get("dataset") or settings.get("dataset") or "(not recorded)"
    options = settings.get("dataset_options") or {}
    items = [
        (
            "data set",
            escape(str(dataset))
            + "".join(
                f" <code>{escape(str(k))}={escape(str(v))}</code>" for k, v in options.items()
            ),
        ),
        ("evaluated on", escape(r.source)),
        ("network", network),
        ("model file", escape(r.model_path) if r.model_path else "(not saved)"),
    ]
    if r.model_time is not None:
        items.append(("model saved", _when(r.model_time)))
    items.append(("report written", _when(datetime.now(timezone.utc).timestamp())))
    version = r.meta.get("numrec_version")
    items.append(
        (
            "numrec",
            f"{escape(str(version))} (model), {__version__} (report)"
            if version and version != __version__
            else __version__,
        )
    )
    if history:
        seconds = sum(h.get("seconds") or 0.0 for h in history)
        reason = trained.get("stop_reason")
        best = trained.get("best_epoch")
        items += [
            ("training time", f"{seconds:.1f} s over {len(history)} epoch(s)"),
            ("best epoch", escape(str(best)) if best else "–"),
            ("stopped", escape(STOP_REASONS.get(reason, str(reason or "–")))),
        ]
    else:
        items.append(("training", "no training history in this model file"))
    body = _dl(items)
    config = settings.get("config")
    if isinstance(config, dict) and config:
        cells = "".join(
            f"<div><span>{escape(str(k))}</span> {escape(_setting(v))}</div>"
            for k, v in config.items()
        )
        body += f'<h3>Settings</h3><div class="settings">{cells}</div>'
    return body


def _setting(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


# --- learning curves ----------------------------------------------------------------------


def curves_section(r: ReportInput) -> str:
    history = _history(r.meta)
    if not history:
        return ""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    best = _trained(r.meta).get("best_epoch")
    mark = dict(mark_x=best, mark_label=f"best: epoch {best}") if best else {}

    def lines(keys: tuple[str, str, str], scale: float = 1.0) -> list[svg.Series]:
        out = []
        for (name, color, dash), key in zip(
            (
                ("train", svg.PALETTE[0], ""),
                ("validation", svg.PALETTE[1], "6 3"),
                ("test", svg.PALETTE[2], "2 3"),
            ),
            keys,
        ):
            ys = [_finite(h.get(key), scale) for h in history]
            out.append(svg.Series(name, epochs, ys, color, dash))
        return out

    charts = [
        svg.line_chart(
            lines(("loss", "val_loss", "test_loss")), "loss per epoch", "epoch", "loss", **mark
        )
    ]
    metric, label, scale = MAIN_METRIC.get(r.task, MAIN_METRIC["classification"])
    keys = (f"train_{metric}", f"val_{metric}", f"test_{metric}")
    if any(h.get(key) is not None for h in history for key in keys):
        charts.append(
            svg.line_chart(lines(keys, scale), f"{label} per epoch", "epoch", label, **mark)
        )
    note = (
        "<p class=note>Train loss (and accuracy) are running means over each epoch's "
        "mini-batches; validation and test are measured after the epoch. The best epoch "
        "is chosen on validation only.</p>"
    )
    return '<div class="charts">' + "".join(c for c in charts if c) + "</div>" + note


def _finite(value, scale: float) -> float | None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) * scale


# --- metrics ------------------------------------------------------------------------------


# the scalar metrics of Network.evaluate per task, in the order shown, with their names
TASK_METRICS = {
    "regression": (("r2", "R²"), ("rmse", "RMSE"), ("mae", "MAE"), ("loss", "loss")),
    "multilabel": (("subset_accuracy", "subset accuracy"), ("hamming_loss", "Hamming loss"),
                   ("micro_f1", "micro F1"), ("macro_f1", "macro F1"), ("loss", "loss")),
}  # fmt: skip


def _big(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="big">'
        + "".join(
            f"<div><b>{value}</b><span>{escape(label)}</span></div>" for value, label in items
        )
        + "</div>"
    )


def metrics_section(
    r: ReportInput, scores: metrics.Classification | None, errors: list[metrics.OutputError] | None
) -> str:
    body = ""
    if scores is not None:
        body += _big([(pct(scores.accuracy), "accuracy"), (num(scores.loss), "loss"),
                      (pct(scores.macro_f1), "mean F1 over classes"),
                      (f"{scores.n:,}", "samples")])  # fmt: skip
    elif r.evaluated:
        shown = [(num(r.evaluated.get(key)), label)
                 for key, label in TASK_METRICS.get(r.task, ()) if key in r.evaluated]  # fmt: skip
        body += _big([*shown, (f"{len(r.outputs):,}", "samples")])
    if errors is not None:
        rows = "".join(
            f"<tr><td>{escape(e.name)}</td><td>{num(e.mae, '.4g')}</td>"
            f"<td>{num(e.rmse, '.4g')}</td><td>{num(e.r2, '.4f')}</td></tr>"
            for e in errors
        )
        body += (
            "<table class=numbers><thead><tr><th>output</th><th>MAE</th><th>RMSE</th>"
            f"<th>R²</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    history = _history(r.meta)
    best = _trained(r.meta).get("best_epoch")
    if history:
        metric, label, scale = MAIN_METRIC.get(r.task, MAIN_METRIC["classification"])
        shown = pct if scale == 100.0 else num
        record = history[best - 1] if isinstance(best, int) and 0 < best <= len(history) else {}
        rows = []
        for name, h in ((f"best epoch ({best})", record), (f"last epoch ({len(history)})",
                                                             history[-1])):  # fmt: skip
            if h:
                rows.append(
                    f"<tr><td>{escape(name)}</td><td>{shown(h.get('val_' + metric))}</td>"
                    f"<td>{num(h.get('val_loss'))}</td><td>{shown(h.get('test_' + metric))}"
                    f"</td><td>{num(h.get('test_loss'))}</td></tr>"
                )
        label = label.removesuffix(" (%)")
        body += (
            "<h3>During training</h3><table class=numbers><thead><tr><th></th>"
            f"<th>validation {label}</th><th>validation loss</th><th>test {label}</th>"
            f"<th>test loss</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return body


def classes_section(scores: metrics.Classification) -> str:
    confusion = scores.confusion.copy()
    np.fill_diagonal(confusion, 0)
    rows = []
    for c, s in enumerate(scores.classes):
        j = int(confusion[c].argmax())
        mistaken = (
            f"{escape(scores.classes[j].name)} ({confusion[c, j]})" if confusion[c, j] else "–"
        )
        low = ' class="low"' if s.f1 is not None and s.support and s.f1 < 0.8 else ""
        rows.append(
            f"<tr{low}><td>{escape(s.name)}</td>{_bar(s.precision)}{_bar(s.recall)}"
            f"{_bar(s.f1)}<td>{s.support:,}</td><td>{mistaken}</td></tr>"
        )
    return (
        '<table class="classes"><thead><tr><th>class</th><th>precision</th><th>recall</th>'
        "<th>F1</th><th>support</th><th>most often mistaken for</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table><p class=note>Rows with an F1 below 80 % are "
        "tinted. Precision: of the samples predicted as the class, the share that are; "
        "recall: of the class's samples, the share found.</p>"
    )


def _bar(x: float | None) -> str:
    if x is None:
        return "<td>–</td>"
    return f'<td class="bar" style="--v:{100 * x:.1f}%">{pct(x, 1)}</td>'


def confusion_section(scores: metrics.Classification) -> str:
    names = [c.name for c in scores.classes]
    pairs = metrics.most_confused(scores.confusion, 10)
    items = "".join(
        f"<li>{escape(names[i])} taken for {escape(names[j])}: {n}×</li>" for i, j, n in pairs
    )
    listing = f"<h3>Most confused pairs</h3><ol class=pairs>{items}</ol>" if items else ""
    return (
        f'<div class="heat">{svg.heat_map(scores.confusion, names)}</div>'
        "<p class=note>Rows: true class; columns: predicted class. Blue: recognised, "
        "orange: confused (shade: share of the true class, square-root scale). Hover a "
        f"cell for its share.</p>{listing}"
    )
