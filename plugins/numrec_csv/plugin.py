"""The ``csv`` data set: a classification problem from your own CSV files.

    import numrec
    ds = numrec.load_dataset("csv", train="mnist_train.csv", test="mnist_test.csv")
    ds = numrec.load_dataset("csv", path="data.csv", test_fraction=0.2, seed=0)

Each row is a label and the features (pixels). The common MNIST-style layouts load with
no options: a Kaggle header ``label,pixel0..pixel783`` or ``label,pixel1..pixel784``,
or pjreddie's header-less rows with the label first. ``numrec_csv.layout`` says how the
delimiter, header and label column are guessed, ``numrec_csv.prepare`` how labels become
classes and what ``scale`` does. Parsed files are cached (``numrec_csv.cache``).
"""

from __future__ import annotations

from pathlib import Path

from numrec import Dataset, DatasetError, DatasetSpec, Option, Split, hookimpl

from . import cache as table_cache
from . import prepare
from .layout import sniff
from .parse import Table, parse

OPTIONS = (
    Option("train", Path, None, "the training CSV file"),
    Option("test", Path, None, "the test CSV file (same columns as train)"),
    Option("path", Path, None, "one CSV file to split into train and test (see test_fraction)"),
    Option("test_fraction", float, 0.2, "with path: the share of each class held out for test"),
    Option("seed", int, 0, "with path: the seed of the random train/test split"),
    Option(
        "label_column", str, None,
        "the label column: a header name or a 0-based index (negative from the end); "
        "default: the column named 'label', else the first",
    ),
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
) -> Dataset:
    """Load CSV data: ``train`` and ``test`` files, or one ``path`` split by class.

    ``progress=False`` hides the parse progress bar (it shows only on a terminal anyway).
    """
    if scale not in prepare.SCALES:
        raise DatasetError(f"scale={scale!r}: expected one of {', '.join(prepare.SCALES)}")
    if path is not None and (train is not None or test is not None):
        raise DatasetError("csv: give either path (split into train and test) or train and test")
    if test is not None and train is None:
        raise DatasetError("csv: test is given but train is not; give both, or path alone")
    if path is None and train is None:
        raise DatasetError("csv: no data; give train and test files, or path to split")
    parse_options = {"delimiter": delimiter, "header": header, "label_column": label_column}
    main = read_table(Path(path if path is not None else train), parse_options, cache, progress)
    if test is not None:
        other = read_table(Path(test), parse_options, cache, progress)
        check_same_columns(main, other)
        y_train, y_test, names = prepare.encode_labels(main.labels, other.labels)
        prepare.check_classes(y_train, main.labels, str(main.layout.path))
        X_train, X_test = main.X, other.X
        sources = [main.layout.path, other.layout.path]
    else:
        y, _, names = prepare.encode_labels(main.labels, main.labels[:0])
        prepare.check_classes(y, main.labels, str(main.layout.path))
        train_rows, test_rows = prepare.stratified_split(y, test_fraction, seed)
        X_train, X_test = main.X[train_rows], main.X[test_rows]
        y_train, y_test = y[train_rows], y[test_rows]
        sources = [main.layout.path]
    layout = main.layout
    del main  # the whole-file matrix, when split above, is no longer needed
    X_train, X_test, scale_meta = prepare.scale(X_train, X_test, scale)
    meta = {
        "files": [str(p) for p in sources],
        "label_column": layout.label_name,
        "delimiter": "whitespace" if layout.delimiter is None else layout.delimiter,
        "header": layout.columns is not None,
        "scale": scale,
        **scale_meta,
    }
    if test is None:
        meta.update(test_fraction=test_fraction, seed=seed)
    return Dataset(
        name="csv",
        train=Split(X_train, y_train),
        test=Split(X_test, y_test),
        class_names=names,
        source=" + ".join(str(p) for p in sources),
        meta=meta,
    )


def read_table(path: Path, options: dict, use_cache: bool = True, progress: bool = True) -> Table:
    """The parsed ``path``: from the cache when it is unchanged, else parsed (and cached)."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise DatasetError(f"{path}: {what}; expected a CSV file")
    entry = table_cache.cache_path(path, options) if use_cache else None
    table = table_cache.load(entry, path) if entry is not None else None
    if table is None:
        table = parse(sniff(path, **options), progress)
        if entry is not None:
            table_cache.save(entry, table)
    return table


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
