"""Every speed target of the engine in one table: numrec, PyTorch and scikit-learn side by
side, with ratios, the FLOP/s efficiency, thread scaling, compile times, inference, and
the two targets that are not speeds (test accuracy against PyTorch, weights identical for
any thread count; see accuracy.py).

    python benchmarks/targets.py [--repeats 5] [--quick]

Training runs are one epoch over Fashion-MNIST's 60,000 training images (float32 on
every side),
SGD with momentum 0.9 and lr 0.05, 2 threads; runs alternate between the frameworks;
medians are reported. The efficiency is numrec's achieved FLOP/s at batch
512 over the machine's single-precision matrix-multiply peak, measured in the same run
as numpy's 2048x2048 float32 product on 2 threads (the fastest of 15, at three points of
the run). FLOPs per sample: forward 2P, weight
gradients 2P, input gradients 2P for every layer but the first (P = weights of the
layers concerned).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import accuracy_row, reproducibility_row  # noqa: E402
from common import fashion_mnist, median, table  # noqa: E402
from compare_pytorch import numrec_epoch, torch_epoch  # noqa: E402

import numrec  # noqa: E402


def shortfall(ratio: float, target: float) -> str:
    """ "met", or how far below the target a ratio is."""
    return "met" if ratio >= target else f"short by {100 * (1 - ratio / target):.0f} %"


def flops_per_sample(sizes) -> int:
    weights = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 4 * sum(weights) + 2 * sum(weights[1:])


def matmul_peak(repeats: int = 5) -> float:
    """FLOP/s of the fastest of ``repeats`` 2048x2048 float32 products on 2 threads: a
    peak is what the machine can do, so the best run, not the median (main() takes the
    best of three such calls spread over the whole run: the machine's speed swings)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    with threadpool_limits(2):
        a @ a
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - start)
    return 2 * 2048**3 / min(times)


def sklearn_epoch(sizes, X, y, batch) -> float:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        solver="sgd",
        momentum=0.9,
        nesterovs_momentum=False,
        learning_rate_init=0.05,
        batch_size=batch,
        max_iter=1,
        shuffle=True,
        random_state=0,
        tol=0,
    )
    start = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    return time.perf_counter() - start


# (layer sizes, batch, target ratio to PyTorch, training rows per run; None: all 60,000).
# Whole epochs for the wide networks too: on the first 12,800 rows PyTorch's per-run
# start-up weighed more and 784-1024-1024-10 showed 1.48x where whole epochs give ~1.25x.
CASES = [
    ([784, 256, 10], 32, 2.0, None),
    ([784, 256, 10], 64, 2.0, None),
    ([784, 256, 10], 512, 1.3, None),
    ([784, 512, 256, 10], 128, 1.5, None),
    ([784, 1024, 1024, 10], 128, 1.3, None),
    ([784, 2048, 2048, 10], 128, 1.1, None),
]


def training_rows(X, y, repeats, with_sklearn):
    """One row per case: samples/s of numrec and PyTorch, alternated run by run (and one
    run of scikit-learn's MLPClassifier for the first cases, to place it)."""
    rows = []
    for sizes, batch, target, n in CASES:
        Xc, yc = (X, y) if n is None else (X[:n], y[:n])
        ours, torch_, skl = [], [], []
        for r in range(repeats):
            ours.append(len(yc) / numrec_epoch(sizes, Xc, yc, batch, 2, r))
            torch_.append(len(yc) / torch_epoch(sizes, Xc, yc, batch, 2, r))
            if with_sklearn and r == 0 and n is None:  # slow: one run is enough to place it
                skl.append(len(yc) / sklearn_epoch(sizes, Xc, yc, batch))
        a, b = median(ours), median(torch_)
        c = f"{median(skl):,.0f}/s" if skl else "-"
        rows.append(
            [
                "-".join(map(str, sizes)),
                f"train, batch {batch}" + ("" if n is None else f" ({n:,} rows)"),
                f"{a:,.0f}/s",
                f"{b:,.0f}/s",
                c,
                f"{a / b:.2f}x",
                f">= {target}x",
                shortfall(a / b, target),
            ]
        )
        print(rows[-1], flush=True)
    return rows


def estimator_row(X8, y, repeats) -> list[str]:
    """numrec.sklearn.MLPClassifier.fit against scikit-learn's MLPClassifier.fit, as a
    scikit-learn user calls them (sklearn_fit.py: float64 input, (256,), adam, batch 200,
    no early stopping), 3 iterations, alternated; issue 16's target is 3x."""
    from sklearn.neural_network import MLPClassifier
    from sklearn_fit import fit, settings

    import numrec.sklearn

    X = X8 / 255.0
    fit(numrec.sklearn.MLPClassifier(**settings(1, 0)), X[:2000], y[:2000])  # compiled
    ours, theirs = [], []
    for r in range(repeats):
        ours.append(fit(numrec.sklearn.MLPClassifier(**settings(3, r)), X, y))
        theirs.append(fit(MLPClassifier(**settings(3, r)), X, y))
    a, b = median(ours), median(theirs)
    return [
        "784-256-10",
        "sklearn estimator fit (adam, batch 200, 3 iterations, float64)",
        f"{a:.2f} s",
        "-",
        f"{b:.2f} s",
        f"{b / a:.2f}x",
        ">= 3x",
        shortfall(b / a, 3),
    ]


def scaling_row(X, y, repeats):
    n = len(y)
    one, two = [], []
    for r in range(repeats):
        one.append(n / numrec_epoch([784, 256, 10], X, y, 512, 1, r))
        two.append(n / numrec_epoch([784, 256, 10], X, y, 512, 2, r))
    ratio = median(two) / median(one)
    return [
        "784-256-10",
        "threads 2 / threads 1, batch 512",
        f"{median(two):,.0f}/s",
        f"{median(one):,.0f}/s (1 thread)",
        "-",
        f"{ratio:.2f}x",
        ">= 1.8x",
        shortfall(ratio, 1.8),
    ]


def inference_row(Xt, repeats):
    import torch

    net = numrec.Network([784, 256, 10], seed=0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.LeakyReLU(0.01),
        torch.nn.Linear(256, 10),
        torch.nn.Softmax(dim=1),
    )
    Xtorch = torch.from_numpy(Xt)
    net.predict(Xt, threads=2)
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        net.predict(Xt, threads=2)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        with torch.no_grad():
            model(Xtorch).argmax(1)
        theirs.append(time.perf_counter() - start)
    a, b = len(Xt) / median(ours), len(Xt) / median(theirs)
    return [
        "784-256-10",
        "predict 10,000 rows",
        f"{a:,.0f}/s",
        f"{b:,.0f}/s",
        "-",
        f"{a / b:.2f}x",
        ">= 3x",
        shortfall(a / b, 3),
    ]


def compile_rows():
    """Cold compile in a fresh cache directory, then a warm start, in new processes."""
    code = (
        "import time; t=time.perf_counter(); import numpy as np, numrec; "
        "X=np.zeros((64, 784), np.uint8); y=np.zeros(64, np.int64); "
        "ds=numrec.Dataset('z', numrec.Split(X, y), numrec.Split(X[:8], y[:8]), "
        "list('0123456789')); "
        "numrec.train(numrec.Network([784, 256, 10]), ds, epochs=1, progress=False); "
        "print(time.perf_counter()-t)"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}

        def run() -> float:
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
            return float(out.split()[-1])

        cold, warm = run(), run()
    return [
        [
            "any",
            "cold start to first batch (compile)",
            f"{cold:.1f} s",
            "-",
            "-",
            "-",
            "<= 10 s",
            "met" if cold <= 10 else f"over by {cold - 10:.0f} s",
        ],
        [
            "any",
            "warm start to first batch",
            f"{warm:.2f} s",
            "-",
            "-",
            "-",
            "<= 1 s",
            "met" if warm <= 1 else f"over by {warm - 1:.2f} s",
        ],
    ]


def machine() -> str:
    """The CPU model and the BLAS kernels in use: the targets hold on both kinds of CPU."""
    from threadpoolctl import threadpool_info

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]  # fmt: skip
    return f"{model}, {os.cpu_count()} cores; BLAS: {', '.join(sorted(set(blas)))}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="skip scikit-learn and the compile runs")
    args = p.parse_args(argv)
    X8, y, Xt8, yt = fashion_mnist()
    X = (X8 / np.float32(255)).astype(np.float32)
    Xt = (Xt8 / np.float32(255)).astype(np.float32)
    numrec_epoch([784, 256, 10], X[:512], y[:512], 64, 2, 0)  # load the compiled kernels
    for sizes, *_ in CASES[2:]:
        numrec_epoch(sizes, X[:512], y[:512], 64, 2, 0)
    peaks = [matmul_peak()]
    rows = training_rows(X, y, args.repeats, not args.quick)
    peaks.append(matmul_peak())
    scaling = scaling_row(X, y, args.repeats)
    peaks.append(matmul_peak())
    peak = max(peaks)
    at_512 = next(r for r in rows if r[0] == "784-256-10" and r[1] == "train, batch 512")
    achieved = float(at_512[2].rstrip("/s").replace(",", "")) * flops_per_sample([784, 256, 10])
    eff = achieved / peak
    rows.append(
        [
            "784-256-10",
            "FLOP/s at batch 512 / matmul peak",
            f"{achieved / 1e9:.0f} GFLOP/s",
            f"peak {peak / 1e9:.0f} GFLOP/s",
            "-",
            f"{100 * eff:.0f} %",
            ">= 75 %",
            "met" if eff >= 0.75 else f"short by {100 * (0.75 - eff):.0f} points",
        ]
    )
    rows.append(scaling)
    rows.append(inference_row(Xt, args.repeats * 4))
    rows.append(accuracy_row(X, y, Xt, yt))
    rows.append(reproducibility_row(X, y))
    if not args.quick:
        rows.append(estimator_row(X8, y, max(3, args.repeats // 2)))
        rows += compile_rows()
    print()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{machine()}; load average {load}")
    print(f"2 threads, medians of {args.repeats} alternated runs; Fashion-MNIST, float32")
    print(
        table(
            rows,
            [
                "network",
                "measure",
                "numrec",
                "PyTorch",
                "scikit-learn",
                "ratio",
                "target",
                "status",
            ],
        )
    )


if __name__ == "__main__":
    main()
