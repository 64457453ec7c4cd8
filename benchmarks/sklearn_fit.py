"""numrec's MLPClassifier versus scikit-learn's: fit time, test accuracy, memory, overhead.

    python benchmarks/sklearn_fit.py [--repeats 3] [--iterations 10] [--overhead-runs 30]

What a scikit-learn user writes: Fashion-MNIST's 60,000 training images as float64 in
[0, 1], ``hidden_layer_sizes=(256,)``, adam, batch 200, 10 iterations, no early stopping
(``n_iter_no_change`` above the iteration count, so both run every iteration). The two
estimators' fits alternate, each repeat with a new ``random_state``; the table shows
medians, the ratio, and each side's test accuracy on the 10,000 test images.

Memory: the peak of numrec's ``fit`` above what the process held before it, traced by
``tracemalloc`` (numpy's allocations) and as the peak resident set (VmHWM after resetting
it through /proc/self/clear_refs), against the size of the float64 input.

Per-fit overhead: the median time of a 1-iteration fit on iris (150 rows, 4 features),
where the arithmetic is negligible, and of ``predict`` on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fashion_mnist, median, table, timed  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import numrec.sklearn  # noqa: E402


def settings(iterations: int, seed: int) -> dict:
    return dict(
        hidden_layer_sizes=(256,),
        solver="adam",
        batch_size=200,
        max_iter=iterations,
        n_iter_no_change=iterations + 1,  # never stops early: every iteration runs
        early_stopping=False,
        random_state=seed,
    )


def fit(estimator, X, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seconds, _ = timed(estimator.fit, X, y)
    return seconds


def _status(key: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def peak_memory(X, y, iterations: int) -> dict:
    """Peak bytes of one numrec fit above the memory held before it."""
    est = numrec.sklearn.MLPClassifier(**settings(1, 0))
    fit(est, X[:1000], y[:1000])  # imports, compiled code, thread pools: outside
    est = numrec.sklearn.MLPClassifier(**settings(iterations, 0))
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        rss_before = _status("VmRSS")
    except OSError:
        rss_before = None
    tracemalloc.start()
    fit(est, X, y)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = _status("VmHWM") - rss_before if rss_before is not None else None
    return {"traced": traced, "rss": rss}


def overhead(runs: int) -> list[list[str]]:
    X, y = load_iris(return_X_y=True)
    rows = []
    for name, make in (("numrec", numrec.sklearn.MLPClassifier),
                       ("scikit-learn", neural_network.MLPClassifier)):  # fmt: skip
        est = make(hidden_layer_sizes=(10,), max_iter=1, random_state=0)
        fit(est, X, y)  # warm
        fits = [fit(make(hidden_layer_sizes=(10,), max_iter=1, random_state=0), X, y)
                for _ in range(runs)]  # fmt: skip
        predicts = [timed(est.predict, X)[0] for _ in range(runs)]
        rows.append([name, f"{median(fits) * 1e3:.2f} ms", f"{median(predicts) * 1e3:.3f} ms"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--overhead-runs", type=int, default=30)
    args = parser.parse_args()

    X8, y, Xt8, yt = fashion_mnist()
    X, Xt = X8 / 255.0, Xt8 / 255.0  # float64, as scikit-learn users pass it
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores (other jobs slow both sides)")
    print(f"Fashion-MNIST: {X.shape[0]} training rows, float64 input of {X.nbytes / 2**20:.0f} MiB")
    # compile / import both sides before any timing
    fit(numrec.sklearn.MLPClassifier(**settings(1, 0)), X[:2000], y[:2000])

    times = {"numrec": [], "scikit-learn": []}
    accuracy = {"numrec": [], "scikit-learn": []}
    for r in range(args.repeats):
        for name, make in (("numrec", numrec.sklearn.MLPClassifier),
                           ("scikit-learn", neural_network.MLPClassifier)):  # fmt: skip
            est = make(**settings(args.iterations, r))
            seconds = fit(est, X, y)
            times[name].append(seconds)
            accuracy[name].append(est.score(Xt, yt))
            print(f"  repeat {r + 1} {name}: fit {seconds:.1f} s, test accuracy "
                  f"{accuracy[name][-1]:.4f}", flush=True)  # fmt: skip
    t_ours, t_theirs = median(times["numrec"]), median(times["scikit-learn"])
    rows = [
        [name, f"{median(times[name]):.1f} s", f"{np.mean(accuracy[name]) * 100:.2f} %",
         " ".join(f"{a * 100:.2f}" for a in accuracy[name])]
        for name in times
    ]  # fmt: skip
    print()
    print(table(rows, ["estimator", "fit (median)", "test accuracy (mean)", "per repeat"]))
    gap = (np.mean(accuracy["numrec"]) - np.mean(accuracy["scikit-learn"])) * 100
    print(f"\nnumrec is {t_theirs / t_ours:.2f}x faster; accuracy difference {gap:+.2f} points")

    peak = peak_memory(X, y, args.iterations)
    size = X.nbytes
    print(f"\npeak memory of numrec's fit over the float64 input ({size / 2**20:.0f} MiB): "
          f"traced {peak['traced'] / 2**20:.0f} MiB ({peak['traced'] / size:.2f}x)"
          + (f", resident {peak['rss'] / 2**20:.0f} MiB ({peak['rss'] / size:.2f}x)"
             if peak["rss"] is not None else ""))  # fmt: skip

    print("\nper-fit overhead on iris (150 rows, 1 iteration, hidden (10,)):")
    print(table(overhead(args.overhead_runs), ["estimator", "fit (median)", "predict (median)"]))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n(total {time.perf_counter() - start:.0f} s; load average now {load})")
