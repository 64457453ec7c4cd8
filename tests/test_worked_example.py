"""The seed project's hand-derived example (shared/seed/WORKED_EXAMPLE.md) through the
public API: activations and every gradient to within 1e-6."""

import numpy as np
import pytest

import numrec

W1 = [[-0.75, 0.5, -0.25], [0.25, -0.5, 0.75]]
W2 = [[-0.75, 0.75], [0.5, -0.5], [-0.25, 0.25]]
B1, B2 = [0, 1], [0.75, 0.5, 0.25]
A0 = [0.25, 0.5, 0.75]
Y = [0.0, 1.0, 0.0]


@pytest.fixture
def seed_net():
    net = numrec.Network([3, 2, 3], hidden="leaky_relu", alpha=0.2, output="sigmoid", loss="mse")
    net.weights = [W1, W2]
    net.biases = [B1, B2]
    return net


def test_forward_pass(seed_net):
    a2 = seed_net.forward(np.array(A0, np.float32))
    expected = 1 / (1 + np.exp(-np.array([1.8, -0.2, 0.6])))
    np.testing.assert_allclose(a2, expected, atol=1e-6)
    np.testing.assert_allclose(a2, [0.858, 0.450, 0.646], atol=5e-4)


def test_every_gradient(seed_net):
    dW, db = seed_net.gradients(np.array(A0, np.float32), np.array(Y))
    np.testing.assert_allclose(db[1], [0.208924, -0.272186, 0.295432], atol=1e-6)
    np.testing.assert_allclose(
        dW[1], [[-0.0052231, 0.287271], [0.00680465, -0.374256], [-0.0073858, 0.406219]], atol=1e-6
    )
    np.testing.assert_allclose(db[0], [-0.0733288, 0.366644], atol=1e-6)
    np.testing.assert_allclose(
        dW[0], [[-0.0183322, -0.0366644, -0.0549966], [0.091661, 0.183322, 0.274983]], atol=1e-6
    )


def test_label_and_one_hot_targets_agree(seed_net):
    x = np.array([A0], np.float32)
    by_label = seed_net.gradients(x, np.array([1]))
    by_row = seed_net.gradients(x, np.array([Y]))
    for a, b in zip(by_label[0] + by_label[1], by_row[0] + by_row[1]):
        np.testing.assert_array_equal(a, b)


def test_weights_are_views_into_one_buffer(seed_net):
    seed_net.weights[0][0, 0] = 42.0
    assert seed_net.theta[0] == 42.0
    assert seed_net.theta.dtype == np.float32 and seed_net.theta.size == 6 + 2 + 6 + 3
