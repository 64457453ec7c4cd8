"""What dropout and augmentation cost in training speed (issue 17's speed target).

    python benchmarks/noise_speed.py [--reps 5] [--base DIR]

784-256-10 at batch 64 on 20,000 Fashion-MNIST rows, 2 threads: samples/s of numrec
with both off, and with dropout 0.5 on the hidden layer plus shift=2,rotate=10
augmentation; with ``--base DIR`` (an unpacked numrec without them, e.g. ``git archive
BASE | tar -x -C DIR``) also that numrec with both off, to show that they cost nothing
when off. Every run is a fresh process; the configurations alternate, rep by rep, so a
noisy neighbour slows them alike; medians are reported.
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
NOISY = {"dropout": [0.5], "augment": "shift=2,rotate=10"}

RUN = """
import json, sys
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
history = numrec.train(net, data, epochs=3, batch_size=64, threads=2, lr=0.01,
                       schedule="constant", validation_fraction=0, progress=False, **settings)
print(json.dumps([numrec.__file__, [h["samples_per_s"] for h in history]]))
"""


def one_run(settings: dict, base: str | None) -> float:
    env = dict(os.environ)
    if base:
        env["PYTHONPATH"] = base
    code = RUN.format(here=str(HERE), settings=json.dumps(settings))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    path, speeds = json.loads(out.strip().splitlines()[-1])
    if base:
        assert path.startswith(base), path  # the base numrec was the one imported
    return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--base", help="an unpacked numrec without dropout/augmentation")
    args = parser.parse_args()
    configs = {"off": ({}, None), "dropout+shift/rotate": (NOISY, None)}
    if args.base:
        configs = {"base (no noise code)": ({}, args.base), **configs}
    speeds: dict[str, list[float]] = {name: [] for name in configs}
    for rep in range(args.reps):
        for name, (settings, base) in configs.items():
            speeds[name].append(one_run(settings, base))
        print(f"rep {rep + 1}: " + ", ".join(f"{n} {s[-1]:.0f}" for n, s in speeds.items()),
              flush=True)  # fmt: skip
    off = statistics.median(speeds["off"])
    print("\nmedian samples/s (784-256-10, batch 64, 2 threads):")
    for name, values in speeds.items():
        m = statistics.median(values)
        print(f"  {name:24s} {m:8.0f}  ({100 * (m / off - 1):+.1f} % vs off)")


if __name__ == "__main__":
    main()
