"""Finding the images of a folder data set: which layout, which classes, which files.

Two layouts, told apart by the folder names directly inside ROOT:

- ``ROOT/<class>/...``: every image of a class under its folder; the loader splits them
  into train and test (``test_fraction``, per class, seeded);
- ``ROOT/train/<class>/...`` and ``ROOT/test/<class>/...`` (and ``ROOT/validation/<class>``
  where present): the split is the folders'. Chosen when ROOT holds a ``train`` folder.

Class names are the class folders' names in sorted order (Python's: by code point, so
``B`` before ``a`` and ``10`` before ``2``); class i is the i-th name. Images are found in
class folders and any folders inside them, in sorted order of their paths. Hidden files
and folders (names starting with ".") are skipped, and so are files whose name does not
end in an extension of a format Pillow reads (e.g. ``notes.txt``, ``labels.csv``): both
are counted in ``ignored``. A file with an image extension that does not decode is an
error (or skipped with ``on_error=skip``), never silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from numrec import DatasetError

from .prep import image_extensions

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class ImageFile:
    """One image: its path relative to ROOT ("/"-separated), class and file status."""

    path: str
    label: int
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[str, int, int]:
        """What the parse cache compares: a file with another size or time is read again."""
        return (self.path, self.size, self.mtime_ns)


@dataclass
class FolderLayout:
    """What ``scan`` found: the layout, the class names and the images of each part."""

    root: Path
    kind: str  # "classes" (ROOT/<class>) or "splits" (ROOT/train/<class>, ...)
    class_names: list[str]
    parts: dict[str, list[ImageFile]]  # "all" (kind "classes") or "train"/"validation"/"test"
    ignored: list[str] = field(default_factory=list)  # hidden and non-image files
    loose: list[str] = field(default_factory=list)  # images outside any class folder

    @property
    def files(self) -> list[ImageFile]:
        return [f for part in self.parts.values() for f in part]


def scan(root: Path) -> FolderLayout:
    """The layout of the image folder ``root``; DatasetError if it cannot be used."""
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "a file, not a folder" if root.exists() else "no such folder"
        raise DatasetError(
            f"{root}: {what}; expected a folder of class folders (ROOT/<class>/<image>)"
        )
    extensions = image_extensions()
    walker = _Walker(root, extensions)
    folders = walker.children(root)
    if "train" in folders:
        layout = _split_layout(root, folders, walker)
    else:
        classes = sorted(folders)
        _check_classes(root, classes, walker.loose)
        parts = {"all": walker.class_files(classes, root, "")}
        layout = FolderLayout(root, "classes", classes, parts)
    layout.ignored = walker.ignored
    layout.loose = walker.loose
    return layout


def _split_layout(root: Path, folders: list[str], walker: _Walker) -> FolderLayout:
    if "test" not in folders:
        raise DatasetError(
            f"{root}: has a train folder but no test folder; expected ROOT/train/<class> and "
            f"ROOT/test/<class> (or class folders directly in ROOT, split by test_fraction)"
        )
    present = [s for s in SPLITS if s in folders]
    names: dict[str, list[str]] = {}
    for split in present:
        names[split] = sorted(walker.children(root / split))
    classes = names["train"]
    _check_classes(root / "train", classes, [])
    for split in present[1:]:
        extra = sorted(set(names[split]) - set(classes))
        if extra:
            raise DatasetError(
                f"{root / split / extra[0]}: class {extra[0]!r} has no folder in "
                f"{root / 'train'}; expected the test and validation classes among the "
                f"training classes ({', '.join(classes)})"
            )
    parts = {split: walker.class_files(names[split], root / split, f"{split}/", classes)
             for split in present}  # fmt: skip
    return FolderLayout(root, "splits", classes, parts)


def _check_classes(where: Path, classes: list[str], loose: list[str]) -> None:
    if len(classes) >= 2:
        return
    hint = (
        f" ({len(loose)} image file(s) lie directly in it: move each into its class's folder)"
        if loose
        else ""
    )
    if not classes:
        raise DatasetError(
            f"{where}: no class folders{hint}; expected one folder per class, "
            f"e.g. {where / 'cat'} and {where / 'dog'}, each holding that class's images"
        )
    raise DatasetError(
        f"{where}: only one class folder ({classes[0]!r}); a classifier needs two or more "
        f"classes, one folder each"
    )


class _Walker:
    """Lists folders, skipping hidden entries and non-images (remembered in ``ignored``)."""

    def __init__(self, root: Path, extensions: frozenset[str]) -> None:
        self.root = root
        self.extensions = extensions
        self.ignored: list[str] = []
        self.loose: list[str] = []  # images directly in ROOT (or ROOT/train...): no class

    def _relative(self, path: str) -> str:
        # plain strings: pathlib costs more than the listing itself on 10,000 files
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def children(self, folder: Path) -> list[str]:
        """The visible sub-folders of ``folder`` (its files belong to no class)."""
        folders = []
        for entry in self._entries(folder):
            relative = self._relative(entry.path)
            if entry.name.startswith("."):
                self.ignored.append(relative)
            elif entry.is_dir():
                folders.append(entry.name)
            else:
                (self.loose if self._is_image(entry.name) else self.ignored).append(relative)
        return folders

    def class_files(
        self, names: list[str], folder: Path, prefix: str, classes: list[str] | None = None
    ) -> list[ImageFile]:
        """The images of each class folder ``folder/<name>``, class by class."""
        index = {name: i for i, name in enumerate(classes or names)}
        files: list[ImageFile] = []
        for name in names:
            found: list[ImageFile] = []
            self._collect(folder / name, index[name], found, set())
            if not found:
                raise DatasetError(
                    f"{folder / name}: no image files in this class folder (an empty class); "
                    f"add images of {name!r} or remove the folder"
                    + self._ignored_note(f"{prefix}{name}/")
                )
            files += sorted(found, key=lambda f: f.path)
        return files

    def _collect(self, folder: Path, label: int, found: list[ImageFile], seen: set) -> None:
        # a folder reached twice through symbolic links is read once (no endless loops)
        key = os.path.realpath(folder)
        if key in seen:
            return
        seen.add(key)
        prefix = self._relative(folder) + "/"
        for entry in self._entries(folder):
            if entry.name.startswith("."):
                self.ignored.append(prefix + entry.name)
            elif entry.is_dir():
                self._collect(Path(entry.path), label, found, seen)
            elif self._is_image(entry.name):
                try:
                    st = entry.stat()
                except OSError as e:
                    why = e.strerror or e
                    raise DatasetError(f"{entry.path}: cannot read it: {why}") from None
                found.append(ImageFile(prefix + entry.name, label, st.st_size, st.st_mtime_ns))
            else:
                self.ignored.append(prefix + entry.name)

    def _ignored_note(self, prefix: str) -> str:
        n = sum(1 for p in self.ignored if p.startswith(prefix))
        return f" ({n} hidden or non-image file(s) in it are ignored)" if n else ""

    def _is_image(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self.extensions

    @staticmethod
    def _entries(folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise DatasetError(f"{folder}: cannot list the folder: {e.strerror or e}") from None
