"""numrec's scikit-learn estimators: scikit-learn's own estimator checks, the update rules
and stopping rule against scikit-learn's MLPClassifier started from the same weights, and
the tools that take an estimator (pickle, joblib, clone, Pipeline, GridSearchCV,
cross_val_score), plus the move to and from a numrec.Network."""

from __future__ import annotations

import json
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn: pip install 'numrec[sklearn]'")

import joblib  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import numrec  # noqa: E402
from numrec.sklearn import MLPClassifier, MLPRegressor, expected_failed_checks  # noqa: E402

# small and quick, yet accurate enough for the checks' scores (accuracy 0.83, R^2 0.5)
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, threads=1),
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, threads=1),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), np.array(["setosa", "versicolor", "virginica"])[y]


def quick(**params) -> MLPClassifier:
    base = dict(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=60, random_state=0,
                threads=1)  # fmt: skip
    return MLPClassifier(**{**base, **params})


# --- scikit-learn's update rules, started from the same weights ---------------------------


def _twins(X, y, sample_weight=None, **params):
    """scikit-learn's MLPClassifier and numrec's, warm-started from the same weights
    (zero biases: numrec's L2 term also shrinks biases, by alpha / B b per step)."""
    theirs = neural_network.MLPClassifier(warm_start=True, shuffle=False, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y, sample_weight=sample_weight)  # one iteration, to create the weights
    ours = MLPClassifier(warm_start=True, shuffle=False, threads=1, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
    for mine, W in zip(ours.coefs_, theirs.coefs_):
        mine[:] = W
    for b, b_theirs in zip(ours.intercepts_, theirs.intercepts_):
        b[:] = 0.0
        b_theirs[:] = 0.0
    return theirs, ours


# several mini-batches without alpha (each update rule over 3 steps); with alpha one step,
# where only the weights feel it (numrec's L2 term also shrinks the biases, which are 0)
@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", momentum=0.0, alpha=0.5, batch_size=150),
        dict(solver="sgd", momentum=0.9, nesterovs_momentum=True, alpha=0.0, batch_size=50),
        dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, alpha=0.0, batch_size=50),
        dict(solver="adam", alpha=0.3, batch_size=150),
        dict(solver="adam", alpha=0.0, batch_size=40),  # a short last batch
    ],
)
def test_one_epoch_matches_scikit_learn_from_the_same_weights(iris, params):
    X, y = iris
    settings = dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=1,
                    learning_rate_init=0.05, **params)  # fmt: skip
    theirs, ours = _twins(X, y, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    # Adam divides by |g|: where g is tiny, float32 rounding shows (1 % of a step here)
    atol = 5e-4 if params["solver"] == "adam" else 2e-5
    for mine, W in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, W, rtol=2e-4, atol=atol)
    # the loss carries the L2 term as scikit-learn's does (ours at the epoch's end weights)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=2e-3)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)


def test_sample_weight_step_matches_scikit_learn(iris):
    """scikit-learn's weighted step: (sum w g + alpha W) / sum w, i.e. numrec's weighted
    mean gradient plus alpha / (B mean w) W."""
    X, y = iris
    w = np.random.default_rng(0).uniform(0, 3, size=len(y))
    settings = dict(hidden_layer_sizes=(6,), activation="tanh", max_iter=1, solver="sgd",
                    momentum=0.0, alpha=0.5, batch_size=150, learning_rate_init=0.1)  # fmt: skip
    theirs, ours = _twins(X, y, sample_weight=w, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y, sample_weight=w)
        ours.fit(X, y, sample_weight=w)
    for mine, W in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, W, rtol=2e-4, atol=2e-5)


def test_class_weight_is_a_weight_per_row_of_the_class(iris):
    X, y = iris
    y = np.where(y == "setosa", "setosa", "other")  # 50 against 100
    balanced = quick(class_weight="balanced", alpha=0.0, shuffle=False, max_iter=5)
    by_hand = quick(alpha=0.0, shuffle=False, max_iter=5)
    named = quick(class_weight={"setosa": 2.0}, alpha=0.0, shuffle=False, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        balanced.fit(X, y)
        by_hand.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
        named.fit(X, y)
    for a, b in zip(balanced.coefs_, by_hand.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    twice = quick(alpha=0.0, shuffle=False, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        twice.fit(X, y, sample_weight=np.where(y == "setosa", 2.0, 1.0))
    for a, b in zip(named.coefs_, twice.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="class_weight names"):
        quick(class_weight={"rose": 2.0}).fit(X, y)


def test_invscaling_rate_between_epochs_matches_scikit_learn(iris):
    X, y = iris
    settings = dict(hidden_layer_sizes=(5,), activation="relu", solver="sgd", momentum=0.0,
                    alpha=0.0, batch_size=150, learning_rate="invscaling", power_t=0.25,
                    learning_rate_init=0.5, max_iter=4)  # fmt: skip
    theirs, ours = _twins(X, y, **{**settings, "max_iter": 1})
    theirs.set_params(max_iter=4)
    ours.set_params(max_iter=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    for mine, W in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, W, rtol=1e-4, atol=1e-5)
    # the first entry is the set-up fit, from different weights
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-4)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", tol=1e9, n_iter_no_change=3),  # never improves by tol
        dict(solver="sgd", learning_rate="adaptive", tol=1e9, n_iter_no_change=1),  # lr / 5
        dict(solver="adam", tol=0.0, n_iter_no_change=2, learning_rate_init=5.0),
    ],
)
def test_stopping_rule_stops_where_scikit_learns_does(iris, params):
    X, y = iris
    settings = dict(hidden_layer_sizes=(4,), max_iter=200, random_state=0, **params)
    theirs = neural_network.MLPClassifier(**settings)
    ours = MLPClassifier(threads=1, **settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs.fit(X, y)
        ours.fit(X, y)
    assert ours.n_iter_ == len(ours.loss_curve_)
    if params["tol"] > 1:  # the rule alone decides: the same epoch exactly
        assert ours.n_iter_ == theirs.n_iter_
    assert ours.n_iter_ < 200
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_convergence_warning_when_max_iter_is_reached(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        quick(max_iter=3).fit(X, y)


def test_early_stopping_keeps_the_best_validation_epoch(iris):
    X, y = iris
    est = quick(early_stopping=True, validation_fraction=0.2, n_iter_no_change=5, tol=0.0,
                max_iter=40)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    best = int(np.argmax(scores))  # the first epoch with the best score
    # the same run stopped right after that epoch ends with the same weights
    again = clone(est).set_params(max_iter=best + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, again.coefs_ + again.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_continues_the_optimizer(iris):
    """Three partial_fit calls are the three epochs of one fit (shuffle=False): Adam's
    moments and step count go on from call to call."""
    X, y = iris
    fitted = quick(solver="adam", shuffle=False, max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X, y)
    stepped = quick(solver="adam", shuffle=False)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=np.unique(y))
    assert stepped.n_iter_ == 1 and len(stepped.loss_curve_) == 3
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_needs_classes_first_and_refuses_new_labels(iris):
    X, y = iris
    est = quick()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y != "virginica"], y[y != "virginica"], classes=np.unique(y))
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(X, np.where(y == "setosa", "rose", y))
    with pytest.raises(ValueError, match="early_stopping"):
        quick(early_stopping=True).partial_fit(X, y, classes=np.unique(y))


# --- regression and multi-label ----------------------------------------------------------


def test_regressor_several_targets_in_the_users_units():
    X, Y = make_regression(n_samples=300, n_features=6, n_targets=2, noise=1.0, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=200,
                       alpha=0.0, random_state=0, threads=1)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
        big = clone(reg).fit(X, 1000.0 * Y + 5.0)
    assert reg.predict(X).shape == (300, 2) and reg.n_outputs_ == 2
    assert reg.out_activation_ == "identity"
    assert reg.score(X, Y) > 0.95
    # the engine learns standardised targets: other units, the same network, and the
    # loss (half the squared error, as scikit-learn's) in the user's units
    for a, b in zip(reg.coefs_, big.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(big.predict(X), 1000.0 * reg.predict(X) + 5.0, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(big.loss_curve_, np.array(reg.loss_curve_) * 1e6, rtol=1e-4)
    residual = 0.5 * np.mean((reg.predict(X) - Y) ** 2)
    assert reg.loss_ == pytest.approx(residual, rel=0.1)  # the last epoch's running mean


def test_regressor_one_target_predicts_a_vector():
    X, y = make_regression(n_samples=200, n_features=4, noise=0.5, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=150,
                           random_state=0, threads=1, early_stopping=True).fit(X, y)  # fmt: skip
    assert reg.predict(X).shape == (200,)
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.9
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor(loss="poisson").fit(X, y)
    net = reg.to_numrec()
    np.testing.assert_allclose(net.predict(X)[:, 0], reg.predict(X), rtol=1e-5, atol=1e-4)
    back = MLPRegressor.from_numrec(net)
    np.testing.assert_allclose(back.predict(X), reg.predict(X), rtol=1e-6)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_regressor_other_losses(loss):
    X, y = make_regression(n_samples=200, n_features=4, noise=0.5, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(loss=loss, huber_delta=0.5, hidden_layer_sizes=(16,),
                           learning_rate_init=0.01, max_iter=150, random_state=0,
                           threads=1).fit(X, y)  # fmt: skip
    net = reg.to_numrec()
    assert net.loss == {"absolute_error": "mae", "huber": "huber"}[loss]
    assert loss != "huber" or net.huber_delta == 0.5
    assert reg.score(X, y) > 0.9


def test_multilabel_classifier():
    X, Y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4,
                                          random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = quick(hidden_layer_sizes=(32,), max_iter=200, early_stopping=True).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert list(clf.classes_) == [0, 1, 2, 3]
    P = clf.predict_proba(X)
    assert P.shape == (300, 4) and not np.allclose(P.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), (P >= 0.5).astype(int))
    assert clf.score(X, Y) == np.mean(np.all(clf.predict(X) == Y, axis=1)) > 0.4
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    with pytest.raises(ValueError, match="multi-label"):
        clf.set_params(warm_start=True).fit(X, Y.argmax(1))


# --- data ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [np.array(["b", "a"]), np.array([True, False]), np.array([1.0, -1.0]), np.array([7, 2])],
)
def test_labels_of_any_type(iris, labels):
    X, y = iris
    target = labels[(y == "setosa").astype(int)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = quick().fit(X, target)
    assert est.classes_.dtype == labels.dtype
    assert sorted(est.classes_.tolist()) == sorted(labels.tolist())
    assert est.predict(X).dtype == labels.dtype
    assert est.score(X, target) == 1.0
    assert est.predict_proba(X).shape == (150, 2)
    assert est.n_outputs_ == 2 and est.out_activation_ == "softmax"


def test_pandas_dataframe_names_the_features(iris):
    pd = pytest.importorskip("pandas", reason="needs pandas: pip install 'numrec[test]'")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = quick().fit(frame, pd.Series(y))
    assert list(est.feature_names_in_) == list(frame.columns)
    assert est.n_features_in_ == 4
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        plain = est.predict(X.astype(np.float32))
    np.testing.assert_array_equal(est.predict(frame), plain)
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(frame.rename(columns={"petal_w": "other"}))


def test_sparse_input_is_refused_clearly(iris):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = iris
    with pytest.raises(TypeError, match=r"dense data is required.*toarray"):
        quick().fit(sparse.csr_matrix(X), y)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(solver="lbfgs"), "solver='lbfgs' is scikit-learn's but not numrec's"),
        (dict(activation="identity"), "activation='identity' is scikit-learn's"),
        (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes must be a positive"),
        (dict(alpha=-1.0), "alpha must be a number, 0 or more, got -1.0"),
        (dict(batch_size=0), "batch_size must be"),
        (dict(momentum=1.0), r"momentum must be a number in \[0, 1\), got 1.0"),
        (dict(validation_fraction=1.0), "validation_fraction must be"),
    ],
)
def test_bad_parameters_are_named(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        quick(**params).fit(X, y)


def test_divergence_is_a_clear_error():
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        quick(solver="sgd", learning_rate_init=1e6, momentum=0.0).fit(X * 1e6, y)


def test_float64_input_is_converted_once():
    """Peak memory of fit stays below twice the float64 input (one float32 copy)."""
    X, y = make_classification(n_samples=20_000, n_features=100, random_state=0)
    est = quick(max_iter=1, batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[:200], y[:200])  # compile and import outside the measurement
        tracemalloc.start()
        est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert X.nbytes / 2 <= peak < 2 * X.nbytes, (peak, X.nbytes)


def test_verbose_prints_scikit_learns_lines(iris, capsys):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        quick(verbose=True, max_iter=2).fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


# --- the tools that take an estimator ----------------------------------------------------


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_joblib_and_clone(iris, tmp_path, kind):
    X, y = iris
    if kind == "regressor":
        X, y = X[:, :3], 10.0 * X[:, 3]
        est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0, threads=1)
        outputs = "predict"
    else:
        est, outputs = quick(), "predict_proba"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    expected = getattr(est, outputs)(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(getattr(again, outputs)(X), expected)
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(getattr(loaded, outputs)(X), expected)
    assert loaded.loss_curve_ == est.loss_curve_
    # the fitted network is not shared: training the copy leaves the original alone
    loaded.partial_fit(X, y)
    assert not np.array_equal(getattr(loaded, outputs)(X), expected)
    np.testing.assert_array_equal(getattr(est, outputs)(X), expected)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2 processes
def test_pipeline_in_grid_search(n_jobs):
    X, y = make_classification(n_samples=240, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)  # fmt: skip
    pipe = make_pipeline(StandardScaler(), quick(max_iter=30))
    grid = {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
            "mlpclassifier__alpha": [1e-4, 1e-1]}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_score_ > 0.6
    assert search.score(X, y) > 0.7


def test_cross_val_score(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(quick(max_iter=100), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


# --- numrec <-> scikit-learn --------------------------------------------------------------


def test_to_numrec_and_back(iris, tmp_path):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = quick(activation="leaky_relu", negative_slope=0.05).fit(X, y)
    net = est.to_numrec()
    assert net.sizes == (4, 8, 3) and net.hidden == "leaky_relu" and net.alpha == 0.05
    assert net.class_names == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(net.forward(X), est.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(est.coefs_[0], net.weights[0].T)
    path = net.save(tmp_path / "iris.npz")
    back = MLPClassifier.from_numrec(numrec.Network.load(path))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.classes_.tolist() == est.classes_.tolist()
    assert back.get_params()["activation"] == "leaky_relu"
    back.partial_fit(X, y)  # trainable from there
    with pytest.raises(ValueError, match="softmax"):
        MLPClassifier.from_numrec(numrec.Network([4, 3], output="sigmoid"))


def test_numrec_eval_scores_a_fitted_estimator(tmp_path):
    """A fitted estimator, saved as a numrec model, is evaluated by numrec-eval on a CSV
    data set with the accuracy scikit-learn's score gives."""
    from numrec.cli import evaluate

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).round(3)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    path = tmp_path / "rows.csv"
    lines = ["label," + ",".join(f"f{i}" for i in range(6))]
    lines += [f"{label}," + ",".join(map(str, row)) for label, row in zip(y, X)]
    path.write_text("\n".join(lines) + "\n")
    options = dict(path=str(path), test_fraction=0.3)
    ds = numrec.load_dataset("csv", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = quick(max_iter=100).fit(ds.train.X, ds.train.y)
    model = est.to_numrec().save(tmp_path / "model.npz")
    out = tmp_path / "eval.json"
    argv = [str(model), "--dataset", "csv", "--path", str(path), "--test-fraction", "0.3",
            "--json"]  # fmt: skip
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert evaluate.main(argv) == 0
    out.write_text(buffer.getvalue())
    report = json.loads(out.read_text())
    assert report["n"] == len(ds.test)
    assert report["accuracy"] == pytest.approx(est.score(ds.test.X, ds.test.y), abs=1e-12)


def _predict_cli(model, rows_file, capsys) -> list[dict]:
    from cli_helpers import run_main

    result = run_main("numrec-predict", model, rows_file, "--json", capsys=capsys)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_numrec_predict_answers_as_the_fitted_estimators(iris, tmp_path, cli_inprocess, capsys):
    """numrec-predict on CSV rows, with a saved estimator's network: the classes
    ``predict`` gives (rows without a header: the features in order), the labels of a
    multi-label classifier, and the regressor's values in the user's units. An estimator
    fitted on a DataFrame finds its features by name in a header, in any order."""
    pd = pytest.importorskip("pandas", reason="needs pandas: pip install 'numrec[test]'")
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = quick().fit(X, y)
        labels = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0], 1).astype(int)
        multi = quick(max_iter=200).fit(X, labels)
        reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                           threads=1).fit(X[:, 1:], 10.0 + 3.0 * X[:, 0])  # fmt: skip
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X, delimiter=",", fmt="%.9g")
    X = np.loadtxt(rows, delimiter=",")  # what the file holds

    got = _predict_cli(clf.to_numrec().save(tmp_path / "clf.npz"), rows, capsys)
    assert [g["line"] for g in got] == list(range(1, len(X) + 1))
    assert [g["label"] for g in got] == clf.predict(X).tolist()
    np.testing.assert_allclose([g["probability"] for g in got],
                               clf.predict_proba(X).max(1), rtol=1e-6)  # fmt: skip

    got = _predict_cli(multi.to_numrec().save(tmp_path / "multi.npz"), rows, capsys)
    expected = multi.predict(X)
    assert 0 < expected.sum() < expected.size  # both answers occur
    assert [g["labels"] for g in got] == [[str(j) for j in np.flatnonzero(r)] for r in expected]

    reg_rows = tmp_path / "reg_rows.csv"
    np.savetxt(reg_rows, X[:, 1:], delimiter=",", fmt="%.9g")
    got = _predict_cli(reg.to_numrec().save(tmp_path / "reg.npz"), reg_rows, capsys)
    np.testing.assert_allclose([g["values"]["0"] for g in got], reg.predict(X[:, 1:]),
                               rtol=1e-5)  # fmt: skip

    # fitted on a DataFrame: the header finds the features by name, other columns ignored
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        named = quick().fit(pd.DataFrame(X, columns=names), y)
    table = pd.DataFrame(X, columns=names)[names[::-1]].assign(note="x")
    table.to_csv(tmp_path / "named.csv", index=False)
    got = _predict_cli(named.to_numrec().save(tmp_path / "named.npz"), tmp_path / "named.csv",
                       capsys)  # fmt: skip
    assert [g["label"] for g in got] == named.predict(pd.DataFrame(X, columns=names)).tolist()
    # fitted on an array: a header cannot be matched to the features, and says so
    from cli_helpers import assert_usage_error, run_main

    refused = run_main("numrec-predict", tmp_path / "clf.npz", tmp_path / "named.csv",
                       capsys=capsys)  # fmt: skip
    assert_usage_error(refused, "named.csv", "line 1 is a header", "have no names")


def test_a_csv_models_row_layout_survives_the_estimator():
    """from_numrec of a CSV-trained network, then to_numrec: the file's column names and
    which columns are features stay (numrec-predict still finds them by name)."""
    net = numrec.Network([3, 4, 2], seed=0)
    net.class_names = ["no", "yes"]
    layout = {"columns": ["a", "label", "b", "c"], "n_columns": 4, "feature_columns": [0, 2, 3],
              "delimiter": ";"}  # fmt: skip
    net.meta.update(layout)
    back = MLPClassifier.from_numrec(net).to_numrec()
    assert {k: back.meta[k] for k in layout} == layout
    assert back.meta["task"] == "classification"


def test_onnx_export_of_fitted_estimators(iris, tmp_path):
    """The networks of a fitted classifier and regressor, exported to ONNX, give in
    onnxruntime what the estimators give (probabilities; values in the user's units)."""
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'numrec[test]'")
    pytest.importorskip("onnx", reason="needs onnx: pip install 'numrec[onnx]'")
    X, y = iris
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = quick().fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0, threads=1)
        reg.fit(X[:, :3], 100.0 * X[:, 3] + 7.0)
    for est, rows, expected in ((clf, X, clf.predict_proba(X)),
                                (reg, X[:, :3], reg.predict(X[:, :3])[:, None])):  # fmt: skip
        path = est.to_numrec().to_onnx(tmp_path / f"{type(est).__name__}.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {session.get_inputs()[0].name: rows})
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_dropout_is_seeded_and_off_in_prediction(iris):
    X, y = iris
    settings = dict(hidden_layer_sizes=(16, 8), max_iter=20, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = quick(**settings).fit(X, y)
        dropped = quick(dropout=(0.5, 0.2), input_dropout=0.1, **settings).fit(X, y)
        again = quick(dropout=(0.5, 0.2), input_dropout=0.1, threads=2, **settings).fit(X, y)
    assert not np.array_equal(plain.coefs_[0], dropped.coefs_[0])
    for a, b in zip(dropped.coefs_, again.coefs_):  # the same masks for any thread count
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    with pytest.raises(ValueError, match="dropout has 3 rates"):
        quick(dropout=(0.1, 0.1, 0.1), **settings).fit(X, y)
    with pytest.raises(ValueError, match=r"dropout must be a rate in \[0, 1\)"):
        quick(dropout=1.0).fit(X, y)
