"""numrec_emnist: the ``emnist`` data set plugin - NIST's Extended MNIST, upright.

A built-in numrec plugin written exactly as an outside one would be: it uses numrec's
public names (plus ``numrec.idx`` and ``numrec.download``) and provides the
``register_datasets`` hook. See ``plugin`` for what it loads and how.
"""

from .plugin import load_emnist, register_datasets

__all__ = ["load_emnist", "register_datasets"]
