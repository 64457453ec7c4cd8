"""Finding and reading one EMNIST split: from the official zip, or from extracted files.

From ``gzip.zip`` only the split's five members are read, each streamed straight into
``numrec.idx``, which inflates the gzip into one buffer of the size its IDX header
declares (checked against what the member can hold first): nothing is extracted to disk,
the other splits are never touched, and an encrypted or oversized member is refused.
A folder may instead hold the extracted files, gzipped or not, directly or under
``gzip/`` (torchvision's ``raw/`` folder works too, whose mapping files are gone).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from numrec import DatasetError
from numrec.fileio import check_member, open_member, read_exactly
from numrec.idx import read_idx

from . import resources

_MAX_MAPPING = 1 << 20  # the official mapping files are under 1 kB


@dataclass
class RawSplit:
    """The split's arrays as the files store them, and its mapping text (None if absent)."""

    arrays: list[np.ndarray]  # train images, train labels, test images, test labels
    names: list[str]  # where each array came from, for messages
    mapping: str | None
    mapping_name: str


@dataclass(frozen=True)
class Source:
    """Where a split is read from: the official zip, or a folder of extracted files."""

    path: Path
    kind: str  # "zip" or "folder"

    def identity(self, split: str) -> list:
        """What the split's files are now (path, size, mtime): a key for the parse cache."""
        if self.kind == "zip":
            paths = [self.path]
        else:
            idx_files, mapping = self._files(split)
            paths = idx_files + ([mapping] if mapping else [])
        stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        return [self.kind, stats]

    def read(self, split: str, progress: bool = True) -> RawSplit:
        if self.kind == "zip":
            return _read_zip(self.path, split, progress)
        paths, mapping = self._files(split)
        arrays = [read_idx(p) for p in paths]
        text = _decode(mapping.read_bytes(), str(mapping)) if mapping else None
        return RawSplit(arrays, [str(p) for p in paths], text, str(mapping or ""))

    def _files(self, split: str) -> tuple[list[Path], Path | None]:
        """The four IDX files (each .gz or not, here or in gzip/) and the mapping, if any."""
        folders = [self.path, self.path / resources.ZIP_FOLDER]
        found, missing = [], []
        for name in resources.file_names(split):
            hits = [f / n for f in folders for n in (name + ".gz", name) if (f / n).is_file()]
            if hits:
                found.append(hits[0])
            else:
                missing.append(name + "[.gz]")
        if missing:
            raise DatasetError(
                f"{self.path}: missing {', '.join(missing)} for EMNIST split {split!r}; "
                f"expected the official {resources.ZIP_NAME} or its extracted files here"
            )
        name = resources.mapping_name(split)
        mapping = next((f / name for f in folders if (f / name).is_file()), None)
        return found, mapping


def find_source(data_dir: Path, split: str) -> Source:
    """The source in ``data_dir``: its ``gzip.zip`` if any, else its extracted files."""
    data_dir = Path(data_dir).expanduser()
    if data_dir.is_file() and zipfile.is_zipfile(data_dir):
        return Source(data_dir, "zip")  # the zip itself given: accept it
    if not data_dir.is_dir():
        raise DatasetError(
            f"{data_dir}: not a folder; data_dir must be a folder holding the official "
            f"EMNIST {resources.ZIP_NAME} or its extracted emnist-{split}-* files"
        )
    if (data_dir / resources.ZIP_NAME).is_file():
        return Source(data_dir / resources.ZIP_NAME, "zip")
    source = Source(data_dir, "folder")
    source._files(split)  # raises, naming what is missing
    return source


def _read_zip(path: Path, split: str, progress: bool) -> RawSplit:
    try:
        archive_size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            members = _members(zf, path, split)
            for info in members:
                if info is not None:  # encrypted, or sizes the archive cannot hold
                    check_member(f"{path}:{info.filename}", info, archive_size)
            total = sum(m.file_size for m in members[:4])
            with tqdm(
                total=total, desc=f"reading emnist-{split}", unit="B", unit_scale=True,
                unit_divisor=1024, leave=False, disable=None if progress else True,
            ) as bar:  # fmt: skip
                arrays = []
                for info in members[:4]:
                    # streamed straight into the IDX reader: no buffer sized from the
                    # member's claimed size, and the IDX header bounds what is inflated
                    where = f"{path}:{info.filename}"
                    with open_member(zf, info, where) as member:
                        stream = _Counted(member, bar)
                        arrays.append(read_idx(stream, name=where, size=info.file_size))
                mapping = members[4]
                text = None
                if mapping is not None:
                    where = f"{path}:{mapping.filename}"
                    if mapping.file_size > _MAX_MAPPING:
                        raise DatasetError(
                            f"{where}: {mapping.file_size:,} bytes; expected a mapping file "
                            f"of a few hundred 'label code' lines"
                        )
                    with open_member(zf, mapping, where) as member:
                        raw = read_exactly(member, mapping.file_size, str(path), mapping.filename)
                    text = _decode(raw.tobytes(), where)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as e:
        raise DatasetError(
            f"{path}: a damaged zip file ({e}); expected the official EMNIST "
            f"{resources.ZIP_NAME} - delete it and fetch it again"
        ) from e
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from e
    names = [f"{path}:{m.filename}" for m in members[:4]]
    return RawSplit(arrays, names, text, f"{path}:{mapping.filename}" if mapping else "")


class _Counted:
    """A zip member stream that moves a progress bar by what is read from it."""

    def __init__(self, stream, bar) -> None:
        self.stream, self.bar = stream, bar

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.bar.update(len(data))
        return data

    def readinto(self, buf) -> int:
        got = self.stream.readinto(buf)
        self.bar.update(got)
        return got


def _members(zf: zipfile.ZipFile, path: Path, split: str) -> list:
    """The zip entries of the four IDX files and the mapping (None if the zip lacks it).

    Entries are matched by file name, in whatever folder, so a re-zipped copy works.
    """
    by_name = {os.path.basename(i.filename): i for i in zf.infolist() if not i.is_dir()}
    wanted = [n + ".gz" for n in resources.file_names(split)]
    found = [by_name.get(n) or by_name.get(n.removesuffix(".gz")) for n in wanted]
    missing = [n for n, info in zip(wanted, found, strict=True) if info is None]
    if missing:
        raise DatasetError(
            f"{path}: no {', '.join(missing)} in the zip; expected the official EMNIST "
            f"{resources.ZIP_NAME} with {resources.ZIP_FOLDER}/{wanted[0]} and the like"
        )
    return found + [by_name.get(resources.mapping_name(split))]


def _decode(data: bytes | bytearray, where: str) -> str:
    try:
        return bytes(data).decode("ascii")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{where}: not a text file ({e}); expected 'label code' lines") from e
