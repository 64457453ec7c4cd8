"""What a training run leaves behind besides the model: metrics, curves, the summary.

The per-epoch metrics file is a training callback (``numrec.callbacks.MetricsFile``).
``plot_history`` draws loss and accuracy curves with matplotlib (the optional ``plot``
extra). ``summary`` condenses a history into the final report of ``numrec-train``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..callbacks import clean  # noqa: F401 - numrec-train's --json output uses it

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


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
    ax_loss.plot(epochs, series("val_loss"), marker="o", label="validation")
    ax_loss.plot(epochs, series("test_loss"), marker="o", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [100 * a for a in series("train_accuracy")], marker="o", label="train")
    ax_acc.plot(epochs, [100 * a for a in series("val_accuracy")], marker="o", label="validation")
    ax_acc.plot(epochs, [100 * a for a in series("test_accuracy")], marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    from ..fileio import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as out:  # like every file numrec writes: whole or not at all
        fig.savefig(out, dpi=100, format=path.suffix.lstrip(".").lower())
    plt.close(fig)
    return path


STOP_REASONS = {
    "epochs": "all epochs done",
    "patience": "stopped early: no improvement for {patience} epochs (patience)",
    "target": "stopped early: the validation accuracy reached the target {target}",
    "callback": "stopped by a callback",
}


def summary(trainer, wall_seconds: float) -> dict:
    """The run condensed: the best (validation) epoch, the final test metrics (of the
    model as saved: the best epoch's weights with restore_best), time, speed, why it
    stopped."""
    history, config = trainer.history, trainer.config
    best = trainer.selection.best_epoch
    best_record = history[best - 1] if best else {}
    seconds = sum(h["seconds"] for h in history)
    samples = sum(h["samples_per_s"] * h["seconds"] for h in history if h["seconds"] > 0)
    model_epoch = best if best and config.restore_best else len(history)
    model_record = history[model_epoch - 1] if model_epoch else {}
    return {
        "epochs": len(history),
        "best_epoch": best,
        "monitor": config.monitor,
        "best_val_loss": best_record.get("val_loss"),
        "best_val_accuracy": best_record.get("val_accuracy"),
        "model_epoch": model_epoch,
        "test_accuracy": model_record.get("test_accuracy"),
        # every test metric of the task (multilabel, regression: no accuracy)
        "test_metrics": {k[5:]: v for k, v in model_record.items() if k.startswith("test_")},
        "test_loss": model_record.get("test_loss"),
        "final_train_loss": history[-1]["loss"] if history else None,
        "train_seconds": seconds,
        "wall_seconds": wall_seconds,
        "samples_per_s": samples / seconds if seconds > 0 else None,
        "stop_reason": trainer.stop_reason,
        "stopped": STOP_REASONS.get(trainer.stop_reason, "").format(
            patience=config.patience, target=config.target_accuracy
        ),
    }


def summary_lines(info: dict) -> list[str]:
    """The human-readable final report of numrec-train."""

    def pct(x):
        return "-" if x is None else f"{100 * x:.2f} %"

    rate = info["samples_per_s"]
    classified = "accuracy" in info.get("test_metrics", {"accuracy": None})
    lines = [
        f"trained {info['epochs']} epoch(s) on {info['dataset']} in {info['wall_seconds']:.1f} s "
        f"(training {info['train_seconds']:.1f} s"
        + (f", {rate:,.0f} samples/s)" if rate else ")")
        + f"; {info['stopped']}",
    ]
    if info["best_epoch"] is not None:
        lines.append(
            f"best epoch {info['best_epoch']} by {info['monitor']}: validation loss "
            f"{info['best_val_loss']:.4f}"
            + (f", accuracy {pct(info['best_val_accuracy'])}" if classified else "")
        )
    if info["test_accuracy"] is not None:
        lines.append(
            f"test (the model, epoch {info['model_epoch']}): accuracy "
            f"{pct(info['test_accuracy'])}, loss {info['test_loss']:.4f}"
        )
    elif info.get("test_metrics", {}).get("loss") is not None:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in info["test_metrics"].items())
        lines.append(f"test (the model, epoch {info['model_epoch']}): {shown}")
    lines.append(
        f"model saved to {info['model']}"
        if info["model"]
        else "model not saved (add --save model.npz to keep it)"
    )
    for key, what in (
        ("metrics", "metrics"),
        ("plot", "curves"),
        ("tensorboard", "TensorBoard events"),
    ):
        if info.get(key):
            lines.append(f"{what} written to {info[key]}")
    return lines
