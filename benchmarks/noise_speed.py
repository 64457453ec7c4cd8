"""What dropout and augmentation cost in training speed (issue 17's speed target).

    python benchmarks/noise_speed.py [--reps 5] [--base DIR] [--old DIR]

784-256-10 at batch 64 on 20,000 Fashion-MNIST rows: the CPU time per training sample
of numrec with both off, with dropout 0.5 on the hidden layer, with shift=2,rotate=10
augmentation, and with both; with ``--base DIR`` (an unpacked numrec without them, e.g.
``git archive BASE numrec | tar -x -C DIR``) also that numrec, to show that they cost
nothing when off; with ``--old DIR`` (an unpacked earlier numrec) every configuration
also in that one, to compare two versions of the noise code. Every run is a fresh
process; the runs alternate, rep by rep; medians are reported, as microseconds per
sample and as samples/s of that thread (10^6 / microseconds).

CPU time of one thread, not wall-clock samples/s: on a machine shared with other jobs
the wall clock of a 2-thread run swung by 4x between identical runs (5,400 to 22,000
samples/s), while a single thread's CPU time per sample stays within a few per cent;
the kernels' work per sample is the same for any thread count (pass 1 is split by
rows, so augmentation and dropout are shared out with the rest of it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "off": {},
    "dropout 0.5": {"dropout": [0.5]},
    "shift=2,rotate=10": {"augment": "shift=2,rotate=10"},
    "dropout 0.5 + shift=2,rotate=10": {"dropout": [0.5], "augment": "shift=2,rotate=10"},
}

RUN = """
import json, sys, time
sys.path.insert(0, {here!r})
from common import dataset, fashion_mnist
import numrec
X, y, _, _ = fashion_mnist()
data = dataset(X[:20000], y[:20000])
settings = json.loads({settings!r})
net = numrec.Network([784, 256, 10], seed=0)
if settings:  # image shape for augmentation
    data = numrec.Dataset(data.name, data.train, data.test, data.class_names,
                          meta={{"image_shape": (28, 28)}})
    settings.setdefault("augment", None)  # what the config names, not augment="auto"
args = dict(batch_size=64, threads=1, lr=0.01, schedule="constant", validation_fraction=0,
            progress=False, **settings)
numrec.train(net, data, epochs=0, **args)  # compiled (or loaded) first
start = time.process_time()
numrec.train(net, data, epochs=1, **args)
print(json.dumps([numrec.__file__, 1e6 * (time.process_time() - start) / len(data.train)]))
"""


def one_run(settings: dict, base: str | None) -> float:
    """CPU microseconds per training sample of one epoch in a fresh process."""
    env = dict(os.environ)
    if base:
        env["PYTHONPATH"] = base
    code = RUN.format(here=str(HERE), settings=json.dumps(settings))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    path, micros = json.loads(out.strip().splitlines()[-1])
    if base:
        assert path.startswith(base), path  # the base numrec was the one imported
    return micros


def report(speeds: dict[str, list[float]], off: str) -> None:
    """Medians, and each one's cost against the median of ``off``."""
    base = statistics.median(speeds[off])
    for name, values in speeds.items():
        m = statistics.median(values)
        print(f"  {name:40s} {m:6.2f} us  {1e6 / m:8.0f} samples/s  "
              f"({100 * (m / base - 1):+.1f} % time; {100 * (base / m - 1):+.1f} % samples/s "
              f"vs {off})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--base", help="an unpacked numrec without dropout/augmentation")
    parser.add_argument("--old", help="an unpacked earlier numrec: every configuration in both")
    args = parser.parse_args()
    configs = {name: (settings, None) for name, settings in CONFIGS.items()}
    if args.old:
        configs = {f"{v} {name}": (settings, base) for name, settings in CONFIGS.items()
                   for v, base in (("new", None), ("old", args.old))}  # fmt: skip
    if args.base:
        configs = {"base (no noise code)": ({}, args.base), **configs}
    speeds: dict[str, list[float]] = {name: [] for name in configs}
    for rep in range(args.reps):
        order = list(configs.items())
        if rep % 2:  # the same neighbours before and after each run, on average
            order.reverse()
        for name, (settings, base) in order:
            speeds[name].append(one_run(settings, base))
        print(f"rep {rep + 1}: " + ", ".join(f"{n} {s[-1]:.2f}" for n, s in speeds.items()),
              flush=True)  # fmt: skip
    print("\nmedian CPU time per sample (784-256-10, batch 64, one thread):")
    if args.old:
        for v in ("new", "old"):
            report({n: s for n, s in speeds.items() if n.startswith(v)}, f"{v} off")
    else:
        report(speeds, "off")


if __name__ == "__main__":
    main()
