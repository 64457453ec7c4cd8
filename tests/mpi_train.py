"""Train a small network through the Python API, as one process or as one MPI rank.

    python tests/mpi_train.py OUT.npz OPTIMIZER BATCH [noisy]    # one process
    mpiexec -n 2 python tests/mpi_train.py OUT.npz OPTIMIZER BATCH [noisy]

Under an MPI launcher every rank runs a ``Trainer`` with the ``MpiSteps`` strategy on the
same arguments; rank
0 writes the weights and the history to OUT.npz. The data: 1,001 synthetic uint8 rows
(an odd count, so the ranks' shares and the last batch are uneven) in 4 classes,
declared 4 x 5 images; ``noisy`` trains with dropout, augmentation and label smoothing
(without it, none of them: not even the default ``augment="auto"``).
"""

from __future__ import annotations

import json
import sys

import numpy as np

import numrec
from numrec.distributed import MpiSteps
from numrec.mpi import world
from numrec.training import Trainer


def dataset(n_train: int = 1001, n_test: int = 203) -> numrec.Dataset:
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, size=(n_train + n_test, 20), dtype=np.uint8)
    y = (X[:, 0] > X[:, 1]).astype(np.int64) + 2 * (X[:, 2] > 128)
    train = numrec.Split(X[:n_train], y[:n_train])
    test = numrec.Split(X[n_train:], y[n_train:])
    return numrec.Dataset("synthetic", train, test, ["a", "b", "c", "d"],
                          meta={"image_shape": (4, 5)})  # fmt: skip


NOISY = dict(dropout=(0.2,), input_dropout=0.1, augment="shift=1,rotate=10,scale=0.1,flip",
             label_smoothing=0.1)  # fmt: skip


def main(out: str, optimizer: str, batch: int, noisy: bool = False) -> None:
    net = numrec.Network([20, 12, 4], seed=5)
    options = dict(epochs=4, batch_size=batch, optimizer=optimizer, progress=False, seed=11,
                   schedule="constant", patience=2,
                   lr=0.05 if optimizer.startswith("adam") else 0.1, weight_decay=1e-4,
                   **(NOISY if noisy else {"augment": None}))  # fmt: skip
    comm = world()
    steps = None if comm is None else MpiSteps(comm)
    trainer = Trainer(net, dataset(), steps=steps, **options)
    history = trainer.run()
    if comm is None or comm.is_root:
        ranks = 1 if comm is None else comm.size
        np.savez(out, theta=net.theta, history=json.dumps(history), ranks=ranks)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["noisy"])
