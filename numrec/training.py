"""``numrec.train`` and the ``Trainer`` behind it: epochs, shuffles, progress, stopping.

The per-batch loop is compiled (``kernels.step.train_batches``); Python runs once per
chunk of batches (about 8,192 samples) to move the progress bar and to notice Ctrl-C
or SIGTERM at a batch boundary. The order of epoch ``e`` is a permutation drawn from
``default_rng([seed, e])``, so a run resumed from a checkpoint in the middle of an epoch
continues with exactly the batches, and the weights, of an uninterrupted run.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from .kernels.step import train_batches
from .network import UINT8_SCALE, Network
from .optim import Optimizer
from .runtime import compile_notice, engine_threads

CHUNK_SAMPLES = 8192  # samples per compiled call: bar updates and Ctrl-C checks


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training at a batch boundary; ``trainer`` can be
    checkpointed (``trainer.state_dict()``) and resumed."""

    def __init__(self, trainer: Trainer, signum: int):
        super().__init__(f"training interrupted by {signal.Signals(signum).name}")
        self.trainer = trainer
        self.signum = signum


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


class Trainer:
    """Mini-batch training of a ``Network`` on a ``Dataset`` (see ``numrec.train``)."""

    def __init__(
        self,
        net: Network,
        dataset,
        *,
        epochs: int = 10,
        batch_size: int = 64,
        optimizer: str | Optimizer = "momentum",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        threads: int | None = None,
        seed: int | None = 0,
        target_accuracy: float | None = None,
        progress: bool = True,
        on_epoch: Callable[[dict], None] | None = None,
        **optimizer_options,
    ) -> None:
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            self.optimizer = Optimizer(
                optimizer,
                lr=lr,
                momentum=momentum,
                weight_decay=weight_decay,
                schedule=schedule,
                **optimizer_options,
            )
        if int(epochs) != epochs or epochs < 0:
            raise ValueError(f"epochs must be a whole number, 0 or more; got {epochs!r}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number, 1 or more; got {batch_size!r}")
        if target_accuracy is not None and not 0 < target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy!r}")
        self.net, self.dataset = net, dataset
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.threads, self.target_accuracy, self.progress = threads, target_accuracy, progress
        self.on_epoch = on_epoch  # called with each epoch's record as soon as it is complete
        self.seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed)

        train = dataset.train
        self.X, self.scale = self._checked_images(train.X, "train")
        self.y = net.labels(train.y, len(train.y))
        if len(self.y) == 0:
            raise ValueError("the training split is empty")
        self.test_X, self.test_y = dataset.test.X, dataset.test.y
        if len(self.test_y):
            self._checked_images(self.test_X, "test")
            net.labels(self.test_y, len(self.test_y))

        # progress of the run: what a checkpoint has to carry
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed in the current epoch
        self.partial = [0.0, 0, 0, 0.0]  # loss sum, correct, samples, seconds
        self.m = np.zeros_like(net.theta)
        self.v = np.zeros_like(net.theta) if self.optimizer.name.startswith("adam") else self.m[:0]
        self.step = np.zeros(1, dtype=np.int64)
        self.history: list[dict] = []
        self.stopped_early = False
        self._signal = 0

    def _checked_images(self, X: np.ndarray, part: str):
        if X.ndim != 2 or X.shape[1] != self.net.sizes[0]:
            raise ValueError(
                f"the {part} rows have {X.shape[1] if X.ndim == 2 else X.shape} features "
                f"but the network takes {self.net.sizes[0]} inputs"
            )
        if X.dtype == np.uint8:
            return np.ascontiguousarray(X), UINT8_SCALE
        if X.dtype != np.float32:
            raise ValueError(f"the {part} images must be uint8 or float32, got {X.dtype}")
        if not np.isfinite(X).all():
            raise ValueError(f"the {part} images contain NaN or inf")
        return np.ascontiguousarray(X), np.float32(1.0)

    @property
    def n_samples(self) -> int:
        """Training samples per epoch (of all processes, when training is distributed)."""
        return len(self.y)

    @property
    def n_test(self) -> int:
        """Test samples scored after each epoch (of all processes, when distributed)."""
        return len(self.test_y)

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n_samples // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch``: a permutation that depends on (seed, epoch) only."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_samples)

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-identically (arrays and JSON-able values)."""
        return {
            "theta": self.net.theta.copy(),
            "m": self.m.copy(),
            "v": self.v.copy(),
            "step": int(self.step[0]),
            "epoch": self.epoch,
            "batch": self.batch,
            "partial": list(self.partial),
            "history": [dict(h) for h in self.history],
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
        self.net.theta[:] = state["theta"]
        self.m[:] = state["m"]
        self.v[:] = state["v"]
        self.step[0] = int(state["step"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        loss, correct, seen, seconds = state["partial"]
        self.partial = [float(loss), int(correct), int(seen), float(seconds)]
        self.history = [dict(h) for h in state["history"]]
        self.seed = int(state["seed"])

    # -- running -----------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Train until ``epochs`` are done or ``target_accuracy`` is reached."""
        handlers = self._catch_signals()
        try:
            with engine_threads(self._thread_count()) as n_threads:
                self.n_threads = n_threads
                self.warm_up()
                while self.epoch < self.epochs and not self.stopped_early:
                    self._run_epoch()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return self.history

    def _thread_count(self) -> int | None:
        return self.threads

    def warm_up(self) -> None:
        """Compile (or load from the cache) the training and inference kernels for these
        array types, with no work done, so no epoch's time includes compilation."""
        self._compile_training()
        if len(self.test_y):
            self.net.forward(self.test_X[:0])

    def _compile_training(self) -> None:
        plan, ws = self.net._plan(1)
        with compile_notice("training"):
            train_batches(
                self.X, self.y, np.arange(len(self.y)), 0, 0, self.batch_size, np.zeros(1),
                self.scale, self.net._net(), self.net._fn(), plan, self.optimizer.kernel_args(),
                (self.m, self.v, self.step), ws,
            )  # fmt: skip

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

    # the steps a data-parallel trainer (numrec.distributed) does its own way
    def _workspace(self, batch: int):
        return self.net._plan(batch)

    def _epoch_rows(self, epoch: int) -> np.ndarray:
        return self.order(epoch)

    def _stop_signal(self) -> int:
        return self._signal

    def _train_chunk(self, perm, count: int, lrs, plan, ws) -> tuple:
        """``count`` batches from batch ``self.batch`` on: (summed loss, correct, samples,
        batches done, finite) - see kernels.step.train_batches."""
        return train_batches(
            self.X, self.y, perm, self.batch, count, self.batch_size, lrs, self.scale,
            self.net._net(), self.net._fn(), plan, self.optimizer.kernel_args(),
            (self.m, self.v, self.step), ws,
        )  # fmt: skip

    def _evaluate(self) -> tuple[float, float]:
        """(accuracy, mean loss) on the test split."""
        result = self.net.evaluate(self.test_X, self.test_y, threads=self.n_threads)
        return result["accuracy"], result["loss"]

    def _run_epoch(self) -> None:
        opt = self.optimizer
        n, batch, epoch = self.n_samples, self.batch_size, self.epoch
        plan, ws = self._workspace(batch)
        lrs = opt.learning_rates(epoch, self.batches_per_epoch, self.epochs)
        perm = self._epoch_rows(epoch)
        chunk = max(1, CHUNK_SAMPLES // batch)
        bar = tqdm(
            total=n,
            initial=min(n, self.batch * batch),
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit=" samples",
            unit_scale=True,
            disable=not self.progress,
            leave=True,
            dynamic_ncols=True,
        )
        with bar:
            while self.batch < self.batches_per_epoch:
                signum = self._stop_signal()
                if signum:
                    raise TrainingInterrupted(self, signum)
                count = min(chunk, self.batches_per_epoch - self.batch)
                start = time.perf_counter()
                loss, correct, seen, done, finite = self._train_chunk(
                    perm, count, lrs[self.batch : self.batch + count], plan, ws
                )
                p = self.partial
                p[0] += loss
                p[1] += correct
                p[2] += seen
                p[3] += time.perf_counter() - start
                self.batch += done
                bar.update(seen)
                if not finite:
                    raise TrainingDiverged(
                        f"training diverged in epoch {epoch + 1}, batch {self.batch + 1}: the "
                        f"loss became NaN or infinite (learning rate {lrs[self.batch]:g}); "
                        "lower the learning rate"
                    )
                bar.set_postfix(loss=f"{p[0] / p[2]:.4f}", acc=f"{p[1] / p[2]:.3f}")
            record = self._end_epoch(lrs)
            bar.set_postfix(
                loss=f"{record['loss']:.4f}",
                test_acc="-"
                if record["test_accuracy"] is None
                else f"{record['test_accuracy']:.4f}",
                train=f"{record['samples_per_s']:.3g}/s",  # training alone, not evaluation
            )

    def _end_epoch(self, lrs: np.ndarray) -> dict:
        loss, correct, seen, seconds = self.partial
        record = {
            "epoch": self.epoch + 1,
            "loss": loss / seen,
            "train_accuracy": correct / seen,
            "test_accuracy": None,
            "test_loss": None,
            "seconds": seconds,
            "samples_per_s": seen / seconds if seconds > 0 else math.inf,
            "lr": float(lrs[-1]),
        }
        if self.n_test:
            record["test_accuracy"], record["test_loss"] = self._evaluate()
        self.history.append(record)
        self.epoch += 1
        self.batch = 0
        self.partial = [0.0, 0, 0, 0.0]
        acc = record["test_accuracy"]
        if self.target_accuracy is not None and acc is not None and acc >= self.target_accuracy:
            record["target_reached"] = True
            self.stopped_early = True
        if self.on_epoch is not None:
            self.on_epoch(record)
        return record


def train(
    net: Network,
    dataset,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: str = "momentum",
    lr: float = 0.05,
    momentum: float = 0.9,
    threads: int | None = None,
    seed: int | None = 0,
    target_accuracy: float | None = None,
    progress: bool = True,
    comm=None,
    **options,
) -> list[dict]:
    """Train ``net`` on ``dataset.train``, evaluating on ``dataset.test`` after each epoch.

    Returns one dict per epoch: "epoch", "loss" (mean training loss), "train_accuracy",
    "test_accuracy", "test_loss", "seconds" (training time, evaluation excluded),
    "samples_per_s" and "lr". More options: weight_decay, schedule ("constant", "step",
    "cosine"), step_size, gamma, min_lr, beta1, beta2, eps (see ``numrec.optim``).

    ``comm``: an MPI communicator (mpi4py's, or ``numrec.mpi.world()``, which is None
    unless an MPI launcher started this process): with two or more ranks, every rank
    calls ``train`` alike and they train one model together, data-parallel
    (``numrec.distributed``); None trains in this process alone.
    """
    kind, spread = Trainer, {}
    if comm is not None:
        from .distributed import DistributedTrainer
        from .mpi import as_comm

        comm = as_comm(comm)
        if comm is not None:
            kind, spread = DistributedTrainer, {"comm": comm}
    trainer = kind(
        net, dataset, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        momentum=momentum, threads=threads, seed=seed, target_accuracy=target_accuracy,
        progress=progress, **spread, **options,
    )  # fmt: skip
    return trainer.run()
