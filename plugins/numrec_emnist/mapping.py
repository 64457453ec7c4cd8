"""The class mapping files, ``emnist-<split>-mapping.txt``: label number -> character.

Each line is ``label code`` or ``label code code`` (letters: ``1 65 97``, a class that
holds both cases), codes being Unicode code points. The labels must be consecutive; the
first one (1 for letters, else 0) is subtracted from the file's labels, so classes are
always numbered from 0. A class name is its character; a two-character class is named by
its small letter when the two are the capital and small forms of one letter, else by
both characters. Letters is case-merged throughout, so its names are small letters
a..z whichever form the mapping gives (torchvision instead keeps the file's numbers and
a dummy class 0, "N/A").
"""

from __future__ import annotations

from numrec import DatasetError


def parse_mapping(text: str, where: str, split: str) -> tuple[int, list[str]]:
    """(the first label, the class names in label order) from a mapping file's text."""
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [int(f) for f in fields]
            if len(values) not in (2, 3):
                raise ValueError
            chars = [chr(v) for v in values[1:]]
        except (ValueError, OverflowError):
            raise DatasetError(
                f"{where}: line {number}: {line.strip()!r}; expected 'label code' or "
                f"'label code code' (whole numbers, codes being Unicode code points)"
            ) from None
        rows.append((values[0], _name(chars, split)))
    if not rows:
        raise DatasetError(f"{where}: no classes in the mapping file; expected 'label code' lines")
    rows.sort()
    first = rows[0][0]
    labels = [label for label, _ in rows]
    if labels != list(range(first, first + len(rows))):
        raise DatasetError(
            f"{where}: the labels are not consecutive ({_ranges(labels)}); expected "
            f"{first}..{first + len(rows) - 1}, one line each"
        )
    return first, [name for _, name in rows]


def _name(chars: list[str], split: str) -> str:
    if len(chars) == 2:
        big, small = chars
        name = small if big.lower() == small and big != small else big + small
    else:
        name = chars[0]
    return name.lower() if split == "letters" else name


def _ranges(labels: list[int]) -> str:
    shown = ", ".join(map(str, labels[:8]))
    return shown + (", ..." if len(labels) > 8 else "")
