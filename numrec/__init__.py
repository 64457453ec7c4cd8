"""numrec: dense neural networks trained fast on the CPU.

    import numrec
    ds = numrec.load_dataset("mnist-sample")
    net = numrec.Network([784, 128, 10], seed=0)
    history = numrec.train(net, ds, epochs=3)

The engine is compiled with Numba (``numrec.kernels``); data sets come from pluggy
plugins (``numrec.hookspecs``). Names are imported lazily so that ``import numrec``
stays quick and loads no plugin.
"""

from __future__ import annotations

from importlib import import_module

# first: a console script interrupted while importing exits 130 quietly (see the module)
from . import _early_signals  # noqa: F401
from .dataset import Dataset, Split
from .errors import DatasetError, DownloadError
from .hookspecs import hookimpl
from .spec import DatasetSpec, Option

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "Network": "numrec.network",
    "TrainConfig": "numrec.config",
    "NetworkConfig": "numrec.config",
    "train": "numrec.training",
    "TrainingInterrupted": "numrec.training",
    "load_dataset": "numrec.plugins",
    "list_datasets": "numrec.plugins",
}

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetSpec",
    "DownloadError",
    "Option",
    "Split",
    "hookimpl",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'numrec' has no attribute {name!r}")
