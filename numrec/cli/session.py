"""One run of ``numrec-train`` once its command line is understood: load the data (with the
offline fallback), build or restore the network, train, checkpoint on Ctrl-C, save, report.

Kept apart from ``train.py`` (which only parses) so each reads on its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import common, report

FALLBACK_DATASET = "mnist-sample"


class Session:
    def __init__(
        self, prog: str, args, options: dict, explicit: set[str], state, config, network
    ) -> None:
        self.prog, self.args, self.options = prog, args, options
        self.explicit, self.state = explicit, state
        self.config, self.network = config, network  # TrainConfig, NetworkConfig
        from ..mpi import world

        # one of several MPI ranks (mpiexec / srun): rank 0 alone talks and writes files
        self.comm = world()
        self.root = self.comm is None or self.comm.is_root
        self.quiet = args.quiet or not self.root

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"{self.prog}: {message}", file=sys.stderr, flush=True)

    # --- data -----------------------------------------------------------------------------
    def load_data(self):
        """The data set; the default MNIST falls back to the bundled sample when offline."""
        from ..download import data_root, is_network_failure
        from ..errors import DownloadError
        from ..plugins import load_dataset

        args = self.args
        defaulted = (
            self.state is None
            and args.dataset == common.DEFAULT_DATASET
            and "dataset" not in self.explicit
            and not self.options
        )
        try:
            return load_dataset(args.dataset, progress=not self.quiet, **self.options)
        except DownloadError as e:
            # only for the zero-option default, and only when no mirror answered at all:
            # a checksum mismatch or an HTTP error must be seen, not papered over
            if not (defaulted and is_network_failure(e)):
                raise
        common.warn(
            self.prog,
            f"MNIST is not in the cache ({data_root() / args.dataset}) and no mirror could "
            f"be reached (offline?), so this run trains on the bundled {FALLBACK_DATASET!r}: "
            "8,000 training and 2,000 test digits of real MNIST. For the full data set, run "
            "once with network access, or pass --dataset mnist --data-dir DIR.",
        )
        args.dataset = FALLBACK_DATASET
        return load_dataset(FALLBACK_DATASET, progress=not self.quiet)

    def load_shared(self):
        """Under MPI: rank 0 loads first (a download or a parse happens once, into the
        cache) while the others wait, then they load what rank 0 loaded (the offline
        fallback included) from the cache."""
        from ..plugins import load_dataset

        comm = self.comm
        if comm.is_root:
            ds = comm.root_first(self.load_data)
            comm.bcast(self.args.dataset)
            return ds
        comm.root_first(lambda: None)
        self.args.dataset = comm.bcast(None)
        return load_dataset(self.args.dataset, progress=False, **self.options)

    def absolute_options(self) -> dict:
        """The data-set options with paths made absolute, for a checkpoint."""
        from ..plugins import dataset_specs

        spec = dataset_specs().get(self.args.dataset)
        kinds = {o.name: o.type for o in spec.options} if spec else {}
        return {
            name: str(Path(value).expanduser().resolve()) if kinds.get(name) is Path else value
            for name, value in self.options.items()
        }

    # --- the run --------------------------------------------------------------------------
    def run(self, start: float) -> int:
        from ..callbacks import MetricsFile
        from ..serialize import save_checkpoint
        from ..training import LocalSteps, Trainer, TrainingInterrupted

        args, config = self.args, self.config
        ds = self.load_data() if self.comm is None else self.load_shared()
        if len(ds.train) == 0:
            raise ValueError(f"data set {ds.name!r} has no training samples")
        net = self.network.build(ds.n_features, ds.num_classes, seed=config.seed, task=ds.task)
        net.class_names = list(ds.class_names)
        steps = LocalSteps()
        if self.comm is not None:
            from ..distributed import MpiSteps

            steps = MpiSteps(self.comm)
        callbacks = []
        metrics = MetricsFile(args.metrics) if args.metrics and self.root else None
        if metrics is not None:
            callbacks.append(metrics)
        if args.tensorboard and self.root:
            from ..tensorboard import TensorBoardLogger

            callbacks.append(TensorBoardLogger(args.tensorboard))
        trainer = Trainer(net, ds, config, steps=steps, callbacks=callbacks,
                          progress=not self.quiet)  # fmt: skip
        if self.state is not None:
            self.restore(trainer)
        if metrics is not None:
            metrics.start(trainer.history)
        checkpoint = self.checkpoint_path()
        self.note(self.header(ds, net, trainer))
        try:
            trainer.run()
        except TrainingInterrupted as stop:
            if not self.root:
                return common.EXIT_INTERRUPTED  # rank 0 holds the same state and saves it
            return self.interrupted(stop, checkpoint, save_checkpoint)
        if not self.root:
            return common.EXIT_OK
        return self.finish(ds, net, trainer, start)

    def header(self, ds, net, trainer) -> str:
        c = self.config
        arch = "-".join(map(str, net.sizes))
        where = (
            f"resuming in epoch {trainer.epoch + 1} after batch {trainer.batch} of "
            f"{trainer.batches_per_epoch}; "
            if self.state is not None
            else ""
        )
        ranks = ""
        if self.comm is not None:
            ranks = (f"; {self.comm.size} MPI ranks x {trainer.steps.thread_count(c.threads)} "
                     f"thread(s), batch {c.batch_size} shared among them")  # fmt: skip
        val = trainer.n_validation
        held = (
            f"{trainer.n_samples:,} train / {val:,} validation / {len(ds.test):,} test samples"
            if val
            else f"{trainer.n_samples:,} train / {len(ds.test):,} test samples (no validation)"
        )
        return (
            f"{where}{ds.name}: {held}, {ds.n_features} features, {ds.num_classes} "
            f"{ {'regression': 'outputs', 'multilabel': 'labels'}.get(ds.task, 'classes') }; "
            f"network {arch} ({net.hidden}, {net.output}); {c.optimizer} lr {c.lr:g} "
            f"({c.schedule}), batch {c.batch_size}, {c.epochs} epoch{'s' if c.epochs != 1 else ''}"
            f", seed {c.seed}{ranks}"
        )

    def restore(self, trainer) -> None:
        arch = self.state.get("architecture") or trainer.net.config()
        if int(self.state["theta"].size) != trainer.net.n_params:
            raise ValueError(
                f"{self.args.resume}: the checkpoint's network ({arch}) does not fit data set "
                f"{self.args.dataset!r} as it is now ({trainer.net.config()})"
            )
        try:
            trainer.load_state_dict(self.state)
        except ValueError as e:
            raise ValueError(f"{self.args.resume}: {e}") from None

    def checkpoint_path(self) -> Path:
        """Where Ctrl-C writes: --checkpoint, else the checkpoint being resumed, else beside
        --save, else the current folder. Never a path read from a checkpoint."""
        args = self.args
        if args.checkpoint:
            return Path(args.checkpoint)
        if args.resume:
            return Path(args.resume)
        if args.save:
            save = Path(args.save)
            return save.with_name(save.stem + ".checkpoint.npz")
        return Path("numrec-checkpoint.npz")

    def stored_run(self) -> dict:
        """What a resume needs: the data set, its options (paths absolute, so that it works
        from any folder) and the settings. No output path: a resumed run writes only where
        its own command line says."""
        return {
            "dataset": self.args.dataset,
            "dataset_options": self.absolute_options(),
            "config": self.config.to_dict(),
            "network": self.network.to_dict(),
        }

    def interrupted(self, stop, checkpoint: Path, save_checkpoint) -> int:
        from .train import resume_command, signal_name

        trainer = stop.trainer
        extra = {"run": self.stored_run(), "numrec_train": True}
        path = save_checkpoint(checkpoint, trainer, extra)
        print(
            f"{self.prog}: stopped by {signal_name(stop.signum)} in epoch {trainer.epoch + 1} "
            f"of {trainer.epochs}, after batch {trainer.batch} of {trainer.batches_per_epoch}; "
            f"checkpoint written to {path}",
            file=sys.stderr,
        )
        print(f"{self.prog}: to continue, run: {resume_command(path, self.args)}", file=sys.stderr)
        return common.EXIT_INTERRUPTED

    def finish(self, ds, net, trainer, start: float) -> int:
        args = self.args
        model = None
        if args.save:
            meta = {
                "dataset": ds.name,
                "input_scaling": "uint8 pixels / 255"
                if ds.train.X.dtype.name == "uint8"
                else "float32 as is",
                "image_shape": ds.meta.get("image_shape"),
                "trained": {"epochs": trainer.epoch, "history": trainer.history,
                            "best_epoch": trainer.selection.best_epoch,
                            "stop_reason": trainer.stop_reason,
                            "settings": self.stored_run()},
            }  # fmt: skip
            # the data set's preprocessing, which numrec-predict repeats on raw rows: e.g. a
            # standardised CSV data set's statistics, its columns and their roles (the
            # target scaling of regression is the network's own meta already)
            kept = ("scale", "mean", "std", "image_prep", "delimiter", "columns", "n_columns",
                    "feature_columns", "target_columns", "weight_column")  # fmt: skip
            for key in kept:
                if key in ds.meta:
                    meta[key] = ds.meta[key]
            model = str(net.save(args.save, **meta))
        plot = None
        if args.plot and trainer.history:
            title = f"{ds.name}: network {'-'.join(map(str, net.sizes))}"
            plot = str(report.plot_history(trainer.history, args.plot, title))
        info = report.summary(trainer, time.perf_counter() - start)
        info.update(
            dataset=ds.name,
            model=model,
            metrics=str(args.metrics) if args.metrics else None,
            tensorboard=str(args.tensorboard) if args.tensorboard else None,
            plot=plot,
            architecture=net.config(),
        )
        if args.json:
            print(json.dumps(report.clean(info), indent=2))
        elif not self.quiet:
            print("\n".join(report.summary_lines(info)))
        if args.report:  # the HTML report: the model on the test split, with this run's history
            from ..report import run_report

            path = run_report(args.report, net, ds, trainer, self.stored_run(), model)
            self.note(f"report written to {path}")
        return common.EXIT_OK
