"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier, trained by numrec.

Labels of any type (numbers, strings, booleans) are mapped to ``classes_`` (sorted) and
learnt as softmax outputs with cross-entropy, one output per class (scikit-learn uses one
logistic output for two classes: the same model, written with two outputs).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..dataset import Split
from ..network import Network
from ._base import ACTIVATIONS, BaseMLP, engine_rows, seeds

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
    - ``threads``: CPU threads (default: all cores); the results do not depend on it.

    ``docs/sklearn.md`` maps every parameter to numrec's setting.
    """

    def _output(self) -> tuple[str, str]:
        return "softmax", "cross_entropy"

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y):
        """Train on rows ``X`` and labels ``y`` for up to ``max_iter`` epochs; returns self."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X``, ``y``, continuing the optimizer's state from the last call.
        ``classes`` (every label there will be) is required on the first call."""
        if "classes_" not in self.__dict__ or "_network" not in self.__dict__:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = unique_labels(classes)
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {self.classes_!r}"
            )
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, incremental: bool):
        self._check_params()
        first_pass = "_network" not in self.__dict__ or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, reset=first_pass, dtype=np.float32, order="C",
                             accept_sparse=False)  # fmt: skip
        X = engine_rows(X)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        codes = self._encode(y, first_pass, incremental)
        net_seed, order_seed = seeds(self.random_state)
        if first_pass:
            k = len(self.classes_)
            self._network = self._new_network(X.shape[1], k, net_seed)
            self.n_outputs_ = k
            self.out_activation_ = "softmax"
        self._start(first_pass, incremental)
        train, validation = Split(X, codes), None
        if self.early_stopping:
            train, validation = self._hold_out(X, codes)
        names = [str(c) for c in self.classes_]
        self._train(train, validation, names, incremental, order_seed)
        return self

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

    def _hold_out(self, X: np.ndarray, codes: np.ndarray) -> tuple[Split, Split]:
        """The early-stopping split: ``validation_fraction`` of the rows, stratified by
        class and drawn from ``random_state``, as scikit-learn's."""
        rng = np.random.RandomState(seeds(self.random_state)[1])
        rows = np.arange(len(codes))
        train_rows, val_rows = train_test_split(
            rows, random_state=rng, test_size=self.validation_fraction, stratify=codes
        )
        if len(val_rows) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the "
                "size of your dataset."
            )
        train_rows.sort()
        val_rows.sort()
        return Split(X[train_rows], codes[train_rows]), Split(X[val_rows], codes[val_rows])

    def _validation_score(self, record: dict, network: Network, validation: Split) -> float:
        return float(record["val_accuracy"])

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
        """The most probable class of each row (a value of ``classes_``)."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]

    # -- numrec --------------------------------------------------------------------------
    def _numrec_meta(self) -> dict:
        classes = self.classes_.tolist()
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
        if (net.output, net.loss) != ("softmax", "cross_entropy"):
            raise ValueError(
                f"MLPClassifier takes a softmax + cross_entropy network, got output "
                f"{net.output!r} with loss {net.loss!r}"
            )
        est = cls(
            hidden_layer_sizes=tuple(net.sizes[1:-1]),
            activation=ACTIVATION_NAMES[net.hidden],
            negative_slope=net.alpha,
            init=net.init,
            **params,
        )
        k = net.sizes[-1]
        stored = (net.meta.get("sklearn") or {}).get("classes")
        if isinstance(stored, list) and len(stored) == k:
            est.classes_ = np.array(stored)
        elif net.class_names is not None:
            est.classes_ = np.array(net.class_names)
        else:
            est.classes_ = np.arange(k)
        est._network = net.copy()
        est.n_features_in_ = net.sizes[0]
        est.n_outputs_ = k
        est.out_activation_ = "softmax"
        est._start(first_pass=True, incremental=False)
        est.n_iter_ = 0
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
