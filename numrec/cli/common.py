"""What the console scripts share: the argument parser, error handling, data-set flags.

Every script runs through ``run(prog, main, argv)``: a user's mistake (a missing file, bad
data, a malformed value) becomes ONE line on stderr and exit status 2, Ctrl-C becomes
exit status 130; ``--debug`` (or ``NUMREC_DEBUG=1``) shows the traceback instead.

A data set's own options (declared by its plugin as ``numrec.Option``) become flags:
``data_dir`` -> ``--data-dir``, ``label_column`` -> ``--label-column``. An option whose flag
is already taken by the script (the CSV split's ``seed``) is prefixed with the data set's
name (``--csv-seed``). Values are passed on as text; the plugin host converts and checks
them, so an error names the option and what it expects.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..mpi import PEER_GRACE, PeerFailed, abort_job, in_job, launched_rank

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
DEFAULT_DATASET = "mnist"


class UsageError(Exception):
    """A problem with the command line itself (reported like argparse's errors)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors, no abbreviations, and every default in --help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # --lr must not silently mean --lr-schedule
        super().__init__(*args, **kwargs)
        self.foreign_flags: dict[str, list[str]] = {}  # flag -> data sets that take it
        self.dataset_flags: dict[str, str] = {}  # option name -> its flag here

    def error(self, message: str):
        # argparse prints the whole usage block first; one line that points at --help reads
        # better, and the flag of another data set deserves a hint
        for flag, owners in self.foreign_flags.items():
            if "unrecognized arguments" in message and flag in message.split():
                raise UsageError(
                    f"{flag} is an option of data set {' / '.join(owners)}; add --dataset "
                    f"{owners[0]} (see {self.prog} --dataset {owners[0]} --help)"
                )
        message = message.removeprefix("argument ")  # "argument --epochs: ..." -> "--epochs: ..."
        raise UsageError(f"{message} (see {self.prog} --help)")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written and appends each option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default:" in text
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or action.nargs == 0
        ):
            return text
        return f"{text} (default: %(default)s)"


def run(prog: str, main: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)`` and turn every expected failure into a message and an exit code.

    One of several MPI ranks that fails ends the whole job (the others would wait for it
    in their next collective). Rank 0 reports and ends it at once. Another rank first
    waits a few seconds: most failures strike every rank alike (a diverging run, a bad
    checkpoint, rank 0's failed download), and then rank 0's one message is the report
    and its abort ends this rank meanwhile; a failure of this rank alone is reported after
    the wait.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _take_over_sigint()
    rank = launched_rank()
    if rank:
        prog = f"{prog} (rank {rank})"
    try:
        code, message = _run(prog, main, argv, rank)
    except BaseException as e:
        if in_job() and not isinstance(e, SystemExit):
            _let_rank_0_report(rank)
            traceback.print_exc()
            abort_job(1)
        raise
    failed = code not in (EXIT_OK, EXIT_INTERRUPTED)
    if failed and in_job():
        _let_rank_0_report(rank)
    if message:
        print(message, file=sys.stderr)
    if failed:
        abort_job(code)
    return code


def _let_rank_0_report(rank: int) -> None:
    if rank:
        time.sleep(PEER_GRACE)


def _run(
    prog: str, main: Callable[[list[str]], int], argv: list[str], rank: int
) -> tuple[int, str | None]:
    """(exit status, the message to print, if any)."""
    debug = "--debug" in argv or os.environ.get("NUMREC_DEBUG", "") not in ("", "0")
    _quiet_warnings(prog)
    previous = _sigterm_as_interrupt()
    try:
        return main(argv), None
    except UsageError as e:
        if debug:
            raise
        # every rank parses the same command line; one message is enough
        return EXIT_USAGE, None if rank else error_line(prog, str(e))
    except PeerFailed:
        return EXIT_USAGE, None  # rank 0 failed and says why
    except KeyboardInterrupt:
        if debug:
            raise
        return EXIT_INTERRUPTED, None if rank else f"{prog}: interrupted"
    except BrokenPipeError:
        # `numrec-predict ... | head`: the reader went away; not an error worth a message
        sys.stderr.close()
        return EXIT_OK, None
    except (DatasetError, ValueError, OSError, FloatingPointError, ImportError) as e:
        if debug:
            raise
        return EXIT_USAGE, error_line(prog, describe(e))
    except MemoryError as e:
        if debug:
            raise
        why = f" ({e})" if str(e) else ""
        return EXIT_USAGE, error_line(
            prog,
            f"out of memory{why}: the data, the model or --batch-size is too large for this "
            f"machine; expected smaller inputs",
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def error_line(prog: str, message: str) -> str:
    return f"{prog}: error: {message}"


def describe(error: BaseException) -> str:
    """The one-line message of an exception, naming the file for OS errors."""
    if isinstance(error, OSError) and error.filename is not None:
        why = error.strerror or str(error)
        if isinstance(error, FileNotFoundError):
            why = "no such file or folder"
        return f"{error.filename}: {why}"
    text = str(error).strip() or type(error).__name__
    return text


def _take_over_sigint() -> None:
    """From here on Ctrl-C is a KeyboardInterrupt that ``_run`` turns into exit 130.
    Before, while the console script imported numrec, ``numrec._early_signals`` made
    it end the process quietly with 130 (a KeyboardInterrupt there would be a traceback)."""
    from .. import _early_signals

    _early_signals.release()


def _sigterm_as_interrupt():
    """SIGTERM outside training (loading, saving) ends the run like Ctrl-C: exit 130.
    During training the Trainer installs its own handler and stops at a batch boundary."""
    try:
        return signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread (a test calling main() from a thread)
        return None


def _quiet_warnings(prog: str) -> None:
    """Warnings (a broken plugin, the offline fallback) as one line, without file:line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr if file is None else file)

    warnings.showwarning = show


def warn(prog: str, message: str) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr, flush=True)


def note(prog: str, message: str) -> None:
    """Something the user should know about what the command chose for them."""
    print(f"{prog}: note: {message}", file=sys.stderr, flush=True)


def load_model(prog: str, path: Path):
    """The model at ``path`` (a model, a numrec-train checkpoint or a seed text model);
    a checkpoint is said to be one on stderr."""
    from ..serialize import load_network

    net = load_network(path)
    if net.meta.get("source_format") == "checkpoint":
        note(prog, f"{path} is a checkpoint of numrec-train: using its current weights")
    return net


# --- data sets on the command line --------------------------------------------------------


def flag_of(option_name: str) -> str:
    return "--" + option_name.replace("_", "-")


def peek(argv: list[str], flag: str) -> str | None:
    """The value of ``flag`` in ``argv`` (``--flag V`` or ``--flag=V``), before parsing."""
    value = None
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif token.startswith(flag + "="):
            value = token.split("=", 1)[1]
    return value


def given(argv: list[str], parser: argparse.ArgumentParser) -> set[str]:
    """The ``dest`` of every option the user typed (rather than left at its default)."""
    tokens = [t.split("=", 1)[0] for t in argv if t.startswith("-")]
    return {
        action.dest
        for action in parser._actions
        if any(flag in tokens for flag in action.option_strings)
    }


def dataset_group(parser: Parser, dataset: str):
    """The help section of the data set (made first, so it comes first in --help)."""
    from ..plugins import dataset_specs

    spec = dataset_specs().get(dataset)
    return parser.add_argument_group(
        f"data set {dataset!r} and its options",
        spec.description if spec else "(unknown data set)",
    )


def add_dataset_flags(
    parser: Parser, group, dataset: str, note: str | None = None
) -> dict[str, str]:
    """Add ``--dataset`` and the flags of ``dataset``'s options; return dest -> option name.

    Call it after the script's own flags, so a clash gets the data set's prefix. Flags of
    the other data sets are remembered so that using one gives a useful hint.
    """
    from ..plugins import dataset_specs

    specs = dataset_specs()
    group.add_argument(
        "--dataset",
        default=dataset,
        metavar="NAME",
        help=f"the data set ({note or f'default: {dataset}'}): "
        f"{', '.join(specs) or 'none installed'}; numrec-datasets lists them with their options",
    )
    taken = {s for a in parser._actions for s in a.option_strings}
    dests: dict[str, str] = {}
    spec = specs.get(dataset)
    for opt in spec.options if spec else ():
        flag = flag_of(opt.name)
        if flag in taken:
            flag = f"--{dataset}-{opt.name.replace('_', '-')}"
        dest = "ds_" + opt.name
        dests[dest] = opt.name
        parser.dataset_flags[opt.name] = flag
        extra = []
        if opt.choices:
            extra.append(f"one of {', '.join(map(str, opt.choices))}")
        if opt.default is not None:
            default = opt.default
            if isinstance(default, bool):
                default = "yes" if default else "no"
            extra.append(f"default: {default}")
        text = opt.help + (f" ({'; '.join(extra)})" if extra else "")
        group.add_argument(flag, dest=dest, metavar=_metavar(opt.type), help=text)
        taken.add(flag)
    if "--data-dir" not in taken:
        # every data set that reads local files takes data_dir; this one does not, and the
        # host will say so rather than argparse calling the flag unknown
        group.add_argument(
            "--data-dir",
            dest="ds_data_dir",
            metavar="DIR",
            help=f"(not used by {dataset!r}) the folder of a data set's files",
        )
        dests["ds_data_dir"] = "data_dir"
    for name, other in specs.items():
        for opt in other.options if name != dataset else ():
            flag = flag_of(opt.name)
            if flag not in taken:
                parser.foreign_flags.setdefault(flag, []).append(name)
    return dests


def whole(minimum: int):
    """An argparse type: a whole number, ``minimum`` or more."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return convert


def path_with_suffix(suffixes: tuple[str, ...]):
    """An argparse type: a path that must end in one of ``suffixes``."""

    def convert(text: str) -> Path:
        path = Path(text).expanduser()
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r} must end in {' or '.join(suffixes)}")
        return path

    return convert


def _metavar(kind: type) -> str:
    return {int: "N", float: "X", bool: "yes|no", Path: "PATH"}.get(kind, "TEXT")


def dataset_options(args: argparse.Namespace, dests: dict[str, str]) -> dict[str, Any]:
    """The data-set options the user gave, as option name -> text."""
    return {name: getattr(args, dest) for dest, name in dests.items() if getattr(args, dest)}


def check_dataset_name(name: str) -> None:
    """Raise the host's own message for an unknown data set before parsing its flags."""
    from ..plugins import dataset_specs, load_dataset

    if name not in dataset_specs():
        load_dataset(name)  # raises DatasetError: unknown data set ..., did you mean ...


def need_module(module: str, extra: str, purpose: str, package: str | None = None) -> None:
    """Fail early, before any work, when an optional dependency is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"{purpose} needs {package or module}, which is not installed; "
            f"install it with: pip install 'numrec[{extra}]'"
        )


def check_threads(threads: int | None) -> None:
    """--threads beyond the cores numba may use: say so before any work is done."""
    from ..runtime import max_threads

    if threads is not None and threads > max_threads():
        raise UsageError(
            f"--threads {threads}: this machine lets numba use at most {max_threads()} "
            f"(set NUMBA_NUM_THREADS to change that)"
        )
