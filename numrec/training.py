"""``numrec.train`` and the ``Trainer`` behind it: epochs, validation, stopping, callbacks.

The per-batch loop is compiled (``kernels.step.train_batches``); Python runs once per
chunk of batches (about 8,192 samples) to move the progress bar and to notice Ctrl-C
or SIGTERM at a batch boundary. The order of epoch ``e`` is a permutation drawn from
``default_rng([seed, e])``, so a run resumed from a checkpoint in the middle of an epoch
continues with exactly the batches, and the weights, of an uninterrupted run.

Model selection looks at the validation split only: carved from the training rows
(``validation_fraction``, stratified by class for classification, seeded) or given by the
data set. The best epoch, early stopping (``patience``), the target accuracy and the
plateau schedule all read the monitored validation metric (a loss-like one - loss,
hamming_loss, rmse, mae - is better lower, any other higher); the test split is evaluated
for reporting and decides nothing.

Tasks (``Dataset.task``): classification trains on int labels; multilabel on 0/1 rows;
regression on value rows standardised with the training rows' mean and std (stored in
``net.meta["target_mean"]``/``["target_std"]``, so ``predict`` and the metrics are in the
user's units). Rows are weighted by the split's ``sample_weight`` times the class
weights (``class_weight``): each batch's loss and gradient are sum(w_i l_i) / sum(w_i).
The validation and test metrics are unweighted. Label smoothing (``label_smoothing``,
softmax cross-entropy only) changes the training targets, so the training loss reported
is the smoothed one (PyTorch's ``cross_entropy(label_smoothing=eps)``); the validation and
test losses are the plain cross-entropy of the true labels, as ``Network.evaluate`` and
``numrec-eval`` give it, comparable between runs with and without smoothing.

Where the gradient of a batch comes from is a strategy (``steps``): this process alone
(``LocalSteps``), or the ranks of an MPI job summing their parts (``numrec.distributed``).
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from . import metrics
from .config import TrainConfig
from .kernels.step import NO_LABELS, NO_TARGETS, NO_WEIGHTS, train_batches
from .kernels.structs import Codes, Noise, OptimizerState
from .network import UINT8_SCALE, Network
from .noise import dropout_rates, image_geometry, make_augment, make_noise
from .optim import Optimizer
from .runtime import compile_notice, engine_threads

CHUNK_SAMPLES = 8192  # samples per compiled call: bar updates and Ctrl-C checks
VALIDATION_STREAM = 0x76616C  # keys the validation split's generator apart from the orders


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training at a batch boundary; ``trainer`` can be
    checkpointed (``trainer.state_dict()``) and resumed."""

    def __init__(self, trainer: Trainer, signum: int):
        super().__init__(f"training interrupted by {signal.Signals(signum).name}")
        self.trainer = trainer
        self.signum = signum


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


class ChunkResult(NamedTuple):
    """What a run of mini-batches gives back (see kernels.step.train_batches)."""

    loss: float  # summed over the samples
    correct: int
    seen: int
    batches: int  # done; fewer than asked when the loss stopped being finite
    finite: bool


class LocalSteps:
    """Every batch's gradient computed and applied in this process: the whole chunk of
    batches in one compiled call."""

    is_root = True
    ranks = 1

    def share(self, n: int) -> tuple[int, int]:
        """The rows of a split of ``n`` this process reads: all of them."""
        return 0, n

    def thread_count(self, requested: int | None) -> int | None:
        return requested

    def workspace(self, net: Network, batch: int):
        return net.workspace(batch)

    def warm_up(self, t: Trainer) -> None:
        with compile_notice("training"):
            train_batches(
                t.X, t.y, t.train_rows[:1], 0, 0, t.batch_size, np.zeros(1), t.scale,
                t.net.params(), t.codes, t.net.plan(1), t.optimizer.kernel_args(),
                t.opt_state, t.net.workspace(1), t.Y, t.w, t.noise(0),
            )  # fmt: skip

    def epoch_rows(self, t: Trainer, order: np.ndarray):
        return t.train_rows[order]

    def stop_signal(self, local: int) -> int:
        return local

    def train_chunk(self, t: Trainer, rows, count: int, lrs, plan, ws) -> ChunkResult:
        return ChunkResult(
            *train_batches(
                t.X, t.y, rows, t.batch, count, t.batch_size, lrs, t.scale, t.net.params(),
                t.codes, plan, t.optimizer.kernel_args(), t.opt_state, ws, t.Y, t.w,
                t.noise(t.epoch),
            )
        )  # fmt: skip

    def sum(self, values: np.ndarray, what: str = "") -> np.ndarray:
        return values


class Trainer:
    """Mini-batch training of a ``Network`` on a ``Dataset`` (see ``numrec.train``)."""

    def __init__(
        self,
        net: Network,
        dataset,
        config: TrainConfig | None = None,
        *,
        steps=None,
        callbacks: Sequence[Any] = (),
        progress: bool = True,
        **overrides,
    ) -> None:
        config = (config or TrainConfig()).with_overrides(**overrides)
        if config.seed is None:
            config = config.with_overrides(seed=int(np.random.SeedSequence().entropy % 2**32))
        self.config = config
        self.steps = steps or LocalSteps()
        self.optimizer = Optimizer(**config.optimizer_settings())
        self.net, self.dataset = net, dataset
        self.epochs, self.batch_size, self.seed = config.epochs, config.batch_size, config.seed
        self.callbacks = list(callbacks)
        if progress and self.steps.is_root:
            from .callbacks import ProgressBar

            self.callbacks.insert(0, ProgressBar())

        train = dataset.train
        self.task = task = getattr(dataset, "task", None) or "classification"
        check_task(net, task, config.monitor)
        if config.label_smoothing and (net.output, net.loss) != ("softmax", "cross_entropy"):
            raise ValueError(
                f"label_smoothing={config.label_smoothing:g} is for softmax outputs with "
                f"cross-entropy loss only; this network has output {net.output!r} with loss "
                f"{net.loss!r} (set label_smoothing to 0)"
            )
        X, self.scale = self._checked_rows(train.X, "train")
        t_all = self._targets(train.y, "train")
        if len(t_all) == 0:
            raise ValueError("the training split is empty")
        strata = t_all if task == "classification" else np.zeros(len(t_all), dtype=np.int64)
        self.fingerprint = data_fingerprint(dataset)
        # dropout and augmentation: checked now, drawn per epoch (``noise``)
        self.dropout = dropout_rates(config.dropout, net.n_layers - 1)
        geometry = None
        spec = config.augment_for(getattr(dataset, "meta", {}))  # "auto": images only
        if spec:
            name = getattr(dataset, "name", "the data set")
            geometry = image_geometry(getattr(dataset, "meta", {}), X.shape[1], name)
        self.augment = make_augment(spec, geometry)
        given = getattr(dataset, "validation", None)
        if given is not None and len(given):
            train_rows, val = np.arange(len(t_all), dtype=np.int64), None
            self._checked_rows(given.X, "validation")
            val_X, val_t = given.X, self._targets(given.y, "validation")
        else:
            train_rows, val = validation_split(strata, config.validation_fraction, config.seed)
            val_X, val_t = (X[val], t_all[val]) if val is not None else (X[:0], t_all[:0])
        wanted = config.decides_on_validation
        if len(val_t) == 0 and wanted:
            raise ValueError(
                f"{', '.join(wanted)} decide(s) on the validation split, and this run has "
                "none: set validation_fraction above 0 (e.g. 0.1) or give the data set a "
                "validation split"
            )
        if task == "regression":
            self._scale_targets(t_all[train_rows])
        w_all = self._row_weights(train, t_all, train_rows, dataset)
        if w_all.size and self.steps.ranks > 1:
            raise ValueError("sample weights and class_weight are not supported with MPI yet")
        # this process's rows: all of them, or one rank's share of each split
        lo, hi = self.steps.share(len(t_all))
        self.X = X[lo:hi]
        if task == "classification":
            self.y, self.Y = t_all[lo:hi], NO_TARGETS
        else:
            self.y, self.Y = NO_LABELS, self._network_units(t_all[lo:hi])
        self.w = w_all[lo:hi] if w_all.size else NO_WEIGHTS
        self.row_offset = lo
        self.train_rows = train_rows  # indices into the whole training split
        self.n_samples = len(train_rows)
        if self.n_samples == 0:
            raise ValueError("no training rows are left after the validation split")
        self.splits = {}
        for name, (sx, st) in (("val", (val_X, val_t)), ("test", (dataset.test.X, dataset.test.y))):
            if len(st):
                if name == "test":
                    self._checked_rows(sx, "test")
                    st = self._targets(st, "test")
                a, b = self.steps.share(len(st))
                self.splits[name] = (sx[a:b], st[a:b], len(st))

        # progress of the run: what a checkpoint has to carry
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed in the current epoch
        self.partial = [0.0, 0, 0, 0.0]  # loss sum, correct, samples, seconds
        self.m = np.zeros_like(net.theta)
        self.v = np.zeros_like(net.theta) if self.optimizer.name.startswith("adam") else self.m[:0]
        self.step = np.zeros(1, dtype=np.int64)
        self.history: list[dict] = []
        self.selection = Selection()
        self.stop_reason: str | None = None
        self.n_threads: int | None = None  # set while running
        self._signal = 0

    def _targets(self, y, part: str) -> np.ndarray:
        """A split's targets as the task takes them: int64 labels (classification) or
        float32 rows in the user's units (multilabel 0/1, regression values)."""
        y = np.asarray(y)
        n = len(y)
        if self.task == "classification":
            if y.ndim != 1:
                raise ValueError(f"the {part} labels must be 1-D for classification, got {y.shape}")
            return self.net.labels(y, n)
        Y = y.reshape(n, -1) if y.ndim == 1 else y
        k = self.net.sizes[-1]
        if Y.shape != (n, k):
            raise ValueError(
                f"the {part} targets have shape {y.shape} but the network has {k} outputs; "
                f"expected ({n}, {k})"
            )
        Y = np.ascontiguousarray(Y, dtype=np.float32)
        if not np.isfinite(Y).all():
            raise ValueError(f"the {part} targets contain NaN or inf")
        if self.task == "multilabel" and n and not np.isin(Y, (0.0, 1.0)).all():
            raise ValueError(f"the {part} multilabel targets must be 0 or 1")
        return Y

    def _scale_targets(self, Y: np.ndarray) -> None:
        """Regression: the training rows' mean and std of each output, stored in the
        network (kept when it already has them: training on, the units stay the same)."""
        meta = self.net.meta
        if "target_mean" in meta and "target_std" in meta:
            self.net.target_scaling()  # checks their sizes
            return
        Y64 = Y.astype(np.float64)
        mean = Y64.mean(0) if len(Y64) else np.zeros(Y.shape[1])
        std = Y64.std(0) if len(Y64) else np.ones(Y.shape[1])
        std[~(std > 0)] = 1.0  # a constant output: shifted, not divided by 0
        meta["target_mean"], meta["target_std"] = mean.tolist(), std.tolist()

    def _network_units(self, T: np.ndarray) -> np.ndarray:
        """Targets as the network learns them: regression values standardised."""
        if self.task != "regression":
            return T
        mean, std = self.net.target_scaling()
        return np.ascontiguousarray((T - mean) / std, dtype=np.float32)

    def _row_weights(self, split, t_all, train_rows, dataset) -> np.ndarray:
        """Each training row's weight: ``sample_weight`` times its class's weight
        (``class_weight``); empty when neither is given (every row weighs 1)."""
        given, chosen = getattr(split, "sample_weight", None), self.config.class_weight
        if given is None and chosen is None:
            return NO_WEIGHTS
        n = len(t_all)
        w = np.ones(n) if given is None else self.net.weights_of(given, n).astype(np.float64)
        if chosen is not None:
            if self.task != "classification":
                raise ValueError(f"class_weight is for classification, not {self.task}")
            names = list(getattr(dataset, "class_names", []) or [])
            w *= class_weights(chosen, t_all[train_rows], self.net.sizes[-1], names)[t_all]
        w = w.astype(np.float32)
        if not w[train_rows].sum(dtype=np.float64) > 0:
            raise ValueError("the training rows' weights are all 0")
        return w

    def noise(self, epoch: int) -> Noise:
        """Epoch ``epoch``'s dropout and augmentation for the kernels: keyed by the seed,
        the epoch and each sample's global index, so they do not depend on threads, ranks
        or an interrupt."""
        return make_noise(self.seed, epoch, self.row_offset, self.dropout,
                          self.config.input_dropout, self.augment)  # fmt: skip

    @property
    def codes(self) -> Codes:
        """What the kernels compute while training: the network's codes with the run's
        label smoothing (evaluation uses ``net.codes()``: the true one-hot targets)."""
        return self.net.codes()._replace(smoothing=np.float32(self.config.label_smoothing))

    @property
    def opt_state(self) -> OptimizerState:
        return OptimizerState(self.m, self.v, self.step)

    def _checked_rows(self, X: np.ndarray, part: str):
        if X.ndim != 2 or X.shape[1] != self.net.sizes[0]:
            raise ValueError(
                f"the {part} rows have {X.shape[1] if X.ndim == 2 else X.shape} features "
                f"but the network takes {self.net.sizes[0]} inputs"
            )
        if X.dtype == np.uint8:
            return X, UINT8_SCALE
        if X.dtype != np.float32:
            raise ValueError(f"the {part} rows must be uint8 or float32, got {X.dtype}")
        if not np.isfinite(X).all():
            raise ValueError(f"the {part} rows contain NaN or inf")
        return X, np.float32(1.0)

    @property
    def n_test(self) -> int:
        return self.splits["test"][2] if "test" in self.splits else 0

    @property
    def n_validation(self) -> int:
        return self.splits["val"][2] if "val" in self.splits else 0

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch``: a permutation that depends on (seed, epoch) only."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_samples)

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (arrays and JSON-able values)."""
        s = self.selection
        return {
            "theta": self.net.theta.copy(),
            "m": self.m.copy(),
            "v": self.v.copy(),
            "best_theta": s.best_theta.copy() if s.best_theta is not None else self.m[:0],
            "step": int(self.step[0]),
            "epoch": self.epoch,
            "batch": self.batch,
            "partial": list(self.partial),
            "history": [dict(h) for h in self.history],
            "selection": s.to_dict(),
            "config": self.config.to_dict(),
            "fingerprint": self.fingerprint,
            # read by older code and by serialize's checks
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        if int(state["batch_size"]) != self.batch_size:
            raise ValueError(
                f"the checkpoint was trained with batch size {state['batch_size']}, "
                f"not {self.batch_size}: resume with the same batch size"
            )
        stored = state.get("fingerprint")
        if stored is not None and stored != self.fingerprint:
            raise ValueError(
                "the checkpoint was trained on other data (its fingerprint "
                f"{describe_fingerprint(stored)}; this data set: "
                f"{describe_fingerprint(self.fingerprint)}): resume on the data it started with"
            )
        self.net.theta[:] = state["theta"]
        self.m[:] = state["m"]
        self.v[:] = state["v"]
        self.step[0] = int(state["step"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        loss, correct, seen, seconds = state["partial"]
        self.partial = [float(loss), int(correct), int(seen), float(seconds)]
        self.history = [dict(h) for h in state["history"]]
        self.seed = int(state["seed"])
        best = state.get("best_theta")
        self.selection = Selection.from_dict(
            state.get("selection") or {}, None if best is None or not len(best) else best
        )

    # -- running -----------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Train until ``epochs`` are done or something stops it (``stop_reason``)."""
        handlers = self._catch_signals()
        self.stop_reason = None  # run() again after raising ``epochs`` goes on
        try:
            with engine_threads(self.steps.thread_count(self.config.threads)) as n_threads:
                self.n_threads = n_threads
                self.warm_up()
                self._notify("on_train_begin", "train_begin", config=self.config)
                while self.epoch < self.epochs and self.stop_reason is None:
                    self._run_epoch()
                self.stop_reason = self.stop_reason or "epochs"
                self._restore_best()
                self._notify("on_train_end", "train_end", history=self.history)
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return self.history

    def warm_up(self) -> None:
        """Compile (or load from the cache) the training and inference kernels for these
        array types, with no work done, so no epoch's time includes compilation."""
        self.steps.warm_up(self)
        for X, _, _ in self.splits.values():
            self.net.forward(X[:0])

    def _notify(self, method: str, hook: str, **values) -> bool:
        """Call ``method`` of every callback and the plugins' ``hook`` with ``values`` and
        the network; True when a callback asked to stop."""
        stop = False
        for callback in self.callbacks:
            fn = getattr(callback, method, None)
            if fn is not None:
                stop = bool(fn(*values.values(), self.net)) or stop
        if self.steps.is_root:
            from .plugins import call_training_hook

            call_training_hook(hook, network=self.net, **values)
        return stop

    def _catch_signals(self) -> dict:
        """Turn SIGINT/SIGTERM into a stop at the next batch boundary (main thread only);
        a second signal interrupts at once, as the original handler would."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        originals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, frame):
            self._signal = signum
            for s, h in originals.items():
                signal.signal(s, h)

        for s in originals:
            signal.signal(s, handler)
        return originals

    def _run_epoch(self) -> None:
        n, batch, epoch = self.n_samples, self.batch_size, self.epoch
        # buffers for the largest batch there is: a batch size beyond the data set's rows
        # must not allocate for rows that do not exist
        rows_at_most = min(batch, n)
        ws = self.steps.workspace(self.net, rows_at_most)
        plan = self.net.plan(rows_at_most)
        lrs = self.optimizer.learning_rates(epoch, self.batches_per_epoch, self.epochs)
        lrs = np.maximum(lrs * self.selection.lr_factor, min(self.config.min_lr, lrs.min()))
        rows = self.steps.epoch_rows(self, self.order(epoch))
        chunk = max(1, CHUNK_SAMPLES // batch)
        self._each("on_epoch_begin", epoch, self.epochs, n, min(n, self.batch * batch))
        while self.batch < self.batches_per_epoch:
            signum = self.steps.stop_signal(self._signal)
            if signum:
                self._each("on_interrupt")
                raise TrainingInterrupted(self, signum)
            count = min(chunk, self.batches_per_epoch - self.batch)
            start = time.perf_counter()
            result = self.steps.train_chunk(
                self, rows, count, lrs[self.batch : self.batch + count], plan, ws
            )
            p = self.partial
            p[0] += result.loss
            p[1] += result.correct
            p[2] += result.seen
            p[3] += time.perf_counter() - start
            self.batch += result.batches
            accuracy = p[1] / max(p[2], 1) if self.task == "classification" else None
            self._each("on_batches", result.seen, p[0] / max(p[2], 1), accuracy)
            if not result.finite:
                self._each("on_interrupt")
                raise TrainingDiverged(self._divergence(epoch, float(lrs[self.batch])))
        record = self._end_epoch(lrs)
        stop = self._notify("on_epoch_end", "epoch_end", record=record)
        if stop and self.stop_reason is None:
            self.stop_reason = "callback"

    def _each(self, method: str, *args) -> None:
        """Call ``method`` of the callbacks that have it (progress: no plugin hook)."""
        for callback in self.callbacks:
            fn = getattr(callback, method, None)
            if fn is not None:
                fn(*args)

    def _divergence(self, epoch: int, lr: float) -> str:
        """Where training diverged and the likely causes, most likely first."""
        causes = [f"the learning rate ({lr:g}) is too high"]
        if self.config.weight_decay * lr >= 0.1:
            causes.insert(
                0, f"weight decay {self.config.weight_decay:g} is too strong for lr {lr:g}"
            )
        if self.scale == 1.0 and len(self.X):
            peak = float(np.abs(self.X[: min(len(self.X), 4096)]).max())
            if peak > 100:
                causes.insert(0, f"the inputs are not scaled (values up to {peak:g}; "
                                 "standardise them, e.g. the CSV option scale)")  # fmt: skip
        if self.net.hidden == "leaky_relu" and self.net.alpha > 1:
            causes.append(f"leaky ReLU's alpha {self.net.alpha:g} is above 1")
        return (
            f"training diverged in epoch {epoch + 1}, batch {self.batch + 1}: the loss became "
            f"NaN or infinite. Likely: {'; or '.join(causes)}"
        )

    def _scores(self, part: str) -> dict | None:
        """The task's metrics and mean loss of this model on split ``part`` ("val" or
        "test"), added up over the ranks (``numrec.metrics``); None without the split."""
        if part not in self.splits:
            return None
        X, T, _ = self.splits[part]
        k = self.net.sizes[-1]
        shift = self.net.target_scaling()[0] if self.task == "regression" else None
        sums = np.zeros(1 + len(metrics.sums(self.task, np.zeros((0, k)), T[:0], shift)))
        if len(T):
            P = self.net.forward(X, threads=self.n_threads)
            if self.task == "regression":
                mean, std = self.net.target_scaling()
                sums[1:] = metrics.sums(self.task, P * std + mean, T, shift)
            else:
                sums[1:] = metrics.sums(self.task, P, T)
            sums[0] = self.net.loss_of(P, self._network_units(T)) * len(T)
        sums = self.steps.sum(sums, "evaluation")
        scores = metrics.summary(self.task, sums[1:], k)
        scores["loss"] = float(sums[0] / sums[1]) if sums[1] else None
        return scores

    def _end_epoch(self, lrs: np.ndarray) -> dict:
        loss, correct, seen, seconds = self.partial
        record = {"epoch": self.epoch + 1, "loss": loss / seen}
        if self.task == "classification":
            record["train_accuracy"] = correct / seen
        names = metrics.METRICS[self.task]
        for part in ("val", "test"):
            scores = self._scores(part) or {}
            for name in names:
                record[f"{part}_{name}"] = scores.get(name)
        record.update(
            seconds=seconds,
            samples_per_s=seen / seconds if seconds > 0 else math.inf,
            lr=float(lrs[-1]),
        )
        self.history.append(record)
        self.epoch += 1
        self.batch = 0
        self.partial = [0.0, 0, 0, 0.0]
        reason = self.selection.update(record, self.config, self.net.theta)
        record["best"] = self.selection.best_epoch == record["epoch"]
        if reason:
            record["stopped"] = reason
            self.stop_reason = reason
        return record

    def _restore_best(self) -> None:
        s = self.selection
        if self.config.restore_best and s.best_theta is not None:
            self.net.theta[:] = s.best_theta


class Selection:
    """Model selection on the monitored validation metric: the best epoch and its
    weights, early stopping's and the plateau schedule's counters."""

    def __init__(self) -> None:
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_theta: np.ndarray | None = None
        self.wait = 0  # epochs since the last improvement
        self.plateau_wait = 0  # the same, since the last cut of the learning rate
        self.lr_factor = 1.0

    def update(self, record: dict, config: TrainConfig, theta: np.ndarray) -> str | None:
        """Take one epoch's record; the reason to stop now ("patience", "target"), if any."""
        value = record.get(config.monitor)
        if value is None:
            return None
        higher = metrics.higher_is_better(config.monitor)
        if self.best_value is None or (
            value > self.best_value + config.min_delta
            if higher
            else value < self.best_value - config.min_delta
        ):
            self.best_value, self.best_epoch = float(value), int(record["epoch"])
            self.best_theta = theta.copy()
            self.wait = self.plateau_wait = 0
        else:
            self.wait += 1
            self.plateau_wait += 1
            if config.schedule == "plateau" and self.plateau_wait >= config.plateau_patience:
                self.lr_factor *= config.gamma
                self.plateau_wait = 0
        target = config.target_accuracy
        reached = record.get("val_accuracy", record.get("val_subset_accuracy"))
        if target is not None and (reached or 0.0) >= target:
            record["target_reached"] = True
            return "target"
        if config.patience is not None and self.wait >= config.patience:
            return "patience"
        return None

    def to_dict(self) -> dict:
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "plateau_wait": self.plateau_wait,
            "lr_factor": self.lr_factor,
        }

    @classmethod
    def from_dict(cls, values: dict, best_theta: np.ndarray | None) -> Selection:
        s = cls()
        s.best_value = None if values.get("best_value") is None else float(values["best_value"])
        s.best_epoch = None if values.get("best_epoch") is None else int(values["best_epoch"])
        s.wait, s.plateau_wait = int(values.get("wait", 0)), int(values.get("plateau_wait", 0))
        s.lr_factor = float(values.get("lr_factor", 1.0))
        s.best_theta = None if best_theta is None else np.array(best_theta, dtype=np.float32)
        return s


def validation_split(y: np.ndarray, fraction: float, seed: int):
    """(training rows, validation rows or None): ``fraction`` of each class's rows held
    out, drawn by a generator keyed by the seed alone, sorted. A class keeps at least one
    training row."""
    if fraction <= 0:
        return np.arange(len(y), dtype=np.int64), None
    rng = np.random.default_rng([seed, VALIDATION_STREAM])
    held = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        k = min(len(rows) - 1, int(round(fraction * len(rows))))
        if k > 0:
            held.append(rng.choice(rows, size=k, replace=False))
    if not held:
        return np.arange(len(y), dtype=np.int64), None
    val = np.sort(np.concatenate(held)).astype(np.int64)
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep).astype(np.int64), val


def check_task(net: Network, task: str, monitor: str) -> None:
    """The network's outputs and the monitored metric must suit the data set's task."""
    if task not in metrics.TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(metrics.TASKS)}")
    fits = {
        "classification": net.output in ("softmax", "sigmoid"),
        "multilabel": net.output == "sigmoid",
        "regression": net.output == "linear",
    }[task]
    if not fits:
        wanted = {
            "classification": "softmax (or sigmoid)",
            "multilabel": "sigmoid (with loss cross_entropy)",
            "regression": "linear (loss mse, mae or huber)",
        }[task]
        raise ValueError(
            f"the data set's task is {task} but the network's output is {net.output!r}; "
            f"expected output {wanted}"
        )
    allowed = [f"val_{m}" for m in metrics.METRICS[task]]
    if monitor not in allowed:
        raise ValueError(
            f"monitor={monitor!r} is not a {task} metric; use one of {', '.join(allowed)}"
        )
    net.meta["task"] = task


def class_weights(chosen, y: np.ndarray, k: int, names: list[str]) -> np.ndarray:
    """The weight of each of ``k`` classes: "balanced" as scikit-learn computes it,
    n / (classes present * rows of the class), over the training labels ``y``; or a
    mapping from class (its name, or its number) to weight, 1 for classes not named."""
    weights = np.ones(k)
    if chosen == "balanced":
        counts = np.bincount(y, minlength=k)
        present = counts > 0
        weights[present] = len(y) / (present.sum() * counts[present])
        return weights
    for key, value in dict(chosen).items():
        text = str(key)
        if text in names:
            c = names.index(text)
        elif text.lstrip("-").isdigit() and 0 <= int(text) < k:
            c = int(text)
        else:
            shown = ", ".join(names[:10]) if names else f"0..{k - 1}"
            raise ValueError(f"class_weight names class {key!r}, which is not one of: {shown}")
        weights[c] = float(value)
    return weights


def data_fingerprint(dataset) -> dict:
    """Sizes and a hash of the labels: enough to tell that a checkpoint is being resumed
    on other data, without reading the (maybe memory-mapped) images again."""
    train, test = dataset.train, dataset.test
    digest = hashlib.sha256()
    for y in (train.y, test.y):
        if y.ndim == 1:
            digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
        else:  # target rows: their values
            digest.update(np.ascontiguousarray(y, dtype=np.float32).tobytes())
    return {
        "train": len(train),
        "test": len(test),
        "features": int(train.X.shape[1]),
        "labels_sha256": digest.hexdigest()[:32],
    }


def describe_fingerprint(f: dict) -> str:
    return (f"{f.get('train')} train / {f.get('test')} test rows of {f.get('features')} "
            f"features, labels {str(f.get('labels_sha256'))[:12]}")  # fmt: skip


def train(
    net: Network,
    dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
    comm=None,
    **overrides,
) -> list[dict]:
    """Train ``net`` on ``dataset.train``; choose and stop on the validation split;
    report the test split after each epoch.

    ``config``: a ``numrec.TrainConfig`` (default: its defaults); ``overrides`` change
    some of its settings (``numrec.train(net, ds, epochs=3, lr=0.01)``); an unknown name
    is refused. Returns one dict per epoch: "epoch", "loss" (mean training loss),
    "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy" (None
    where the split is empty; for multilabel and regression data sets the task's
    metrics instead: val_/test_ subset_accuracy, hamming_loss, micro_f1, macro_f1, or
    r2, rmse, mae; see ``numrec.metrics``), "seconds" (training time, evaluation excluded),
    "samples_per_s", "lr", "best" (this epoch is the best so far), and "stopped" with the
    reason on the last one when something other than the epoch count stopped the run.
    With ``restore_best`` (default) the network ends with the best epoch's weights.

    ``callbacks``: objects with any of ``on_train_begin(config, network)``,
    ``on_epoch_end(record, network)`` (return True to stop) and ``on_train_end(history,
    network)``, as Keras's callbacks; plugins get the same events as hooks.

    ``comm``: an MPI communicator (mpi4py's, or ``numrec.mpi.world()``, which is None
    unless an MPI launcher started this process): with two or more ranks, every rank
    calls ``train`` alike and they train one model together, data-parallel
    (``numrec.distributed``); None trains in this process alone.
    """
    steps = None
    if comm is not None:
        from .distributed import MpiSteps
        from .mpi import as_comm

        comm = as_comm(comm)
        if comm is not None:
            steps = MpiSteps(comm)
    trainer = Trainer(net, dataset, config, steps=steps, callbacks=callbacks, progress=progress,
                      **overrides)  # fmt: skip
    return trainer.run()
