"""``numrec-train``: train a dense network on a data set from the shell.

    numrec-train                                   # MNIST (or the bundled sample offline)
    numrec-train --dataset fashion-mnist --hidden 256,128 --epochs 20 --save fashion.npz
    numrec-train --resume numrec-checkpoint.npz    # continue an interrupted run

Ctrl-C or SIGTERM stops at a mini-batch boundary, writes a checkpoint (atomically) and
prints the command that resumes; the resumed run ends with the very weights an
uninterrupted run would have had (same epoch, optimizer state and sample order).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path

from . import common, report
from .common import Parser, UsageError

PROG = "numrec-train"
DEFAULT_HIDDEN = "256"
# settings a resumed run takes from its checkpoint: changing one would make a different run
SETTINGS = (
    "dataset", "hidden", "activation", "alpha", "output", "loss", "init", "optimizer", "lr",
    "momentum", "weight_decay", "schedule", "step_size", "gamma", "min_lr", "beta1", "beta2",
    "batch_size", "seed",
)  # fmt: skip
# settings a resumed run may change
OVERRIDABLE = ("epochs", "threads", "target_accuracy", "save", "metrics", "plot", "checkpoint")

EXAMPLES = """\
examples:
  numrec-train
      MNIST with the defaults (downloaded once into the cache; offline, the bundled
      mnist-sample of 8,000 real digits is used instead, with a warning)
  numrec-train --dataset mnist-sample --save digits.npz --metrics run.jsonl --plot run.png
  numrec-train --dataset fashion-mnist --hidden 512,256 --epochs 30 --schedule cosine
  numrec-train --dataset mnist --data-dir ~/data/mnist --optimizer adam --lr 0.001
  numrec-train --dataset csv --train train.csv --test test.csv --label-column label
  numrec-train --resume numrec-checkpoint.npz      continue after Ctrl-C
  numrec-train --dataset csv --help                 show the csv data set's options

Then: numrec-eval digits.npz, numrec-predict digits.npz my-digit.png.
Exit status: 0 done, 2 bad usage or data, 130 interrupted (a checkpoint was written).
"""


# --- argument types: each error names the flag and what it expects ------------------------


def _number(low: float = 0.0, strict: bool = True, high: float | None = None):
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > low if strict else value >= low) or (high is not None and value > high):
            bound = f"{'above' if strict else 'at least'} {low:g}"
            bound += f" and at most {high:g}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return convert


def hidden_sizes(text: str) -> list[int]:
    """'256,128' -> [256, 128]; '' or 'none' -> [] (no hidden layer)."""
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes separated by commas, like 256,128; got {text!r}"
        ) from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer sizes must be 1 or more, got {text!r}")
    return sizes


def build_parser(dataset: str) -> tuple[Parser, dict[str, str]]:
    from ..kernels.codes import HIDDEN, OPTIMIZERS, OUTPUT
    from ..network import INITS
    from ..optim import SCHEDULES

    parser = Parser(
        prog=PROG,
        description="Train a dense neural network (multi-layer perceptron) on a data set. "
        "Input and output sizes come from the data set.",
        epilog=EXAMPLES,
    )
    data = common.dataset_group(parser, dataset)
    net = parser.add_argument_group("network")
    net.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=hidden_sizes(DEFAULT_HIDDEN),
        metavar="N,N,...",
        help="hidden layer sizes, comma separated; "
        f"'none' for no hidden layer (default: {DEFAULT_HIDDEN})",
    )
    net.add_argument(
        "--activation",
        choices=list(HIDDEN),
        default="leaky_relu",
        help="activation of the hidden layers",
    )
    net.add_argument(
        "--alpha",
        type=_number(0, strict=False),
        default=0.01,
        help="slope of leaky ReLU below zero",
    )
    net.add_argument(
        "--output",
        choices=sorted({o for o, _ in OUTPUT}),
        default="softmax",
        help="output activation",
    )
    net.add_argument(
        "--loss",
        choices=sorted({lo for _, lo in OUTPUT}),
        default=None,
        help="loss (default: cross_entropy for softmax, mse for sigmoid, "
        "the seed's quadratic cost)",
    )
    net.add_argument("--init", choices=INITS, default="he", help="weight initialisation")

    opt = parser.add_argument_group("training")
    opt.add_argument(
        "--optimizer", choices=list(OPTIMIZERS), default="momentum", help="the update rule"
    )
    opt.add_argument("--lr", type=_number(), default=0.05, help="learning rate")
    opt.add_argument(
        "--momentum",
        type=_number(0, strict=False, high=0.999999),
        default=0.9,
        help="momentum (momentum and nesterov)",
    )
    opt.add_argument(
        "--weight-decay", type=_number(0, strict=False), default=0.0, help="L2 weight decay"
    )
    opt.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="cosine",
        help="learning-rate schedule: constant; step (x gamma every step-size "
        "epochs); cosine (anneal to min-lr over the run)",
    )
    opt.add_argument(
        "--step-size",
        type=common.whole(1),
        default=1,
        metavar="EPOCHS",
        help="epochs between steps of the step schedule",
    )
    opt.add_argument(
        "--gamma", type=_number(high=1.0), default=0.1, help="factor of the step schedule"
    )
    opt.add_argument(
        "--min-lr",
        type=_number(0, strict=False),
        default=0.0,
        help="final learning rate of the cosine schedule",
    )
    opt.add_argument(
        "--beta1",
        type=_number(0, strict=False, high=0.999999),
        default=0.9,
        help="Adam's first-moment decay",
    )
    opt.add_argument(
        "--beta2",
        type=_number(0, strict=False, high=0.999999),
        default=0.999,
        help="Adam's second-moment decay",
    )
    opt.add_argument(
        "--epochs", type=common.whole(0), default=10, help="passes over the training data"
    )
    opt.add_argument(
        "--batch-size", type=common.whole(1), default=32, metavar="B", help="samples per mini-batch"
    )
    opt.add_argument(
        "--threads",
        type=common.whole(1),
        default=None,
        metavar="T",
        help="CPU threads (default: all cores); results do not depend on it",
    )
    opt.add_argument(
        "--seed",
        type=common.whole(0),
        default=0,
        help="seed of the initial weights and of the sample order",
    )
    opt.add_argument(
        "--target-accuracy",
        type=_number(high=1.0),
        default=None,
        metavar="A",
        help="stop once the test accuracy reaches A (e.g. 0.97)",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--save",
        type=common.path_with_suffix((".npz",)),
        metavar="MODEL.npz",
        help="write the trained model here",
    )
    out.add_argument(
        "--checkpoint",
        type=common.path_with_suffix((".npz",)),
        metavar="FILE.npz",
        help="where Ctrl-C writes its checkpoint (default: beside --save as "
        "NAME.checkpoint.npz, else ./numrec-checkpoint.npz)",
    )
    out.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="continue the run saved in CHECKPOINT, with its settings",
    )
    out.add_argument(
        "--metrics", type=Path, metavar="FILE", help="append one JSON line per epoch to FILE"
    )
    out.add_argument(
        "--plot",
        type=common.path_with_suffix(report.PLOT_SUFFIXES),
        metavar="FILE.png",
        help="draw loss and accuracy curves (needs matplotlib: pip install 'numrec[plot]')",
    )
    out.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or notes; errors and warnings only",
    )
    out.add_argument("--json", action="store_true", help="print the final summary as JSON")
    out.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    dests = common.add_dataset_flags(parser, data, dataset)
    return parser, dests  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    from ..serialize import load_checkpoint

    start = time.perf_counter()
    resume = common.peek(argv, "--resume")
    state = saved = None
    if resume and "-h" not in argv and "--help" not in argv:
        state, extra = load_checkpoint(resume)
        saved = extra.get("args")
        state["architecture"] = extra.get("architecture")
        if not isinstance(saved, dict) or "dataset" not in saved:
            raise UsageError(f"{resume}: this checkpoint was not written by numrec-train")
    dataset = common.peek(argv, "--dataset") or (saved or {}).get("dataset")
    dataset = dataset or common.DEFAULT_DATASET
    common.check_dataset_name(dataset)
    parser, dests = build_parser(dataset)
    args = parser.parse_args(argv)
    explicit = common.given(argv, parser)
    options = common.dataset_options(args, dests)
    if saved is not None:
        options = _adopt(args, explicit, saved, options)
    if args.plot:
        common.need_module("matplotlib", "plot", "--plot")
    common.check_threads(args.threads)
    from .session import Session

    session = Session(PROG, args, options, explicit, state)
    return session.run(start)


def _adopt(args, explicit: set[str], saved: dict, options: dict) -> dict:
    """Take the checkpoint's settings; refuse explicit flags that would change them."""
    for dest in SETTINGS:
        value = getattr(args, dest)
        if dest in explicit and value != saved.get(dest):
            flag = "--" + dest.replace("_", "-")
            raise UsageError(
                f"{flag} {value} differs from the checkpoint's {saved.get(dest)}; a resumed "
                f"run keeps the settings it started with (it may change "
                f"{', '.join('--' + o.replace('_', '-') for o in OVERRIDABLE)})"
            )
        setattr(args, dest, saved.get(dest))
    for dest in OVERRIDABLE:
        if dest not in explicit and saved.get(dest) is not None:
            value = saved[dest]
            setattr(args, dest, Path(value) if dest in ("save", "metrics", "plot") else value)
    if options and options != saved.get("dataset_options", {}):
        raise UsageError(
            "data-set options differ from the checkpoint's; a resumed run reads the data "
            "set it started with (leave the options out)"
        )
    return dict(saved.get("dataset_options", {}))


def resume_command(checkpoint: Path) -> str:
    return f"{PROG} --resume {shlex.quote(str(checkpoint))}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


if __name__ == "__main__":
    sys.exit(main())
