"""The metrics of each task, computed from additive sums so that MPI ranks (each scoring
its share of a split) can add them up before the metrics are taken.

- classification: ``accuracy`` (arg-max equals the label);
- multilabel (a 0/1 matrix, one column per label; an output of 0.5 or more says 1):
  ``subset_accuracy`` (every label of the row right), ``hamming_loss`` (the share of
  wrong labels), ``micro_f1`` (F1 of all labels' counts pooled), ``macro_f1`` (the mean of
  the per-label F1s, a label that is never predicted nor present counting 0, as
  scikit-learn's ``zero_division=0``);
- regression (in the user's units): ``r2`` (the coefficient of determination, 1 for a
  perfect fit; a constant target gives 1 if predicted exactly, else 0, as scikit-learn's
  ``r2_score``), ``rmse`` and ``mae``, each the mean over the outputs of the per-output
  values (scikit-learn's ``multioutput="uniform_average"``), and per output as
  ``r2_outputs``, ``rmse_outputs``, ``mae_outputs``.

    s = sums("regression", P, T, shift)     # float64 vector, additive over rows
    summary("regression", s, k)             # {"r2": ..., "rmse": ..., "mae": ..., ...}
"""

from __future__ import annotations

import numpy as np

TASKS = ("classification", "multilabel", "regression")
# the scalar metrics of each task, in the order they are reported (loss first)
METRICS = {
    "classification": ("loss", "accuracy"),
    "multilabel": ("loss", "subset_accuracy", "hamming_loss", "micro_f1", "macro_f1"),
    "regression": ("loss", "r2", "rmse", "mae"),
}
LOWER_IS_BETTER = frozenset({"loss", "hamming_loss", "rmse", "mae"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` (with or without a "val_" prefix) is better."""
    name = metric.split("_", 1)[1] if metric.startswith(("val_", "test_")) else metric
    return name not in LOWER_IS_BETTER


def sums(task: str, P: np.ndarray, T: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """The additive statistics of outputs ``P`` against targets ``T`` (labels for
    classification, 0/1 rows for multilabel, value rows in the user's units for
    regression); ``shift``: a value near each output's mean (e.g. the training mean),
    subtracted before the squares are summed so that R^2 keeps its precision."""
    n = len(P)
    if task == "classification":
        return np.array([n, np.sum(P.argmax(1) == T)], dtype=np.float64)
    if task == "multilabel":
        guess = P >= 0.5
        truth = np.asarray(T) >= 0.5
        exact = np.sum(np.all(guess == truth, axis=1))
        tp = np.sum(guess & truth, axis=0)
        fp = np.sum(guess & ~truth, axis=0)
        fn = np.sum(~guess & truth, axis=0)
        return np.concatenate([[n, exact], tp, fp, fn]).astype(np.float64)
    if task == "regression":
        P64, T64 = P.astype(np.float64), np.asarray(T, dtype=np.float64)
        k = P.shape[1]
        centred = T64 - (np.zeros(k) if shift is None else np.asarray(shift, np.float64))
        err = P64 - T64
        return np.concatenate([[n], (err**2).sum(0), np.abs(err).sum(0),
                               centred.sum(0), (centred**2).sum(0)])  # fmt: skip
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def summary(task: str, s: np.ndarray, k: int) -> dict:
    """The metrics of ``task`` from the (added-up) ``sums`` of ``k`` outputs; NaN-free:
    a metric of no rows is None."""
    n = s[0]
    if task == "classification":
        return {"accuracy": float(s[1] / n) if n else None}
    if task == "multilabel":
        if not n:
            return dict.fromkeys(METRICS[task][1:])
        tp, fp, fn = s[2 : 2 + k], s[2 + k : 2 + 2 * k], s[2 + 2 * k : 2 + 3 * k]
        pooled = 2 * tp.sum() + fp.sum() + fn.sum()
        per_label = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(k), where=2 * tp + fp + fn > 0)
        return {
            "subset_accuracy": float(s[1] / n),
            "hamming_loss": float((fp.sum() + fn.sum()) / (n * k)),
            "micro_f1": float(2 * tp.sum() / pooled) if pooled else 0.0,
            "macro_f1": float(per_label.mean()),
        }
    if task == "regression":
        if not n:
            return dict.fromkeys(("r2", "rmse", "mae", "r2_outputs", "rmse_outputs", "mae_outputs"))
        sse, sae = s[1 : 1 + k], s[1 + k : 1 + 2 * k]
        sy, syy = s[1 + 2 * k : 1 + 3 * k], s[1 + 3 * k : 1 + 4 * k]
        total = np.maximum(syy - sy * sy / n, 0.0)  # n times the variance of each output
        r2 = np.where(total > 0, 1.0 - sse / np.where(total > 0, total, 1.0),
                      np.where(sse == 0, 1.0, 0.0))  # fmt: skip
        rmse, mae = np.sqrt(sse / n), sae / n
        return {
            "r2": float(r2.mean()),
            "rmse": float(rmse.mean()),
            "mae": float(mae.mean()),
            "r2_outputs": [float(v) for v in r2],
            "rmse_outputs": [float(v) for v in rmse],
            "mae_outputs": [float(v) for v in mae],
        }
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def scores(task: str, P: np.ndarray, T: np.ndarray, shift: np.ndarray | None = None) -> dict:
    """``summary`` of the ``sums`` of one array of outputs."""
    return summary(task, sums(task, P, T, shift), P.shape[1])
