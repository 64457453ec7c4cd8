"""The ``Dataset`` type every loader returns: a train and a test ``Split`` plus names.

Images stay as the files stored them (uint8, one row per sample); the engine scales
them by 1/255 inside its compiled batch gather, so no float copy of the data set exists.

A data set has a ``task``: "classification" (``y``: one int label per row, 0..k-1, one
class name each), "multilabel" (``y``: a 0/1 matrix, one column per label, named by
``class_names``) or "regression" (``y``: float values, one row per sample and one column
per output - a 1-D ``y`` is one output - named by ``class_names``). Without ``task`` it
is inferred from ``y``: 1-D is classification, a 2-D matrix of integers or booleans is
multilabel, a 2-D float matrix is regression (a 1-D regression target needs
``task="regression"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DatasetError

TASKS = ("classification", "multilabel", "regression")


@dataclass(frozen=True)
class Split:
    """One part of a data set: ``X`` of shape (n, features), ``y`` of shape (n,) (labels,
    or one regression output) or (n, outputs) (0/1 label rows or regression values), and
    optionally ``sample_weight`` (n,): each row's weight in the training loss."""

    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise DatasetError(f"X must be 2-D (samples, features), got shape {self.X.shape}")
        if self.y.ndim not in (1, 2) or len(self.y) != len(self.X):
            raise DatasetError(
                f"y must be 1-D (a label per row) or 2-D (a target row per row) with one "
                f"entry per row of X ({len(self.X)}), got shape {self.y.shape}"
            )
        if self.X.dtype not in (np.uint8, np.float32):
            raise DatasetError(f"X must be uint8 or float32, got {self.X.dtype}")
        if self.sample_weight is not None:
            w = np.asarray(self.sample_weight)
            if w.shape != (len(self.X),):
                raise DatasetError(
                    f"sample_weight must hold one weight per row of X ({len(self.X)}), "
                    f"got shape {w.shape}"
                )
            w = w.astype(np.float32)
            if len(w) and not (np.isfinite(w).all() and w.min() >= 0):
                raise DatasetError("sample_weight must be finite numbers >= 0")
            object.__setattr__(self, "sample_weight", w)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True)
class Dataset:
    """A named data set: ``train`` and ``test`` splits, class names and provenance, and
    optionally its own ``validation`` split (else training carves one from ``train``)."""

    name: str
    train: Split
    test: Split
    class_names: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)
    validation: Split | None = None
    task: str | None = None  # None: inferred from y (see the module docstring)

    def __post_init__(self) -> None:
        task = self.task if self.task is not None else infer_task(self.train.y)
        if task not in TASKS:
            raise DatasetError(f"{self.name}: task {task!r}; expected one of {', '.join(TASKS)}")
        object.__setattr__(self, "task", task)
        parts = [("train", self.train), ("test", self.test)]
        if self.validation is not None:
            parts.append(("validation", self.validation))
        if task != "classification":
            self._check_target_rows(parts)
            return
        for part, split in parts[1:]:
            if split.n_features != self.train.n_features:
                raise DatasetError(
                    f"{self.name}: train has {self.train.n_features} features "
                    f"but {part} has {split.n_features}"
                )
        k = len(self.class_names)
        for part, split in parts:
            if len(split) and (split.y.min() < 0 or split.y.max() >= k):
                raise DatasetError(
                    f"{self.name}: {part} labels must lie in 0..{k - 1} "
                    f"(one per class name), found {split.y.min()}..{split.y.max()}"
                )

    def _check_target_rows(self, parts) -> None:
        """Multilabel and regression: 2-D float32 targets, one column per name."""
        k = len(self.class_names)
        for part, split in parts:
            if split.n_features != self.train.n_features:
                raise DatasetError(
                    f"{self.name}: train has {self.train.n_features} features "
                    f"but {part} has {split.n_features}"
                )
            y = split.y.reshape(-1, 1) if split.y.ndim == 1 else split.y
            if y.shape[1] != k:
                raise DatasetError(
                    f"{self.name}: {part} has {y.shape[1]} target column(s) but "
                    f"{k} name(s) in class_names; expected one name per column"
                )
            if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
                raise DatasetError(f"{self.name}: {part} targets must be numbers, got {y.dtype}")
            y = np.ascontiguousarray(y, dtype=np.float32)
            if not np.isfinite(y).all():
                raise DatasetError(f"{self.name}: {part} targets contain NaN or inf")
            if self.task == "multilabel" and len(y) and not np.isin(y, (0.0, 1.0)).all():
                raise DatasetError(f"{self.name}: {part} multilabel targets must be 0 or 1")
            if y is not split.y:
                object.__setattr__(split, "y", y)

    @property
    def num_classes(self) -> int:
        """Classes (classification), labels (multilabel) or outputs (regression): the
        network's output size."""
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return self.train.n_features

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.train)}, "
            + (f"validation={len(self.validation)}, " if self.validation is not None else "")
            + f"test={len(self.test)}, "
            f"features={self.n_features}, classes={self.num_classes}, "
            + (f"task={self.task!r}, " if self.task != "classification" else "")
            + f"source={self.source!r})"
        )


def infer_task(y: np.ndarray) -> str:
    """The task ``y`` says when none is given (see the module docstring)."""
    if y.ndim == 2:
        integral = np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_
        return "multilabel" if integral else "regression"
    return "classification"
