"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier, trained by numrec.

Labels of any type (numbers, strings, booleans) are mapped to ``classes_`` (sorted) and
learnt as softmax outputs with cross-entropy, one output per class (scikit-learn uses one
logistic output for two classes: the same model, written with two outputs). A 0/1 matrix
``y`` (one column per label) is multi-label: one sigmoid output per label with binary
cross-entropy, numrec's "multilabel" task.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..dataset import Split
from ..network import Network
from ._base import BaseMLP, engine_rows, seeds
from .params import ACTIVATIONS

# numrec's hidden activation -> scikit-learn's name for it
ACTIVATION_NAMES = {numrec: name for name, numrec in ACTIVATIONS.items()}


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` parameters and
    attributes, numrec's engine (float32, compiled, multi-threaded, results that do not
    depend on the thread count).

    Parameters as in ``sklearn.neural_network.MLPClassifier`` (solver "lbfgs" and
    activation "identity" excepted), plus numrec's:

    - ``solver`` also "momentum", "nesterov" (SGD with that momentum) and "adamw";
    - ``activation`` also "leaky_relu", whose slope below zero is ``negative_slope``;
    - ``init``: "glorot" (scikit-learn's uniform Glorot, the default), "he" or "uniform";
    - ``threads``: CPU threads (default: all cores); the results do not depend on it;
    - ``class_weight``: None, "balanced" or {label: weight}, as scikit-learn's other
      classifiers: each row's loss is weighted by its class's weight (times
      ``sample_weight``).

    ``docs/sklearn.md`` maps every parameter to numrec's setting.
    """

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
        class_weight=None,
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
        self.class_weight = class_weight

    def _output(self) -> tuple[str, str]:
        if getattr(self, "_multilabel", False):
            return "sigmoid", "cross_entropy"
        return "softmax", "cross_entropy"

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on rows ``X`` and labels ``y`` (or a 0/1 matrix: multi-label) for up to
        ``max_iter`` epochs, each row's loss weighted by ``sample_weight``; returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``X``, ``y``, continuing the optimizer's state from the last call.
        ``classes`` (every label there will be) is required on the first call."""
        if "classes_" not in self.__dict__ or "_network" not in self.__dict__:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            multilabel = type_of_target(y).startswith("multilabel")
            self.classes_ = np.arange(np.shape(y)[1]) if multilabel else unique_labels(classes)
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {self.classes_!r}"
            )
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental: bool):
        self._check_params()
        first_pass = "_network" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, reset=first_pass, dtype=np.float32, order="C",
                             accept_sparse=False, multi_output=True)  # fmt: skip
        X = engine_rows(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        w = self._weights(sample_weight, X)
        multilabel = type_of_target(y).startswith("multilabel")
        if first_pass:
            self._multilabel = multilabel
        elif multilabel != self._multilabel:
            raise ValueError(
                "y is " + ("a multi-label 0/1 matrix" if multilabel else "one label per row")
                + " but the estimator was fitted on "
                + ("multi-label rows" if self._multilabel else "one label per row")
            )  # fmt: skip
        targets = self._multilabel_targets(y, first_pass) if multilabel else self._encode(
            y, first_pass, incremental)  # fmt: skip
        net_seed, order_seed = seeds(self.random_state)
        if first_pass:
            k = len(self.classes_)
            self._network = self._new_network(X.shape[1], k, net_seed)
            self.n_outputs_ = k
            self.out_activation_ = "logistic" if multilabel else "softmax"
        self._start(first_pass, incremental)
        train, validation = Split(X, targets, sample_weight=w), None
        if self.early_stopping:
            train, validation = self._hold_out(X, targets, w, stratify=not multilabel)
        names = [str(c) for c in self.classes_]
        class_weight = self._class_weight(names)
        task = "multilabel" if multilabel else "classification"
        self._train(train, validation, names, incremental, order_seed, task, class_weight)
        return self

    def _multilabel_targets(self, y: np.ndarray, first_pass: bool) -> np.ndarray:
        """A 0/1 label matrix as float32 rows; ``classes_`` = 0..labels-1 (scikit-learn's)."""
        if first_pass:
            self.classes_ = np.arange(y.shape[1])
        elif y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y has {y.shape[1]} label columns but the estimator was fitted on "
                f"{len(self.classes_)}"
            )
        return np.ascontiguousarray(y, dtype=np.float32)

    def _class_weight(self, names: list[str]):
        """``class_weight`` as numrec's setting: "balanced", or {class name: weight}."""
        chosen = self.class_weight
        if chosen is None or (isinstance(chosen, str) and chosen == "balanced"):
            return chosen
        if not hasattr(chosen, "items"):
            raise ValueError(
                f'class_weight must be None, "balanced" or a dict label -> weight, got {chosen!r}'
            )
        unknown = [c for c in chosen if c not in set(self.classes_.tolist())]
        if unknown:
            raise ValueError(
                f"class_weight names {unknown!r}, not among the classes {self.classes_.tolist()}"
            )
        return {names[int(np.searchsorted(self.classes_, c))]: float(v) for c, v in chosen.items()}

    def _encode(self, y: np.ndarray, first_pass: bool, incremental: bool) -> np.ndarray:
        """Labels -> 0..k-1 (positions in ``classes_``), setting ``classes_`` when the
        fit starts over; new labels refused where ``classes_`` is fixed."""
        labels = unique_labels(y)
        if first_pass and not incremental:
            self.classes_ = labels
        elif self.warm_start and not incremental:
            if set(labels) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {labels}"
                )
        elif len(np.setdiff1d(labels, self.classes_)):
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has "
                f"{self.classes_}. 'y' has {labels}."
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _validation_score(self, record: dict, network: Network, validation: Split) -> float:
        """scikit-learn's score on the held-out rows: accuracy (multi-label: of whole
        rows), weighted by their sample weights when there are some."""
        if validation.sample_weight is None:
            key = "val_subset_accuracy" if self._multilabel else "val_accuracy"
            return float(record[key])
        P = network.forward(validation.X, threads=self._threads(len(validation)))
        guess = (P >= 0.5) if self._multilabel else P.argmax(1)
        truth = (validation.y >= 0.5) if self._multilabel else validation.y
        return float(accuracy_score(truth, guess, sample_weight=validation.sample_weight))

    # -- predicting ----------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class (columns in the order of ``classes_``), float64."""
        check_is_fitted(self)
        X = engine_rows(validate_data(self, X, reset=False, dtype=np.float32, order="C",
                                      accept_sparse=False))  # fmt: skip
        return self._network.forward(X, threads=self._threads(len(X))).astype(np.float64)

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X)) (-inf where a probability is 0)."""
        P = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(P, out=P)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (a value of ``classes_``); multi-label: a
        0/1 row per row (a probability of 0.5 or more says 1)."""
        P = self.predict_proba(X)
        if self._multilabel:
            return (P >= 0.5).astype(np.int64)
        return self.classes_[np.argmax(P, axis=1)]

    # -- numrec --------------------------------------------------------------------------
    def _task(self) -> str:
        return "multilabel" if self._multilabel else "classification"

    def _numrec_meta(self) -> dict:
        classes = self.classes_.tolist()
        if self._multilabel:
            return {"estimator": "MLPClassifier", "classes": classes, "multilabel": True}
        jsonable = all(isinstance(c, (str, int, float, bool)) for c in classes)
        return {"estimator": "MLPClassifier", "classes": classes if jsonable else None}

    def to_numrec(self) -> Network:
        """A copy of the fitted network as a ``numrec.Network`` whose class names are the
        labels as text (save it, evaluate it with numrec-eval, export it to ONNX)."""
        net = super().to_numrec()
        net.class_names = [str(c) for c in self.classes_]
        return net

    @classmethod
    def from_numrec(cls, net: Network, **params) -> MLPClassifier:
        """A fitted estimator predicting as ``net`` does (a softmax + cross-entropy
        network, e.g. ``numrec.Network.load(path)``). ``classes_`` are the labels stored
        by ``to_numrec`` or else the network's class names (or 0..k-1); ``params`` set
        other parameters (for later ``partial_fit`` or warm-started ``fit``)."""
        if net.loss != "cross_entropy" or net.output not in ("softmax", "sigmoid"):
            raise ValueError(
                "MLPClassifier takes a softmax (classes) or sigmoid (labels) network with "
                f"cross_entropy, got output {net.output!r} with loss {net.loss!r}"
            )
        multilabel = net.output == "sigmoid"
        est = cls(
            hidden_layer_sizes=tuple(net.sizes[1:-1]),
            activation=ACTIVATION_NAMES[net.hidden],
            negative_slope=net.alpha,
            init=net.init,
            **params,
        )
        k = net.sizes[-1]
        stored = (net.meta.get("sklearn") or {}).get("classes")
        if multilabel:
            est.classes_ = np.arange(k)
        elif isinstance(stored, list) and len(stored) == k:
            est.classes_ = np.array(stored)
        elif net.class_names is not None:
            est.classes_ = np.array(net.class_names)
        else:
            est.classes_ = np.arange(k)
        est._network = net.copy()
        est.n_features_in_ = net.sizes[0]
        est.n_outputs_ = k
        est.out_activation_ = "logistic" if multilabel else "softmax"
        est._multilabel = multilabel
        est._start(first_pass=True, incremental=False)
        est.n_iter_ = 0
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = True
        return tags
