"""The report's sections about single rows: the most confident mistakes and examples of
each class (images for image data sets, else table rows), and for regression predicted
against true values and the residuals."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from . import metrics, svg
from .page import ReportInput, pct
from .png import as_pixels, data_uri

MISTAKES_SHOWN = 40
TABLE_ROWS_SHOWN = 20
FEATURES_SHOWN = 12
SIZE = {"width": 340, "height": 320}  # three regression charts side by side
SCATTER_POINTS = 2000  # a sample of the rows beyond this: the SVG stays small


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


def feature_columns(meta: dict, n_features: int) -> list[str]:
    """The features' names: the file's column names where the data set kept them (a CSV
    file's header: ``columns`` and the indices of the ``feature_columns``), else x1, x2..."""
    columns, picked = meta.get("columns"), meta.get("feature_columns")
    if isinstance(columns, list) and isinstance(picked, list) and len(picked) == n_features:
        if all(isinstance(j, int) and 0 <= j < len(columns) for j in picked):
            return [str(columns[j]) for j in picked]
    return [f"x{j + 1}" for j in range(n_features)]


def as_in_file(meta: dict, rows: np.ndarray) -> np.ndarray:
    """Rows as the file had them: a standardised data set's scaling (``mean``, ``std``)
    undone, so a reader sees the values they know."""
    mean, std = meta.get("mean"), meta.get("std")
    try:
        mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    except (TypeError, ValueError):
        return rows
    if mean.shape != (rows.shape[1],) or std.shape != mean.shape:
        return rows
    return rows * std + mean


def _table_rows(r: ReportInput, scores: metrics.Classification, rows: np.ndarray) -> str:
    y = np.asarray(r.targets)
    names = [c.name for c in scores.classes]
    shown = min(FEATURES_SHOWN, r.rows.shape[1])
    more = r.rows.shape[1] - shown
    columns = feature_columns(r.meta, r.rows.shape[1])[:shown]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    head += f"<th>… {more} more</th>" if more else ""
    values = as_in_file(r.meta, r.rows[rows])[:, :shown]
    body = []
    for i, row in zip(rows, values):
        right = scores.predicted[i] == y[i]
        cells = "".join(f"<td>{_cell(v)}</td>" for v in row)
        body.append(
            f'<tr class="{"right" if right else "wrong"}"><td>{i}</td>'
            f"<td>{escape(names[y[i]])}</td><td>{escape(names[scores.predicted[i]])}</td>"
            f"<td>{_confidence(r, scores.confidence[i])}</td>{cells}"
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
