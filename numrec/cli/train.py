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
DEFAULT_HIDDEN = "512"  # NetworkConfig.hidden's default, as the flag spells it

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


# --- flags from the settings' own fields: each error names the flag and what it expects ---


def hidden_sizes(text: str) -> tuple[int, ...]:
    """'256,128' -> (256, 128); '' or 'none' -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes separated by commas, like 256,128; got {text!r}"
        ) from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer sizes must be 1 or more, got {text!r}")
    return sizes


def _parser_of(rule):
    def convert(text: str):
        try:
            return rule.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def add_settings(group, settings_class, special: dict | None = None) -> None:
    """One flag per field of ``settings_class`` (TrainConfig, NetworkConfig): its name with
    dashes, its rule as the argparse type (or choices), its default and help."""
    special = special or {}
    for f in settings_class.settings():
        if not f.metadata["cli"]:
            continue
        rule, flag = f.metadata["rule"], "--" + f.name.replace("_", "-")
        kwargs = {"dest": f.name, "default": f.default, "help": f.metadata["help"]}
        if f.name in special:
            kwargs.update(special[f.name])
        elif rule.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif rule.choices:
            kwargs["choices"] = list(rule.choices)
        else:
            kwargs["type"] = _parser_of(rule)
            kwargs["metavar"] = "N" if rule.kind is int else "X"
        group.add_argument(flag, **kwargs)


def build_parser(dataset: str) -> tuple[Parser, dict[str, str]]:
    from ..config import NetworkConfig, TrainConfig

    parser = Parser(
        prog=PROG,
        description="Train a dense neural network (multi-layer perceptron) on a data set. "
        "Input and output sizes come from the data set; every training setting is a field "
        "of numrec.TrainConfig, with the same name and default.",
        epilog=EXAMPLES,
    )
    data = common.dataset_group(parser, dataset)
    add_settings(
        parser.add_argument_group("network"),
        NetworkConfig,
        {"hidden": {"type": hidden_sizes, "metavar": "N,N,...",
                    "help": "hidden layer sizes, comma separated; 'none' for no hidden layer "
                            f"(default: {DEFAULT_HIDDEN})"}},
    )  # fmt: skip
    add_settings(parser.add_argument_group("training"), TrainConfig)

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
        "NAME.checkpoint.npz, else ./numrec-checkpoint.npz; a resumed run: the checkpoint "
        "it resumed)",
    )
    out.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="continue the run saved in CHECKPOINT, with its settings; it writes only to "
        "CHECKPOINT and to the paths given on this command line",
    )
    out.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help="write one JSON line per epoch to FILE (truncated first; a resumed run rewrites "
        "its earlier epochs)",
    )
    out.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="write each epoch's metrics and the settings as TensorBoard events to DIR "
        "(needs tensorboard: pip install 'numrec[tensorboard]')",
    )
    out.add_argument(
        "--plot",
        type=common.path_with_suffix(report.PLOT_SUFFIXES),
        metavar="FILE.png",
        help="draw loss and accuracy curves (needs matplotlib: pip install 'numrec[plot]')",
    )
    out.add_argument(
        "--report",
        type=common.path_with_suffix((".html", ".htm")),
        metavar="FILE.html",
        help="write a self-contained HTML report of the model on the test split as the run "
        "ends: curves, per-class scores, confusion matrix, the most confident mistakes",
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
    return parser, dests


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    from ..serialize import load_checkpoint

    start = time.perf_counter()
    resume = common.peek(argv, "--resume")
    state = stored = None
    if resume and "-h" not in argv and "--help" not in argv:
        state, extra = load_checkpoint(resume)
        stored = stored_run(resume, extra)
    dataset = common.peek(argv, "--dataset") or (stored or {}).get("dataset")
    dataset = dataset or common.DEFAULT_DATASET
    common.check_dataset_name(dataset)
    parser, dests = build_parser(dataset)
    args = parser.parse_args(argv)
    explicit = common.given(argv, parser)
    options = common.dataset_options(args, dests)
    if stored is not None:
        options = _adopt(args, explicit, stored, options)
    if args.plot:
        common.need_module("matplotlib", "plot", "--plot")
    if args.tensorboard:
        common.need_module("tensorboard", "tensorboard", "--tensorboard")
    config, network = settings_of(args)
    common.check_threads(config.threads)
    from .session import Session

    session = Session(PROG, args, options, explicit, state, config, network)
    return session.run(start)


def settings_of(args) -> tuple:
    """(TrainConfig, NetworkConfig) from the parsed flags."""
    from ..config import NetworkConfig, TrainConfig

    return tuple(
        kind(**{f.name: getattr(args, f.name) for f in kind.settings()})
        for kind in (TrainConfig, NetworkConfig)
    )


def stored_run(path: str, extra: dict) -> dict:
    """What numrec-train stored in its checkpoint: the data set, its options and both
    settings objects, each value checked by the rule of the flag it came from."""
    from ..config import NetworkConfig, TrainConfig

    run = extra.get("run")
    if not extra.get("numrec_train") or not isinstance(run, dict):
        raise UsageError(f"{path}: this checkpoint was not written by this numrec-train")
    name, options = run.get("dataset"), run.get("dataset_options", {})
    if not isinstance(name, str) or not isinstance(options, dict):
        raise UsageError(f"{path}: the checkpoint's data set must be a name and its options")
    if not all(isinstance(v, (str, int, float, bool)) for v in options.values()):
        raise UsageError(f"{path}: the checkpoint's data-set options must be plain values")
    where = f"{path}: stored "
    return {
        "dataset": name,
        "dataset_options": {str(k): str(v) for k, v in options.items()},
        "config": TrainConfig.from_dict(run.get("config"), where),
        "network": NetworkConfig.from_dict(run.get("network"), where),
    }


def _adopt(args, explicit: set[str], stored: dict, options: dict) -> dict:
    """Take the checkpoint's settings; refuse explicit flags that would change a setting
    that is not resumable (field metadata). Output paths are never taken from it."""
    for key in ("config", "network"):
        settings = stored[key]
        for f in settings.settings():
            value, saved = getattr(args, f.name), getattr(settings, f.name)
            if f.name in explicit and value != saved:
                if f.metadata["resumable"]:
                    continue
                flag = "--" + f.name.replace("_", "-")
                may = [
                    "--" + g.name.replace("_", "-")
                    for g in settings.settings()
                    if g.metadata["resumable"]
                ]
                raise UsageError(
                    f"{flag} {value} differs from the checkpoint's {saved}; a resumed run "
                    f"keeps the settings it started with (it may change {', '.join(may)})"
                )
            setattr(args, f.name, saved)
    args.dataset = stored["dataset"]
    if options and options != stored["dataset_options"]:
        raise UsageError(
            "data-set options differ from the checkpoint's; a resumed run reads the data "
            "set it started with (leave the options out)"
        )
    return dict(stored["dataset_options"])


def resume_command(checkpoint: Path, args=None) -> str:
    """The command that continues a run: the checkpoint, and the output paths of this run
    (a checkpoint stores none, so a resumed run writes only where its command says)."""
    words = [PROG, "--resume", str(checkpoint)]
    for dest in ("save", "metrics", "plot", "report"):
        value = getattr(args, dest, None)
        if value is not None:
            words += ["--" + dest, str(Path(value).expanduser().resolve())]
    return shlex.join(words)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


if __name__ == "__main__":
    sys.exit(main())
