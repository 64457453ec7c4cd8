"""numrec's built-in plugin for the MNIST family: ``mnist``, ``fashion-mnist``, ``kmnist``
and ``mnist-sample`` (real digits shipped inside the package, no download).

It is written exactly as an outside plugin would be: it uses only numrec's public API
(plus ``numrec.idx`` and ``numrec.download``) and registers through the same hook. An
outside plugin would add, in its pyproject.toml::

    [project.entry-points.numrec]
    mnist = "numrec_mnist"
"""

from __future__ import annotations

from numrec import hookimpl

from . import sample
from .sources import FASHION_MNIST, KMNIST, MNIST, SOURCES, IdxSource

__all__ = ["FASHION_MNIST", "KMNIST", "MNIST", "SOURCES", "IdxSource", "register_datasets"]


@hookimpl
def register_datasets(register):
    for source in SOURCES:
        register(source.spec())
    register(sample.SPEC)
