"""``MLPRegressor``: scikit-learn's multi-layer perceptron regressor, trained by numrec.

One linear output per target (``y`` of shape (n,) or (n, targets)), numrec's "regression"
task. The engine learns standardised targets: each target minus its training mean,
divided by one common scale (the root mean of the targets' variances), so that the
network's outputs are of order 1 whatever the units while the loss still weighs the
targets as scikit-learn's does (one scale for all: the squared error in the user's units,
divided by a constant). ``predict`` answers in the user's units.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..dataset import Split
from ..network import Network
from ._base import BaseMLP, engine_rows, seeds

# scikit-learn's loss name -> numrec's (linear output)
LOSSES = {"squared_error": "mse", "absolute_error": "mae", "huber": "huber"}


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` parameters and
    attributes, numrec's engine. ``loss``: "squared_error" (scikit-learn's default; its
    "poisson" is not numrec's), and numrec's "absolute_error" and "huber" (``huber_delta``:
    where it turns from squared to absolute, in standardised target units). The other
    parameters are ``MLPClassifier``'s (docs/sklearn.md)."""

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        negative_slope=0.01,
        init="glorot",
        threads=None,
        dropout=0.0,
        input_dropout=0.0,
        huber_delta=1.0,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            negative_slope=negative_slope,
            init=init,
            threads=threads,
            dropout=dropout,
            input_dropout=input_dropout,
        )
        self.loss = loss
        self.huber_delta = huber_delta

    def _output(self) -> tuple[str, str]:
        return "linear", LOSSES[self.loss]

    def _network_options(self) -> dict:
        return {"huber_delta": float(self.huber_delta)}

    def _check_params(self) -> None:
        if not (isinstance(self.loss, str) and self.loss in LOSSES):
            raise ValueError(
                f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"
                + (" (scikit-learn's poisson is not numrec's)" if self.loss == "poisson" else "")
            )
        delta = self.huber_delta
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
            raise ValueError(f"huber_delta must be a positive number, got {delta!r}")
        super()._check_params()

    def fit(self, X, y, sample_weight=None):
        """Train on rows ``X`` and targets ``y`` ((n,) or (n, targets)) for up to
        ``max_iter`` epochs, each row's loss weighted by ``sample_weight``; returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing the optimizer's state from the last call."""
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental: bool):
        self._check_params()
        first_pass = "_network" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, reset=first_pass, dtype=np.float32, order="C",
                             accept_sparse=False, multi_output=True, y_numeric=True)  # fmt: skip
        X = engine_rows(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        w = self._weights(sample_weight, X)
        Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float32)
        if not np.isfinite(Y).all():
            raise ValueError("Input y contains NaN or infinity.")
        k = Y.shape[1]
        net_seed, order_seed = seeds(self.random_state)
        if first_pass:
            self._network = self._new_network(X.shape[1], k, net_seed)
            self._network.meta.update(target_scaling(Y, w))
            self.n_outputs_ = k
            self.out_activation_ = "identity"
        elif k != self.n_outputs_:
            raise ValueError(
                f"y has {k} target(s) but the estimator was fitted on {self.n_outputs_}"
            )
        self._start(first_pass, incremental)
        train, validation = Split(X, Y, sample_weight=w), None
        if self.early_stopping:
            train, validation = self._hold_out(X, Y, w, stratify=False)
        names = [f"y{j}" for j in range(k)]
        self._train(train, validation, names, incremental, order_seed, "regression")
        return self

    def _validation_score(self, record: dict, network: Network, validation: Split) -> float:
        """R^2 on the held-out rows (the mean over targets), weighted when they are."""
        if validation.sample_weight is None:
            return float(record["val_r2"])
        P = self._values(network, validation.X)
        return float(r2_score(validation.y, P, sample_weight=validation.sample_weight))

    def _loss_units(self) -> float:
        """The factor from the engine's loss (standardised targets) to scikit-learn's
        (half the squared error, or the absolute error, in the user's units)."""
        scale = float(self._network.meta["target_std"][0])
        return {"squared_error": 0.5 * scale**2, "absolute_error": scale}.get(self.loss, 1.0)

    @staticmethod
    def _values(network: Network, X: np.ndarray, threads: int | None = 1) -> np.ndarray:
        mean, std = (np.asarray(network.meta[key], dtype=np.float64)
                     for key in ("target_mean", "target_std"))  # fmt: skip
        return network.forward(X, threads=threads).astype(np.float64) * std + mean

    def predict(self, X) -> np.ndarray:
        """The predicted values: shape (n,) for one target, (n, targets) for several."""
        check_is_fitted(self)
        X = engine_rows(validate_data(self, X, reset=False, dtype=np.float32, order="C",
                                      accept_sparse=False))  # fmt: skip
        P = self._values(self._network, X, self._threads(len(X)))
        return P[:, 0] if self.n_outputs_ == 1 else P

    # -- numrec --------------------------------------------------------------------------
    def _numrec_meta(self) -> dict:
        return {"estimator": "MLPRegressor"}

    @classmethod
    def from_numrec(cls, net: Network, **params) -> MLPRegressor:
        """A fitted estimator predicting as ``net`` does (a linear-output network with mse,
        mae or huber, e.g. ``numrec.Network.load(path)``); ``params`` set other parameters."""
        from .classifier import ACTIVATION_NAMES

        if net.output != "linear":
            raise ValueError(f"MLPRegressor takes a linear-output network, got {net.output!r}")
        loss = {v: k for k, v in LOSSES.items()}[net.loss]
        est = cls(loss=loss, hidden_layer_sizes=tuple(net.sizes[1:-1]),
                  activation=ACTIVATION_NAMES[net.hidden], negative_slope=net.alpha,
                  init=net.init, huber_delta=net.huber_delta, **params)  # fmt: skip
        est._network = net.copy()
        k = net.sizes[-1]
        mean, std = net.target_scaling()
        est._network.meta.update(target_mean=[float(v) for v in mean],
                                 target_std=[float(v) for v in std])  # fmt: skip
        est.n_features_in_ = net.sizes[0]
        est.n_outputs_ = k
        est.out_activation_ = "identity"
        est._start(first_pass=True, incremental=False)
        est.n_iter_ = 0
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.multi_output = True
        return tags


def target_scaling(Y: np.ndarray, w: np.ndarray | None) -> dict:
    """The standardisation the engine learns the targets in: each target's (weighted)
    mean, and one common scale for all, the root mean of their variances (1 when all are
    constant), stored as numrec's ``target_mean`` / ``target_std``."""
    Y64 = Y.astype(np.float64)
    weights = None if w is None or not w.sum() else w.astype(np.float64)
    mean = np.average(Y64, axis=0, weights=weights)
    variance = np.average((Y64 - mean) ** 2, axis=0, weights=weights)
    scale = float(np.sqrt(variance.mean()))
    scale = scale if scale > 0 and np.isfinite(scale) else 1.0
    return {"target_mean": mean.tolist(), "target_std": [scale] * Y.shape[1]}
