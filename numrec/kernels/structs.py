"""The named structures the compiled kernels take: what travels between Python and Numba.

Numba compiles a ``NamedTuple`` to the same machine code as a plain tuple (the fields
are just slots), so naming them costs nothing at run time and lets every caller write
``workspace.grad`` instead of ``ws[4]``. They are built by public methods of
``numrec.Network`` (``params``, ``codes``, ``plan``, ``workspace``) and by
``numrec.optim.Optimizer.kernel_args``; nothing outside ``network.py`` and ``kernels/``
needs to know their field order.

The classes live at module level so that Numba's disk cache can name their types.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Params(NamedTuple):
    """The network's parameters: one flat float32 vector and where each layer lies in it.

    ``W[l]`` is ``theta[w_off[l] : w_off[l] + sizes[l+1] * sizes[l]]`` (row-major, (out,
    in)) and ``b[l]`` is ``theta[b_off[l] : b_off[l] + sizes[l+1]]``."""

    theta: np.ndarray  # float32 (n_params,)
    w_off: np.ndarray  # int64 (layers,)
    b_off: np.ndarray  # int64 (layers,)
    sizes: np.ndarray  # int64 (layers + 1,)


class Codes(NamedTuple):
    """What the network computes: activation codes (``codes.HIDDEN``, ``codes.OUTPUT``),
    leaky ReLU's slope below zero, the Huber loss's ``delta`` (read by code 5 only) and
    the label smoothing of the training targets (``onehot``; 0 for the network itself,
    the trainer sets ``TrainConfig.label_smoothing``)."""

    hidden: int
    output: int
    alpha: np.float32
    delta: np.float32
    smoothing: np.float32 = np.float32(0.0)


class Plan(NamedTuple):
    """How a mini-batch of up to ``batch`` rows is laid out and split (``Network.plan``).

    Offsets into the workspace's flat buffers: layer ``l``'s activations at
    ``a_off[l]`` (batch rows each), its per-shard deltas at ``d_off[l]`` (shard rows) and
    its transposed deltas at ``t_off[l]``; ``tasks`` the (layer, first unit, end unit)
    blocks of pass 2 (``step.task_plan``); ``shard_rows`` the rows of one shard."""

    a_off: np.ndarray
    d_off: np.ndarray
    t_off: np.ndarray
    tasks: np.ndarray
    shard_rows: int


class Workspace(NamedTuple):
    """The buffers of one training step, sized by a ``Plan`` (``Network.workspace``)."""

    acts: np.ndarray  # float32, activations of every layer, batch rows each
    deltas: np.ndarray  # float32 (shards, shard rows * hidden+output units)
    deltas_t: np.ndarray  # float32, the deltas transposed: (units, batch) per layer
    targets: np.ndarray  # float32 (shards, shard rows, outputs)
    grad: np.ndarray  # float32 (n_params,): the gradient, mean over the batch


class OptimizerArgs(NamedTuple):
    """The update rule as the kernels take it (``Optimizer.kernel_args``); ``code`` from
    ``codes.OPTIMIZERS``, or ``step.GRADIENT_ONLY`` for no update."""

    code: int
    momentum: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float


class OptimizerState(NamedTuple):
    """The optimizer's memory: first and second moments (momentum's velocity is ``m``)
    and Adam's step count ``step``, a one-element int64 array."""

    m: np.ndarray
    v: np.ndarray
    step: np.ndarray


class Noise(NamedTuple):
    """The random parts of one training epoch, dropout and augmentation, keyed by (seed,
    epoch, global sample index) through ``kernels.random`` (``numrec.noise`` builds it).

    ``row_offset`` is the global index of this process's row 0 (MPI ranks hold a share
    of the rows). ``dropout[l]`` is the rate of hidden layer l+1 (empty: none);
    ``input_dropout`` that of the inputs.

    Augmentation (``height == 0``: none), drawn anew per sample and epoch: ``shift`` in
    whole pixels, dx and dy each uniform in -shift..shift; ``rotate`` in degrees, the
    angle uniform in [-rotate, rotate]; ``scale``, the zoom factor uniform in [1 - scale,
    1 + scale]; ``elastic`` and ``sigma`` (pixels), Simard et al.'s (2003) elastic
    distortion, uniform(-1, 1) displacements smoothed by a Gaussian of ``sigma`` times
    ``elastic``; ``flip``: mirrored left-right half the time. An image row is (height,
    width, channels), channels last.

    One flat tuple of scalars and an array: numba's parallel loops cannot take a tuple
    nested in a tuple."""

    seed: int
    epoch: int
    row_offset: int
    dropout: np.ndarray  # float32 (hidden layers,) or (0,)
    input_dropout: float
    shift: int
    rotate: float
    scale: float
    elastic: float
    sigma: float
    flip: bool
    height: int
    width: int
    channels: int


# The class of a Noise tells the compiler which of its parts an epoch uses: the fields
# are the same, but the class is part of the type numba compiles for, so an epoch
# without augmentation or dropout compiles the training step without their kernels
# (about 6 s of a cold start for augmentation, 2 s for dropout: kernels.variants).
class AugmentedNoise(Noise):
    """A Noise whose images are augmented (``height > 0``)."""

    __slots__ = ()


class DropoutNoise(Noise):
    """A Noise with dropout (a hidden layer's rate or ``input_dropout`` above 0)."""

    __slots__ = ()


class AugmentedDropoutNoise(AugmentedNoise, DropoutNoise):
    """Both."""

    __slots__ = ()


def noise_class(augmented: bool, dropout: bool) -> type[Noise]:
    """The Noise class of an epoch that augments and/or drops out."""
    return [[Noise, DropoutNoise], [AugmentedNoise, AugmentedDropoutNoise]][augmented][dropout]
