"""The training loop's scikit-learn side: the end-of-iteration bookkeeping and stopping
rule as a numrec callback, and the trainer with scikit-learn's ``shuffle=False``."""

from __future__ import annotations

import numpy as np

from ..dataset import Split
from ..network import Network
from ..training import Trainer

SMALLEST_ADAPTIVE_LR = 1e-6  # scikit-learn's: "adaptive" stops below this rate


class OrderedTrainer(Trainer):
    """numrec's trainer, with scikit-learn's ``shuffle=False``: every epoch takes the rows
    in their given order."""

    def __init__(self, *args, shuffle: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shuffle = shuffle

    def order(self, epoch: int) -> np.ndarray:
        if self.shuffle:
            return super().order(epoch)
        return np.arange(self.n_samples)


class EpochMonitor:
    """A numrec callback doing what scikit-learn does at the end of each iteration: the
    loss curve (with the L2 term), the validation score and the best weights, the
    learning-rate schedule, and the stopping rule (returns True to stop)."""

    def __init__(self, est, validation: Split | None, n_samples: int, n_batches: int):
        self.est = est
        self.validation = validation
        self.n_samples = n_samples
        self.n_batches = n_batches
        self.trainer: Trainer | None = None
        self.best_theta: np.ndarray | None = None

    def on_epoch_end(self, record: dict, network: Network) -> bool:
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_samples
        # scikit-learn's loss of each batch carries alpha / (2 B) ||W||^2; averaged over
        # the epoch's samples that is alpha / 2 ||W||^2 batches / samples
        squares = sum(float(np.dot(W.ravel(), W.ravel())) for W in network.weights)
        penalty = 0.5 * est.alpha * squares * self.n_batches / self.n_samples
        est.loss_ = record["loss"] * est._loss_units() + penalty
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.validation is not None:
            score = est._validation_score(record, network, self.validation)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_theta = network.theta.copy()
        else:
            if est.best_loss_ is None or est.loss_ > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if est.best_loss_ is None or est.loss_ < est.best_loss_:
                est.best_loss_ = est.loss_
        if est._sgd_family() and est.learning_rate == "invscaling":
            est._lr = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        stop = False
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")  # fmt: skip
            if not (est._sgd_family() and est.learning_rate == "adaptive"):
                stop, msg = True, msg + " Stopping."
            elif est._lr <= SMALLEST_ADAPTIVE_LR:
                stop, msg = True, msg + " Learning rate too small. Stopping."
            else:
                est._lr /= 5.0
                est._no_improvement_count = 0
                msg += f" Setting learning rate to {est._lr:f}"
            if est.verbose:
                print(msg)
        if self.trainer is not None:
            # the next epoch's rate (the schedule is "constant": lr times this factor)
            self.trainer.selection.lr_factor = est._lr / float(est.learning_rate_init)
        return stop
