"""Forward passes and gradients against the float64 numpy oracle (tests/oracle.py):
values, and central finite differences for every hidden activation x output/loss pair."""

import numpy as np
import pytest
from oracle import finite_difference_gradients, forward

import numrec

PAIRS = [("softmax", "cross_entropy"), ("sigmoid", "mse"), ("sigmoid", "cross_entropy")]
HIDDEN = ["leaky_relu", "relu", "tanh", "sigmoid"]


def random_net(sizes, hidden, output, loss, seed):
    net = numrec.Network(
        sizes, hidden=hidden, alpha=0.1, output=output, loss=loss, init="glorot", seed=seed
    )
    rng = np.random.default_rng(seed)
    for b in net.biases:  # non-zero biases, so they are exercised too
        b[:] = rng.normal(0, 0.3, b.shape)
    return net


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", PAIRS)
@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 5, 4, 3]], ids=["3-layer", "4-layer"])
def test_gradients_match_finite_differences(hidden, output, loss, sizes):
    net = random_net(sizes, hidden, output, loss, seed=len(sizes))
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (7, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], 7)
    T = np.eye(sizes[-1])[y]
    kw = dict(hidden=hidden, alpha=0.1, output=output, kind=loss)
    fd_W, fd_b = finite_difference_gradients(net.weights, net.biases, X, T, **kw)
    dW, db = net.gradients(X, y)
    for got, want in zip(dW + db, fd_W + fd_b):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-6)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", PAIRS)
def test_forward_matches_oracle(hidden, output, loss):
    net = random_net([8, 6, 5, 4], hidden, output, loss, seed=3)
    X = np.random.default_rng(2).normal(0, 1, (300, 8)).astype(np.float32)  # > one block
    want = forward(net.weights, net.biases, X, hidden, 0.1, output)
    np.testing.assert_allclose(net.forward(X), want, rtol=1e-5, atol=1e-6)


def test_uint8_rows_are_scaled_like_training_data():
    net = numrec.Network([4, 3, 2], seed=0)
    X8 = np.array([[0, 64, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(
        net.forward(X8), net.forward(X8.astype(np.float32) / np.float32(255))
    )


def test_mean_over_the_batch():
    """The gradient of a batch is the mean of the per-sample gradients."""
    net = random_net([5, 4, 3], "tanh", "softmax", "cross_entropy", seed=0)
    X = np.random.default_rng(0).normal(size=(70, 5)).astype(np.float32)  # several shards
    y = np.arange(70) % 3
    dW, db = net.gradients(X, y)
    singles = [net.gradients(X[i], y[i : i + 1]) for i in range(70)]
    np.testing.assert_allclose(
        dW[0], np.mean([s[0][0] for s in singles], axis=0), rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(
        db[1], np.mean([s[1][1] for s in singles], axis=0), rtol=1e-4, atol=1e-7
    )


def test_predict_and_evaluate():
    net = random_net([5, 4, 3], "relu", "softmax", "cross_entropy", seed=0)
    X = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
    P = forward(net.weights, net.biases, X, "relu", 0.1, "softmax")
    y = P.argmax(1)
    np.testing.assert_array_equal(net.predict(X), y)
    result = net.evaluate(X, y)
    assert result["accuracy"] == 1.0 and result["n"] == 50
    assert result["loss"] == pytest.approx(-np.log(P.max(1)).mean(), rel=1e-5)
    assert net.predict(X[0]) == y[0]


def backprop64(net, X, y):
    """Leaky-ReLU + softmax/cross-entropy gradients by hand in float64 (the mean over rows)."""
    Ws = [np.asarray(W, np.float64) for W in net.weights]
    bs = [np.asarray(b, np.float64) for b in net.biases]
    acts = [np.asarray(X, np.float64)]
    for W, b in zip(Ws[:-1], bs[:-1]):
        z = acts[-1] @ W.T + b
        acts.append(np.where(z > 0, z, net.alpha * z))
    P = forward(net.weights, net.biases, X, "leaky_relu", net.alpha, "softmax")
    delta = (P - np.eye(P.shape[1])[y]) / len(y)
    dW, db = [], []
    for l in range(len(Ws) - 1, -1, -1):
        dW.insert(0, delta.T @ acts[l])
        db.insert(0, delta.sum(axis=0))
        if l:
            delta = (delta @ Ws[l]) * np.where(acts[l] > 0, 1.0, net.alpha)
    return dW, db


# 300-240 is 72,000 weights and 20-4000 80,000: two gradient blocks of output units each
@pytest.mark.parametrize("sizes", [[300, 240, 5], [20, 4000, 3]], ids=["wide", "tall"])
def test_layers_split_into_blocks_match_backprop_and_update_every_weight(sizes):
    from numrec.kernels.step import task_plan

    assert len(task_plan(sizes)) == 3  # the big layer in two blocks, the output in one
    net = numrec.Network(sizes, alpha=0.1, seed=4)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (37, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], 37)
    dW, db = net.gradients(X, y)
    want_W, want_b = backprop64(net, X, y)
    for got, want in zip(dW + db, want_W + want_b):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # one full-batch SGD step moves every weight and bias by -lr times its gradient
    expected = net.copy()
    expected.weights = [W - 0.5 * g for W, g in zip(net.weights, dW)]
    expected.biases = [b - 0.5 * g for b, g in zip(net.biases, db)]
    data = numrec.Dataset("one-batch", numrec.Split(X, y), numrec.Split(X[:0], y[:0]),
                          [str(c) for c in range(sizes[-1])])  # fmt: skip
    numrec.train(net, data, epochs=1, batch_size=37, optimizer="sgd", lr=0.5,
                 schedule="constant", validation_fraction=0, progress=False)  # fmt: skip
    np.testing.assert_allclose(net.theta, expected.theta, rtol=1e-5, atol=1e-6)
