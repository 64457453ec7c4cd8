"""The parameters the estimators share: scikit-learn's names, numrec's choices, and the
rule each value must follow (checked at ``fit``, one ValueError naming the parameter)."""

from __future__ import annotations

import numbers

import numpy as np

SOLVERS = ("sgd", "adam", "momentum", "nesterov", "adamw")
# scikit-learn's activation name -> numrec's
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "leaky_relu": "leaky_relu"}
LEARNING_RATES = ("constant", "invscaling", "adaptive")
INITS = ("glorot", "he", "uniform")


def _real(low: float, high: float = np.inf, *, open_low=False, open_high=True):
    def ok(v) -> bool:
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v):
            return False
        return (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    return ok


def _whole(low: int):
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _flag(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _one_of(choices):
    return lambda v: isinstance(v, str) and v in choices


def _rates(v) -> bool:
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        return False
    return all(_real(0, 1)(r) for r in v)


# parameter -> (test, what it takes)
PARAMETER_RULES = {
    "activation": (_one_of(ACTIVATIONS), f"one of {', '.join(ACTIVATIONS)}"),
    "solver": (_one_of(SOLVERS), f"one of {', '.join(SOLVERS)}"),
    "alpha": (_real(0), "a number, 0 or more"),
    "batch_size": (lambda v: v == "auto" or _whole(1)(v), '"auto" or a whole number, 1 or more'),
    "learning_rate": (_one_of(LEARNING_RATES), f"one of {', '.join(LEARNING_RATES)}"),
    "learning_rate_init": (_real(0, open_low=True), "a positive number"),
    "power_t": (_real(0), "a number, 0 or more"),
    "max_iter": (_whole(1), "a whole number, 1 or more"),
    "shuffle": (_flag, "True or False"),
    "tol": (_real(0), "a number, 0 or more"),
    "verbose": (lambda v: _flag(v) or _whole(0)(v), "True, False or a whole number"),
    "warm_start": (_flag, "True or False"),
    "momentum": (_real(0, 1), "a number in [0, 1)"),
    "nesterovs_momentum": (_flag, "True or False"),
    "early_stopping": (_flag, "True or False"),
    "validation_fraction": (_real(0, 1, open_low=True), "a number in (0, 1)"),
    "beta_1": (_real(0, 1), "a number in [0, 1)"),
    "beta_2": (_real(0, 1), "a number in [0, 1)"),
    "epsilon": (_real(0, open_low=True), "a positive number"),
    "n_iter_no_change": (_whole(1), "a whole number, 1 or more"),
    "negative_slope": (_real(0), "a number, 0 or more"),
    "init": (_one_of(INITS), f"one of {', '.join(INITS)}"),
    "threads": (lambda v: v is None or _whole(1)(v), "None or a whole number, 1 or more"),
    "dropout": (
        lambda v: _real(0, 1)(v) or _rates(v),
        "a rate in [0, 1) for every hidden layer, or a sequence of one rate per hidden layer",
    ),
    "input_dropout": (_real(0, 1), "a rate in [0, 1)"),
}
