"""``numrec-eval``: how good is a model? Accuracy, loss, per-class precision and recall, and
the confusion matrix, on a data set's test (or train) split or on a pair of IDX files.

    numrec-eval model.npz                               # on the data set it names, by name
    numrec-eval model.npz --dataset mnist --data-dir ~/data/mnist --plot confusion.png
    numrec-eval seed-model.txt --images t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import common
from .common import Parser, UsageError

PROG = "numrec-eval"

EXAMPLES = """\
examples:
  numrec-eval model.npz                       the test split of the data set the model
                                              names (its name only, default options)
  numrec-eval model.npz --dataset mnist --part train
  numrec-eval model.npz --dataset csv --train train.csv --test test.csv --json
  numrec-eval model.npz --images t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz
  numrec-eval model.npz --plot confusion.png
  numrec-eval model.npz --report report.html  curves, confusion heat map, mistakes: one page

MODEL is a .npz written by numrec-train (or Network.save), a checkpoint of numrec-train
(its current weights), or a text model of the Rust number_recognition project. Only the
NAME of the data set stored in a model is used, never its stored paths or options.
Exit status: 0 done, 2 bad usage or data, 130 interrupted.
"""


def build_parser(dataset: str, default_note: str) -> tuple[Parser, dict[str, str]]:
    from .report import PLOT_SUFFIXES

    parser = Parser(
        prog=PROG,
        description="Evaluate a trained model: accuracy, loss, per-class precision and recall, "
        "confusion matrix.",
        epilog=EXAMPLES,
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="the model file")
    data = common.dataset_group(parser, dataset)
    data.add_argument(
        "--part",
        choices=("test", "train"),
        default="test",
        help="which part of the data set to evaluate on",
    )
    data.add_argument(
        "--images",
        type=Path,
        metavar="IDX",
        help="evaluate on this IDX images file instead of a data set (with --labels)",
    )
    data.add_argument("--labels", type=Path, metavar="IDX", help="the IDX labels of --images")
    out = parser.add_argument_group("output")
    out.add_argument(
        "--plot",
        type=common.path_with_suffix(PLOT_SUFFIXES),
        metavar="FILE.png",
        help="draw the confusion matrix (needs matplotlib: pip install 'numrec[plot]')",
    )
    out.add_argument(
        "--report",
        type=common.path_with_suffix((".html", ".htm")),
        metavar="FILE.html",
        help="also write a self-contained HTML report: curves, per-class scores, confusion "
        "matrix, the most confident mistakes",
    )
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument(
        "--threads",
        type=common.whole(1),
        default=None,
        metavar="T",
        help="CPU threads (default: all cores)",
    )
    out.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    dests = common.add_dataset_flags(parser, data, dataset, default_note)
    return parser, dests  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    # Which data set? The one named on the command line, else - by NAME only - the one the
    # model says it was trained on. A model file is data: its stored data-set options
    # (paths, a CSV file, a folder) are never used, so a model cannot make numrec-eval
    # read a file the user did not name. Find the model first, with a parser that knows
    # every other flag.
    if "-h" in argv or "--help" in argv:  # help needs no model: show the named data set's
        trained_on, net = None, None
        dataset = common.peek(argv, "--dataset") or common.DEFAULT_DATASET
        note = "default: the name of the data set the model was trained on, else mnist"
    else:
        probe, _ = build_parser(common.DEFAULT_DATASET, "")
        known, _ = probe.parse_known_args(argv)
        net = common.load_model(PROG, known.model)
        # with --images the data set is not used at all: ignore the model's name then
        trained_on = net.meta.get("dataset") if known.images is None else None
        named = common.peek(argv, "--dataset")
        dataset = named or trained_on or common.DEFAULT_DATASET
        note = (
            f"default: {trained_on}, the name the model gives"
            if trained_on
            else f"default: {common.DEFAULT_DATASET}"
        )
        if not named and trained_on:
            common.note(
                PROG,
                f"no --dataset given: evaluating on data set {trained_on!r}, the name stored "
                f"in {known.model}, with its default options (a model's stored paths and "
                f"options are never used; give --dataset and its options to choose)",
            )
    common.check_dataset_name(dataset)
    parser, dests = build_parser(dataset, note)
    args = parser.parse_args(argv)
    if args.plot:
        common.need_module("matplotlib", "plot", "--plot")
    common.check_threads(args.threads)
    options = common.dataset_options(args, dests)
    X, y, names, source = _data(args, options, net)
    if net.task != "classification":  # multilabel or regression: the task's metrics
        if args.plot:
            raise UsageError(f"--plot draws a confusion matrix, not for a {net.task} model")
        result = net.evaluate(X, y, args.threads)
        result.update(task=net.task, outputs=list(names), model=str(args.model), data=source)
        print(json.dumps(result, indent=2) if args.json else "\n".join(task_report(result)))
        _report(args, net, X, y, names, source)
        return common.EXIT_OK
    result = evaluate(net, X, y, names, args.threads)
    result.update(model=str(args.model), data=source)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(text_report(result)))
    _report(args, net, X, y, names, source)
    if args.plot:
        path = plot_confusion(result, args.plot)
        if not args.json:
            print(f"confusion matrix drawn in {path}")
    return common.EXIT_OK


def _data(args, options: dict, net):
    """(X, y, class names, description) to evaluate on."""
    if (args.images is None) != (args.labels is None):
        raise UsageError("--images and --labels go together: give both IDX files")
    if args.images is not None:
        from ..idx import read_image_label_pair

        X, y = read_image_label_pair(args.images, args.labels)
        X = X.reshape(len(X), -1)
        names = net.class_names or [str(i) for i in range(net.sizes[-1])]
        source = f"{args.images} ({len(y):,} samples)"
        _check_fit(net, X.shape[1], int(y.max()) + 1 if len(y) else 0, str(args.images))
        return X, y.astype(np.int64), names, source
    from ..plugins import load_dataset

    ds = load_dataset(args.dataset, **options)
    split = ds.test if args.part == "test" else ds.train
    if len(split) == 0:
        raise ValueError(f"the {args.part} split of data set {ds.name!r} is empty")
    _check_fit(net, ds.n_features, ds.num_classes, f"data set {ds.name!r}")
    names = list(ds.class_names)
    if net.class_names and net.class_names != names:
        common.warn(PROG, f"the model's class names differ from data set {ds.name!r}'s")
    return split.X, split.y, names, f"{ds.name} {args.part} split ({len(split):,} samples)"


def _check_fit(net, features: int, classes: int, what: str) -> None:
    if features != net.sizes[0]:
        raise ValueError(
            f"the model takes {net.sizes[0]} inputs but {what} has {features} features"
        )
    if classes > net.sizes[-1]:
        raise ValueError(f"the model has {net.sizes[-1]} outputs but {what} has {classes} classes")


def evaluate(net, X, y, names: list[str], threads: int | None = None) -> dict:
    """Accuracy, loss, the confusion matrix and per-class precision / recall / F1."""
    P = net.forward(X, threads)
    y = net.labels(y, len(y))
    k = net.sizes[-1]
    predicted = P.argmax(1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    names = list(names) + [str(i) for i in range(len(names), k)]
    classes = []
    for c in range(k):
        hit, as_c, is_c = confusion[c, c], confusion[:, c].sum(), confusion[c].sum()
        precision = hit / as_c if as_c else None
        recall = hit / is_c if is_c else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision and recall
            else (0.0 if is_c else None)
        )
        classes.append({"name": names[c], "precision": _f(precision), "recall": _f(recall),
                        "f1": _f(f1), "support": int(is_c)})  # fmt: skip
    return {
        "n": int(len(y)),
        "accuracy": float(np.mean(predicted == y)) if len(y) else None,
        "loss": net.loss_of(P, y) if len(y) else None,
        "classes": classes,
        "confusion": confusion.tolist(),
    }


def _f(x):
    return None if x is None else float(x)


def _report(args, net, X, y, names, source) -> None:
    """--report: the HTML page of this evaluation, for any task."""
    if not args.report:
        return
    from ..report import write_report

    path = write_report(args.report, net, X, y, names=names, source=source,
                        model_path=args.model, threads=args.threads)  # fmt: skip
    if not args.json:
        print(f"report written to {path}")


def text_report(result: dict) -> list[str]:
    def cell(x):
        return "     -" if x is None else f"{100 * x:6.2f}"

    lines = [
        f"model:    {result['model']}",
        f"data:     {result['data']}",
        f"accuracy: {100 * result['accuracy']:.2f} %   loss: {result['loss']:.4f}",
        "",
        "class       precision  recall      f1  support",
    ]
    for c in result["classes"]:
        lines.append(
            f"{c['name'][:10]:<10}  {cell(c['precision'])} %  {cell(c['recall'])} %  "
            f"{cell(c['f1'])}  {c['support']:7d}"
        )
    confusion = np.array(result["confusion"])
    names = [c["name"] for c in result["classes"]]
    width = max(4, len(str(confusion.max())) + 1, *(min(len(n), 8) + 1 for n in names))
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    lines.append(" " * 10 + "".join(f"{n[:8]:>{width}}" for n in names))
    for name, row in zip(names, confusion, strict=True):
        lines.append(f"{name[:10]:<10}" + "".join(f"{v:>{width}}" for v in row))
    return lines


def task_report(result: dict) -> list[str]:
    """The metrics of a multilabel or regression model (``Network.evaluate``)."""
    lines = [f"model:    {result['model']}", f"data:     {result['data']}", ""]
    if result["task"] == "multilabel":
        lines.append(
            f"subset accuracy: {100 * result['subset_accuracy']:.2f} %   Hamming loss: "
            f"{result['hamming_loss']:.4f}   F1 micro {result['micro_f1']:.4f}, macro "
            f"{result['macro_f1']:.4f}   loss: {result['loss']:.4f}"
        )
        return lines
    lines.append(
        f"R^2: {result['r2']:.4f}   RMSE: {result['rmse']:.4g}   MAE: {result['mae']:.4g}   "
        f"loss (standardised targets): {result['loss']:.4f}"
    )
    if len(result["outputs"]) > 1:
        lines += ["", "output          R^2        RMSE         MAE"]
        for name, r2, rmse, mae in zip(result["outputs"], result["r2_outputs"],
                                       result["rmse_outputs"], result["mae_outputs"]):  # fmt: skip
            lines.append(f"{name[:12]:<12}  {r2:6.4f}  {rmse:10.4g}  {mae:10.4g}")
    return lines


def plot_confusion(result: dict, path: Path) -> Path:
    """The confusion matrix as an image, each row normalised to the class's share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.array(result["confusion"], dtype=np.float64)
    share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    names = [c["name"] for c in result["classes"]]
    k = len(names)
    size = min(16, max(5, 0.45 * k + 2))
    fig, ax = plt.subplots(figsize=(size, size), layout="constrained")
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(k), yticks=range(k), xticklabels=names, yticklabels=names,
           xlabel="predicted class", ylabel="true class",
           title=f"accuracy {100 * result['accuracy']:.2f} % on {result['data']}")  # fmt: skip
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if confusion[i, j]:
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, int(confusion[i, j]), ha="center", va="center",
                            fontsize=8, color=color)  # fmt: skip
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    path = Path(path).expanduser()
    from ..fileio import atomic_write

    try:
        with atomic_write(path) as out:
            fig.savefig(out, dpi=100, format=path.suffix.lstrip(".").lower())
    finally:
        plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
