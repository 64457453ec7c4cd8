"""numrec_csv: the ``csv`` data set plugin - classification, multi-label and
regression data from CSV files.

A built-in numrec plugin written exactly as an outside one would be: it imports only
numrec's public names and provides the ``register_datasets`` hook (see ``plugin``).
"""

from .plugin import load_csv, register_datasets

__all__ = ["load_csv", "register_datasets"]
