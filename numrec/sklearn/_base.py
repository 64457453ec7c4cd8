"""What numrec's estimators share: scikit-learn's parameters, their checks, the training run.

scikit-learn's parameters become numrec's settings as follows (``docs/sklearn.md``):

- ``solver``: "adam", or "sgd" = momentum SGD when ``momentum`` > 0 (Nesterov's when
  ``nesterovs_momentum``), plain SGD at 0; numrec adds "momentum", "nesterov" and "adamw".
- ``alpha``: scikit-learn adds alpha / (2 B) ||W||^2 to the mean loss of a mini-batch of
  B rows, whose gradient is (alpha / B) W; numrec's L2 ``weight_decay`` adds wd * theta to
  the mean gradient, so wd = alpha / batch_size (with sample weights scikit-learn divides
  by a batch's summed weight: wd = alpha / (batch_size * mean weight)).
- ``learning_rate``: "constant", "invscaling" (lr_init / (t + 1)^power_t after each epoch,
  t = samples seen) and "adaptive" (lr / 5 when the loss stops improving), for the SGD
  solvers only, as in scikit-learn; one rate per epoch, set through the trainer's
  learning-rate factor between epochs.
- ``tol`` / ``n_iter_no_change`` / ``early_stopping``: scikit-learn's rule, applied by a
  callback after each epoch: stop when the training loss (or, with early stopping, the
  validation score) has not improved by ``tol`` for more than ``n_iter_no_change`` epochs.

The network is trained by ``numrec.training.Trainer`` on a ``Dataset`` made of the
float32 rows (float64 input is converted once), with the held-out rows of
``early_stopping`` as its validation split.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ..config import TrainConfig
from ..dataset import Dataset, Split
from ..network import Network
from ..training import TrainingDiverged, TrainingInterrupted
from .loop import EpochMonitor, OrderedTrainer
from .params import ACTIVATIONS, PARAMETER_RULES

# rows x parameters of a batch below which one thread is quicker than waking the others
# (iris on 2 busy cores: predict 2.4 ms with both threads, 0.18 ms with one); the results
# are the same for any thread count, so this changes the time only
SMALL_WORK = 1 << 20


def engine_rows(X: np.ndarray) -> np.ndarray:
    """float32 C-contiguous rows the compiled kernels take as they are. A read-only array
    (a memory map) would make Numba compile the kernels again for that type: copy it."""
    return X if X.flags.writeable else np.array(X)


class BaseMLP(BaseEstimator):
    """The parameters and the training run of ``MLPClassifier`` and ``MLPRegressor``."""

    def __init__(
        self,
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
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.negative_slope = negative_slope
        self.init = init
        self.threads = threads
        self.dropout = dropout
        self.input_dropout = input_dropout

    # -- what subclasses say -------------------------------------------------------------
    def _output(self) -> tuple[str, str]:
        """(numrec output activation, loss) for the targets of this fit."""
        raise NotImplementedError

    def _validation_score(self, record: dict, network: Network, validation: Split) -> float:
        """scikit-learn's ``score`` on the held-out rows (accuracy, R^2)."""
        raise NotImplementedError

    def _network_options(self) -> dict:
        """More ``numrec.Network`` settings (the regressor's Huber delta)."""
        return {}

    def _loss_units(self) -> float:
        """The factor from numrec's training loss to scikit-learn's ``loss_``."""
        return 1.0

    # -- parameters ----------------------------------------------------------------------
    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
            ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                     for s in sizes)  # fmt: skip
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(
                "hidden_layer_sizes must be a positive whole number or a sequence of them, "
                f"got {self.hidden_layer_sizes!r}"
            )
        return tuple(int(s) for s in sizes)

    def _check_params(self) -> None:
        """One ValueError naming the parameter, what it takes and what it got."""
        self._hidden_sizes()
        if self.activation == "identity":
            raise ValueError(
                "activation='identity' is scikit-learn's but not numrec's: use relu, tanh, "
                "logistic or leaky_relu"
            )
        if self.solver == "lbfgs":
            raise ValueError(
                "solver='lbfgs' is scikit-learn's but not numrec's: use adam, sgd, momentum, "
                "nesterov or adamw"
            )
        for name, (ok, expected) in PARAMETER_RULES.items():
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(f"{name} must be {expected}, got {value!r}")

    def _dropout_rates(self) -> tuple:
        """``dropout`` as numrec's setting: () for none, one rate for every hidden layer,
        or one per hidden layer."""
        rates = self.dropout
        if isinstance(rates, numbers.Real) and not isinstance(rates, bool):
            return (float(rates),) if rates > 0 else ()
        return tuple(float(r) for r in rates)

    def _threads(self, rows: int) -> int | None:
        """``threads``; when None, one thread for work too small to share, else all."""
        if self.threads is not None:
            return self.threads
        return 1 if rows * self._network.n_params < SMALL_WORK else None

    def _optimizer(self) -> str:
        if self.solver != "sgd":
            return self.solver
        if self.momentum == 0:
            return "sgd"
        return "nesterov" if self.nesterovs_momentum else "momentum"

    def _sgd_family(self) -> bool:
        return self._optimizer() in ("sgd", "momentum", "nesterov")

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to "
                "be clipped",
                stacklevel=3,
            )
        return int(np.clip(self.batch_size, 1, n))

    # -- data ----------------------------------------------------------------------------
    @staticmethod
    def _weights(sample_weight, X: np.ndarray) -> np.ndarray | None:
        """float32 row weights (None: every row weighs 1); negative or all-zero refused."""
        if sample_weight is None:
            return None
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        return w.astype(np.float32)

    def _hold_out(self, X: np.ndarray, targets: np.ndarray, w, stratify: bool):
        """The early-stopping split: ``validation_fraction`` of the rows drawn from
        ``random_state`` (stratified by class for single-label classes), as
        scikit-learn's; (train, validation) Splits with their rows' weights."""
        rng = np.random.RandomState(seeds(self.random_state)[1])
        train_rows, val_rows = train_test_split(
            np.arange(len(targets)), random_state=rng, test_size=self.validation_fraction,
            stratify=targets if stratify else None,
        )  # fmt: skip
        if len(val_rows) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset."
            )

        def part(rows: np.ndarray) -> Split:
            rows = np.sort(rows)  # the rows' own order: a copy that reads memory forwards
            return Split(X[rows], targets[rows], sample_weight=None if w is None else w[rows])

        return part(train_rows), part(val_rows)

    def _new_network(self, n_features: int, n_outputs: int, seed: int) -> Network:
        output, loss = self._output()
        return Network(
            [n_features, *self._hidden_sizes(), n_outputs],
            hidden=ACTIVATIONS[self.activation],
            alpha=self.negative_slope,
            output=output,
            loss=loss,
            init=self.init,
            seed=seed,
            **self._network_options(),
        )

    # -- the training run ----------------------------------------------------------------
    def _train(self, train: Split, validation: Split | None, class_names, incremental: bool,
               seed: int, task: str = "classification", class_weight=None) -> None:  # fmt: skip
        """Train ``self._network`` on ``train``: ``max_iter`` epochs (one when
        ``incremental``), scikit-learn's stopping rule and bookkeeping after each."""
        n = len(train)
        batch = self._batch(n)
        # scikit-learn divides alpha by a batch's summed sample weight (B when unweighted)
        w = train.sample_weight
        mean_weight = float(w.mean(dtype=np.float64)) if w is not None and len(w) else 1.0
        config = TrainConfig(
            epochs=0,
            batch_size=batch,
            optimizer=self._optimizer(),
            lr=float(self.learning_rate_init),
            momentum=float(self.momentum),
            beta1=float(self.beta_1),
            beta2=float(self.beta_2),
            eps=float(self.epsilon),
            weight_decay=float(self.alpha) / (batch * mean_weight) if mean_weight > 0 else 0.0,
            schedule="constant",
            validation_fraction=0.0,
            restore_best=False,  # the monitor keeps the best weights, by scikit-learn's score
            monitor="val_loss",
            class_weight=class_weight,
            dropout=self._dropout_rates(),
            input_dropout=float(self.input_dropout),
            threads=self._threads(batch),
            seed=seed,
        )
        empty = Split(train.X[:0], train.y[:0])
        dataset = Dataset(
            "scikit-learn", train, empty, class_names, source="numrec.sklearn",
            validation=validation, task=task,
        )  # fmt: skip
        monitor = EpochMonitor(self, validation, n, -(-n // batch))
        trainer = OrderedTrainer(self._network, dataset, config, callbacks=[monitor],
                                 progress=False, shuffle=bool(self.shuffle))  # fmt: skip
        monitor.trainer = trainer
        if incremental and self._optimizer_state is not None:
            # partial_fit: the optimizer goes on where the last call left it
            m, v, step = self._optimizer_state
            if m.shape == trainer.m.shape and v.shape == trainer.v.shape:
                trainer.m[:], trainer.v[:], trainer.step[:] = m, v, step
        # epochs are numbered on from earlier calls, so each draws a new sample order
        trainer.epoch = self._epochs_done
        trainer.epochs = self._epochs_done + (1 if incremental else int(self.max_iter))
        trainer.selection.lr_factor = self._lr / float(self.learning_rate_init)
        self.n_iter_ = 0
        try:
            trainer.run()
        except TrainingInterrupted:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        except TrainingDiverged as e:
            raise ValueError(
                f"Solver produced non-finite parameter weights ({e}). The input data may "
                "contain large values and need to be preprocessed."
            ) from None
        finally:
            self._epochs_done = trainer.epoch
            self._optimizer_state = (trainer.m.copy(), trainer.v.copy(), trainer.step.copy())
        if monitor.best_theta is not None:
            self._network.theta[:] = monitor.best_theta
        if not incremental and trainer.stop_reason != "callback" and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _start(self, first_pass: bool, incremental: bool) -> None:
        """scikit-learn's bookkeeping before a run: all of it anew on a first fit (or a
        fit that starts over); the learning rate anew unless ``partial_fit`` goes on."""
        if first_pass:
            self._epochs_done = 0
            self._optimizer_state = None
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = None if self.early_stopping else np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
        elif self.early_stopping and self.validation_scores_ is None:
            # warm start with early stopping switched on since the last fit
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if not incremental or not hasattr(self, "_lr"):
            self._lr = float(self.learning_rate_init)

    # -- moving to and from numrec ---------------------------------------------------------
    def to_numrec(self) -> Network:
        """A copy of the fitted network as a ``numrec.Network`` (save it, evaluate it with
        numrec-eval, export it to ONNX). Its inputs are the estimator's, unscaled."""
        check_is_fitted(self)
        net = self._network.copy()
        # the estimator's rows are floats taken as they are: the ONNX export and
        # numrec-predict read this to take float32 input unscaled
        net.meta = {**net.meta, "input_scaling": "float32 as is", "sklearn": self._numrec_meta(),
                    "task": self._task(), **self._row_layout()}  # fmt: skip
        return net

    def _row_layout(self) -> dict:
        """The layout numrec-predict reads CSV rows by, as a model trained on a CSV file
        stores it: every column a feature, in order, named as the estimator's
        ``feature_names_in_`` when it was fitted on a table with column names (a header
        then finds them by name), else unnamed (rows without a header). A network that
        came with a layout (``from_numrec`` of a CSV-trained model) keeps it unless the
        estimator has names of its own."""
        d = int(self.n_features_in_)
        names = getattr(self, "feature_names_in_", None)
        if names is None and "feature_columns" in self._network.meta:
            return {}
        return {"columns": None if names is None else [str(n) for n in names],
                "n_columns": d, "feature_columns": list(range(d)), "delimiter": ","}  # fmt: skip

    def _task(self) -> str:
        """The task the saved model reports ("regression"; the classifier says its own)."""
        return "regression"

    def _numrec_meta(self) -> dict:
        return {"estimator": type(self).__name__}

    # -- the fitted parameters in scikit-learn's layout ------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, coefs_[l] of shape (inputs, outputs) of layer l: views of the
        network's (outputs, inputs) weights, so writing them changes the model."""
        if "_network" not in self.__dict__:
            raise AttributeError("coefs_ exists once the estimator is fitted")
        return [W.T for W in self._network.weights]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the layers (views of the network's)."""
        if "_network" not in self.__dict__:
            raise AttributeError("intercepts_ exists once the estimator is fitted")
        return list(self._network.biases)

    @property
    def n_layers_(self) -> int:
        if "_network" not in self.__dict__:
            raise AttributeError("n_layers_ exists once the estimator is fitted")
        return len(self._network.sizes)


def expected_failed_checks(estimator) -> dict[str, str]:
    """scikit-learn's estimator checks these estimators do not pass, each with the reason
    (give it to ``parametrize_with_checks`` / ``check_estimator`` as
    ``expected_failed_checks``; docs/sklearn.md explains each)."""
    float32 = (
        "numrec computes in float32: the results agree to float32 rounding (about 1e-6 "
        "relative) and the check asks for 1e-7"
    )
    return {
        # a row of weight 2 and the same row twice give the same loss and gradient; the
        # fits differ in the last float32 bits only (the sums run in another order)
        "check_sample_weight_equivalence_on_dense_data": float32,
        # BLAS may sum a row's products in another order for another number of rows
        "check_methods_subset_invariance": float32,
    }


def seeds(random_state) -> tuple[int, int]:
    """(initial weights, sample order) seeds from scikit-learn's ``random_state``."""
    rng = check_random_state(random_state)
    return int(rng.randint(2**31 - 1)), int(rng.randint(2**31 - 1))
