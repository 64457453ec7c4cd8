"""MPI scaling study (issue 8): measured compute and Allreduce time per step at 1 and 2
ranks on this machine, and a model of the speed-up at 8-64 ranks on cluster links.

    python benchmarks/scaling_mpi.py                       # about 4 minutes here
    python benchmarks/scaling_mpi.py --repeats 5 --save runs.json
    python benchmarks/scaling_mpi.py --load runs.json      # tables again, no measuring

The driver launches ``mpiexec -n 1`` and ``mpiexec -n 2`` copies of this script (the
workers), alternating them ``--repeats`` times so that a noisy neighbour slows both alike,
pools the per-step times of all launches and prints Markdown tables of medians.

What a worker times is numrec's own data-parallel step (``numrec.distributed``), piece
by piece, on real Fashion-MNIST: each rank's rows of the global batch come from
``MpiSteps.epoch_rows`` (at 1 rank: ``Trainer.order``), then ``kernels.step.batch_gradient``,
``Comm.allreduce_sum`` of the n_params + 2 float32 exchange buffer, and
``kernels.step.apply_update``. Ranks on this machine split its cores as the trainer does
(1 rank: 2 threads; 2 ranks: 1 thread each). The 1-rank worker also measures the compute
time c(b) at b = 1, 2, 4, ... rows: the per-rank cost the model at N ranks uses, assuming
one rank per node as fast as this 2-core machine. The 2-rank worker also calibrates the
Allreduce alone (after a barrier) from 8 bytes to the largest gradient. See SCALING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scaling_model as model  # noqa: E402
from common import FASHION, median, table  # noqa: E402

NETWORKS = ([784, 256, 10], [784, 1024, 1024, 10], [784, 4096, 4096, 10])
BATCHES = (64, 256, 1024)
RANKS = (8, 16, 32, 64)
MODEL_BATCHES = (64, 256, 1024, 4096, 16384, 65536)
LR = 0.01  # small enough that no network here diverges over the timed steps
MIN_STEPS, MAX_STEPS = 5, 400
CALIBRATION_BYTES = (8, 64, 512, 4096, 32768, 262144, 2**21, 2**24)
MEASURED_COLUMNS = [
    "network", "S (MB)", "B", "1 rank compute", "1 rank samples/s", "2 ranks compute",
    "2 ranks Allreduce", "Allreduce alone", "2 ranks step", "2 ranks samples/s", "speed-up",
    "Allreduce share",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "network", "link", "N", "Allreduce (ms)", "comm > compute for B below",
    "smallest B for E >= 80 %", "same, free network", "rows per rank at that B",
    "compute (ms) / comm share there",
]  # fmt: skip
FREE = model.Link("a free network", float("inf"), 0.0)  # compute only: what comm costs


# --- the worker: one rank of an ``mpiexec -n 1`` or ``-n 2`` job -------------------------


def time_steps(comm, sizes: list[int], batch: int, dataset, budget: float) -> dict | None:
    """Time numrec's data-parallel step for global batches of ``batch`` rows; per step, the
    slowest rank's compute, the last-arriving rank's Allreduce (the exchange itself, not
    the wait for the other rank) and the slowest rank's whole step. Rank 0 gets the dict."""
    import numrec
    from numrec.distributed import MpiSteps
    from numrec.kernels.step import NO_TARGETS, apply_update, batch_gradient
    from numrec.training import Trainer

    net = numrec.Network(sizes, seed=0)
    options = dict(batch_size=batch, lr=LR, momentum=0.9, progress=False, seed=0,
                   schedule="constant", validation_fraction=0)  # fmt: skip
    p = net.n_params
    plan = net.plan(batch)
    if comm.size > 1:
        trainer = Trainer(net, dataset, steps=MpiSteps(comm), **options)
        # this rank's rows of every global batch
        rows, starts = trainer.steps.epoch_rows(trainer, trainer.order(0))
        ws = trainer.steps.workspace(net, batch)
        exchange = trainer.steps.exchange
    else:
        trainer = Trainer(net, dataset, **options)
        rows = trainer.order(0)
        starts = np.arange(0, len(rows) + 1, batch)
        exchange = np.zeros(p + 2, dtype=np.float32)
        # the gradient lands in the exchange buffer, as there
        ws = net.workspace(batch, grad=exchange[:p])
    trainer.warm_up()
    X, y, scale, opt = trainer.X, trainer.y, trainer.scale, trainer.optimizer.kernel_args()
    theta_args, fn, grad = net.params(), net.codes(), ws.grad
    full_batches = trainer.n_samples // batch  # a short last batch would skew the medians

    def step(i: int) -> tuple[float, float, float, float]:
        b = i % full_batches
        first, count = int(starts[b]), int(starts[b + 1] - starts[b])
        t0 = time.perf_counter()
        loss, hits = batch_gradient(
            X, y, NO_TARGETS, rows, first, count, batch, scale, theta_args, fn, plan, ws
        )
        t1 = time.perf_counter()
        exchange[p], exchange[p + 1] = loss, hits
        comm.allreduce_sum(exchange)
        t2 = time.perf_counter()
        trainer.step[0] += 1
        apply_update(net.theta, grad, LR, opt, trainer.m, trainer.v, int(trainer.step[0]))
        t3 = time.perf_counter()
        if not np.isfinite(exchange[p]):
            raise SystemExit(f"{sizes} batch {batch}: the loss is not finite; lower LR")
        return t1 - t0, t2 - t1, t3 - t2, count

    # warm-up steps (caches, page faults, MPICH's first use of a buffer size); the last
    # two size the run, and rank 0 decides for all
    step(0)
    t = time.perf_counter()
    for i in range(1, 3):
        step(i)
    per_step = (time.perf_counter() - t) / 2
    n = comm.bcast(int(min(MAX_STEPS, max(MIN_STEPS, budget / per_step))))
    times = np.array([step(3 + i) for i in range(n)])  # grad, allreduce, update, rows
    everyone = comm.comm.gather(times, root=0)
    if not comm.is_root:
        return None
    per_rank = np.stack(everyone)  # (ranks, steps, 4)
    compute = per_rank[:, :, 0] + per_rank[:, :, 2]
    return {
        "sizes": sizes,
        "batch": batch,
        "rows": float(per_rank[:, :, 3].mean()),  # mean rows per rank and step
        "grad": per_rank[:, :, 0].max(0).tolist(),
        "update": per_rank[:, :, 2].max(0).tolist(),
        "compute": compute.max(0).tolist(),
        "allreduce": per_rank[:, :, 1].min(0).tolist(),
        "step": per_rank[:, :, :3].sum(2).max(0).tolist(),
    }


def calibrate_allreduce(comm, sizes_bytes: list[int]) -> list[dict]:
    """Allreduce alone (``Comm.allreduce_sum``, in place, float32) after a barrier, per size:
    per repetition the slowest rank's time. The pure exchange, with no rank skew."""
    out = []
    for n_bytes in sizes_bytes:
        buffer = np.ones(max(1, n_bytes // 4), dtype=np.float32)
        reps = 300 if n_bytes <= 32768 else 60 if n_bytes <= 2**21 else 12
        times = []
        for i in range(reps + 3):
            comm.comm.Barrier()
            t0 = time.perf_counter()
            comm.allreduce_sum(buffer, "calibration")
            if i >= 3:  # the first ones set up MPICH's shared-memory channels
                times.append(time.perf_counter() - t0)
        slowest = np.max(np.stack(comm.comm.allgather(np.array(times))), axis=0)
        out.append({"bytes": int(buffer.nbytes), "times": slowest.tolist()})
    return out


def worker(args: argparse.Namespace) -> None:
    from mpi4py import MPI

    import numrec
    from numrec.mpi import Comm
    from numrec.runtime import engine_threads, max_threads

    comm = Comm(MPI.COMM_WORLD)
    dataset = comm.root_first(lambda: numrec.load_dataset("fashion-mnist", data_dir=FASHION))
    # ranks on one machine share its cores, as DistributedTrainer's default does
    threads = max(1, max_threads() // comm.local_size)
    result = {"ranks": comm.size, "threads": threads, "steps": [], "allreduce": []}
    with engine_threads(threads):
        for sizes in args.sizes:
            if comm.size == 1:  # the compute profile c(b) for the model, and B at 1 rank
                batches = model.powers_of_two(1, max(args.batches))
            else:
                batches = args.batches
            for batch in batches:
                record = time_steps(comm, sizes, batch, dataset, args.budget)
                if record is not None:
                    result["steps"].append(record)
    buffers = sorted(set(CALIBRATION_BYTES) | {model.gradient_bytes(s) for s in args.sizes})
    result["allreduce"] = calibrate_allreduce(comm, buffers)
    if comm.is_root:
        Path(args.out).write_text(json.dumps(result))


# --- the driver: launch, pool, print ------------------------------------------------------


def launch(ranks: int, args: argparse.Namespace, out: Path) -> dict:
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    command = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker", "--out", str(out)]
    command += ["--budget", str(args.budget), "--batches", ",".join(map(str, args.batches))]
    command += ["--sizes", *(",".join(map(str, s)) for s in args.sizes)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"  {ranks} rank(s): {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return json.loads(out.read_text())


def measure(args: argparse.Namespace) -> dict:
    runs: dict[str, list] = {"1": [], "2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = (1, 2) if r % 2 == 0 else (2, 1)  # alternate which goes first
            print(f"repeat {r + 1}/{args.repeats}", file=sys.stderr)
            for ranks in order:
                runs[str(ranks)].append(launch(ranks, args, Path(tmp) / f"{ranks}-{r}.json"))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores",
        "repeats": args.repeats,
        "runs": runs,
    }


def pooled(runs: list[dict], sizes: list[int], batch: int, key: str) -> list[float]:
    """Every launch's per-step times of one configuration, pooled."""
    return [
        t for run in runs for s in run["steps"]
        if s["sizes"] == sizes and s["batch"] == batch for t in s[key]
    ]  # fmt: skip


def pooled_allreduce(runs: list[dict], n_bytes: int) -> list[float]:
    return [
        t for run in runs for a in run["allreduce"] if a["bytes"] == n_bytes for t in a["times"]
    ]


def name(sizes: list[int]) -> str:
    return "-".join(map(str, sizes))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def latency_at_two_ranks(runs2: list[dict]) -> float:
    """alpha of this machine's 2-rank Allreduce in the ring model (N = 2: R = S / beta +
    2 alpha), from the smallest buffer, whose bandwidth term is nil."""
    smallest = min(a["bytes"] for run in runs2 for a in run["allreduce"])
    return median(pooled_allreduce(runs2, smallest)) / 2


def report(data: dict, args: argparse.Namespace) -> str:
    runs1, runs2 = data["runs"]["1"], data["runs"]["2"]
    sizes_all = sorted({tuple(s["sizes"]) for run in runs1 for s in run["steps"]}, key=sum)
    out = [f"Measured {data['date']}, {data['repeats']} alternated launches of 1 and 2 ranks."]

    # 1. the measured step at 1 and 2 ranks
    rows = []
    for sizes in map(list, sizes_all):
        n_bytes = model.gradient_bytes(sizes)
        for batch in sorted({s["batch"] for run in runs2 for s in run["steps"]}):
            one = median(pooled(runs1, sizes, batch, "compute"))
            two = pooled(runs2, sizes, batch, "compute")
            if not two:
                continue
            reduce2 = median(pooled(runs2, sizes, batch, "allreduce"))
            step2 = median(pooled(runs2, sizes, batch, "step"))
            pure = median(pooled_allreduce(runs2, n_bytes))
            rows.append([
                name(sizes), f"{n_bytes / 1e6:.2f}", batch, ms(one), f"{batch / one:,.0f}",
                ms(median(two)), ms(reduce2), ms(pure), ms(step2), f"{batch / step2:,.0f}",
                f"{one / step2:.2f}x", f"{reduce2 / step2:.0%}",
            ])  # fmt: skip
    out += [
        "\n### Measured: one step at 1 rank (2 threads) and 2 ranks (1 thread each), ms\n",
        table(rows, MEASURED_COLUMNS),
    ]

    # 2. the Allreduce alone
    alpha = latency_at_two_ranks(runs2)
    rows = []
    for n_bytes in sorted({a["bytes"] for run in runs2 for a in run["allreduce"]}):
        t1, t2 = median(pooled_allreduce(runs1, n_bytes)), median(pooled_allreduce(runs2, n_bytes))
        beta = n_bytes / (t2 - 2 * alpha) if n_bytes >= 2**18 else None  # latency-bound below
        rows.append([
            f"{n_bytes:,}", f"{t1 * 1e6:,.1f}", f"{t2 * 1e6:,.1f}",
            "-" if beta is None else f"{beta / 1e9:.2f}",
        ])  # fmt: skip
    out += [
        "\n### Measured: Allreduce alone (in place, float32, after a barrier), median us\n",
        table(rows, ["bytes", "1 rank", "2 ranks", "2 ranks: beta = S / (t - 2 alpha), GB/s"]),
        f"\nRing model at 2 ranks (R = S / beta + 2 alpha): alpha = {alpha * 1e6:.2f} us "
        "(half the 8-byte time); shared memory of one machine, not a network.",
    ]

    # 3. the compute profile c(b) the model uses
    profiles = {}
    for sizes in map(list, sizes_all):
        bs = sorted({s["batch"] for run in runs1 for s in run["steps"] if s["sizes"] == sizes})
        profiles[name(sizes)] = model.ComputeProfile(
            bs, [median(pooled(runs1, sizes, b, "compute")) for b in bs]
        )
    bs = sorted({b for c in profiles.values() for b in c.rows})
    rows = [
        [int(b)]
        + [f"{ms(c(b))} ({c(b) / b * 1e6:,.1f})" for c in profiles.values()]
        + [ms(median(pooled(runs1, list(s), int(b), "update"))) for s in sizes_all]
        for b in bs
    ]
    out += [
        "\n### Measured: compute c(b) of b rows at 1 rank (2 threads): ms (us per row)\n",
        table(rows, ["b", *profiles, *(f"update alone {n}" for n in profiles)]),
    ]

    # 4. the model at N ranks
    links = [*model.LINKS]
    for link in links:
        rows = []
        for sizes in map(list, sizes_all):
            c, n_bytes = profiles[name(sizes)], model.gradient_bytes(sizes)
            for batch in MODEL_BATCHES:
                cells = []
                for n in RANKS:
                    if batch < n:
                        cells.append("-")
                        continue
                    s = model.speedup(c, batch, n, n_bytes, link)
                    cells.append(f"{s:.1f} ({s / n:.0%})")
                rows.append([name(sizes), batch, ms(c(batch)), *cells])
        out += [
            f"\n### Model: speed-up (efficiency) on {link.name} "
            f"({link.bandwidth / 1e9:g} GB/s, {link.latency * 1e6:g} us)\n",
            table(rows, ["network", "B", "T_1 (ms)", *(f"N = {n}" for n in RANKS)]),
        ]

    rows = []
    for sizes in map(list, sizes_all):
        c, n_bytes = profiles[name(sizes)], model.gradient_bytes(sizes)
        for link in links:
            for n in RANKS:
                comm = model.ring_allreduce_time(n_bytes, n, link.bandwidth, link.latency)
                b80 = model.min_batch_for_efficiency(c, n, n_bytes, link, 0.8)
                free80 = model.min_batch_for_efficiency(c, n, n_bytes, FREE, 0.8)
                cross = model.comm_dominated_below(c, n, n_bytes, link)
                at = "-"
                if b80 is not None:
                    share = comm / model.step_time(c, b80, n, n_bytes, link)
                    at = f"{ms(c(b80 / n))} / {share:.0%}"
                rows.append([
                    name(sizes), link.name, n, ms(comm), "never" if cross == n else f"{cross:,}",
                    "> 2^20" if b80 is None else f"{b80:,}",
                    "> 2^20" if free80 is None else f"{free80:,}",
                    "-" if b80 is None else f"{b80 // n:,}", at,
                ])  # fmt: skip
    out += [
        "\n### Model: where communication dominates, and the batch for 80 % efficiency\n",
        table(rows, SUMMARY_COLUMNS),
        "\n(B over powers of two up to 2^20; never: compute exceeds the Allreduce even at one "
        "row per rank; compute per rank c(B/N) from the 1-rank profile above, linear beyond "
        "its largest b; one rank per node as fast as this 2-core machine.)",
    ]
    return "\n".join(out)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="alternated launches of 1 and 2 ranks")
    ap.add_argument("--budget", type=float, default=0.8, help="seconds of timed steps per case")
    ap.add_argument(
        "--sizes", nargs="+", default=[",".join(map(str, s)) for s in NETWORKS],
        help="networks, e.g. 784,256,10 784,1024,1024,10",
    )  # fmt: skip
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help="global batches")
    ap.add_argument("--save", help="write the raw per-step times to this JSON file")
    ap.add_argument("--load", help="print the tables from a --save file instead of measuring")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.sizes = [[int(v) for v in s.split(",")] for s in args.sizes]
    args.batches = [int(v) for v in args.batches.split(",")]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    if args.load:
        data = json.loads(Path(args.load).read_text())
    else:
        data = measure(args)
        if args.save:
            Path(args.save).write_text(json.dumps(data))
    print(report(data, args))


if __name__ == "__main__":
    main()
