"""Target and weight columns, the task, and reading raw rows for prediction.

The parser (``numrec_csv.parse``) cuts one column off every line as text - the first
target column - and reads every other cell as a number. Further target columns and the
weight column are numeric columns of that matrix, taken out of it here, so that the
features are what is left, in file order.

The task (option ``task``, default "auto"), decided from the training file:

- several target columns: "multilabel" when every value is 0 or 1, else "regression";
- one target column: "classification" when it holds a word, or only integers with at
  most ``MAX_AUTO_CLASSES`` distinct values; "regression" when it holds any number that
  is not an integer; integers with more distinct values are ambiguous (a count? 300
  classes?): say ``task=classification`` or ``task=regression``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from numrec import DatasetError

from .layout import Layout, is_number, split_fields

TASKS = ("auto", "classification", "multilabel", "regression")
MAX_AUTO_CLASSES = 100


def column_specs(value) -> list[str]:
    """The target columns as written: "a,b", "0,-1", a list of names or indices."""
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, (int, np.integer)) else value
    if isinstance(items, str):
        items = items.split(",")
    specs = [str(v).strip() for v in items]
    if any(not s for s in specs):
        raise DatasetError(f"target_columns={value!r}: an empty column name")
    return specs


def resolve(layout: Layout, spec: str, option: str) -> int:
    """The 0-based file column of ``spec`` (a header name, or an index, negative from the
    end)."""
    n = layout.n_columns
    if layout.columns and spec in layout.columns:
        return layout.columns.index(spec)
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if not -n <= index < n:
            raise DatasetError(
                f"{layout.path}: {option}={spec} but the rows have {n} columns; expected "
                f"an index from {-n} to {n - 1} or a header name"
            )
        return index % n
    if not layout.columns:
        raise DatasetError(
            f"{layout.path}: {option}={spec!r} names a column, but the file has no header; "
            f"give it as an index (0 = first)"
        )
    shown = ", ".join(repr(c) for c in layout.columns[:6]) + (
        ", ..." if len(layout.columns) > 6 else ""
    )
    raise DatasetError(
        f"{layout.path}: no column named {spec!r} ({option}); the header has {shown}"
    )


@dataclass(frozen=True)
class Columns:
    """Which file columns are targets (first = the parser's label column), the weight and
    the features."""

    targets: tuple[int, ...]
    weight: int | None
    features: tuple[int, ...]
    n_columns: int
    names: tuple[str, ...]  # every column's name ("column 3" without a header)

    @property
    def target_names(self) -> list[str]:
        return [self.names[c] for c in self.targets]

    @property
    def feature_names(self) -> list[str]:
        return [self.names[c] for c in self.features]

    def matrix_index(self, column: int) -> int:
        """Where file column ``column`` lies in the parsed matrix (the label cut out)."""
        return column if column < self.targets[0] else column - 1


def columns_of(layout: Layout, target_specs: list[str], weight_column) -> Columns:
    """The roles of the columns of ``layout`` (whose label column is the first target)."""
    targets = [layout.label_index]
    for spec in target_specs[1:]:
        c = resolve(layout, spec, "target_columns")
        if c in targets:
            raise DatasetError(f"{layout.path}: target_columns names column {spec!r} twice")
        targets.append(c)
    weight = None
    if weight_column is not None and str(weight_column).strip() != "":
        weight = resolve(layout, str(weight_column).strip(), "weight_column")
        if weight in targets:
            raise DatasetError(f"{layout.path}: the weight column {weight_column!r} is a target")
    features = tuple(c for c in range(layout.n_columns) if c not in targets and c != weight)
    if not features:
        raise DatasetError(f"{layout.path}: no feature columns are left besides the targets")
    names = layout.columns or tuple(f"column {i + 1}" for i in range(layout.n_columns))
    return Columns(tuple(targets), weight, features, layout.n_columns, tuple(names))


@dataclass
class Parts:
    """One file's rows split by role: features, target values, label texts, weights."""

    X: np.ndarray
    labels: np.ndarray  # the first target column as text
    extra: np.ndarray  # (n, targets - 1) float32: the other target columns
    weight: np.ndarray | None


def split_columns(X: np.ndarray, labels: np.ndarray, cols: Columns, path: Path) -> Parts:
    """Take the other target columns and the weight column out of the parsed matrix."""
    roles = [cols.matrix_index(c) for c in cols.targets[1:]]
    w_at = None if cols.weight is None else cols.matrix_index(cols.weight)
    if not roles and w_at is None:
        return Parts(X, labels, np.zeros((len(X), 0), np.float32), None)
    keep = [cols.matrix_index(c) for c in cols.features]
    extra = np.ascontiguousarray(X[:, roles], dtype=np.float32)
    weight = None
    if w_at is not None:
        weight = np.asarray(X[:, w_at], dtype=np.float32)
        if len(weight) and weight.min() < 0:
            row = int(np.argmax(weight < 0))
            raise DatasetError(
                f"{path}: data row {row + 1}: the weight {weight[row]:g} is negative; "
                "expected weights >= 0"
            )
    return Parts(np.ascontiguousarray(X[:, keep]), labels, extra, weight)


def infer_task(task: str, labels: np.ndarray, extra: np.ndarray, path: Path) -> str:
    """The task the rows say (see the module docstring), or ``task`` when it is given."""
    if task not in TASKS:
        raise DatasetError(f"task={task!r}: expected one of {', '.join(TASKS)}")
    if task != "auto":
        return task
    try:
        values = labels.astype(np.float64)
    except ValueError:
        if extra.shape[1]:
            raise DatasetError(
                f"{path}: several target columns and the first holds words; "
                "expected numbers (say task=...)"
            ) from None
        return "classification"
    if extra.shape[1]:
        both = np.concatenate([values[:, None], extra], axis=1)
        return "multilabel" if np.isin(both, (0.0, 1.0)).all() else "regression"
    if not (values == np.floor(values)).all():
        return "regression"
    distinct = len(np.unique(values))
    if distinct <= MAX_AUTO_CLASSES:
        return "classification"
    raise DatasetError(
        f"{path}: the target column holds {distinct} distinct integers: classes or values? "
        "say task=classification or task=regression"
    )


def target_values(parts: Parts, path: Path, names: list[str]) -> np.ndarray:
    """(n, targets) float32: the first target column's text as numbers, then the rest."""
    try:
        first = parts.labels.astype(np.float64)
    except ValueError:
        bad = str(next(t for t in parts.labels if not is_number(t)))
        raise DatasetError(
            f"{path}: target column {names[0]!r} holds {bad!r}; expected numbers for "
            "regression and multilabel targets"
        ) from None
    return np.concatenate([first[:, None].astype(np.float32), parts.extra], axis=1)


def read_rows(path: Path, meta: dict) -> tuple[np.ndarray, list[int]]:
    """(raw feature rows as float64 in the training file's feature order, the 1-based
    line of each row) from a CSV file of rows to predict, as a model trained on CSV data
    describes its columns (``meta``: "columns", "n_columns", "feature_columns").

    With a header, the features are found by name (other columns, e.g. the targets, are
    ignored; a missing feature is an error). Without one, a row holds either just the
    features or every column of the training file.
    """
    names, n_columns = meta.get("columns"), int(meta["n_columns"])
    features = [int(c) for c in meta["feature_columns"]]
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e.reason}); expected a CSV file") from e
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        raise DatasetError(f"{path}: the file is empty; expected CSV rows")
    delimiter = meta.get("delimiter", ",")
    delimiter = None if delimiter == "whitespace" else delimiter
    first = split_fields(lines[0][1], delimiter)
    take: list[int]
    if not all(is_number(f) for f in first):  # a header: features by name
        if not names:
            raise DatasetError(
                f"{path}: line {lines[0][0]} is a header, but the model's features have no "
                "names (its training file had no header, or its estimator was fitted on an "
                "array); give rows without a header"
            )
        where = {name: i for i, name in enumerate(first)}
        missing = [names[c] for c in features if names[c] not in where]
        if missing:
            raise DatasetError(
                f"{path}: line {lines[0][0]}: no column named {missing[0]!r}; the model "
                f"needs the features {', '.join(names[c] for c in features[:6])}"
                + (", ..." if len(features) > 6 else "")
            )
        take, width, lines = [where[names[c]] for c in features], len(first), lines[1:]
    elif len(first) == len(features):
        take, width = list(range(len(features))), len(features)
    elif len(first) == n_columns:
        take, width = features, n_columns
    else:
        raise DatasetError(
            f"{path}: line {lines[0][0]}: {len(first)} fields; expected {len(features)} "
            f"(the features) or {n_columns} (the training file's columns)"
        )
    X = np.empty((len(lines), len(take)))
    for r, (number, line) in enumerate(lines):
        fields = split_fields(line, delimiter)
        if len(fields) != width:
            raise DatasetError(f"{path}: line {number}: {len(fields)} fields; expected {width}")
        for j, c in enumerate(take):
            try:
                X[r, j] = float(fields[c])
            except ValueError:
                raise DatasetError(
                    f"{path}: line {number}, column {c + 1}: {fields[c]!r} is not a number"
                ) from None
            if not np.isfinite(X[r, j]):
                raise DatasetError(
                    f"{path}: line {number}, column {c + 1}: {fields[c]!r} is not finite"
                )
    return X, [number for number, _ in lines]
