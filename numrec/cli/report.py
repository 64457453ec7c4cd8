"""What a training run leaves behind besides the model: metrics, curves, the summary.

``MetricsFile`` writes one JSON object per epoch (JSON lines), flushed as each epoch ends,
so ``tail -f metrics.jsonl`` follows a run and a killed run keeps its finished epochs.
``plot_history`` draws loss and accuracy curves with matplotlib (the optional ``plot``
extra). ``summary`` condenses a history into the final report of ``numrec-train``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def clean(value: Any) -> Any:
    """JSON-safe: inf and NaN (not valid JSON) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


class MetricsFile:
    """A JSON-lines file holding one record per finished epoch."""

    def __init__(self, path: Path, history: list[dict]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a resumed run rewrites the epochs it carries, so the file is always complete
        with open(self.path, "w", encoding="utf-8") as f:
            for record in history:
                f.write(json.dumps(clean(record)) + "\n")

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean(record)) + "\n")


def plot_history(history: list[dict], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch, train and test, side by side, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window or need a display
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]

    def series(key):
        return [math.nan if h.get(key) is None else h[key] for h in history]

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    ax_loss.plot(epochs, series("loss"), marker="o", label="train")
    ax_loss.plot(epochs, series("test_loss"), marker="o", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [100 * a for a in series("train_accuracy")], marker="o", label="train")
    ax_acc.plot(epochs, [100 * a for a in series("test_accuracy")], marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def summary(history: list[dict], wall_seconds: float) -> dict:
    """Epochs, best and final test accuracy, training time and speed of a history."""
    tested = [h for h in history if h.get("test_accuracy") is not None]
    best = max(tested, key=lambda h: h["test_accuracy"], default=None)
    seconds = sum(h["seconds"] for h in history)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in history if h["seconds"] > 0)
    last = history[-1] if history else {}
    return {
        "epochs": len(history),
        "best_test_accuracy": best["test_accuracy"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "final_test_accuracy": last.get("test_accuracy"),
        "final_test_loss": last.get("test_loss"),
        "final_train_loss": last.get("loss"),
        "train_seconds": seconds,
        "wall_seconds": wall_seconds,
        "samples_per_s": samples / seconds if seconds > 0 else None,
        "target_reached": bool(last.get("target_reached", False)),
    }


def summary_lines(info: dict) -> list[str]:
    """The human-readable final report of numrec-train."""

    def pct(x):
        return "-" if x is None else f"{100 * x:.2f} %"

    rate = info["samples_per_s"]
    lines = [
        f"trained {info['epochs']} epoch(s) on {info['dataset']} in {info['wall_seconds']:.1f} s "
        f"(training {info['train_seconds']:.1f} s" + (f", {rate:,.0f} samples/s)" if rate else ")"),
    ]
    if info["best_test_accuracy"] is not None:
        lines.append(
            f"best test accuracy {pct(info['best_test_accuracy'])} (epoch {info['best_epoch']}); "
            f"final (the model's) {pct(info['final_test_accuracy'])}, "
            f"test loss {info['final_test_loss']:.4f}"
        )
    if info["target_reached"]:
        lines.append("stopped early: the target accuracy was reached")
    lines.append(
        f"model saved to {info['model']}"
        if info["model"]
        else "model not saved (add --save model.npz to keep it)"
    )
    for key, what in (("metrics", "metrics"), ("plot", "curves")):
        if info.get(key):
            lines.append(f"{what} written to {info[key]}")
    return lines
