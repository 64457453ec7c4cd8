"""The report's HTML: one page of sections, every figure inline, no script, no fetch.

Each section is a function of the ``ReportInput`` that returns its HTML (or "" when it has
nothing to show); ``render`` strings them together under a table of contents. Every piece
of text from a data set or a model file (class names, paths, settings) is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

import numpy as np

from . import metrics, svg
from .png import as_pixels, data_uri

MISTAKES_SHOWN = 40
TABLE_ROWS_SHOWN = 20
FEATURES_SHOWN = 12
SIZE = {"width": 340, "height": 320}  # three regression charts side by side
SCATTER_POINTS = 2000  # a sample of the rows beyond this: the SVG stays small

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
    if any(
        h.get("val_accuracy") is not None or h.get("train_accuracy") is not None for h in history
    ):
        charts.append(
            svg.line_chart(
                lines(("train_accuracy", "val_accuracy", "test_accuracy"), 100.0),
                "accuracy per epoch",
                "epoch",
                "accuracy (%)",
                **mark,
            )
        )
    note = (
        "<p class=note>Train loss and accuracy are the running means over each epoch's "
        "mini-batches; validation and test are measured after the epoch. The best epoch "
        "is chosen on validation only.</p>"
    )
    return '<div class="charts">' + "".join(c for c in charts if c) + "</div>" + note


def _finite(value, scale: float) -> float | None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) * scale


# --- metrics ------------------------------------------------------------------------------


def metrics_section(
    r: ReportInput, scores: metrics.Classification | None, errors: list[metrics.OutputError] | None
) -> str:
    body = ""
    if scores is not None:
        body += (
            '<div class="big">'
            f"<div><b>{pct(scores.accuracy)}</b><span>accuracy</span></div>"
            f"<div><b>{num(scores.loss)}</b><span>loss</span></div>"
            f"<div><b>{pct(scores.macro_f1)}</b><span>mean F1 over classes</span></div>"
            f"<div><b>{scores.n:,}</b><span>samples</span></div></div>"
        )
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
        if r.loss is not None:
            body += f"<p>loss {num(r.loss)} on {len(r.outputs):,} samples</p>"
    history = _history(r.meta)
    best = _trained(r.meta).get("best_epoch")
    if history:
        record = history[best - 1] if isinstance(best, int) and 0 < best <= len(history) else {}
        last = history[-1]
        rows = []
        for label, h in ((f"best epoch ({best})", record), (f"last epoch ({len(history)})", last)):
            if h:
                rows.append(
                    f"<tr><td>{escape(label)}</td><td>{pct(h.get('val_accuracy'))}</td>"
                    f"<td>{num(h.get('val_loss'))}</td><td>{pct(h.get('test_accuracy'))}"
                    f"</td><td>{num(h.get('test_loss'))}</td></tr>"
                )
        body += (
            "<h3>During training</h3><table class=numbers><thead><tr><th></th>"
            "<th>validation accuracy</th><th>validation loss</th><th>test accuracy</th>"
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


# --- examples: images or table rows -------------------------------------------------------


def _thumb(r: ReportInput, row: int, caption: str, right: bool, title: str, size: int = 84) -> str:
    """One image in a frame (green: right, red: wrong), drawn about ``size`` px wide."""
    shape = tuple(r.image_shape)
    pixels = as_pixels(r.rows[row], shape)
    height, width = shape[0], shape[1]
    zoom = max(1, min(3, size // max(height, width)))
    return (
        f'<figure class="{"right" if right else "wrong"}" title="{escape(title)}">'
        f'<img src="{data_uri(pixels)}" width="{width * zoom}" height="{height * zoom}" '
        f'alt="{escape(title)}"><figcaption>{caption}</figcaption></figure>'
    )


def _confidence(r: ReportInput, value: float) -> str:
    if not r.probabilities:
        return f"{float(value):.3f}"
    # rounded down: a mistake made with probability 0.9996 is not shown as "100.0 %"
    return f"{math.floor(1000 * float(value)) / 10:.1f} %"


def mistakes_section(r: ReportInput, scores: metrics.Classification) -> str:
    y = np.asarray(r.targets)
    wrong = metrics.confident_mistakes(
        scores, y, MISTAKES_SHOWN if r.image_shape else TABLE_ROWS_SHOWN
    )
    names = [c.name for c in scores.classes]
    what = "probability" if r.probabilities else "output"
    if not len(wrong):
        return "<p>No mistakes on these samples.</p>"
    intro = (
        f"<p>The {len(wrong)} mistakes made with the highest {what} (of "
        f"{int(np.sum(scores.predicted != y)):,}), most confident first.</p>"
    )
    if r.image_shape is None:
        return intro + _table_rows(r, scores, wrong)
    figures = []
    for i in wrong:
        t, p = names[y[i]], names[scores.predicted[i]]
        conf = _confidence(r, scores.confidence[i])
        caption = (
            f'<span class="t">{escape(t)}</span><br>→ <span class="p">{escape(p)}</span><br>{conf}'
        )
        figures.append(_thumb(r, i, caption, False, f"row {i}: true {t}, predicted {p} ({conf})"))
    return intro + '<div class="gallery">' + "".join(figures) + "</div>"


def examples_section(r: ReportInput, scores: metrics.Classification) -> str:
    y = np.asarray(r.targets)
    names = [c.name for c in scores.classes]
    k = len(names)
    if r.image_shape is None:
        per_class = max(1, min(3, 60 // max(k, 1)))
        picked = np.concatenate(metrics.examples_of_each_class(y, k, per_class))
        return f"<p>The first {per_class} row(s) of each class.</p>" + _table_rows(
            r, scores, np.sort(picked)
        )
    per_class = 8 if k <= 12 else 5
    blocks = []
    for c, rows in enumerate(metrics.examples_of_each_class(y, k, per_class)):
        figures = []
        for i in rows:
            p = names[scores.predicted[i]]
            right = scores.predicted[i] == c
            caption = "" if right else f'<span class="p">→ {escape(p)}</span>'
            title = f"row {i}: {names[c]}, predicted {p} ({_confidence(r, scores.confidence[i])})"
            figures.append(_thumb(r, i, caption, right, title, 56))
        recall = scores.classes[c].recall
        blocks.append(
            f'<div class="cls"><h4>{escape(names[c])} <small>{pct(recall, 1)} '
            f"found</small></h4>{''.join(figures)}</div>"
        )
    return (
        f"<p>The first {per_class} test samples of each class; a red frame marks a "
        "mistake, with the predicted class below.</p>"
        '<div class="per-class">' + "".join(blocks) + "</div>"
    )


def _table_rows(r: ReportInput, scores: metrics.Classification, rows: np.ndarray) -> str:
    y = np.asarray(r.targets)
    names = [c.name for c in scores.classes]
    shown = min(FEATURES_SHOWN, r.rows.shape[1])
    more = r.rows.shape[1] - shown
    head = "".join(f"<th>x{j + 1}</th>" for j in range(shown)) + (
        f"<th>… {more} more</th>" if more else ""
    )
    body = []
    for i in rows:
        right = scores.predicted[i] == y[i]
        values = "".join(f"<td>{_cell(v)}</td>" for v in r.rows[i, :shown])
        body.append(
            f'<tr class="{"right" if right else "wrong"}"><td>{i}</td>'
            f"<td>{escape(names[y[i]])}</td><td>{escape(names[scores.predicted[i]])}</td>"
            f"<td>{_confidence(r, scores.confidence[i])}</td>{values}"
            f"{'<td>…</td>' if more else ''}</tr>"
        )
    return (
        '<div class="wide"><table class="rows"><thead><tr><th>row</th><th>true</th>'
        f"<th>predicted</th><th>{'probability' if r.probabilities else 'output'}</th>{head}"
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


# --- regression ---------------------------------------------------------------------------


def regression_section(r: ReportInput) -> str:
    P = np.asarray(r.outputs, dtype=np.float64)
    T = np.asarray(r.targets, dtype=np.float64).reshape(P.shape)
    n = len(P)
    rows = np.arange(n)
    if n > SCATTER_POINTS:  # a fixed, even sample: the same report for the same model
        rows = np.linspace(0, n - 1, SCATTER_POINTS).round().astype(np.int64)
    parts = []
    for j in range(min(P.shape[1], 4)):
        name = r.names[j] if j < len(r.names) else f"output {j}"
        residual = P[:, j] - T[:, j]
        parts.append(
            '<div class="charts">'
            + svg.scatter(
                T[rows, j],
                P[rows, j],
                f"{name}: predicted vs true",
                "true",
                "predicted",
                diagonal=True,
                **SIZE,
            )
            + svg.scatter(
                P[rows, j],
                residual[rows],
                f"{name}: residuals",
                "predicted",
                "predicted − true",
                zero_line=True,
                **SIZE,
            )
            + svg.histogram(residual, f"{name}: residual distribution", "predicted − true", **SIZE)
            + "</div>"
        )
    sampled = f" ({len(rows):,} of {n:,} samples shown)" if len(rows) < n else ""
    more = f"<p>The first 4 of {P.shape[1]} outputs are drawn.</p>" if P.shape[1] > 4 else ""
    return f"<p>Points on the dashed line are exact{sampled}.</p>" + "".join(parts) + more
