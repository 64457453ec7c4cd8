"""The ``csv`` data set: classification, multi-label or regression from your CSV files.

    import numrec
    ds = numrec.load_dataset("csv", train="mnist_train.csv", test="mnist_test.csv")
    ds = numrec.load_dataset("csv", path="data.csv", test_fraction=0.2, seed=0)
    ds = numrec.load_dataset("csv", path="houses.csv", target_columns="price",
                             task="regression", scale="standardize")

Each row is a label (or several targets) and the features. The common MNIST-style
layouts load with no options: a Kaggle header ``label,pixel0..pixel783`` or
``label,pixel1..pixel784``, or pjreddie's header-less rows with the label first.
``numrec_csv.layout`` says how the delimiter, header and label column are guessed,
``numrec_csv.tasks`` how the task is inferred and which columns are targets, weights and
features, ``numrec_csv.prepare`` how labels become classes and what ``scale`` does.
Parsed files are cached (``numrec_csv.cache``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from numrec import Dataset, DatasetError, DatasetSpec, Option, Split, hookimpl

from . import cache as table_cache
from . import prepare, tasks
from .layout import sniff
from .parse import Table, parse

OPTIONS = (
    Option("train", Path, None, "the training CSV file"),
    Option("test", Path, None, "the test CSV file (same columns as train)"),
    Option("path", Path, None, "one CSV file to split into train and test (see test_fraction)"),
    Option("test_fraction", float, 0.2, "with path: the share of each class held out for test"),
    Option("seed", int, 0, "with path: the seed of the random train/test split"),
    Option("validation", Path, None, "a validation CSV file (same columns as train): "
           "chooses the best epoch and stops early instead of rows held out of train"),
    Option(
        "label_column", str, None,
        "the label column: a header name or a 0-based index (negative from the end); "
        "default: the column named 'label', else the first",
    ),
    Option(
        "target_columns", str, None,
        "the target column(s), comma-separated names or 0-based indices (several: "
        "multilabel 0/1 columns or regression outputs); default: label_column's rule",
    ),
    Option(
        "task", str, "auto",
        "classification, multilabel or regression; auto: several target columns are "
        "multilabel when all 0/1, else regression; one column is classification when it "
        "holds words or at most 100 distinct integers, regression when it holds a "
        "fraction", choices=tasks.TASKS,
    ),
    Option("weight_column", str, None,
           "a column of per-row weights (>= 0) for the training loss: a name or index"),
    Option(
        "delimiter", str, "auto",
        "the field separator: one character, 'tab', 'whitespace', or 'auto' "
        "(a comma, else ';', else a tab, else whitespace)",
    ),
    Option(
        "header", str, "auto",
        "whether the first line names the columns; auto: yes when it holds a word "
        "above a number", choices=("auto", "yes", "no"),
    ),
    Option(
        "scale", str, "auto",
        "auto: keep integers 0..255 as uint8 images (scaled by 1/255 like IDX data), "
        "else float32 as is; none: float32 as is; standardize: (x - mean) / std "
        "with the training statistics", choices=prepare.SCALES,
    ),
    Option("cache", bool, True, "keep the parsed arrays in the data cache for fast reloads"),
)  # fmt: skip


@hookimpl
def register_datasets(register) -> None:
    register(
        DatasetSpec(
            name="csv",
            description="your own CSV files: a label column and numeric features per row",
            loader=load_csv,
            options=OPTIONS,
        )
    )


def load_csv(
    train: str | Path | None = None,
    test: str | Path | None = None,
    path: str | Path | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    label_column: str | int | None = None,
    delimiter: str = "auto",
    header: str = "auto",
    scale: str = "auto",
    cache: bool = True,
    progress: bool = True,
    validation: str | Path | None = None,
    target_columns: str | list | None = None,
    task: str = "auto",
    weight_column: str | int | None = None,
) -> Dataset:
    """Load CSV data: ``train`` and ``test`` files, or one ``path`` split (by class, for
    classification), and optionally a ``validation`` file.

    ``progress=False`` hides the parse progress bar (it shows only on a terminal anyway).
    """
    if scale not in prepare.SCALES:
        raise DatasetError(f"scale={scale!r}: expected one of {', '.join(prepare.SCALES)}")
    if task not in tasks.TASKS:
        raise DatasetError(f"task={task!r}: expected one of {', '.join(tasks.TASKS)}")
    if path is not None and (train is not None or test is not None):
        raise DatasetError("csv: give either path (split into train and test) or train and test")
    if test is not None and train is None:
        raise DatasetError("csv: test is given but train is not; give both, or path alone")
    if path is None and train is None:
        raise DatasetError("csv: no data; give train and test files, or path to split")
    if target_columns not in (None, "") and label_column not in (None, ""):
        raise DatasetError("csv: give label_column or target_columns, not both")
    specs = tasks.column_specs(target_columns) or tasks.column_specs(label_column)
    if len(specs) > 1 and task == "classification":
        raise DatasetError(
            f"csv: classification takes one target column, got {len(specs)} "
            f"({', '.join(specs)}); several 0/1 columns are task=multilabel"
        )
    first = label_column if len(specs) <= 1 and label_column not in (None, "") else None
    first = first if first is not None else (specs[0] if specs else None)
    parse_options = {"delimiter": delimiter, "header": header, "label_column": first}
    several = len(specs) > 1
    if test is not None:
        main = read_table(Path(train), parse_options, cache, progress)
        other = read_table(Path(test), parse_options, cache, progress)
        check_same_columns(main, other)
        sources = [main.layout.path, other.layout.path]
    else:
        whole = Path(path if path is not None else train)  # one file, split here
        split: dict = {}

        def train_then_test(labels: np.ndarray) -> np.ndarray:
            inferred = (
                task if task != "auto" or several else tasks.infer_task(task, labels, _NONE, whole)
            )
            classes = not several and inferred == "classification"
            if classes:
                y, _, split["names"] = prepare.encode_labels(labels, labels[:0])
                prepare.check_classes(y, labels, str(whole))
                strata = y
            else:  # values: a plain random split (one stratum)
                strata = np.zeros(len(labels), dtype=np.int64)
            train_rows, test_rows = prepare.stratified_split(strata, test_fraction, seed)
            split["rows"] = np.concatenate([train_rows, test_rows])
            split["n_train"] = len(train_rows)
            return split["rows"]

        # The rows come back train rows first, each part in file order (as the stratified
        # split gives them), so both parts are row ranges: views, not copies, of the
        # (memory-mapped) matrix, with the same values as picking the rows one by one.
        table = read_table(whole, parse_options, cache, progress, train_then_test)
        n = split["n_train"]
        main = Table(table.X[:n], table.labels[:n], table.layout)
        other = Table(table.X[n:], table.labels[n:], table.layout)
        del table
        sources = [main.layout.path]
    val_table = None
    if validation is not None:
        val_table = read_table(Path(validation), parse_options, cache, progress)
        check_same_columns(main, val_table)
        sources.append(val_table.layout.path)
    layout = main.layout
    cols = tasks.columns_of(layout, specs, weight_column)
    parts = [tasks.split_columns(t.X, t.labels, cols, t.layout.path)
             for t in (main, other, val_table) if t is not None]  # fmt: skip
    del main, other, val_table
    task = tasks.infer_task(task, parts[0].labels, parts[0].extra, layout.path)
    if task == "classification":
        if len(cols.targets) > 1:
            raise DatasetError(
                f"{layout.path}: classification takes one target column, got "
                f"{len(cols.targets)}; several 0/1 columns are task=multilabel"
            )
        others = np.concatenate([p.labels for p in parts[1:]])
        y_train, y_others, names = prepare.encode_labels(parts[0].labels, others)
        prepare.check_classes(y_train, parts[0].labels, str(layout.path))
        ys = [y_train, y_others[: len(parts[1].labels)], y_others[len(parts[1].labels) :]]
    else:
        names = cols.target_names
        ys = [tasks.target_values(p, layout.path, names) for p in parts]
        if task == "multilabel":
            for Y in ys:
                if not np.isin(Y, (0.0, 1.0)).all():
                    raise DatasetError(
                        f"{layout.path}: task=multilabel needs 0/1 target columns "
                        f"({', '.join(names)}); found other values"
                    )
    scaled, scale_meta = prepare.scale_parts([p.X for p in parts], scale)
    meta = {
        "files": [str(p) for p in sources],
        "label_column": layout.label_name,
        "delimiter": "whitespace" if layout.delimiter is None else layout.delimiter,
        "header": layout.columns is not None,
        "scale": scale,
        **scale_meta,
        "task": task,
        "target_columns": cols.target_names,
        "weight_column": None if cols.weight is None else cols.names[cols.weight],
        "columns": list(layout.columns) if layout.columns else None,
        "n_columns": cols.n_columns,
        "feature_columns": list(cols.features),
    }
    if test is None:
        meta.update(test_fraction=test_fraction, seed=seed)
    splits = [Split(X, y, p.weight) for X, y, p in zip(scaled, ys, parts)]
    return Dataset(
        name="csv",
        train=splits[0],
        test=splits[1],
        validation=splits[2] if len(splits) > 2 else None,
        class_names=names,
        source=" + ".join(str(p) for p in sources),
        meta=meta,
        task=task,
    )


_NONE = np.zeros((0, 0), np.float32)  # no further target columns


def read_table(
    path: Path,
    options: dict,
    use_cache: bool = True,
    progress: bool = True,
    rows_for: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Table:
    """The parsed ``path``: from the cache when it is unchanged, else parsed (and cached).

    The rows come in file order, or with ``rows_for`` in the order it gives (file rows,
    from the label texts in file order; ``Table.order`` is then that order). The cache
    entry is stored in the order of its last use, so that the next load with the same
    order reads it as it is, memory-mapped; another order costs one copy and a rewrite.
    """
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise DatasetError(f"{path}: {what}; expected a CSV file")
    entry = table_cache.cache_path(path, options) if use_cache else None
    table = table_cache.load(entry, path) if entry is not None else None
    changed = table is None
    if table is None:
        table = parse(sniff(path, **options), progress)
    stored_at = None if table.order is None else np.argsort(table.order)  # file row -> row
    try:
        if rows_for is None:
            want = None
        else:
            want = rows_for(table.labels if stored_at is None else table.labels[stored_at])
    except DatasetError:
        if changed and entry is not None:  # keep the parse, even if these options fail
            table_cache.save(entry, table)
        raise
    if not _same_order(table.order, want):
        if stored_at is None:
            take = want
        else:
            take = stored_at if want is None else stored_at[want]
        # Rebinding ``table`` drops the map of the old entry before it is replaced.
        table = Table(table.X[take], table.labels[take], table.layout, want)
        changed = True
    if changed and entry is not None:
        table_cache.save(entry, table)
    return table


def _same_order(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two row orders are the same (None: file order)."""
    if a is None and b is None:
        return True
    if a is None or b is None:
        given = a if b is None else b
        return np.array_equal(given, np.arange(len(given)))
    return np.array_equal(a, b)


def check_same_columns(train: Table, test: Table) -> None:
    """The test file must have the training file's columns (names too, when both have them)."""
    a, b = train.layout, test.layout
    if a.n_columns != b.n_columns:
        raise DatasetError(
            f"{b.path}: line {b.first_line}: {b.n_columns} columns, but the training file "
            f"{a.path} has {a.n_columns}; expected the same columns in both"
        )
    if a.columns and b.columns and a.columns != b.columns:
        i = next(i for i in range(a.n_columns) if a.columns[i] != b.columns[i])
        raise DatasetError(
            f"{b.path}: line {b.first_line}: column {i + 1} is {b.columns[i]!r}, but in the "
            f"training file {a.path} it is {a.columns[i]!r}; expected the same columns"
        )
    if a.label_index != b.label_index:
        raise DatasetError(
            f"{b.path}: line {b.first_line}: the label is column {b.label_index + 1}, but in "
            f"the training file {a.path} it is column {a.label_index + 1}"
        )
