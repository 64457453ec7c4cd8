"""The report as one HTML document: the style sheet, the table of contents and the
sections in order, and an atomic write (a reader sees the old report or the new one)."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import numpy as np

from . import examples, metrics, page
from .page import ReportInput

# system fonts only: nothing is fetched, and the page reads the same offline and in mail
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 color:#1d2329;background:#fff;margin:0 auto;max-width:1120px;padding:12px 22px 40px}
h1{font-size:22px;margin:10px 0 2px}h2{font-size:18px;margin:0 0 8px;border-bottom:2px solid
 #dde3ea;padding-bottom:3px}h3{font-size:15px;margin:14px 0 6px}h4{margin:0 0 3px;font-size:13px}
.sub{color:#5b6670;margin:0 0 8px}nav{font-size:13px;margin:6px 0 16px;position:sticky;top:0;
 background:#fffe;padding:5px 0;border-bottom:1px solid #eee}nav a{margin-right:14px;
 color:#1f5aa6;text-decoration:none}section{margin:0 0 26px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.facts dt{color:#5b6670}.facts dd{margin:0}code{background:#f1f3f5;padding:0 3px;
 border-radius:3px;font-size:12px}.settings{display:grid;gap:1px 14px;font-size:12px;
 grid-template-columns:repeat(auto-fill,minmax(205px,1fr))}.settings span{color:#5b6670}
.charts{display:flex;flex-wrap:wrap;gap:10px}svg{max-width:100%;height:auto}
svg text{font-family:inherit;font-size:11px;fill:#222}svg .title{font-size:13px;
 font-weight:600;text-anchor:middle}svg .tick{fill:#555}svg .grid{stroke:#e6e9ed}
svg .axis{stroke:#888}svg .mark{stroke:#777;stroke-dasharray:5 4}svg .mark-label{fill:#444}
svg .dot{fill:#1f77b4;fill-opacity:.45}svg .bar{fill:#1f77b4;fill-opacity:.75}
svg .cell{stroke:#fff;stroke-width:1}.note{color:#5b6670;font-size:12px;margin:4px 0}
.big{display:flex;gap:28px;margin:4px 0 8px}.big div{display:flex;flex-direction:column}
.big b{font-size:24px}.big span{color:#5b6670;font-size:12px}
table{border-collapse:collapse;font-size:13px}th,td{padding:2px 10px;text-align:right}
th{border-bottom:1px solid #bbb;font-weight:600}td:first-child,th:first-child{text-align:left}
table.classes td:last-child,table.classes th:last-child{text-align:left}
tbody tr:nth-child(even){background:#f6f8fa}table.classes tr.low{background:#fdebd8}
td.bar{background:linear-gradient(90deg,#cfe0f3 var(--v),transparent var(--v))}
.heat{overflow-x:auto}.pairs{columns:2;font-size:13px;margin:0;padding-left:22px}
.gallery,.per-class{display:flex;flex-wrap:wrap;gap:8px}.cls{padding:4px 6px;
 border:1px solid #e3e7eb;border-radius:4px}.cls h4 small{color:#5b6670;font-weight:400}
figure{margin:0;display:inline-flex;flex-direction:column;align-items:center;
 vertical-align:top;font-size:11px;line-height:1.25;text-align:center}
figure img{image-rendering:pixelated;border:2px solid #4a9a4a;background:#000}
figure.wrong img{border-color:#d0342c}.gallery figure{width:92px}
.cls figure{width:min-content}figcaption{overflow-wrap:anywhere}.t{color:#2b6b2b}
.p{color:#b3261e;font-weight:600}.wide{overflow-x:auto}table.rows tr.wrong td:nth-child(3)
{color:#b3261e;font-weight:600}
@media print{nav{display:none}section{break-inside:avoid-page}}
"""


def sections(r: ReportInput) -> list[tuple[str, str, str]]:
    """(id, heading, HTML) of each section this report has, in page order."""
    run = ("run", "The run", page.run_section(r))
    curves = ("curves", "Learning curves", page.curves_section(r))
    if r.task == "regression":
        errors = metrics.regression(r.outputs, r.targets, r.names)
        out = [
            run,
            curves,
            ("metrics", "Test metrics", page.metrics_section(r, None, errors)),
            ("regression", "Predicted vs true", examples.regression_section(r)),
        ]
    elif r.task == "multilabel":  # the task's metrics; no per-label views yet
        out = [run, curves, ("metrics", "Test metrics", page.metrics_section(r, None, None))]
    else:
        y = np.asarray(r.targets)
        scores = metrics.classification(r.outputs, y, r.names, r.loss)
        rows = "Examples of each class" if r.image_shape else "Rows of each class"
        out = [
            run,
            curves,
            ("metrics", "Test metrics", page.metrics_section(r, scores, None)),
            ("classes", "Per-class precision, recall and F1", page.classes_section(scores)),
            ("confusion", "Confusion matrix", page.confusion_section(scores)),
            ("mistakes", "Most confident mistakes", examples.mistakes_section(r, scores)),
            ("examples", rows, examples.examples_section(r, scores)),
        ]
    return [s for s in out if s[2]]


def render(r: ReportInput) -> str:
    """The whole report as one HTML document."""
    parts = sections(r)
    dataset = r.meta.get("dataset") or "model"
    sizes = "-".join(map(str, r.architecture.get("sizes", [])))
    title = f"numrec report: {dataset}, network {sizes}"
    nav = "".join(f'<a href="#{sid}">{escape(heading)}</a>' for sid, heading, _ in parts)
    body = "".join(
        f'<section id="{sid}"><h2>{escape(heading)}</h2>{html}</section>'
        for sid, heading, html in parts
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # a page that can fetch nothing: no script, no remote image, font or style
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=sub>{escape(r.source)}</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through ``numrec.fileio``, like every file numrec
    writes: a crash never leaves half a report behind."""
    from ..fileio import write_bytes

    return write_bytes(path, text.encode("utf-8"))
