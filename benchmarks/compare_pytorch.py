"""numrec versus PyTorch (CPU) on Fashion-MNIST: training samples/s, side by side.

    python benchmarks/compare_pytorch.py [--repeats 5] [--threads 2] [--sizes 784,256,10]
                                         [--batches 64,512]

Same network (leaky ReLU 0.01, softmax + cross-entropy), same optimizer (SGD with
momentum 0.9, lr 0.05), same batch size and thread count, float32 inputs on both sides.
One "run" is one epoch over the 60,000 training images; numrec and PyTorch runs
alternate, and the table shows medians and the ratio numrec / PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dataset, fashion_mnist, median, table, timed  # noqa: E402

import numrec  # noqa: E402
from numrec.training import Trainer  # noqa: E402

LR, MOMENTUM = 0.05, 0.9  # SGD with momentum, on both sides


def numrec_epoch(sizes, X, y, batch, threads, seed):
    net = numrec.Network(sizes, seed=seed)
    trainer = Trainer(
        net,
        dataset(X, y),
        epochs=1,
        batch_size=batch,
        lr=LR,
        momentum=MOMENTUM,
        threads=threads,
        seed=seed,
        schedule="constant",
        validation_fraction=0,  # the same rows as PyTorch's epoch
        progress=False,
    )
    trainer.run()
    return trainer.history[-1]["seconds"]


def torch_model(sizes, threads, seed, start=None):
    """PyTorch's twin of ``numrec.Network(sizes)`` with its optimizer and loss: (model,
    optimizer, loss). Its own initialisation, or the weights of ``start`` (a Network)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.LeakyReLU(0.01))
    if start is not None:
        with torch.no_grad():
            for layer, W, b in zip(layers[::2], start.weights, start.biases):
                layer.weight.copy_(torch.from_numpy(W.copy()))
                layer.bias.copy_(torch.from_numpy(b.copy()))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    return model, opt, torch.nn.CrossEntropyLoss()


def torch_pass(model, opt, loss_fn, X, y, perm, batch) -> None:
    """One epoch over torch tensors X, y in the order ``perm``."""
    for i in range(0, len(y), batch):
        idx = perm[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(X[idx]), y[idx]).backward()
        opt.step()


def torch_epoch(sizes, X, y, batch, threads, seed):
    import torch

    model, opt, loss_fn = torch_model(sizes, threads, seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    perm = torch.randperm(len(y))
    return timed(torch_pass, model, opt, loss_fn, Xt, yt, perm, batch)[0]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="784,256,10")
    p.add_argument("--batches", default="64,512")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    X8, y, _, _ = fashion_mnist()
    X = (X8 / np.float32(255)).astype(np.float32)
    n = len(y)
    numrec_epoch(sizes, X[:512], y[:512], 64, args.threads, 0)  # compile / load the cache
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(n / numrec_epoch(sizes, X, y, batch, args.threads, r))
            theirs.append(n / torch_epoch(sizes, X, y, batch, args.threads, r))
        a, b = median(ours), median(theirs)
        rows.append(["-".join(map(str, sizes)), batch, f"{a:,.0f}", f"{b:,.0f}", f"{a / b:.2f}x"])
        print(
            f"batch {batch}: numrec {a:,.0f}/s  pytorch {b:,.0f}/s  ratio {a / b:.2f}", flush=True
        )
    print()
    print(f"threads={args.threads}, medians of {args.repeats} alternated one-epoch runs, samples/s")
    print(table(rows, ["network", "batch", "numrec", "PyTorch", "ratio"]))


if __name__ == "__main__":
    main()
