"""numrec.train's per-epoch records, callbacks, validation and model selection."""

import numpy as np
import pytest
from engine_helpers import blobs

import numrec
from numrec.training import Trainer, validation_split


class Recorder:
    """A callback that keeps what it is given; stops after ``stop_at`` epochs."""

    def __init__(self, stop_at=None):
        self.begun, self.records, self.ended, self.stop_at = [], [], None, stop_at

    def on_train_begin(self, config, network):
        self.begun.append(config)

    def on_epoch_end(self, record, network):
        self.records.append(record)
        return self.stop_at is not None and record["epoch"] >= self.stop_at

    def on_train_end(self, history, network):
        self.ended = list(history)


def test_history_records_and_callbacks():
    cb = Recorder()
    net = numrec.Network([12, 8, 3], seed=0)
    trainer = Trainer(net, blobs(), epochs=3, batch_size=32, progress=False, callbacks=[cb])
    history = trainer.run()
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert cb.records == history and cb.ended == history
    assert cb.begun == [trainer.config]
    for h in history:
        keys = {"epoch", "loss", "val_loss", "val_accuracy", "test_accuracy", "seconds",
                "samples_per_s", "lr", "best"}  # fmt: skip
        assert keys <= set(h)
        assert h["seconds"] > 0 and h["samples_per_s"] > 0
        assert 0 <= h["test_accuracy"] <= 1 and 0 <= h["val_accuracy"] <= 1
    assert history[-1]["loss"] < history[0]["loss"]
    assert trainer.stop_reason == "epochs"


def test_a_callback_can_stop_training():
    cb = Recorder(stop_at=2)
    history = numrec.train(numrec.Network([12, 8, 3]), blobs(), epochs=9, progress=False,
                           callbacks=[cb])  # fmt: skip
    assert len(history) == 2


def test_target_accuracy_stops_on_validation_accuracy():
    net = numrec.Network([12, 8, 3], seed=0)
    history = numrec.train(net, blobs(), epochs=50, batch_size=16, target_accuracy=0.9,
                           progress=False)  # fmt: skip
    assert len(history) < 50
    assert history[-1]["val_accuracy"] >= 0.9 and history[-1]["target_reached"]
    assert history[-1]["stopped"] == "target"
    assert all(h["val_accuracy"] < 0.9 for h in history[:-1])


def test_zero_epochs_leave_the_weights_alone():
    net = numrec.Network([12, 8, 3], seed=0)
    before = net.theta.copy()
    assert numrec.train(net, blobs(), epochs=0, progress=False) == []
    np.testing.assert_array_equal(net.theta, before)


def test_the_validation_split_is_stratified_seeded_and_disjoint():
    y = np.repeat(np.arange(4), [100, 50, 10, 1])
    train, val = validation_split(y, 0.1, seed=3)
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(y)
    assert [int((y[val] == c).sum()) for c in range(4)] == [10, 5, 1, 0]
    again, val2 = validation_split(y, 0.1, seed=3)
    np.testing.assert_array_equal(val, val2)
    assert not np.array_equal(val, validation_split(y, 0.1, seed=4)[1])
    assert validation_split(y, 0.0, seed=3)[1] is None


def test_decisions_need_a_validation_split():
    for setting in ({"patience": 2}, {"target_accuracy": 0.9}, {"schedule": "plateau"}):
        with pytest.raises(ValueError, match="validation split, and this run has none"):
            numrec.train(numrec.Network([12, 8, 3]), blobs(), validation_fraction=0,
                         progress=False, **setting)  # fmt: skip


def test_patience_stops_and_the_best_weights_are_restored():
    net = numrec.Network([12, 8, 3], seed=0)
    ds = blobs()
    # a learning rate that overshoots: validation loss stops improving after a few epochs
    history = numrec.train(net, ds, epochs=60, lr=0.5, schedule="constant", patience=3,
                           progress=False)  # fmt: skip
    best = min(history, key=lambda h: h["val_loss"])
    assert history[-1]["stopped"] == "patience" and len(history) == best["epoch"] + 3
    assert [h["epoch"] for h in history if h["best"]][-1] == best["epoch"]
    trainer = Trainer(net, ds, progress=False)  # the same validation rows (same seed)
    assert trainer._scores("val")["loss"] == pytest.approx(best["val_loss"], abs=1e-6)


def test_the_test_split_decides_nothing():
    """Permuting the test labels and shuffling the test rows leaves the weights
    bit-identical, with patience, restore_best, target accuracy and plateau all on."""
    ds = blobs(n=400)
    rng = np.random.default_rng(5)
    order = rng.permutation(len(ds.test))
    shuffled = numrec.Dataset(
        ds.name, ds.train, numrec.Split(ds.test.X[order], rng.permutation(ds.test.y)),
        ds.class_names,
    )  # fmt: skip
    settings = dict(epochs=12, lr=0.3, patience=2, restore_best=True, target_accuracy=0.999,
                    schedule="plateau", plateau_patience=1, progress=False)  # fmt: skip
    a, b = numrec.Network([12, 8, 3], seed=1), numrec.Network([12, 8, 3], seed=1)
    ha = numrec.train(a, ds, **settings)
    hb = numrec.train(b, shuffled, **settings)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert [h["val_loss"] for h in ha] == [h["val_loss"] for h in hb]


def test_the_plateau_schedule_cuts_the_learning_rate():
    history = numrec.train(numrec.Network([12, 8, 3], seed=0), blobs(), epochs=15, lr=0.5,
                           schedule="plateau", plateau_patience=1, gamma=0.5, min_lr=0.01,
                           progress=False)  # fmt: skip
    lrs = [h["lr"] for h in history]
    assert lrs[0] == 0.5 and min(lrs) < 0.5 and min(lrs) >= 0.01
    assert all(b <= a for a, b in zip(lrs, lrs[1:]))


def test_a_given_validation_split_is_used():
    ds = blobs(n=300)
    val = numrec.Split(ds.test.X[:50], ds.test.y[:50])
    with_val = numrec.Dataset(ds.name, ds.train, ds.test, ds.class_names, validation=val)
    trainer = Trainer(numrec.Network([12, 8, 3]), with_val, epochs=1, progress=False)
    assert trainer.n_samples == len(ds.train) and trainer.n_validation == 50


class StopAfter:
    """Asks for a stop (as Ctrl-C would) once ``chunks`` chunks of batches are done."""

    def __init__(self, trainer, chunks):
        self.trainer, self.left = trainer, chunks

    def on_batches(self, samples, loss, accuracy):
        self.left -= 1
        if self.left == 0:
            self.trainer._signal = 2  # SIGINT, seen at the next batch boundary


def test_resume_with_early_stopping_state_is_bit_identical(tmp_path, monkeypatch):
    from numrec.serialize import load_checkpoint, save_checkpoint
    from numrec.training import TrainingInterrupted

    ds = blobs(n=3000)
    settings = dict(epochs=30, batch_size=8, lr=0.3, schedule="plateau", plateau_patience=1,
                    patience=4, restore_best=True, progress=False, seed=2)  # fmt: skip
    # chunks of 100 batches: 4 per epoch of 338 batches, so the stop lands inside epoch 4
    monkeypatch.setattr(numrec.training, "CHUNK_SAMPLES", 800)
    whole = numrec.Network([12, 8, 3], seed=1)
    reference = Trainer(whole, ds, **settings)
    expected = reference.run()
    assert expected[-1].get("stopped") == "patience"  # early stopping is part of the run

    first = Trainer(numrec.Network([12, 8, 3], seed=1), ds, **settings)
    first.callbacks.append(StopAfter(first, 14))
    with pytest.raises(TrainingInterrupted):
        first.run()
    assert first.epoch == 3 and first.batch == 200 and first.selection.best_epoch is not None
    path = save_checkpoint(tmp_path / "ck.npz", first)
    state, _ = load_checkpoint(path)
    second = Trainer(numrec.Network([12, 8, 3], seed=9), ds, **settings)
    second.load_state_dict(state)
    history = second.run()
    np.testing.assert_array_equal(second.net.theta, whole.theta)
    strip = ("seconds", "samples_per_s")
    assert [{k: v for k, v in h.items() if k not in strip} for h in history] == [
        {k: v for k, v in h.items() if k not in strip} for h in expected
    ]


def test_resuming_on_other_data_is_refused():
    a = Trainer(numrec.Network([12, 8, 3]), blobs(n=300), epochs=1, progress=False)
    state = a.state_dict()
    other = Trainer(numrec.Network([12, 8, 3]), blobs(n=301), epochs=1, progress=False)
    with pytest.raises(ValueError, match="trained on other data"):
        other.load_state_dict(state)


def test_a_batch_size_beyond_the_rows_allocates_for_the_rows_only():
    """--batch-size 100000000 on a small data set: one batch of all rows, as batch = n."""
    ds = blobs(n=100)
    a, b = numrec.Network([12, 8, 3], seed=1), numrec.Network([12, 8, 3], seed=1)
    numrec.train(a, ds, epochs=2, batch_size=100_000_000, progress=False)
    numrec.train(b, ds, epochs=2, batch_size=90, progress=False)  # the 90 training rows
    np.testing.assert_array_equal(a.theta, b.theta)
