"""Model and checkpoint files: ``.npz`` holding float32 arrays plus one JSON metadata string.

    save_network(net, "model.npz", dataset="mnist")     # what Network.save calls
    net = load_network("model.npz")                     # also reads the seed's text models
    save_checkpoint("run.ckpt.npz", trainer, {"args": {...}})
    state, extra = load_checkpoint("run.ckpt.npz")      # trainer.load_state_dict(state)

Files are written through ``numrec.fileio`` (a temporary file in the destination's
folder, fsynced and renamed into place), so a crash or a ``kill -9`` in the middle of a
save leaves the previous file whole. Reading never unpickles and never reads, writes or
downloads anything the file names: each array is parsed from its ``.npy`` header, whose
dtype and shape are checked against the metadata, the member's size in the zip and what
its compressed bytes can hold *before* any memory is allocated, and compressed members
are inflated in bounded chunks. A malformed or hostile file ends in one ``ValueError``
(a ``DatasetError``) naming the file and what was expected; every stored value is checked
by the rule of the numrec-train flag it came from.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DatasetError
from .fileio import atomic_write, check_member, open_member, read_exactly, verify_member
from .network import Network

FORMAT = "numrec-model"
CHECKPOINT_FORMAT = "numrec-checkpoint"
FORMAT_VERSION = 1
_META = "meta"  # the array holding the JSON string
_MAX_META_CHARS = 16 << 20  # a model's metadata is a few kB; refuse absurd ones


# --- writing ----------------------------------------------------------------------------


def _atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` + ``meta`` (as JSON) to ``path`` atomically (``numrec.fileio``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(
            f"{path}: is a folder; give a file name such as {path / 'model.npz'}"
        )
    if path.suffix != ".npz":
        # np.savez would append .npz to a file object's name anyway; be explicit instead
        raise ValueError(f"{path}: model and checkpoint files must end in .npz")
    text = json.dumps(meta, allow_nan=True)
    with atomic_write(path) as out:
        np.savez(out, **{_META: np.array(text)}, **arrays)
    return path


def save_network(net: Network, path: str | os.PathLike, **meta: Any) -> Path:
    """Save ``net`` as ``.npz``: its flat float32 ``theta`` and JSON metadata (architecture,
    class names, data set, input scaling, numrec version, plus ``meta``). Atomic."""
    info = dict(net.meta)
    info.update(meta)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "numrec_version": __version__,
        "architecture": net.config(),
        "n_params": net.n_params,
        "class_names": None if net.class_names is None else [str(c) for c in net.class_names],
        "dataset": info.pop("dataset", None),
        # how inputs are scaled before the first layer: uint8 rows by 1/255, floats as is
        "input_scaling": info.pop("input_scaling", "uint8 pixels / 255; float32 as is"),
        "meta": _jsonable(info),
    }
    return _atomic_savez(path, {"theta": net.theta}, document)


CHECKPOINT_ARRAYS = ("theta", "m", "v", "best_theta")


def save_checkpoint(path: str | os.PathLike, trainer, extra: dict | None = None) -> Path:
    """Save everything ``trainer.load_state_dict`` needs to continue bit-identically,
    plus ``extra`` (JSON-able: e.g. the command line that made the run). Atomic."""
    state = trainer.state_dict()
    arrays = {k: np.asarray(state[k], dtype=np.float32) for k in CHECKPOINT_ARRAYS}
    scalars = {k: v for k, v in state.items() if k not in arrays}
    document = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "numrec_version": __version__,
        "architecture": trainer.net.config(),
        "class_names": trainer.net.class_names,
        "state": _jsonable(scalars),
        "extra": _jsonable(extra or {}),
    }
    return _atomic_savez(path, arrays, document)


def _jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars and arrays, tuples and paths converted)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --- reading ----------------------------------------------------------------------------

_MAX_NPY_HEADER = 1 << 16  # numpy writes headers of a few hundred bytes
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_NAME_CHARS = 200  # a data set name or a class name; anything longer is not one


def load_network(path: str | os.PathLike) -> Network:
    """Read a model written by ``save_network``; a checkpoint written by numrec-train (its
    current weights; ``net.meta["source_format"]`` is then "checkpoint"); or a text model
    written by the seed project (sections [layers], [weights], [biases], [alpha])."""
    path = Path(path).expanduser()
    head = _head(path)
    if head.startswith(b"PK"):
        return _load_npz_network(path)
    if head.lstrip().startswith(b"[layers]"):
        from .seedformat import load_seed_text

        return load_seed_text(path)
    raise DatasetError(
        f"{path}: not a numrec model: expected a .npz file written by numrec "
        f"(Network.save / numrec-train --save) or a seed text model starting with [layers]"
    )


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """(state, extra): ``state`` for ``Trainer.load_state_dict``, ``extra`` as saved."""
    path = Path(path).expanduser()
    if not _head(path).startswith(b"PK"):
        raise DatasetError(f"{path}: not a numrec checkpoint (expected a .npz file)")
    with _NpzReader(path) as npz:
        doc = npz.meta((CHECKPOINT_FORMAT,))
        arch = _architecture(path, doc)
        n = _n_params(arch["sizes"])
        state = _field(path, doc, "state", dict)
        for key in ("step", "epoch", "batch", "seed", "epochs", "batch_size"):
            _field(path, state, key, int, where="state")
        for key in ("partial", "history"):
            _field(path, state, key, list, where="state")
        _field(path, state, "optimizer", dict, where="state")
        state = dict(state)
        state["theta"] = npz.array("theta", (n,))
        state["m"] = npz.array("m", (n,))
        adam = str(state["optimizer"].get("name", "")).startswith("adam")
        state["v"] = npz.array("v", (n if adam else 0,))
        # the best epoch's weights (early stopping), once there is a best epoch
        selection = state.get("selection")
        best = isinstance(selection, dict) and selection.get("best_epoch") is not None
        state["best_theta"] = npz.array("best_theta", (n if best else 0,))
        extra = dict(_field(path, doc, "extra", dict))
        extra["architecture"] = arch
        extra["class_names"] = _class_names(path, doc, arch)
    return state, extra


def _head(path: Path) -> bytes:
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, not a model file")
    try:
        with open(path, "rb") as f:
            return f.read(64)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from e


def _load_npz_network(path: Path) -> Network:
    with _NpzReader(path) as npz:
        doc = npz.meta((FORMAT, CHECKPOINT_FORMAT))
        arch = _architecture(path, doc)
        theta = npz.array("theta", (_n_params(arch["sizes"]),))
        # only now, with the parameters read, is the network's memory allocated
        net = _network(path, arch)
        net.theta[:] = theta
        del theta
        net.class_names = _class_names(path, doc, arch)
        if doc["format"] == CHECKPOINT_FORMAT:
            net.meta = {"source_format": "checkpoint"}
            extra = doc.get("extra")
            run = extra.get("run") if isinstance(extra, dict) else None  # numrec-train's
            dataset = run.get("dataset") if isinstance(run, dict) else None
            if dataset is not None:
                net.meta["dataset"] = _dataset_name(path, dataset)
            return net
        meta = doc.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise DatasetError(f"{path}: metadata field 'meta' must be an object, got {meta!r:.60}")
        net.meta = dict(meta or {})
        if "image_shape" in net.meta:
            net.meta["image_shape"] = _image_shape(path, net.meta["image_shape"], arch)
        if doc.get("dataset") is not None:
            net.meta["dataset"] = _dataset_name(path, doc["dataset"])
        for key in ("input_scaling", "numrec_version"):
            value = doc.get(key)
            if value is not None:
                if not isinstance(value, str) or len(value) > _MAX_NAME_CHARS:
                    raise DatasetError(
                        f"{path}: metadata field {key!r} must be a short text, got {value!r:.60}"
                    )
                net.meta[key] = value
    return net


class _NpzReader:
    """Reads named float32 arrays and the JSON string out of an .npz, never unpickling,
    and never allocating more than the members' checked sizes (``numrec.fileio``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.size = os.path.getsize(path)
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise DatasetError(f"{path}: not a valid .npz (zip) file: {e}") from e

    def __enter__(self) -> _NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def _info(self, name: str) -> zipfile.ZipInfo:
        try:
            info = self.zip.getinfo(f"{name}.npy")
        except KeyError:
            raise DatasetError(
                f"{self.path}: not a numrec file: it has no {name!r} array"
            ) from None
        check_member(str(self.path), info, self.size)
        return info

    def _header(self, name: str, info: zipfile.ZipInfo):
        """(dtype, shape, header bytes) of member ``name``.npy, read within 64 kB."""
        with open_member(self.zip, info, str(self.path)) as stream:
            try:
                prefix = stream.read(10)
                if len(prefix) < 10 or not prefix.startswith(b"\x93NUMPY"):
                    raise ValueError("not a .npy array (no \\x93NUMPY magic)")
                major = prefix[6]
                if major == 1:
                    length = int.from_bytes(prefix[8:10], "little")
                elif major in (2, 3):
                    prefix += stream.read(2)
                    length = int.from_bytes(prefix[8:12], "little")
                else:
                    raise ValueError(f"unsupported .npy version {major}")
                if length > _MAX_NPY_HEADER:
                    raise ValueError(f"a header of {length:,} bytes (numpy writes < 1 kB)")
                text = stream.read(length)
                if len(text) != length:
                    raise ValueError("the header is cut short")
                buf = io.BytesIO(prefix + text)
                version = np.lib.format.read_magic(buf)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read(buf)
            except (ValueError, OSError, zipfile.BadZipFile, EOFError, SyntaxError) as e:
                raise DatasetError(f"{self.path}: {name}.npy has a malformed header: {e}") from None
        if fortran and len(shape) > 1:
            raise DatasetError(f"{self.path}: {name}.npy is Fortran-ordered; expected C order")
        return dtype, tuple(shape), len(prefix) + len(text)

    def _data(self, name: str, info: zipfile.ZipInfo, header: int, nbytes: int) -> np.ndarray:
        """The ``nbytes`` after the header, once the member is shown to hold them."""
        if info.file_size != header + nbytes:
            raise DatasetError(
                f"{self.path}: {name}.npy is {info.file_size:,} bytes in the zip, but its "
                f"header declares {header + nbytes:,}"
            )
        verify_member(self.zip, info, str(self.path))
        with open_member(self.zip, info, str(self.path)) as stream:
            read_exactly(stream, header, str(self.path), f"{name}.npy")
            return read_exactly(stream, nbytes, str(self.path), f"{name}.npy")

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Member ``name`` as a float32 array of exactly ``shape``."""
        info = self._info(name)
        dtype, got, header = self._header(name, info)
        if dtype != np.dtype("<f4") and dtype != np.dtype(">f4"):
            raise DatasetError(f"{self.path}: {name!r} must be float32, got dtype {dtype}")
        if got != tuple(shape):
            raise DatasetError(
                f"{self.path}: {name!r} has shape {got!r:.80}; the architecture in the "
                f"file's metadata needs {tuple(shape)}"
            )
        n = 1
        for d in shape:
            n *= d
        raw = self._data(name, info, header, 4 * n)
        values = raw.view(dtype).reshape(shape)
        if dtype.byteorder == ">":
            values = values.astype(np.float32)
        if not np.isfinite(values).all():
            raise DatasetError(f"{self.path}: {name!r} contains NaN or inf")
        return values

    def meta(self, formats: tuple[str, ...]) -> dict:
        """The JSON metadata, checked to be a document of one of ``formats``."""
        info = self._info(_META)
        dtype, shape, header = self._header(_META, info)
        if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * _MAX_META_CHARS:
            raise DatasetError(
                f"{self.path}: the 'meta' entry must be one JSON text string, "
                f"got dtype {dtype} shape {shape}"
            )
        raw = self._data(_META, info, header, dtype.itemsize)
        try:
            text = str(raw.view(dtype)[0])
        except (ValueError, UnicodeError) as e:
            raise DatasetError(f"{self.path}: the metadata is not text: {e}") from None
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError, ValueError) as e:
            raise DatasetError(f"{self.path}: the metadata is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise DatasetError(f"{self.path}: the metadata must be a JSON object")
        found = doc.get("format")
        if not isinstance(found, str) or found not in formats:
            what = {FORMAT: "a model", CHECKPOINT_FORMAT: "a checkpoint"}.get(
                found if isinstance(found, str) else ""
            )
            hint = f" (it is {what})" if what else ""
            wanted = " or ".join(repr(f) for f in formats)
            kind = formats[0].split("-")[1]
            raise DatasetError(
                f"{self.path}: not a numrec {kind} file: format is {found!r:.60}, "
                f"expected {wanted}{hint}"
            )
        version = doc.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise DatasetError(
                f"{self.path}: format_version must be a whole number from 1, got {version!r:.40}"
            )
        if version > FORMAT_VERSION:
            raise DatasetError(
                f"{self.path}: format version {version} is newer than this numrec reads "
                f"({FORMAT_VERSION}); upgrade numrec"
            )
        return doc


def _field(path: Path, doc: dict, key: str, kind: type, where: str = "metadata"):
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DatasetError(
            f"{path}: {where} field {key!r} must be {kind.__name__}, got {value!r:.60}"
        )
    return value


def _architecture(path: Path, doc: dict) -> dict:
    """The stored architecture, checked by the rules of numrec-train's flags."""
    arch = _field(path, doc, "architecture", dict)
    sizes = arch.get("sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)
    ):
        raise DatasetError(
            f"{path}: architecture 'sizes' must list 2 or more positive layer sizes, "
            f"got {sizes!r:.80}"
        )
    allowed = {"sizes", "hidden", "alpha", "output", "loss", "init", "huber_delta"}
    arch = {k: v for k, v in arch.items() if k in allowed}
    for key in ("hidden", "output", "loss", "init"):  # --activation, --output, --loss, --init
        if (
            key in arch
            and not (arch[key] is None and key == "loss")
            and not isinstance(arch[key], str)
        ):
            raise DatasetError(
                f"{path}: architecture {key!r} must be a name, got {arch[key]!r:.40}"
            )
    if "alpha" in arch:
        arch["alpha"] = _number(path, "alpha", arch["alpha"])
    if "huber_delta" in arch:  # --huber-delta's rule: a positive number
        delta = _number(path, "huber_delta", arch["huber_delta"])
        if delta <= 0:
            raise DatasetError(f"{path}: architecture 'huber_delta' must be positive, got {delta}")
        arch["huber_delta"] = delta
    return arch


def _number(path: Path, key: str, number) -> float:
    """--alpha's rule (and the start of --huber-delta's): a number, 0 or more, that the
    float32 engine can hold; the message names the architecture field ``key``."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise DatasetError(f"{path}: architecture {key!r} must be a number, got {number!r:.40}")
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not (math.isfinite(value) and 0.0 <= value <= _FLOAT32_MAX):
        raise DatasetError(
            f"{path}: architecture {key!r} must be a finite number from 0 to "
            f"{_FLOAT32_MAX:.4g} (float32), got {str(number)[:40]}"
        )
    return value


def _n_params(sizes: list[int]) -> int:
    return sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def _network(path: Path, arch: dict) -> Network:
    try:
        return Network(**arch, seed=0)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: unusable architecture: {e}") from None


def _class_names(path: Path, doc: dict, arch: dict) -> list[str] | None:
    names = doc.get("class_names")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != arch["sizes"][-1]:
        raise DatasetError(
            f"{path}: 'class_names' must list {arch['sizes'][-1]} names, one per output"
        )
    for name in names:
        if isinstance(name, bool) or not isinstance(name, (str, int, float)):
            raise DatasetError(f"{path}: a class name must be a text, got {name!r:.40}")
    return [str(n) for n in names]


def _dataset_name(path: Path, name) -> str:
    """--dataset's rule: a data set name (a short word), never a path or options."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > _MAX_NAME_CHARS
        or not all(c.isalnum() or c in "-_." for c in name)
    ):
        raise DatasetError(
            f"{path}: metadata field 'dataset' must be a data set name such as 'mnist', "
            f"got {name!r:.60}"
        )
    return name


def _image_shape(path: Path, shape, arch: dict) -> list[int] | None:
    """A data set's image shape: (rows, cols) or (rows, cols, channels) of positive whole
    numbers whose product is the model's number of inputs."""
    if shape is None:
        return None
    ok = (
        isinstance(shape, list)
        and len(shape) in (2, 3)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
    )
    if ok:
        count = 1
        for s in shape:
            count *= s
        ok = count == arch["sizes"][0]
    if not ok:
        raise DatasetError(
            f"{path}: metadata 'image_shape' must be [rows, cols] (or with channels) of "
            f"positive whole numbers making the model's {arch['sizes'][0]} inputs, "
            f"got {shape!r:.60}"
        )
    return list(shape)
