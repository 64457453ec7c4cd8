"""The streaming CSV parser: blocks of lines in, one uint8 or float32 matrix out.

The file is read in blocks of about 4 MiB cut at a line end. In each block the label
field is cut off every line (one Python object per row, never one per cell) and the
remaining cells are parsed by numpy's C reader, ``np.loadtxt``, straight into uint8;
only when a block holds something else (a fraction, a negative number, 256...) is it
parsed again as float64, and from then on the whole matrix is float32. The matrix is
allocated once from a count of the file's lines, so memory is the result plus a block.

Anything ``loadtxt`` rejects is looked at again line by line in Python (slow, but only
on the error path) to say which line and column is wrong and why. Blank lines are
skipped. Quoted cells are read by the ``csv`` module for the blocks that contain a
quote, so a quoted label may hold the delimiter.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from numrec import DatasetError

from .layout import FLOAT32_MAX, FieldError, Layout, check_finite_number, split_fields

BLOCK = 4 << 20  # bytes per parse step: large enough for loadtxt, small next to the data


@dataclass
class Table:
    """A parsed CSV file: the feature matrix, the label texts and the file's layout."""

    X: np.ndarray  # (rows, n_columns - 1), uint8 when every cell is an integer 0..255
    labels: np.ndarray  # (rows,) str: the label cells as written (quotes removed)
    layout: Layout
    # The file row of each row of X and labels when they are not in file order (a cache
    # entry stored as a train/test split, see ``cache``); None: in file order.
    order: np.ndarray | None = None


class _Lines:
    """Maps a data row to its 1-based line in the file (blank lines are skipped)."""

    def __init__(self) -> None:
        self._starts: list[int] = []  # first row of each block
        self._blocks: list[tuple[int, list[int] | None]] = []  # (first line, line of each row)

    def add(self, first_row: int, first_line: int, numbers: list[int] | None) -> None:
        self._starts.append(first_row)
        self._blocks.append((first_line, numbers))

    def line_of(self, row: int) -> int:
        b = bisect.bisect_right(self._starts, row) - 1
        first_line, numbers = self._blocks[b]
        offset = row - self._starts[b]
        return numbers[offset] if numbers is not None else first_line + offset


def parse(layout: Layout, progress: bool = True) -> Table:
    """Parse the data rows of ``layout.path``; DatasetError names any bad line."""
    path = layout.path
    size = os.path.getsize(path)
    # Every data row holds n_columns cells and n_columns - 1 delimiters, so the bytes
    # bound the rows as well as the line count does: blank lines do not count.
    most = (size - layout.data_offset + 1) // (2 * layout.n_columns) + 1
    capacity = min(_count_lines(path, layout.data_offset) + 1, most)
    X = _matrix(path, capacity, layout.n_columns - 1, np.uint8)
    label_parts: list[np.ndarray] = []
    lines = _Lines()
    rows, line = 0, layout.data_line
    with (
        open(path, "rb") as f,
        tqdm(
            total=size - layout.data_offset, desc=f"parsing {path.name}", unit="B",
            unit_scale=True, unit_divisor=1024, leave=False, disable=None if progress else True,
        ) as bar,
    ):  # fmt: skip
        f.seek(layout.data_offset)
        tail = b""
        while True:
            chunk = f.read(BLOCK)
            data = tail + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if chunk and cut == 0:  # one line longer than a block: read on
                tail = data
                continue
            block, tail = data[:cut], data[cut:]
            if block:
                Xb, labels, numbers, n_lines = _parse_block(layout, block, line, X.dtype)
                if Xb.dtype == np.float32 and X.dtype == np.uint8:
                    X = _widen(X, rows)  # the first non-byte block: float32 from here on
                if rows + len(Xb) > len(X):  # lone CR line ends: more lines than counted
                    grow = min(2 * (rows + len(Xb)), max(most, rows + len(Xb)))
                    X.resize((grow, X.shape[1]), refcheck=False)
                X[rows : rows + len(Xb)] = Xb
                lines.add(rows, line, numbers)
                label_parts.append(labels)
                rows += len(Xb)
                line += n_lines
            bar.update(len(chunk))
            if not chunk:
                break
    if rows == 0:
        where = f"after line {layout.data_line - 1}" if layout.columns else "in it"
        raise DatasetError(f"{path}: no data rows {where}; expected rows of numbers")
    if rows < len(X):
        X.resize((rows, X.shape[1]), refcheck=False)  # shrinks in place, no copy
    labels = np.concatenate(label_parts) if label_parts else np.empty(0, object)
    _check_numeric_labels(layout, labels, lines)
    return Table(X, labels, layout)


def _matrix(path, rows: int, columns: int, dtype) -> np.ndarray:
    try:
        return np.empty((rows, columns), dtype)
    except MemoryError:
        raise DatasetError(
            f"{path}: {rows:,} rows x {columns:,} columns do not fit in memory"
        ) from None


def _count_lines(path, offset: int) -> int:
    """Newlines after ``offset``: an upper bound on the data rows, to allocate X once."""
    count = 0
    with open(path, "rb") as f:
        f.seek(offset)
        while chunk := f.read(16 << 20):
            count += chunk.count(b"\n")
    return count


def _widen(X: np.ndarray, rows: int) -> np.ndarray:
    wide = _matrix("the CSV file", X.shape[0], X.shape[1], np.float32)
    wide[:rows] = X[:rows]
    return wide


def _parse_block(layout: Layout, block: bytes, first_line: int, dtype: np.dtype):
    """(X block, label texts, line numbers or None, lines in the block) for one block."""
    raw = block.splitlines()
    keep = [i for i, ln in enumerate(raw) if ln and not ln.isspace()]
    numbers = None
    lines = raw
    if len(keep) != len(raw):
        lines = [raw[i] for i in keep]
        numbers = [first_line + i for i in keep]

    def line_of(i: int) -> int:
        return numbers[i] if numbers is not None else first_line + i

    if not lines:
        return np.empty((0, layout.n_columns - 1), dtype), np.empty(0, object), numbers, len(raw)
    split = _split_label(layout, lines, quoted=b'"' in block, line_of=line_of)
    if split is None:
        _diagnose(layout, lines, line_of)
    labels, rest = split
    Xb = _cells(layout, rest, wide=dtype == np.float32)
    if Xb is None:
        _diagnose(layout, lines, line_of)
    return Xb, _label_texts(layout, labels, line_of), numbers, len(raw)


def _split_label(layout: Layout, lines: list[bytes], quoted: bool, line_of):
    """(label fields, the other cells of each line) or None when a line is too short."""
    if quoted:
        return _split_quoted(layout, lines, line_of)
    k, last = layout.label_index, layout.n_columns - 1
    d = layout.delimiter.encode() if layout.delimiter is not None else None
    if k == 0:  # the common layouts: one split at the first or last delimiter, in C
        parts = [ln.split(d, 1) for ln in lines]
        label, other = 0, 1
    elif k == last:
        parts = [ln.rsplit(d, 1) for ln in lines]
        label, other = 1, 0
    else:
        parts = [ln.split(d, k + 1) for ln in lines]
        joiner = d if d is not None else b" "
        if any(len(p) != k + 2 for p in parts):
            return None
        return [p[k] for p in parts], [joiner.join(p[:k] + p[k + 1 :]) for p in parts]
    if any(len(p) != 2 for p in parts):
        return None
    return [p[label] for p in parts], [p[other] for p in parts]


def _split_quoted(layout: Layout, lines: list[bytes], line_of):
    """The slow path for blocks with quotes: the csv module splits each line."""
    k, d = layout.label_index, layout.delimiter
    labels, rest = [], []
    for i, ln in enumerate(lines):
        fields = _fields(layout, ln.decode("utf-8", "replace").rstrip("\r\n"), line_of(i))
        if len(fields) != layout.n_columns:
            return None
        labels.append(fields[k].encode())
        rest.append((d or " ").join(fields[:k] + fields[k + 1 :]).encode())
    return labels, rest


def _cells(layout: Layout, rest: list[bytes], wide: bool) -> np.ndarray | None:
    """The numbers of one block: uint8 if they all fit, else float32; None if unparsable."""
    n, m = len(rest), layout.n_columns - 1
    kwargs = dict(delimiter=layout.delimiter, ndmin=2, comments=None, quotechar='"')
    if not wide and _digits_only(rest, layout.delimiter):
        # Only digits and separators: whole numbers, parsed exactly as integers. (Older
        # numpy's loadtxt parses "0.5" or "nan" for an integer dtype through a float and
        # truncates it, so the text is checked first rather than trusting loadtxt.)
        try:
            Xi = np.loadtxt(rest, dtype=np.int64, **kwargs)
        except (ValueError, OverflowError):
            Xi = None
        if Xi is not None and Xi.shape == (n, m) and ((Xi >= 0) & (Xi <= 255)).all():
            return Xi.astype(np.uint8)
    try:
        Xb = np.loadtxt(rest, dtype=np.float64, **kwargs)
    except ValueError:
        return None
    if Xb.shape != (n, m) or not np.isfinite(Xb).all() or (np.abs(Xb) > FLOAT32_MAX).any():
        return None  # e.g. 1e39: finite here, inf in the float32 matrix
    if not wide and _bytes_only(Xb):  # e.g. "12.0": integral, 0..255
        return Xb.astype(np.uint8)
    return Xb.astype(np.float32)


_DIGITS = b"0123456789 \t\r\n"


def _digits_only(rest: list[bytes], delimiter: str | None) -> bool:
    """True when the block holds nothing but digits, white space and the delimiter."""
    allowed = _DIGITS + (delimiter or "").encode()
    return not b"".join(rest).translate(None, allowed)


def _bytes_only(Xb: np.ndarray) -> bool:
    return bool(((Xb >= 0) & (Xb <= 255) & (Xb == np.floor(Xb))).all())


def _label_texts(layout: Layout, labels: list[bytes], line_of) -> np.ndarray:
    """The labels as an object array of str, each distinct text one shared object: a
    fixed-width str array would give every row the width of the longest label (one
    label of 1,000 characters among 300,000 rows: 1.2 GB)."""
    texts: list[str] = []
    seen: dict[bytes, str] = {}
    for i, raw in enumerate(labels):
        known = seen.get(raw)
        if known is not None:
            texts.append(known)
            continue
        text = raw.strip().strip(b'"').strip()
        if not text:
            raise DatasetError(
                f"{layout.path}: line {line_of(i)}, {layout.column_name(layout.label_index)}: "
                f"an empty label; expected a class name or number"
            )
        try:
            seen[raw] = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DatasetError(
                f"{layout.path}: line {line_of(i)}: the label is not UTF-8 text ({e.reason})"
            ) from e
        texts.append(seen[raw])
    out = np.empty(len(texts), object)
    out[:] = texts
    return out


def _check_numeric_labels(layout: Layout, labels: np.ndarray, lines: _Lines) -> None:
    """Numeric labels must be finite; words are class names and are left alone."""
    try:
        values = labels.astype(np.float64)
    except ValueError:
        return
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        row = int(bad[0])
        raise DatasetError(
            f"{layout.path}: line {lines.line_of(row)}, "
            f"{layout.column_name(layout.label_index)}: the label {str(labels[row])!r} is not "
            f"a finite number; expected a class number or name"
        )


def _diagnose(layout: Layout, lines: list[bytes], line_of) -> None:
    """Find the first bad line of a block that numpy rejected and raise its error."""
    path, n = layout.path, layout.n_columns
    for i, raw in enumerate(lines):
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise DatasetError(
                f"{path}: line {line_of(i)}: not UTF-8 text ({e.reason} at byte {e.start})"
            ) from e
        fields = _fields(layout, text, line_of(i))
        if len(fields) != n:
            raise DatasetError(
                f"{path}: line {line_of(i)}: a ragged row of {len(fields)} field(s); "
                f"expected {n} like line {layout.first_line}"
            )
        for j, field in enumerate(fields):
            if j == layout.label_index:
                continue
            why = check_finite_number(field)
            if why:
                raise DatasetError(
                    f"{path}: line {line_of(i)}, {layout.column_name(j)}: {why}; "
                    f"expected a finite number"
                )
    raise DatasetError(  # numpy saw a problem that the check above does not know
        f"{path}: lines {line_of(0)}-{line_of(len(lines) - 1)}: cannot parse these rows "
        f"as numbers; expected {n} numeric fields per line"
    )


def _fields(layout: Layout, text: str, line: int) -> list[str]:
    try:
        return split_fields(text, layout.delimiter)
    except FieldError as e:
        raise DatasetError(f"{layout.path}: line {line}: {e}") from None
