"""Make docs/report.png: a screenshot of a real report, taken in headless Chromium.

    python scripts/report_screenshot.py                  # train on mnist-sample, then shoot
    python scripts/report_screenshot.py --model m.npz --dataset mnist --data-dir DIR
                                    # a model of your own; other flags go to numrec-eval

It trains a small model on the bundled mnist-sample (real MNIST digits, no download),
writes its report with ``numrec-eval --report`` into a temp folder, opens it in Chromium
(Debian's ``chromium``, driven by Playwright: ``apt-get install chromium`` and
``pip install playwright``) and saves the page down to the most confident mistakes as a
PNG for the README. Nothing is fetched: the browser context is offline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "report.png"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("report_screenshot: Chromium is not installed (apt-get install chromium)")


def make_model() -> Path:
    from numrec.cli import train

    model = Path("mnist-sample.npz")  # relative: the report shows the name, not a temp path
    code = train.main(["--dataset", "mnist-sample", "--epochs", "6", "--save", str(model),
                       "--quiet"])  # fmt: skip
    if code:
        sys.exit(f"report_screenshot: numrec-train failed ({code})")
    return model


def shoot(report: Path, out: Path, width: int, height: int) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("report_screenshot: needs Playwright (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium())
        context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
        page = context.new_page()
        page.goto(report.resolve().as_uri(), wait_until="load")
        # from the top down to the end of the mistakes: the run, the curves, the metrics,
        # the per-class table, the heat map and the most confident mistakes
        bottom = page.evaluate("document.querySelector('#mistakes')"
                               ".getBoundingClientRect().bottom + window.scrollY")  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": bottom})  # fmt: skip
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model file (default: train one)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG (default: {OUT})")
    parser.add_argument("--width", type=int, default=1100, help="window width in px")
    args, eval_flags = parser.parse_known_args(argv)
    from numrec.cli import evaluate

    out = args.out.resolve()
    model = args.model.resolve() if args.model else None
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            model = model or make_model()
            with contextlib.redirect_stdout(io.StringIO()):  # numrec-eval's text report
                code = evaluate.main([str(model), *eval_flags, "--report", "report.html"])
            if code:
                sys.exit("report_screenshot: numrec-eval failed")
            shoot(Path("report.html"), out, args.width, 900)
        finally:
            os.chdir(here)
    print(f"screenshot written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
