"""numrec.train's per-epoch records, the on_epoch callback and target_accuracy."""

import numpy as np
from engine_helpers import blobs

import numrec
from numrec.training import Trainer


def test_history_records_and_callback():
    seen = []
    net = numrec.Network([12, 8, 3], seed=0)
    trainer = Trainer(net, blobs(), epochs=3, batch_size=32, progress=False, on_epoch=seen.append)
    history = trainer.run()
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert seen == history
    for h in history:
        assert {"epoch", "loss", "test_accuracy", "seconds", "samples_per_s"} <= set(h)
        assert h["seconds"] > 0 and h["samples_per_s"] > 0
        assert 0 <= h["test_accuracy"] <= 1
    assert history[-1]["loss"] < history[0]["loss"]


def test_target_accuracy_stops_training():
    net = numrec.Network([12, 8, 3], seed=0)
    history = numrec.train(net, blobs(), epochs=50, batch_size=16, target_accuracy=0.9,
                           progress=False)  # fmt: skip
    assert len(history) < 50
    assert history[-1]["test_accuracy"] >= 0.9 and history[-1]["target_reached"]
    assert all(h["test_accuracy"] < 0.9 for h in history[:-1])


def test_zero_epochs_leave_the_weights_alone():
    net = numrec.Network([12, 8, 3], seed=0)
    before = net.theta.copy()
    assert numrec.train(net, blobs(), epochs=0, progress=False) == []
    np.testing.assert_array_equal(net.theta, before)
