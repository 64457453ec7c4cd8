"""The ``Dataset`` type every loader returns: a train and a test ``Split`` plus names.

Images stay as the files stored them (uint8, one row per sample); the engine scales
them by 1/255 inside its compiled batch gather, so no float copy of the data set exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DatasetError


@dataclass(frozen=True)
class Split:
    """One part of a data set: ``X`` of shape (n, features), ``y`` of shape (n,)."""

    X: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise DatasetError(f"X must be 2-D (samples, features), got shape {self.X.shape}")
        if self.y.ndim != 1 or len(self.y) != len(self.X):
            raise DatasetError(
                f"y must be 1-D with one label per row of X ({len(self.X)}), "
                f"got shape {self.y.shape}"
            )
        if self.X.dtype not in (np.uint8, np.float32):
            raise DatasetError(f"X must be uint8 or float32, got {self.X.dtype}")

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

    def __post_init__(self) -> None:
        parts = [("train", self.train), ("test", self.test)]
        if self.validation is not None:
            parts.append(("validation", self.validation))
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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return self.train.n_features

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.train)}, "
            + (f"validation={len(self.validation)}, " if self.validation is not None else "")
            + f"test={len(self.test)}, "
            f"features={self.n_features}, classes={self.num_classes}, source={self.source!r})"
        )
