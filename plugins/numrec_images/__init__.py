"""numrec_images: the ``images`` data set plugin - your own pictures, a folder per class.

A built-in numrec plugin written exactly as an outside one would be: it imports only
numrec's public names (plus ``numrec.download`` for the cache folder and
``numrec.imageprep`` for the MNIST preparation) and provides the ``register_datasets``
hook (see ``plugin``). ``prepare_file`` and ``ImagePrep`` are what ``numrec-predict``
uses to prepare an image as a model's training images were.
"""

from .plugin import load_images, register_datasets
from .prep import ImagePrep, prepare_file

__all__ = ["ImagePrep", "load_images", "prepare_file", "register_datasets"]
