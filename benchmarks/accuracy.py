"""The two targets of issue 6 that are not speeds: the same test accuracy as PyTorch with
the same settings (within half a point), and weights bit-identical for any thread count;
and issue 17's: the same test accuracy as PyTorch with the same dropout and augmentation.

Used by ``targets.py``; on its own:

    python benchmarks/accuracy.py [--epochs 5] [--seeds 10] [--noise-epochs 5]
                                  [--noise-seeds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dataset, fashion_mnist  # noqa: E402
from compare_pytorch import LR, MOMENTUM, torch_model, torch_pass  # noqa: E402

import numrec  # noqa: E402
from numrec.training import Trainer  # noqa: E402

SIZES = [784, 256, 10]
BATCH = 64  # the speed rows' settings


def numrec_accuracy(X, y, Xt, yt, epochs: int, seed: int) -> float:
    """Test accuracy (%) after ``epochs`` epochs of numrec with the benchmark's settings."""
    data = dataset(X, y, Xt, yt)
    net = numrec.Network(SIZES, seed=seed)
    history = numrec.train(net, data, epochs=epochs, batch_size=BATCH, lr=LR, momentum=MOMENTUM,
                           threads=2, seed=seed, schedule="constant", validation_fraction=0,
                           progress=False)  # fmt: skip
    return 100 * history[-1]["test_accuracy"]


def torch_accuracy(X, y, Xt, yt, epochs: int, seed: int) -> float:
    """The same network, starting weights, loss, optimizer, batch size and epochs in
    PyTorch, reshuffled every epoch; test accuracy in %. (The starting weights are
    numrec's for this seed: PyTorch's own initialisation is smaller than He's, and at 5
    epochs that alone moved the accuracy by about half a point.)"""
    import torch

    start = numrec.Network(SIZES, seed=seed)
    model, opt, loss_fn = torch_model(SIZES, 2, seed, start=start)
    Xs, ys = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        torch_pass(model, opt, loss_fn, Xs, ys, torch.randperm(len(ys)), BATCH)
    with torch.no_grad():
        predicted = model(torch.from_numpy(Xt)).argmax(1).numpy()
    return 100 * float((predicted == yt).mean())


def accuracy_row(X, y, Xt, yt, epochs: int = 5, seeds: int = 10, noise: bool = False) -> list[str]:
    """Mean test accuracy over ``seeds`` paired runs (a seed fixes the starting weights
    of both; the data order is each framework's own). Single runs differ by about a
    point: at this learning rate the test accuracy still moves from epoch to epoch.

    With ``noise``, issue 17's comparison instead (``noisy_gaps``): dropout DROPOUT and
    augmentation AUGMENT on both sides, a cosine schedule, numrec's data order, starting
    weights and augmented images given to PyTorch, each its own dropout masks, on the
    first NOISE_ROWS training rows. Settings for it: NOISE_EPOCHS, NOISE_SEEDS."""
    if noise:
        X, y = X[:NOISE_ROWS], y[:NOISE_ROWS]
        X8 = np.rint(X * 255).astype(np.uint8)  # X is X8 / 255 in float32: exactly back
        Xt8 = np.rint(Xt * 255).astype(np.uint8)
        if not (
            np.array_equal(X8 / np.float32(255), X) and np.array_equal(Xt8 / np.float32(255), Xt)
        ):
            raise ValueError("noise=True needs X and Xt as uint8 pixels / 255 in float32")
        ours, theirs = noisy_gaps(X8, y, Xt8, yt, epochs, seeds)
        measure = (f"test accuracy, dropout {DROPOUT}, augment {AUGMENT}, cosine lr, {epochs} "
                   f"epochs on {len(y)} rows (mean of {seeds} paired seeds)")  # fmt: skip
    else:
        ours = [numrec_accuracy(X, y, Xt, yt, epochs, s) for s in range(seeds)]
        theirs = [torch_accuracy(X, y, Xt, yt, epochs, s) for s in range(seeds)]
        measure = f"test accuracy, {epochs} epochs (mean of {seeds} seeds)"
    gaps = [a - b for a, b in zip(ours, theirs)]
    gap = statistics.mean(gaps)
    error = statistics.stdev(gaps) / len(gaps) ** 0.5 if len(gaps) > 1 else float("nan")
    return [
        "784-256-10",
        measure,
        f"{statistics.mean(ours):.2f} %",
        f"{statistics.mean(theirs):.2f} %",
        "-",
        f"{gap:+.2f} +- {error:.2f} points",
        "within 0.5 points",
        "met" if abs(gap) <= 0.5 else f"off by {abs(gap) - 0.5:.2f} points",
    ]


# issue 17's comparison: Fashion-MNIST's recipe's regularisation, with a small rotation
DROPOUT = 0.2
AUGMENT = "shift=2,rotate=10,flip"
NOISE_ROWS = 60_000  # of Fashion-MNIST's 60,000 training rows (fewer: a quicker check)
NOISE_EPOCHS, NOISE_SEEDS = 10, 8


def noisy_trainer(X8, y, Xt8, yt, epochs: int, seed: int) -> Trainer:
    """numrec's Trainer with issue 17's comparison settings (not yet run)."""
    data = dataset(X8, y, Xt8, yt)
    data = numrec.Dataset(data.name, data.train, data.test, data.class_names,
                          meta={"image_shape": (28, 28)})  # fmt: skip
    # one thread (numrec's weights are the same for any thread count): on this shared
    # 2-core machine two threads waited on each other, several times slower than one
    return Trainer(numrec.Network(SIZES, seed=seed), data, epochs=epochs, batch_size=BATCH,
                   lr=LR, momentum=MOMENTUM, threads=1, seed=seed, schedule="cosine",
                   validation_fraction=0, dropout=(DROPOUT,), augment=AUGMENT,
                   progress=False)  # fmt: skip


def torch_noisy_accuracy(trainer: Trainer, X8, y, Xt8, yt) -> float:
    """PyTorch trained as ``trainer`` (not run) would train numrec: the same starting
    weights, each epoch's sample order and per-batch learning rates (cosine), numrec's
    momentum form (v <- mu v - lr g; w <- w + v) and numrec's augmented images of that
    epoch (``augmented_rows``: the transformation drawn for each (seed, epoch, sample));
    torch.nn.Dropout(DROPOUT) after the hidden layer, with PyTorch's own masks. Test
    accuracy in %."""
    import torch

    from numrec.kernels.augment import augmented_rows

    # one thread: on this shared 2-core machine two of PyTorch's threads waited on each other
    model, _, loss_fn = torch_model(SIZES, 1, trainer.seed, start=trainer.net)
    model = torch.nn.Sequential(model[0], model[1], torch.nn.Dropout(DROPOUT), model[2])
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    ys, rows = torch.from_numpy(y), np.arange(len(y), dtype=np.int64)
    n_batches = trainer.batches_per_epoch
    model.train()
    for epoch in range(trainer.epochs):
        Xs = torch.from_numpy(augmented_rows(X8, rows, np.float32(1 / 255), trainer.noise(epoch)))
        order = torch.from_numpy(trainer.steps.epoch_rows(trainer, trainer.order(epoch)))
        lrs = trainer.optimizer.learning_rates(epoch, n_batches, trainer.epochs)
        for b in range(n_batches):
            idx = order[b * BATCH : (b + 1) * BATCH]
            for p in params:
                p.grad = None
            loss_fn(model(Xs[idx]), ys[idx]).backward()
            with torch.no_grad():
                for p, v in zip(params, velocity):
                    v.mul_(MOMENTUM).sub_(p.grad, alpha=float(lrs[b]))
                    p.add_(v)
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(Xt8 / np.float32(255))).argmax(1).numpy()
    return 100 * float((predicted == yt).mean())


def noisy_gaps(X8, y, Xt8, yt, epochs: int, seeds: int) -> tuple[list[float], list[float]]:
    """(numrec's, PyTorch's) test accuracies in % for seeds 0 .. seeds-1, paired: the
    seed fixes both frameworks' starting weights, data order and augmented images, so
    the pairs differ by the dropout masks (and rounding) alone."""
    ours, theirs = [], []
    for seed in range(seeds):
        trainer = noisy_trainer(X8, y, Xt8, yt, epochs, seed)
        start = time.perf_counter()
        theirs.append(torch_noisy_accuracy(trainer, X8, y, Xt8, yt))
        middle = time.perf_counter()
        trainer.run()
        ours.append(100 * trainer.history[-1]["test_accuracy"])
        print(f"seed {seed}: numrec {ours[-1]:.2f} % ({time.perf_counter() - middle:.0f} s), "
              f"PyTorch {theirs[-1]:.2f} % ({middle - start:.0f} s)", flush=True)  # fmt: skip
    return ours, theirs


def weights_digest(X, y, batch: int, threads: int) -> str:
    data = dataset(X, y)
    net = numrec.Network(SIZES, seed=0)
    numrec.train(net, data, epochs=1, batch_size=batch, lr=LR, momentum=MOMENTUM,
                 threads=threads, seed=0, schedule="constant", validation_fraction=0,
                 progress=False)  # fmt: skip
    return hashlib.sha256(net.theta.tobytes()).hexdigest()


def reproducibility_row(X, y) -> list[str]:
    """One epoch at batches 64 and 512 with 1 and 2 threads: the SHA-256 of the weights."""
    same = all(
        weights_digest(X, y, batch, 1) == weights_digest(X, y, batch, 2) for batch in (64, 512)
    )
    return [
        "784-256-10",
        "weights, threads 1 vs 2 (1 epoch, batches 64 and 512)",
        "bit-identical" if same else "DIFFERENT",
        "-",
        "-",
        "-",
        "bit-identical",
        "met" if same else "not met",
    ]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--noise-epochs", type=int, default=NOISE_EPOCHS)
    p.add_argument("--noise-seeds", type=int, default=NOISE_SEEDS, help="0: skip the noisy row")
    args = p.parse_args(argv)
    X8, y, Xt8, yt = fashion_mnist()
    X = (X8 / np.float32(255)).astype(np.float32)
    Xt = (Xt8 / np.float32(255)).astype(np.float32)
    print(accuracy_row(X, y, Xt, yt, args.epochs, args.seeds))
    print(reproducibility_row(X, y))
    if args.noise_seeds:
        print(accuracy_row(X, y, Xt, yt, args.noise_epochs, args.noise_seeds, noise=True))


if __name__ == "__main__":
    main()
