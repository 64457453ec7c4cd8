"""Optimizer settings and learning-rate schedules (the Python side of the update kernel).

The update itself is compiled (``kernels.step.update_chunk``); here live the settings,
their validation and the learning rate of every mini-batch, computed per epoch so a
schedule costs nothing inside the compiled loop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .config import SCHEDULES
from .kernels.codes import OPTIMIZERS
from .kernels.structs import OptimizerArgs


@dataclass(frozen=True)
class Optimizer:
    """SGD, classic momentum, Nesterov, Adam or AdamW with L2 weight decay and a schedule.

    - momentum / nesterov: v <- mu v - lr g; theta <- theta + v (Nesterov: + mu v - lr g)
    - adam / adamw: Kingma & Ba; AdamW decays the weights directly (Loshchilov & Hutter)
    - weight_decay: added to the gradient as wd * theta (AdamW: theta -= lr wd theta)
    - schedule: "constant"; "step" multiplies lr by ``gamma`` every ``step_size`` epochs;
      "cosine" anneals from lr to ``min_lr`` over all batches of the run; "plateau" is
      constant here, and the trainer multiplies it by ``gamma`` when the validation
      metric stops improving (``numrec.training``).
    """

    name: str = "momentum"
    lr: float = 0.05
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 1
    gamma: float = 0.1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.name!r}; expected one of: {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; expected one of: {', '.join(SCHEDULES)}"
            )
        checks = [
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("beta1", 0 <= self.beta1 < 1, "in [0, 1)"),
            ("beta2", 0 <= self.beta2 < 1, "in [0, 1)"),
            ("eps", self.eps > 0, "positive"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("step_size", self.step_size >= 1, "a whole number of epochs, 1 or more"),
            ("gamma", 0 < self.gamma <= 1, "in (0, 1]"),
            ("min_lr", 0 <= self.min_lr <= self.lr, "between 0 and lr"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")

    def kernel_args(self) -> OptimizerArgs:
        """The update rule as the kernels take it."""
        return OptimizerArgs(
            OPTIMIZERS[self.name],
            float(self.momentum),
            float(self.beta1),
            float(self.beta2),
            float(self.eps),
            float(self.weight_decay),
        )

    def learning_rates(self, epoch: int, batches_per_epoch: int, epochs: int) -> np.ndarray:
        """The learning rate of each mini-batch of ``epoch`` (0-based)."""
        if self.schedule in ("constant", "plateau"):
            return np.full(batches_per_epoch, self.lr)
        if self.schedule == "step":
            return np.full(batches_per_epoch, self.lr * self.gamma ** (epoch // self.step_size))
        total = max(1, epochs * batches_per_epoch)
        t = epoch * batches_per_epoch + np.arange(batches_per_epoch)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + np.cos(np.pi * t / total))

    def to_dict(self) -> dict:
        return asdict(self)
