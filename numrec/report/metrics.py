"""The numbers a report shows, from a network's outputs and the true labels or targets:
accuracy, per-class precision / recall / F1, the confusion matrix, the most confident
mistakes, examples of each class; for regression the error of each output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassScores:
    name: str
    precision: float | None  # None: nothing was predicted as this class
    recall: float | None  # None: the class has no sample here
    f1: float | None
    support: int


@dataclass
class Classification:
    n: int
    accuracy: float
    loss: float | None
    predicted: np.ndarray  # (n,) the most probable class of each row
    confidence: np.ndarray  # (n,) the output of the predicted class
    confusion: np.ndarray  # (k, k) rows true class, columns predicted class
    classes: list[ClassScores]

    @property
    def macro_f1(self) -> float | None:
        scores = [c.f1 for c in self.classes if c.support and c.f1 is not None]
        return float(np.mean(scores)) if scores else None


def classification(
    outputs: np.ndarray, y: np.ndarray, names: list[str], loss: float | None = None
) -> Classification:
    """Scores of outputs (n, k) against int labels y (n,). A class's F1 is 0 when it has
    samples but none is recognised, and None (not counted) when it has none at all."""
    k = outputs.shape[1]
    y = np.asarray(y, dtype=np.int64)
    predicted = outputs.argmax(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    hits = np.diag(confusion).astype(np.float64)
    as_class, is_class = confusion.sum(axis=0), confusion.sum(axis=1)
    names = list(names) + [str(i) for i in range(len(names), k)]
    classes = []
    for c in range(k):
        precision = hits[c] / as_class[c] if as_class[c] else None
        recall = hits[c] / is_class[c] if is_class[c] else None
        if precision and recall:
            f1 = 2 * precision * recall / (precision + recall)
        else:
            f1 = 0.0 if is_class[c] else None
        classes.append(
            ClassScores(names[c], _float(precision), _float(recall), _float(f1), int(is_class[c]))
        )
    n = len(y)
    return Classification(
        n=n,
        accuracy=float(np.mean(predicted == y)) if n else float("nan"),
        loss=loss,
        predicted=predicted,
        confidence=outputs[np.arange(n), predicted],
        confusion=confusion,
        classes=classes,
    )


def _float(x) -> float | None:
    return None if x is None else float(x)


def confident_mistakes(result: Classification, y: np.ndarray, count: int) -> np.ndarray:
    """Rows of the ``count`` mistakes made with the highest confidence, most confident first
    (ties in row order, so the choice is reproducible)."""
    wrong = np.flatnonzero(result.predicted != y)
    order = np.argsort(-result.confidence[wrong], kind="stable")
    return wrong[order[:count]]


def examples_of_each_class(y: np.ndarray, k: int, per_class: int) -> list[np.ndarray]:
    """The first ``per_class`` rows of each class, in the split's order."""
    return [np.flatnonzero(y == c)[:per_class] for c in range(k)]


def most_confused(confusion: np.ndarray, count: int) -> list[tuple[int, int, int]]:
    """(true, predicted, n) of the largest off-diagonal cells, largest first."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:count]
    pairs = [(int(i), int(j), int(off[i, j])) for i, j in zip(*np.unravel_index(flat, off.shape))]
    return [p for p in pairs if p[2] > 0]


@dataclass
class OutputError:
    """How far one regression output is from its targets."""

    name: str
    mae: float
    rmse: float
    r2: float | None  # None when the targets do not vary


def regression(outputs: np.ndarray, targets: np.ndarray, names: list[str]) -> list[OutputError]:
    """Mean absolute error, root mean squared error and R^2 of each output column."""
    P = np.asarray(outputs, dtype=np.float64)
    T = np.asarray(targets, dtype=np.float64).reshape(P.shape)
    errors = []
    for j in range(P.shape[1]):
        residual = P[:, j] - T[:, j]
        spread = float(np.sum((T[:, j] - T[:, j].mean()) ** 2))
        r2 = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else None
        name = names[j] if j < len(names) else f"output {j}"
        errors.append(
            OutputError(
                name, float(np.mean(np.abs(residual))), float(np.sqrt(np.mean(residual**2))), r2
            )
        )
    return errors
