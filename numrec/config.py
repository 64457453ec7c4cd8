"""``TrainConfig`` and ``NetworkConfig``: every setting of a training run in one place.

Each field carries its default, its rule (type, range or choices: one ``ValueError``
naming the setting when broken), its help text, and whether a resumed run may change it.
``numrec.train``'s keywords, ``numrec-train``'s flags (``numrec.cli.train`` builds its
parser from these fields), the checkpoint (``to_dict`` / ``from_dict``, every stored value
checked by the same rule as the flag) and the resume rules all come from here, so the API
and the CLI cannot drift apart. Adding a setting is one field here plus the code that
uses it.

The defaults: SGD with momentum 0.9, lr 0.1 on a cosine schedule (lr 0.1 beat 0.05 and 0.2
on the bundled MNIST sample's validation loss over 4 seeds), 10 % of the training rows held
out for validation and the best epoch's weights kept; and, chosen on the sample's
validation accuracy (mean of seeds 0-2; README, "Best accuracy") so that ``numrec-train``
with no options passes 97.5 % on the real MNIST test set within a minute on 2 cores: one
hidden layer of 512, batch 64, 30 epochs and ``augment="auto"`` (``AUTO_AUGMENT`` for data
sets that declare an image shape). Dropout (0.2) and label smoothing (0.1) did not raise
that validation accuracy, so both default to off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from .kernels.codes import HIDDEN, OPTIMIZERS, OUTPUT

SCHEDULES = ("constant", "step", "cosine", "plateau")
# the validation metrics of every task (numrec.metrics); the trainer checks that the
# monitored one belongs to the data set's task
MONITORS = (
    "val_loss", "val_accuracy",
    "val_subset_accuracy", "val_hamming_loss", "val_micro_f1", "val_macro_f1",
    "val_r2", "val_rmse", "val_mae",
)  # fmt: skip
INITS = ("he", "glorot", "uniform")
# What augment="auto" (the default) applies to a data set that declares its image shape
# (meta["image_shape"]: MNIST-family, EMNIST, images): shifts of up to 2 pixels, rotations
# of up to 12 degrees, zooms of +-10 % and Simard's elastic distortion. Chosen on the
# validation split of the bundled MNIST sample (see README, "Best accuracy"); no flips,
# which would turn digits and letters into other symbols.
AUTO_AUGMENT = "shift=2,rotate=12,scale=0.1,elastic=16,sigma=4"


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: a type, a test of the value and how to say it."""

    kind: type  # int, float, str, bool, or tuple (of ints)
    expected: str  # completes "lr must be ...", e.g. "a positive number"
    test: Callable[[Any], bool] = lambda value: True
    choices: tuple = ()
    optional: bool = False  # None allowed

    def check(self, name: str, value: Any) -> Any:
        """``value`` normalised to the rule's type, or a ValueError naming ``name``."""
        if value is None and self.optional:
            return None
        try:
            value = self._coerce(value)
            ok = self.test(value) and (not self.choices or value in self.choices)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return value

    def describe(self) -> str:
        text = f"one of {', '.join(map(str, self.choices))}" if self.choices else self.expected
        return text + (" (or None)" if self.optional else "")

    def _coerce(self, value: Any) -> Any:
        if self.kind is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(value, bool):  # True is an int to Python, never a number here
            raise TypeError
        if self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) and not hasattr(value, "__index__"):
                raise TypeError
            return int(value)
        if self.kind is float:
            if isinstance(value, str) or not math.isfinite(float(value)):
                raise TypeError
            return float(value)
        if self.kind is str:
            if not isinstance(value, str):
                raise TypeError
            return value
        if self.kind is tuple:  # layer sizes
            if isinstance(value, (str, bytes)):
                raise TypeError
            return tuple(Rule(int, "").check("size", v) for v in value)
        raise TypeError

    def parse(self, text: str) -> Any:
        """A command-line value (text) checked by this rule; the error says what it takes."""
        if self.optional and text.strip().lower() in ("none", ""):
            return None
        try:
            value = self.kind(text) if self.kind in (int, float) else text
        except ValueError:
            raise ValueError(f"expected {self.describe()}, got {text!r}") from None
        try:
            return self.check("value", value)
        except ValueError:
            raise ValueError(f"must be {self.describe()}, got {text!r}") from None


@dataclass(frozen=True)
class ClassWeightRule(Rule):
    """``class_weight``: "balanced", or a mapping class -> weight (a class by its name or
    its number); on the command line ``balanced`` or ``NAME=W,NAME=W``."""

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, str):
            if value != "balanced":
                raise ValueError
            return value
        if not hasattr(value, "items"):
            raise TypeError
        weights = {}
        for key, weight in value.items():
            if isinstance(key, bool) or isinstance(weight, (bool, str)):
                raise TypeError
            weight = float(weight)
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError
            weights[str(key)] = weight
        if not weights:
            raise ValueError
        return weights

    def parse(self, text: str) -> Any:
        text = text.strip()
        if text.lower() in ("none", ""):
            return None
        if text == "balanced":
            return text
        try:
            pairs = [part.split("=") for part in text.split(",")]
            if any(len(p) != 2 or not p[0].strip() for p in pairs):
                raise ValueError
            return self.check("value", {k.strip(): float(w) for k, w in pairs})
        except ValueError:
            raise ValueError(f"must be {self.describe()}, got {text!r}") from None


@dataclass(frozen=True)
class RatesRule(Rule):
    """Dropout rates: a tuple of numbers in [0, 1); one number stands for a tuple of one;
    on the command line "0.2,0.5" (or "none")."""

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value,)
        if isinstance(value, (str, bytes)) or any(isinstance(v, bool) for v in value):
            raise TypeError
        rates = tuple(float(v) for v in value)
        if not all(math.isfinite(r) for r in rates):
            raise ValueError
        return rates

    def parse(self, text: str) -> Any:
        if text.strip().lower() in ("", "none"):
            return ()
        try:
            return self.check("value", tuple(float(t) for t in text.split(",")))
        except ValueError:
            raise ValueError(f"must be {self.describe()}, got {text!r}") from None


@dataclass(frozen=True)
class AugmentRule(Rule):
    """An augment spec (``numrec.noise``), stored in its canonical form; the error names
    the part that is wrong."""

    def check(self, name: str, value: Any) -> Any:
        from .noise import EXAMPLE, canonical_augment

        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text like {EXAMPLE!r}, got {value!r}")
        try:
            return canonical_augment(value)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None

    def parse(self, text: str) -> Any:
        from .noise import canonical_augment

        if text.strip().lower() in ("", "none"):
            return None
        if text.strip().lower() == "auto":
            return "auto"
        return canonical_augment(text)


def setting(default: Any, rule: Rule, help: str, *, resumable: bool = False, cli: bool = True):
    """A dataclass field with its rule, help text and resume rule as metadata."""
    return field(
        default=default, metadata={"rule": rule, "help": help, "resumable": resumable, "cli": cli}
    )


def whole(low: int) -> Rule:
    return Rule(int, f"a whole number, {low} or more", lambda v: v >= low)


def number(low: float, high: float | None = None, *, low_open: bool = True,
           high_open: bool = False) -> Rule:  # fmt: skip
    def test(v: float) -> bool:
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    left, right = "(" if low_open else "[", ")" if high_open or high is None else "]"
    expected = (
        f"a number in {left}{low:g}, {'inf' if high is None else f'{high:g}'}{right}"
        if high is not None or not low_open or low != 0
        else "a positive number"
    )
    return Rule(float, expected, test)


def _optional(rule: Rule) -> Rule:
    return replace(rule, optional=True)


class _Settings:
    """What both configuration classes share: checking, JSON, the resume rules."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = f.metadata["rule"].check(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self._check_together()

    def _check_together(self) -> None:
        """Rules that involve several settings."""

    def to_dict(self) -> dict:
        """Plain JSON values (tuples as lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, values: dict, where: str = "") -> _Settings:
        """Settings from stored JSON (a checkpoint): unknown keys are refused, every value
        is checked by its rule, missing ones take their defaults."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}settings must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}unknown setting(s): {', '.join(unknown)}")
        try:
            return cls(**values)
        except ValueError as e:
            raise ValueError(f"{where}{e}") from None

    @classmethod
    def settings(cls) -> list:
        """The dataclass fields (name, default, metadata: rule, help, resumable, cli)."""
        return list(fields(cls))

    @classmethod
    def defaults(cls) -> dict:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    def with_overrides(self, **overrides) -> _Settings:
        """A copy with some settings changed (unknown names refused, all checked)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"unknown setting(s) {', '.join(unknown)}; {type(self).__name__} has: "
                f"{', '.join(sorted(known))}"
            )
        return replace(self, **overrides)


@dataclass(frozen=True)
class TrainConfig(_Settings):
    """How a network is trained (``numrec.train``, ``numrec-train``). Every field is
    checked when the config is made; ``resumable`` fields may differ in a resumed run."""

    epochs: int = setting(30, whole(0), "passes over the training data", resumable=True)
    batch_size: int = setting(64, whole(1), "samples per mini-batch")
    optimizer: str = setting(
        "momentum", Rule(str, "", choices=tuple(OPTIMIZERS)), "the update rule"
    )
    lr: float = setting(0.1, number(0), "learning rate")
    momentum: float = setting(
        0.9, number(0, 1, low_open=False, high_open=True), "momentum (momentum and nesterov)"
    )
    beta1: float = setting(
        0.9, number(0, 1, low_open=False, high_open=True), "Adam's first-moment decay"
    )
    beta2: float = setting(
        0.999, number(0, 1, low_open=False, high_open=True), "Adam's second-moment decay"
    )
    eps: float = setting(1e-8, number(0), "Adam's epsilon")
    weight_decay: float = setting(
        0.0,
        number(0, low_open=False),
        "L2 weight decay (added to the gradient; AdamW: decoupled)",
    )
    dropout: tuple = setting(
        (),
        RatesRule(tuple, "rates, each in [0, 1)", lambda v: all(0 <= r < 1 for r in v)),
        "dropout rate of each hidden layer, comma separated (one value: every hidden layer; "
        "e.g. 0.2,0.5); inverted scaling, off in evaluation and prediction",
    )
    input_dropout: float = setting(
        0.0, number(0, 1, low_open=False, high_open=True), "dropout rate of the inputs"
    )
    augment: str | None = setting(
        "auto",
        AugmentRule(str, "an augmentation spec", optional=True),
        "augment the training images, e.g. shift=2,rotate=10,scale=0.1,elastic=34,sigma=4,"
        "flip: shift in whole pixels, rotate in degrees, scale a fraction (+-), elastic "
        "Simard's alpha in pixels with sigma its smoothing in pixels (default 4), flip "
        "left-right half the time; each part optional; image data sets only. auto (the "
        f"default): {AUTO_AUGMENT} for a data set that declares an image shape, nothing "
        "for others; none: off",
    )
    schedule: str = setting(
        "cosine",
        Rule(str, "", choices=SCHEDULES),
        "learning-rate schedule: constant; step (x gamma every step-size epochs); cosine "
        "(anneal to min-lr over the run); plateau (x gamma after plateau-patience epochs "
        "without improvement of the monitored validation metric, down to min-lr)",
    )
    step_size: int = setting(1, whole(1), "epochs between steps of the step schedule")
    gamma: float = setting(0.1, number(0, 1), "factor of the step and plateau schedules")
    min_lr: float = setting(
        0.0, number(0, low_open=False), "final (cosine) or lowest (plateau) learning rate"
    )
    plateau_patience: int = setting(
        2, whole(1), "epochs without improvement before the plateau schedule cuts the lr"
    )
    validation_fraction: float = setting(
        0.1,
        number(0, 1, low_open=False, high_open=True),
        "share of the training rows held out (stratified by class, seeded) to choose the "
        "best epoch and to stop early; 0: none (a data set's own validation split wins)",
    )
    monitor: str = setting(
        "val_loss",
        Rule(str, "", choices=MONITORS),
        "the validation metric that decides the best epoch, patience and plateau",
    )
    patience: int | None = setting(
        None,
        _optional(whole(1)),
        "stop after this many epochs without an improvement of at least min-delta in the "
        "monitored metric (default: never)",
        resumable=True,
    )
    min_delta: float = setting(
        0.0, number(0, low_open=False), "the smallest change that counts as an improvement"
    )
    restore_best: bool = setting(
        True,
        Rule(bool, "true or false"),
        "end with the weights of the best validation epoch (not the last)",
    )
    target_accuracy: float | None = setting(
        None,
        _optional(number(0, 1)),
        "stop once the validation accuracy reaches this (e.g. 0.97)",
        resumable=True,
    )
    class_weight: Any = setting(
        None,
        ClassWeightRule(
            dict,
            "'balanced' or a mapping class -> weight >= 0 (CLI: balanced or NAME=W,NAME=W)",
            optional=True,
        ),
        "weigh each class's rows in the training loss (classification): balanced "
        "(n / (classes x rows of the class), as scikit-learn) or CLASS=W,... (a class by "
        "name or number; others 1); the loss is sum(w l) / sum(w) per batch",
    )
    label_smoothing: float = setting(
        0.0,
        number(0, 1, low_open=False, high_open=True),
        "label smoothing eps of softmax cross-entropy (classification): the training "
        "targets are (1 - eps) one-hot + eps / classes, as PyTorch's cross_entropy("
        "label_smoothing=eps); the training loss reported is the smoothed one, the "
        "validation and test losses the plain cross-entropy; accuracy uses the true labels",
    )
    threads: int | None = setting(
        None,
        _optional(whole(1)),
        "CPU threads (default: all cores); results do not depend on it",
        resumable=True,
    )
    seed: int | None = setting(
        0,
        _optional(whole(0)),
        "seed of the sample order and the validation split (and, in numrec-train, the "
        "initial weights); None draws one",
    )

    def _check_together(self) -> None:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be between 0 and lr ({self.lr:g}), got {self.min_lr!r}")

    def augment_for(self, meta: dict | None) -> str | None:
        """The augment spec in force for a data set with this ``meta``: "auto" is
        ``AUTO_AUGMENT`` for one that declares ``meta["image_shape"]``, else None."""
        if self.augment != "auto":
            return self.augment
        return AUTO_AUGMENT if (meta or {}).get("image_shape") is not None else None

    def optimizer_settings(self) -> dict:
        """The settings of ``numrec.optim.Optimizer``."""
        names = ("lr", "momentum", "beta1", "beta2", "eps", "weight_decay", "schedule",
                 "step_size", "gamma", "min_lr")  # fmt: skip
        return {"name": self.optimizer, **{n: getattr(self, n) for n in names}}

    @property
    def decides_on_validation(self) -> list[str]:
        """The settings in force that need a validation split."""
        wanted = []
        if self.patience is not None:
            wanted.append("patience")
        if self.target_accuracy is not None:
            wanted.append("target_accuracy")
        if self.schedule == "plateau":
            wanted.append("schedule='plateau'")
        return wanted


@dataclass(frozen=True)
class NetworkConfig(_Settings):
    """The architecture that ``numrec-train`` builds (input and output sizes come from the
    data set); the same defaults as ``numrec.Network``."""

    hidden: tuple = setting(
        (512,),
        Rule(tuple, "layer sizes, each 1 or more", lambda v: all(s >= 1 for s in v)),
        "hidden layer sizes",
    )
    activation: str = setting(
        "leaky_relu", Rule(str, "", choices=tuple(HIDDEN)), "activation of the hidden layers"
    )
    alpha: float = setting(0.01, number(0, 1e6, low_open=False), "slope of leaky ReLU below zero")
    output: str | None = setting(
        None,
        Rule(str, "", choices=tuple(sorted({o for o, _ in OUTPUT})), optional=True),
        "output activation (default: by the data set's task: softmax for classification, "
        "sigmoid for multilabel, linear for regression)",
    )
    loss: str | None = setting(
        None,
        Rule(str, "", choices=tuple(sorted({lo for _, lo in OUTPUT})), optional=True),
        "loss (default: cross_entropy for softmax and for multilabel, mse for sigmoid - the "
        "seed's quadratic cost - and for linear outputs)",
    )
    init: str = setting("he", Rule(str, "", choices=INITS), "weight initialisation")
    huber_delta: float = setting(
        1.0, number(0), "the Huber loss's delta (loss huber), in standardised target units"
    )

    def build(self, n_inputs: int, n_outputs: int, seed: int | None = 0,
              task: str = "classification"):  # fmt: skip
        """A ``numrec.Network`` of this shape for the data set's sizes and task."""
        from .network import Network

        output = self.output or {"multilabel": "sigmoid", "regression": "linear"}.get(
            task, "softmax"
        )
        loss = self.loss
        if loss is None and task == "multilabel" and output == "sigmoid":
            loss = "cross_entropy"
        return Network(
            [n_inputs, *self.hidden, n_outputs], hidden=self.activation, alpha=self.alpha,
            output=output, loss=loss, init=self.init, seed=seed, huber_delta=self.huber_delta,
        )  # fmt: skip
