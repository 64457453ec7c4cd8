"""Bad input raises a ValueError that names the problem; a diverging run stops loudly."""

import numpy as np
import pytest
from engine_helpers import blobs

import numrec
from numrec.training import TrainingDiverged


@pytest.fixture(scope="module")
def net():
    return numrec.Network([12, 8, 3], seed=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sizes=[4]), "at least 2"),
        (dict(sizes=[4, 0, 2]), "positive"),
        (dict(sizes=[4, 2], hidden="swish"), "hidden activation 'swish'.*leaky_relu"),
        (dict(sizes=[4, 2], output="tanh"), "output activation 'tanh'"),
        (dict(sizes=[4, 2], output="linear", loss="cross_entropy"), "not supported"),
        (dict(sizes=[4, 2], output="linear", loss="huber", huber_delta=0), "huber_delta"),
        (dict(sizes=[4, 2], loss="hinge"), "loss 'hinge'"),
        (dict(sizes=[4, 2], output="softmax", loss="mse"), "not supported"),
        (dict(sizes=[4, 2], init="zeros"), "init 'zeros'"),
    ],
)
def test_bad_network_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        numrec.Network(**kwargs)


def test_bad_inputs(net):
    with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
        net.forward(np.zeros((3, 11), np.float32))
    X = np.zeros((3, 12), np.float32)
    X[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or inf.*row 1"):
        net.predict(X)
    with pytest.raises(ValueError, match="label 3 is out of range.*3 outputs"):
        net.gradients(np.zeros((2, 12), np.float32), [0, 3])
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        net.evaluate(np.zeros((2, 12), np.float32), [0, 1, 2])
    with pytest.raises(ValueError, match="at least one row"):
        net.gradients(np.zeros((0, 12), np.float32), [])


def test_bad_training_settings(net):
    ds = blobs()
    with pytest.raises(ValueError, match="optimizer must be one of sgd, momentum.*'adagrad'"):
        numrec.train(net, ds, optimizer="adagrad", progress=False)
    with pytest.raises(ValueError, match="schedule must be one of constant.*'linear'"):
        numrec.train(net, ds, schedule="linear", progress=False)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        numrec.train(net, ds, lr=-1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        numrec.train(net, ds, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        numrec.train(net, ds, epochs=-1, progress=False)
    with pytest.raises(ValueError, match="threads must be between 1"):
        numrec.train(net, ds, threads=999, progress=False)
    with pytest.raises(ValueError, match="12 features but the network takes 5 inputs"):
        numrec.train(numrec.Network([5, 3]), ds, progress=False)
    with pytest.raises(ValueError, match="label 2 is out of range"):
        numrec.train(numrec.Network([12, 2]), ds, progress=False)


def test_nan_in_training_data(net):
    ds = blobs(dtype=np.float32)
    ds.train.X[5, 5] = np.inf
    with pytest.raises(ValueError, match="train rows contain NaN or inf"):
        numrec.train(net, ds, progress=False)


def test_divergence_is_reported_with_the_epoch_and_a_hint():
    ds = blobs(dtype=np.float32)
    net = numrec.Network([12, 8, 3], output="sigmoid", loss="cross_entropy", seed=0)
    ds.train.X[:] *= 1e4  # huge inputs and a huge step: the loss overflows
    with pytest.raises(TrainingDiverged, match="epoch 1.*inputs are not scaled.*learning rate"):
        numrec.train(net, ds, epochs=3, lr=1e20, progress=False)


def test_unknown_settings_and_wrong_types_are_refused_by_name(net):
    ds = blobs()
    with pytest.raises(TypeError, match="unknown setting.*learning_rate"):
        numrec.train(net, ds, learning_rate=0.1, progress=False)
    with pytest.raises(ValueError, match="lr must be a positive number, got 'x'"):
        numrec.TrainConfig(lr="x")
    with pytest.raises(ValueError, match="momentum must be a number in"):
        numrec.TrainConfig(momentum=None)
    with pytest.raises(ValueError, match="threads must be a whole number"):
        numrec.TrainConfig(threads="2")
    with pytest.raises(ValueError, match="restore_best must be true or false"):
        numrec.TrainConfig(restore_best=1)
