"""Working out how a CSV file is laid out: delimiter, header, columns, label column.

Only the first two non-blank lines are read here (``sniff``); the bulk of the file is
parsed by ``numrec_csv.parse``. The rules, each overridable by an option:

- delimiter "auto": a comma if the first line has one, else ``;``, else a tab, else runs
  of whitespace;
- header "auto": the first line is a header when one of its fields is not a number
  while the same field of the second line is (so a header-less file whose labels are
  words is not mistaken for one with a header); a one-line file is a header when
  none of its fields is a number;
- label column: ``label_column`` (a header name, or a 0-based index, negative from the
  end), else the column named "label" when the header has one, else the first column.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from numrec import DatasetError

_BOM = b"\xef\xbb\xbf"  # Excel writes UTF-8 CSV files with a byte-order mark
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "whitespace": None, "space": None, " ": None}


@dataclass(frozen=True)
class Layout:
    """How one CSV file is laid out; everything ``parse`` needs besides the path."""

    path: Path
    delimiter: str | None  # None: runs of whitespace
    columns: tuple[str, ...] | None  # the header's names, None without a header
    n_columns: int
    label_index: int
    first_line: int  # 1-based number of the first non-blank line (header or data)
    data_offset: int  # byte offset of the first data line
    data_line: int  # 1-based number of the first data line

    @property
    def label_name(self) -> str:
        if self.columns:
            return self.columns[self.label_index]
        return f"column {self.label_index + 1}"

    def column_name(self, index: int) -> str:
        """How error messages name the 0-based column ``index`` (1-based, with its name)."""
        if self.columns:
            return f"column {index + 1} ({self.columns[index]!r})"
        return f"column {index + 1}"


def resolve_delimiter(delimiter: str | None, first_line: str) -> str | None:
    """The delimiter to use: an explicit one (``tab``/``whitespace`` spelled out), or sniffed."""
    if delimiter not in (None, "", "auto"):
        if delimiter in _DELIMITER_NAMES:
            return _DELIMITER_NAMES[delimiter]
        if len(delimiter) != 1:
            raise DatasetError(
                f"delimiter {delimiter!r}: expected one character, 'tab', 'whitespace' or 'auto'"
            )
        return delimiter
    for candidate in (",", ";", "\t"):
        if candidate in first_line:
            return candidate
    return None


class FieldError(ValueError):
    """A line the csv module cannot split; the caller adds the file and line."""


def split_fields(line: str, delimiter: str | None) -> list[str]:
    """The fields of one line, quotes removed and surrounding spaces stripped."""
    if "\r" in line:  # a lone carriage return: the csv module would call it a new line
        raise FieldError(
            "a carriage return (\\r) inside the line; expected lines that end in \\n or \\r\\n"
        )
    if delimiter is None:
        return [f.strip('"') for f in line.split()]
    try:
        row = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])
    except csv.Error as e:
        if "field limit" in str(e):
            raise FieldError(
                f"a field of more than {csv.field_size_limit():,} characters; expected "
                f"numbers and short labels"
            ) from None
        raise FieldError(f"cannot split the line into fields ({e})") from None
    return [f.strip() for f in row]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff(
    path: Path,
    delimiter: str | None = "auto",
    header: str = "auto",
    label_column: str | int | None = None,
) -> Layout:
    """Read the first lines of ``path`` and decide its layout (see the module docstring)."""
    rows = _head(path)
    if not rows:
        raise DatasetError(f"{path}: the file is empty; expected CSV rows of numbers")
    first_line, _, first = rows[0]
    second = rows[1][2] if len(rows) > 1 else None
    delim = resolve_delimiter(delimiter, first)
    for number, _, text in rows:  # every line sniff looks at must split into fields
        try:
            split_fields(text, delim)
        except FieldError as e:
            raise DatasetError(f"{path}: line {number}: {e}") from None
    fields = split_fields(first, delim)
    has_header = _has_header(header, fields, second, delim)
    columns = tuple(fields) if has_header else None
    if has_header:
        _check_header(path, first_line, columns)
        if second is None:
            raise DatasetError(
                f"{path}: line {first_line}: a header but no data rows after it; "
                f"expected rows of numbers"
            )
    if len(fields) < 2:
        raise DatasetError(
            f"{path}: line {first_line}: only one column; expected a label and at least "
            f"one feature per row (is the delimiter right? found {_describe(delim)})"
        )
    label_index = _label_index(path, first_line, label_column, columns, len(fields))
    data_line, data_offset, _ = rows[1] if has_header else rows[0]
    return Layout(
        path, delim, columns, len(fields), label_index, first_line, data_offset, data_line
    )


def _head(path: Path) -> list[tuple[int, int, str]]:
    """The first two non-blank lines as (1-based line number, byte offset, text)."""
    rows: list[tuple[int, int, str]] = []
    try:
        with open(path, "rb") as f:
            pos = 0
            for number in itertools.count(1):
                raw = f.readline() if len(rows) < 2 else b""
                if not raw:
                    break
                start, pos = pos, pos + len(raw)
                if number == 1 and raw.startswith(_BOM):
                    raw, start = raw[len(_BOM) :], start + len(_BOM)
                if raw.strip():
                    rows.append((number, start, _decode(path, number, raw).rstrip("\r\n")))
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from e
    return rows


def _decode(path: Path, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{path}: line {number}: not UTF-8 text ({e.reason} at byte {e.start}); "
            f"expected a CSV text file"
        ) from e


def _has_header(header, fields, second, delim) -> bool:
    if header in (True, "yes", "true", "1"):
        return True
    if header in (False, "no", "false", "0"):
        return False
    if header not in (None, "auto"):
        raise DatasetError(f"header={header!r}: expected 'yes', 'no' or 'auto'")
    words = [not is_number(f) for f in fields]
    if second is None:  # nothing to compare with: a header is all names
        return all(words)
    below = split_fields(second, delim)
    # A word above a number: a column name. A word above a word: a string label column.
    return any(w and i < len(below) and is_number(below[i]) for i, w in enumerate(words))


def _check_header(path: Path, line: int, columns: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(columns):
        if name in seen:
            raise DatasetError(
                f"{path}: line {line}: the header names column {name!r} twice "
                f"(columns {seen[name] + 1} and {i + 1}); expected unique names"
            )
        seen[name] = i


def _label_index(path, line, label_column, columns, n_columns: int) -> int:
    if label_column is None or label_column == "":
        if columns:
            lowered = [c.lower() for c in columns]
            if "label" in columns:
                return columns.index("label")
            if "label" in lowered:
                return lowered.index("label")
        return 0
    text = str(label_column).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not -n_columns <= index < n_columns:
            raise DatasetError(
                f"{path}: line {line}: label_column={index} but the rows have {n_columns} "
                f"columns; expected an index from {-n_columns} to {n_columns - 1}"
            )
        return index % n_columns
    if not columns:
        raise DatasetError(
            f"{path}: line {line}: label_column={text!r} names a column, but the file has "
            f"no header; give the label column as an index (0 = first) or add a header"
        )
    if text not in columns:
        shown = ", ".join(repr(c) for c in columns[:5]) + (", ..." if len(columns) > 5 else "")
        raise DatasetError(
            f"{path}: line {line}: no column named {text!r} (missing label column); "
            f"the header has {shown}"
        )
    return columns.index(text)


def _describe(delim: str | None) -> str:
    return {None: "whitespace", "\t": "tab"}.get(delim, repr(delim))


FLOAT32_MAX = 3.4028234663852886e38  # np.finfo(np.float32).max: cells become float32


def check_finite_number(text: str) -> str | None:
    """Why ``text`` is not a usable cell value, or None when it is a finite number that
    float32 (the feature matrix's type) can hold."""
    if text == "":
        return "an empty cell"
    try:
        value = float(text)
    except ValueError:
        return f"{text!r:.40} is not a number"
    if not math.isfinite(value):
        return f"{text!r:.40} is not a finite number"
    if abs(value) > FLOAT32_MAX:
        return f"{text!r:.40} is beyond float32's range (+-3.4e38), where features are stored"
    return None
