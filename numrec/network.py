"""``numrec.Network``: a dense network whose parameters live in one flat float32 vector.

    net = numrec.Network([784, 256, 10], hidden="leaky_relu", alpha=0.01, seed=0)
    net.forward(X)            # (n, 10) output activations
    dW, db = net.gradients(X, y)
    net.predict(X); net.evaluate(X, y)   # per task: labels, 0/1 rows or values; metrics

A network serves one task (``task``): "classification" (softmax or sigmoid outputs, int
labels), "multilabel" (sigmoid + binary cross-entropy, 0/1 target rows) or "regression"
(linear outputs with mse, mae or huber, value rows). Training records the task and, for
regression, the scaling of the targets (``meta["target_mean"]``, ``meta["target_std"]``:
the network learns standardised targets, ``predict`` answers in the user's units).

``weights[l]`` (shape (out, in), the seed's convention z = W a + b) and ``biases[l]``
are writable views into ``theta``, so the optimizer updates one contiguous buffer and
a model is saved as that buffer plus a little metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import metrics
from .config import INITS
from .kernels.codes import HIDDEN, OUTPUT, shard_size
from .kernels.infer import forward_all
from .kernels.step import NO_LABELS, NO_WEIGHTS, batch_gradient, task_plan
from .kernels.structs import Codes, Params, Plan, Workspace
from .runtime import compile_notice, engine_threads

UINT8_SCALE = np.float32(1.0 / 255.0)


# the hidden activations in float64 numpy (Network.logits): the kernels' formulas
HIDDEN_NUMPY = {
    "leaky_relu": lambda z, alpha: np.where(z > 0, z, alpha * z),
    "relu": lambda z, alpha: np.maximum(z, 0.0),
    "tanh": lambda z, alpha: np.tanh(z),
    "sigmoid": lambda z, alpha: 1.0 / (1.0 + np.exp(-z)),
}


def _choice(kind: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of: {', '.join(allowed)}")
    return value


class Network:
    """A multi-layer perceptron: ``sizes[0]`` inputs, hidden layers, ``sizes[-1]`` outputs."""

    def __init__(
        self,
        sizes: Sequence[int],
        hidden: str = "leaky_relu",
        alpha: float = 0.01,
        output: str = "softmax",
        loss: str | None = None,
        init: str = "he",
        seed: int | None = 0,
        huber_delta: float = 1.0,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least 2 positive layer sizes, got {sizes}")
        self.sizes = sizes
        self.hidden = _choice("hidden activation", hidden, HIDDEN)
        self.alpha = float(alpha)
        if loss is None:
            loss = "cross_entropy" if output == "softmax" else "mse"
        self.huber_delta = float(huber_delta)
        if not (np.isfinite(self.huber_delta) and self.huber_delta > 0):
            raise ValueError(f"huber_delta must be a positive number, got {huber_delta!r}")
        _choice("output activation", output, sorted({o for o, _ in OUTPUT}))
        _choice("loss", loss, sorted({lo for _, lo in OUTPUT}))
        if (output, loss) not in OUTPUT:
            pairs = ", ".join(f"{o}+{lo}" for o, lo in OUTPUT)
            raise ValueError(f"output {output!r} with loss {loss!r} is not supported; use {pairs}")
        self.output, self.loss = output, loss
        self.init = _choice("init", init, INITS)
        self.seed = seed
        self.class_names: list[str] | None = None
        self.meta: dict = {}

        # layout of theta: W0, b0, W1, b1, ...
        offsets, total = [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            offsets.append((total, total + n_out * n_in))
            total += n_out * n_in + n_out
        self.w_off = np.array([w for w, _ in offsets], dtype=np.int64)
        self.b_off = np.array([b for _, b in offsets], dtype=np.int64)
        self.theta = np.zeros(total, dtype=np.float32)
        self._sizes = np.array(sizes, dtype=np.int64)
        self.reset_parameters(seed)

    # -- parameters -------------------------------------------------------------------
    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw new weights: He (normal, std sqrt(2/in)), Glorot (uniform, limit
        sqrt(6/(in+out))) or uniform(-1, 1) for weights and biases (the seed's "Random")."""
        rng = np.random.default_rng(seed)
        for W, b in zip(self.weights, self.biases):
            n_out, n_in = W.shape
            if self.init == "he":
                W[:] = rng.normal(0.0, np.sqrt(2.0 / n_in), W.shape)
                b[:] = 0.0
            elif self.init == "glorot":
                limit = np.sqrt(6.0 / (n_in + n_out))
                W[:] = rng.uniform(-limit, limit, W.shape)
                b[:] = 0.0
            else:
                W[:] = rng.uniform(-1.0, 1.0, W.shape)
                b[:] = rng.uniform(-1.0, 1.0, b.shape)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return int(self.theta.size)

    def _view(self, offset: int, shape: tuple[int, ...]) -> np.ndarray:
        return self.theta[offset : offset + int(np.prod(shape))].reshape(shape)

    @property
    def weights(self) -> list[np.ndarray]:
        """W[l] of shape (sizes[l+1], sizes[l]): writable views into ``theta``."""
        return [
            self._view(int(o), (self.sizes[l + 1], self.sizes[l])) for l, o in enumerate(self.w_off)
        ]

    @weights.setter
    def weights(self, values: Sequence[np.ndarray]) -> None:
        self._assign(self.weights, values, "weights")

    @property
    def biases(self) -> list[np.ndarray]:
        """b[l] of shape (sizes[l+1],): writable views into ``theta``."""
        return [self._view(int(o), (self.sizes[l + 1],)) for l, o in enumerate(self.b_off)]

    @biases.setter
    def biases(self, values: Sequence[np.ndarray]) -> None:
        self._assign(self.biases, values, "biases")

    @staticmethod
    def _assign(views, values, what):
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"expected {len(views)} {what} arrays, got {len(values)}")
        for l, (view, value) in enumerate(zip(views, values)):
            value = np.asarray(value, dtype=np.float32)
            if value.shape != view.shape:
                raise ValueError(f"{what}[{l}] must have shape {view.shape}, got {value.shape}")
            view[:] = value

    # -- what the compiled kernels take (numrec.kernels.structs) -------------------------
    def params(self) -> Params:
        """The parameters as the kernels take them: ``theta`` and each layer's offsets."""
        return Params(self.theta, self.w_off, self.b_off, self._sizes)

    def codes(self) -> Codes:
        """The activation and output/loss codes, and leaky ReLU's slope."""
        return Codes(HIDDEN[self.hidden], OUTPUT[(self.output, self.loss)],
                     np.float32(self.alpha), np.float32(self.huber_delta))  # fmt: skip

    @property
    def task(self) -> str:
        """The task, "classification", "multilabel" or "regression": as trained (``meta["task"]``),
        else from the outputs (linear: regression; else classification)."""
        stored = self.meta.get("task")
        if stored in metrics.TASKS:
            return stored
        return "regression" if self.output == "linear" else "classification"

    def target_scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of each regression output: the network's outputs times std plus
        mean are the user's units (zeros and ones when the model stores none)."""
        k = self.sizes[-1]
        mean = np.asarray(self.meta.get("target_mean", np.zeros(k)), dtype=np.float64)
        std = np.asarray(self.meta.get("target_std", np.ones(k)), dtype=np.float64)
        if mean.shape != (k,) or std.shape != (k,):
            raise ValueError(f"the model's target_mean and target_std must hold {k} numbers")
        return mean, std

    def plan(self, batch: int) -> Plan:
        """Buffer layout and work split for mini-batches of up to ``batch`` rows: shards
        of rows for pass 1 (``codes.shard_size``), blocks of units for pass 2."""
        sizes = self._sizes
        before = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # units below l
        hidden_before = before - sizes[0]  # units of layers 1 .. l-1
        hidden_before[0] = 0
        rows = shard_size(batch)
        return Plan(
            a_off=batch * before[:-1],
            d_off=rows * hidden_before[:-1],
            t_off=batch * hidden_before[:-1],
            tasks=task_plan(self.sizes),
            shard_rows=rows,
        )

    def workspace(self, batch: int, grad: np.ndarray | None = None) -> Workspace:
        """Zeroed buffers for one step of up to ``batch`` rows. The gradient goes to
        ``grad`` when given (n_params float32, e.g. an MPI exchange buffer), else to a new
        buffer."""
        n_units = int(sum(self.sizes))
        n_deltas = n_units - self.sizes[0]
        rows = shard_size(batch)
        shards = -(-batch // rows)
        return Workspace(
            acts=np.zeros(batch * n_units, dtype=np.float32),
            deltas=np.zeros((shards, rows * n_deltas), dtype=np.float32),
            deltas_t=np.zeros(batch * n_deltas, dtype=np.float32),
            targets=np.zeros((shards, rows, self.sizes[-1]), dtype=np.float32),
            grad=np.zeros(self.n_params, dtype=np.float32) if grad is None else grad,
        )

    def _input(self, X, what: str = "X") -> tuple[np.ndarray, np.float32, bool]:
        """(2-D C-contiguous uint8/float32 rows, their scale, whether X was one row)."""
        X = np.asarray(X)
        single = X.ndim == 1
        if single:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{what} must have shape (n, {self.sizes[0]}) or ({self.sizes[0]},) "
                f"for this network, got {np.shape(X) if not single else X.shape[1:]}"
            )
        if X.dtype == np.uint8:
            return np.ascontiguousarray(X), UINT8_SCALE, single
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise ValueError(f"{what} must be numeric, got dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        # a finite sum means no NaN or inf (both propagate), at half the cost of
        # isfinite(X).all(); only a non-finite sum (or overflow) needs the full check
        if not np.isfinite(X.sum()) and not np.isfinite(X).all():
            row = int(np.argwhere(~np.isfinite(X))[0, 0])
            raise ValueError(f"{what} contains NaN or inf (first at row {row})")
        return X, np.float32(1.0), single

    def targets(self, Y, n: int) -> np.ndarray:
        """Target rows (n, outputs) float32 from int labels or from rows (e.g. one-hot)."""
        Y = np.asarray(Y)
        k = self.sizes[-1]
        if Y.ndim == 1 and n == 1 and Y.size == k > 1 and np.issubdtype(Y.dtype, np.floating):
            Y = Y[None, :]  # the target row of a single sample
        if Y.ndim == 1 and self.output == "linear" and k == 1:
            Y = Y.reshape(-1, 1)  # one value per row
        if Y.ndim <= 1:
            T = np.zeros((n, k), dtype=np.float32)
            T[np.arange(n), self.labels(np.atleast_1d(Y), n)] = 1.0
            return T
        if Y.shape != (n, k):
            raise ValueError(f"target rows must have shape ({n}, {k}), got {Y.shape}")
        T = np.ascontiguousarray(Y, dtype=np.float32)
        if not np.isfinite(T).all():
            raise ValueError("targets contain NaN or inf")
        return T

    def labels(self, y, n: int) -> np.ndarray:
        """Validated int64 labels: one per row, each in 0..outputs-1."""
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), one per row of X; got {y.shape}")
        if n and not np.issubdtype(y.dtype, np.integer):
            if not (np.isfinite(y).all() and np.all(y == np.round(y))):
                raise ValueError(f"labels must be integers, got dtype {y.dtype}")
        y = y.astype(np.int64)
        k = self.sizes[-1]
        if n and (y.min() < 0 or y.max() >= k):
            bad = int(y[(y < 0) | (y >= k)][0])
            raise ValueError(
                f"label {bad} is out of range: this network has {k} outputs (0..{k - 1})"
            )
        return y

    # -- the public maths ----------------------------------------------------------------
    def forward(self, X, threads: int | None = None) -> np.ndarray:
        """Output activations, shape (n, outputs), or (outputs,) for a single row.
        uint8 rows are scaled by 1/255 as the training images were; floats are used as is."""
        X, scale, single = self._input(X)
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=np.float32)
        with engine_threads(threads), compile_notice("inference"):
            forward_all(X, scale, self.params(), self.codes(), out)
        return out[0] if single else out

    def gradients(self, X, Y, sample_weight=None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(dW, db): the gradient of the loss averaged over the rows of X, or with
        ``sample_weight`` (one per row) the weighted mean sum(w_i l_i) / sum(w_i).
        Y holds int labels or target rows (one-hot, 0/1 rows, or values in the network's
        units: regression targets as trained, i.e. standardised)."""
        X, scale, _ = self._input(X)
        n = X.shape[0]
        if n == 0:
            raise ValueError("gradients need at least one row")
        T = self.targets(Y, n)
        w = NO_WEIGHTS if sample_weight is None else self.weights_of(sample_weight, n)
        total = float(np.sum(w, dtype=np.float64)) if w.size else n
        ws = self.workspace(n)
        with engine_threads(), compile_notice("gradient"):
            batch_gradient(X, NO_LABELS, T, np.arange(n), 0, n, total, scale, self.params(),
                           self.codes(), self.plan(n), ws, w)  # fmt: skip
        g = ws.grad
        dW = [g[o : o + W.size].reshape(W.shape).copy() for o, W in zip(self.w_off, self.weights)]
        db = [g[o : o + b.size].copy() for o, b in zip(self.b_off, self.biases)]
        return dW, db

    @staticmethod
    def weights_of(sample_weight, n: int, what: str = "sample_weight") -> np.ndarray:
        """Validated float32 per-row weights: n finite numbers >= 0, not all 0."""
        w = np.asarray(sample_weight)
        if w.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), one per row; got {w.shape}")
        if not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_):
            raise ValueError(f"{what} must be numbers, got dtype {w.dtype}")
        w = np.ascontiguousarray(w, dtype=np.float32)
        if n and not (np.isfinite(w).all() and w.min() >= 0 and w.sum(dtype=np.float64) > 0):
            raise ValueError(f"{what} must be finite numbers >= 0, not all 0")
        return w

    def preprocess(self, rows) -> np.ndarray:
        """Raw feature rows (as in the user's file) made into this network's inputs with
        the preprocessing stored at training (``meta["mean"]``, ``meta["std"]``: a
        standardised CSV data set); rows as they are when it stores none."""
        mean, std = self.meta.get("mean"), self.meta.get("std")
        if mean is None or std is None:
            return rows
        X = np.asarray(rows, dtype=np.float64)
        mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        if X.shape[-1] != mean.size or mean.shape != std.shape:
            raise ValueError(
                f"the rows have {X.shape[-1]} features but the model's standardisation "
                f"holds {mean.size}"
            )
        return ((X - mean) / std).astype(np.float32)

    def predict(self, X, threads: int | None = None, raw: bool = False) -> np.ndarray:
        """Per task: the most probable class of each row (an int for a single row);
        multilabel: a 0/1 row per row (an output of 0.5 or more says 1); regression:
        the values in the user's units (the stored target scaling undone), shape (n,
        outputs). ``raw=True``: X holds raw feature rows, prepared first as the training
        rows were (``preprocess``)."""
        P = self.forward(self.preprocess(X) if raw else X, threads)
        task = self.task
        if task == "regression":
            mean, std = self.target_scaling()
            return P * std + mean
        if task == "multilabel":
            return (P >= 0.5).astype(np.int64)
        return np.argmax(P, axis=-1)

    def _task_targets(self, y, n: int) -> tuple[str, np.ndarray]:
        """(task, targets in the user's form) for ``evaluate``: labels, 0/1 or value rows."""
        y = np.asarray(y)
        task = self.task
        if y.ndim == 2 and self.output == "softmax":  # one-hot (or soft) rows: their arg-max
            return "classification", self.labels(y.argmax(1) if y.size else y[:, 0], n)
        if y.ndim == 2 or task == "regression":
            if task == "classification":
                task = "multilabel" if self.output == "sigmoid" else "regression"
            k = self.sizes[-1]
            Y = y.reshape(n, -1) if y.ndim == 1 and y.size == n else y
            if Y.shape != (n, k):
                raise ValueError(f"target rows must have shape ({n}, {k}), got {y.shape}")
            Y = np.asarray(Y, dtype=np.float64)
            if not np.isfinite(Y).all():
                raise ValueError("targets contain NaN or inf")
            return task, Y
        return "classification", self.labels(y, n)

    def evaluate(self, X, y, threads: int | None = None, sample_weight=None) -> dict:
        """The task's metrics over the rows of X (``numrec.metrics``) and "loss" (the
        training loss, weighted by ``sample_weight`` when given) and "n":
        classification "accuracy"; multilabel "subset_accuracy", "hamming_loss",
        "micro_f1", "macro_f1"; regression "r2", "rmse", "mae" (in the user's units)
        and their values per output."""
        P = self.forward(X, threads)
        P = P[None, :] if P.ndim == 1 else P
        n = P.shape[0]
        y = np.asarray(y)
        if y.ndim == 0 or (y.ndim == 1 and n == 1 and self.task != "classification"):
            y = y.reshape(1, -1)
        task, T = self._task_targets(y, n)
        w = None if sample_weight is None else self.weights_of(sample_weight, n)
        result = {"n": n, "loss": None}
        if task == "regression":
            mean, std = self.target_scaling()
            result.update(metrics.scores(task, P * std + mean, T, mean))
            T = (T - mean) / std
        else:
            result.update(metrics.scores(task, P, T))
        if n:
            result["loss"] = self.loss_of(P, T, w, X=X)
        else:
            result.update({k: float("nan") for k in ("loss", "accuracy") if k in result})
        return result

    def row_losses(self, P: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each row's loss (float64) of outputs P against int labels or target rows in the
        network's units (what the kernels compute, ``codes.OUTPUT``)."""
        P = P.astype(np.float64)
        n = len(P)
        y = np.asarray(y)
        tiny = 1e-30
        if y.ndim == 1 and not (self.output == "linear" and P.shape[1] == 1):
            labels = y.astype(np.int64)
            if self.loss == "cross_entropy" and self.output == "softmax":
                return -np.log(np.maximum(P[np.arange(n), labels], tiny))
            T = np.zeros_like(P)
            T[np.arange(n), labels] = 1.0
        else:
            T = np.asarray(y, dtype=np.float64).reshape(P.shape)
        if self.output == "linear":
            d = P - T
            if self.loss == "mse":
                return (d * d).mean(1)
            if self.loss == "mae":
                return np.abs(d).mean(1)
            a, delta = np.abs(d), self.huber_delta
            return np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)).mean(1)
        if self.loss == "mse":
            return ((P - T) ** 2).sum(1)
        if self.output == "softmax":
            return -(T * np.log(np.maximum(P, tiny))).sum(1)
        bce = T * np.log(np.maximum(P, tiny)) + (1 - T) * np.log(np.maximum(1 - P, tiny))
        return -bce.sum(1)

    def loss_of(self, P: np.ndarray, y: np.ndarray, sample_weight=None, X=None) -> float:
        """Mean loss of output rows P against int labels or target rows (in the network's
        units), float64; with ``sample_weight`` the weighted mean sum(w l) / sum(w).
        With the input rows ``X``, softmax cross-entropy is exact where a target's
        probability underflowed: those rows' loss comes from the logits, as log-sum-exp
        (as the training kernels do), not from -log(max(p, 1e-30)), which saturates."""
        losses = self.row_losses(P, y)
        if X is not None and self.output == "softmax" and self.loss == "cross_entropy":
            T = self._soft_targets(y, len(P))
            lost = np.flatnonzero(((T != 0) & (P < 1e-30)).any(1))
            if lost.size:
                X_lost = np.asarray(X)[None, :] if np.ndim(X) == 1 else np.asarray(X)
                z = self.logits(X_lost[lost])
                zmax = z.max(1, keepdims=True)
                lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(1))
                losses[lost] = (T[lost] * (lse[:, None] - z)).sum(1)
        if sample_weight is None:
            return float(losses.mean())
        w = np.asarray(sample_weight, dtype=np.float64)
        return float((w * losses).sum() / w.sum())

    def _soft_targets(self, y, n: int) -> np.ndarray:
        """Target rows (float64) from int labels or rows."""
        y = np.asarray(y)
        if y.ndim == 1:
            T = np.zeros((n, self.sizes[-1]))
            T[np.arange(n), y.astype(np.int64)] = 1.0
            return T
        return y.astype(np.float64).reshape(n, -1)

    def logits(self, X) -> np.ndarray:
        """The output layer's pre-activations z = W a + b of each row, in float64 (what
        softmax or sigmoid is applied to); uint8 rows scaled by 1/255 as everywhere."""
        X, scale, single = self._input(X)
        a = X.astype(np.float64) * float(scale)
        z = a
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W.astype(np.float64).T + b
            if l < self.n_layers - 1:
                a = HIDDEN_NUMPY[self.hidden](z, self.alpha)
        return z[0] if single else z

    # -- housekeeping -------------------------------------------------------------------
    def config(self) -> dict:
        """The architecture as plain JSON-able values (what ``save`` stores)."""
        return {
            "sizes": list(self.sizes),
            "hidden": self.hidden,
            "alpha": self.alpha,
            "output": self.output,
            "loss": self.loss,
            "init": self.init,
            **({"huber_delta": self.huber_delta} if self.loss == "huber" else {}),
        }

    def copy(self) -> Network:
        other = Network(**self.config(), seed=None)
        other.theta[:] = self.theta
        other.class_names = None if self.class_names is None else list(self.class_names)
        other.meta = dict(self.meta)
        return other

    def save(self, path: str | Path, **meta) -> Path:
        """Write the model as .npz (parameters + JSON metadata), atomically."""
        from .serialize import save_network

        return save_network(self, path, **meta)

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a model saved by ``save``, or a model file of the seed project (text)."""
        from .serialize import load_network

        return load_network(path)

    def to_onnx(self, path: str | Path, **options) -> Path:
        """Write the network as an ONNX model, with numrec's input scaling inside the graph
        (options: ``input_type`` "uint8" / "float32"; see ``numrec.export``)."""
        from .export import export_onnx

        return export_onnx(self, path, **options)

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        return (
            f"Network({arch}, hidden={self.hidden!r}, output={self.output!r}, "
            f"loss={self.loss!r}, params={self.n_params})"
        )
