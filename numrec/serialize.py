"""Model and checkpoint files: ``.npz`` holding float32 arrays plus one JSON metadata string.

    save_network(net, "model.npz", dataset="mnist")     # what Network.save calls
    net = load_network("model.npz")                     # also reads the seed's text models
    save_checkpoint("run.ckpt.npz", trainer, {"args": {...}})
    state, extra = load_checkpoint("run.ckpt.npz")      # trainer.load_state_dict(state)

Files are written to a temporary file in the destination's folder and renamed into place
(``os.replace``), so a crash or a ``kill -9`` in the middle of a save leaves the previous
file whole. Reading never unpickles: each array is parsed from its ``.npy`` header, whose
dtype and shape are checked against the metadata *before* any memory is allocated, so a
malformed or hostile file costs no more than its own size and ends in one ``ValueError``
(a ``DatasetError``) naming the file and what was expected.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DatasetError
from .network import Network

FORMAT = "numrec-model"
CHECKPOINT_FORMAT = "numrec-checkpoint"
FORMAT_VERSION = 1
_META = "meta"  # the array holding the JSON string
_MAX_META_CHARS = 16 << 20  # a model's metadata is a few kB; refuse absurd ones


# --- writing ----------------------------------------------------------------------------


def _atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` + ``meta`` (as JSON) to ``path`` via a temp file and os.replace."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(
            f"{path}: is a folder; give a file name such as {path / 'model.npz'}"
        )
    if path.suffix != ".npz":
        # np.savez would append .npz to a file object's name anyway; be explicit instead
        raise ValueError(f"{path}: model and checkpoint files must end in .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(meta, allow_nan=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open would
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **{_META: np.array(text)}, **arrays)
            out.flush()
            os.fsync(out.fileno())  # the data must be on disk before the rename is
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it...
    os.umask(mask)  # ...and put it back at once
    return mask


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


def load_network(path: str | os.PathLike) -> Network:
    """Read a model written by ``save_network``, or a text model written by the seed
    project (sections [layers], [weights], [biases], [alpha])."""
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
        doc = npz.meta(CHECKPOINT_FORMAT)
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
        doc = npz.meta(FORMAT)
        arch = _architecture(path, doc)
        theta = npz.array("theta", (_n_params(arch["sizes"]),))
        net = _network(path, arch)
        net.theta[:] = theta
        net.class_names = _class_names(path, doc, arch)
        meta = doc.get("meta")
        net.meta = dict(meta) if isinstance(meta, dict) else {}
        for key in ("dataset", "input_scaling", "numrec_version"):
            if doc.get(key) is not None:
                net.meta[key] = doc[key]
    return net


class _NpzReader:
    """Reads named float32 arrays and the JSON string out of an .npz, never unpickling."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise DatasetError(f"{path}: not a valid .npz (zip) file: {e}") from e

    def __enter__(self) -> _NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def _open(self, name: str):
        """(stream, dtype, shape) of member ``name``.npy, after reading its header."""
        try:
            stream = self.zip.open(f"{name}.npy")
        except KeyError:
            raise DatasetError(
                f"{self.path}: not a numrec file: it has no {name!r} array"
            ) from None
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:
            raise DatasetError(f"{self.path}: damaged zip member {name}.npy: {e}") from e
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran, dtype = read_header(stream)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            stream.close()
            raise DatasetError(f"{self.path}: {name}.npy has a malformed header: {e}") from e
        if fortran and len(shape) > 1:
            stream.close()
            raise DatasetError(f"{self.path}: {name}.npy is Fortran-ordered; expected C order")
        return stream, dtype, shape

    def _read(self, stream, name: str, nbytes: int) -> bytes:
        try:
            data = stream.read(nbytes)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise DatasetError(f"{self.path}: damaged data in {name}.npy: {e}") from e
        finally:
            stream.close()
        if len(data) != nbytes:
            raise DatasetError(
                f"{self.path}: {name}.npy is truncated: expected {nbytes} bytes, got {len(data)}"
            )
        return data

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Member ``name`` as a float32 array of exactly ``shape``."""
        stream, dtype, got = self._open(name)
        if dtype != np.dtype("<f4") and dtype != np.dtype(">f4"):
            stream.close()
            raise DatasetError(f"{self.path}: {name!r} must be float32, got dtype {dtype}")
        if tuple(got) != tuple(shape):
            stream.close()
            raise DatasetError(
                f"{self.path}: {name!r} has shape {tuple(got)}; the architecture in the "
                f"file's metadata needs {tuple(shape)}"
            )
        data = self._read(stream, name, int(np.prod(shape)) * 4)
        values = np.frombuffer(data, dtype=dtype).astype(np.float32).reshape(shape)
        if not np.isfinite(values).all():
            raise DatasetError(f"{self.path}: {name!r} contains NaN or inf")
        return values

    def meta(self, expected_format: str) -> dict:
        """The JSON metadata, checked to be a document of ``expected_format``."""
        stream, dtype, shape = self._open(_META)
        if dtype.kind != "U" or shape != () or dtype.itemsize > 4 * _MAX_META_CHARS:
            stream.close()
            raise DatasetError(
                f"{self.path}: the 'meta' entry must be one JSON text string, "
                f"got dtype {dtype} shape {shape}"
            )
        raw = self._read(stream, _META, dtype.itemsize)
        text = str(np.frombuffer(raw, dtype=dtype)[0])
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise DatasetError(f"{self.path}: the metadata is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise DatasetError(f"{self.path}: the metadata must be a JSON object")
        if doc.get("format") != expected_format:
            what = {FORMAT: "a model", CHECKPOINT_FORMAT: "a checkpoint"}.get(doc.get("format"))
            hint = f" (it is {what})" if what else ""
            raise DatasetError(
                f"{self.path}: not a numrec {expected_format.split('-')[1]} file: format is "
                f"{doc.get('format')!r}, expected {expected_format!r}{hint}"
            )
        version = doc.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise DatasetError(
                f"{self.path}: format version {version!r} is newer than this numrec reads "
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
    return {k: v for k, v in arch.items() if k in allowed}


def _n_params(sizes: list[int]) -> int:
    return sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


def _network(path: Path, arch: dict) -> Network:
    alpha = arch.get("alpha", 0.01)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha):
        raise DatasetError(f"{path}: architecture 'alpha' must be a number, got {alpha!r:.40}")
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
    return [str(n) for n in names]
