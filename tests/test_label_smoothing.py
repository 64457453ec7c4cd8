"""Label smoothing (``TrainConfig.label_smoothing``): the training targets of softmax
cross-entropy become (1 - eps) one-hot + eps / k, PyTorch's definition
(``F.cross_entropy(logits, y, label_smoothing=eps)``). The kernels' loss and gradient are
checked against a float64 numpy oracle with finite differences and against torch; the
trainer (one process and MPI ranks' shares) against the same oracle; accuracy counts the
true labels; other losses refuse it by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, run
from engine_helpers import blobs
from oracle import finite_difference_gradients, loss
from test_distributed_parts import fake_comm
from test_gradients import random_net

import numrec
from numrec.distributed import MpiSteps
from numrec.kernels.step import NO_TARGETS, batch_gradient
from numrec.training import Trainer

SIZES = [5, 7, 6, 4]
ROWS = 50  # more than one shard of the batch (shards hold at least 32 rows)


def smoothed_targets(y, k, eps):
    return (1 - eps) * np.eye(k)[y] + eps / k


def data(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (ROWS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], ROWS)
    return X, y


def kernel_step(net, X, y, eps):
    """(mean loss, correct, dW, db) of one batch through the training kernels, with the
    network's codes carrying the smoothing as the trainer passes them."""
    n = len(X)
    ws = net.workspace(n)
    codes = net.codes()._replace(smoothing=np.float32(eps))
    labels, rows, one = y.astype(np.int64), np.arange(n), np.float32(1)
    total, correct = batch_gradient(X, labels, NO_TARGETS, rows, 0, n, n, one, net.params(),
                                    codes, net.plan(n), ws)  # fmt: skip
    g = ws.grad
    dW = [g[o : o + W.size].reshape(W.shape).copy() for o, W in zip(net.w_off, net.weights)]
    db = [g[o : o + b.size].copy() for o, b in zip(net.b_off, net.biases)]
    return total / n, correct, dW, db


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 0.95])
def test_loss_and_gradient_match_float64_finite_differences(eps):
    net = random_net(SIZES, "leaky_relu", "softmax", "cross_entropy", seed=3)
    X, y = data()
    T = smoothed_targets(y, SIZES[-1], eps)
    kw = dict(hidden="leaky_relu", alpha=0.1)
    mean_loss, correct, dW, db = kernel_step(net, X, y, eps)
    assert mean_loss == pytest.approx(loss(net.weights, net.biases, X, T, **kw), rel=1e-5)
    fW, fb = finite_difference_gradients(net.weights, net.biases, X, T, **kw)
    for got, want in zip(dW + db, fW + fb):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6)
    # accuracy is counted against the true labels, not the smoothed rows
    assert correct == int((net.forward(X).argmax(1) == y).sum())


def test_zero_smoothing_is_the_one_hot_loss_bit_for_bit():
    net = random_net(SIZES, "relu", "softmax", "cross_entropy", seed=4)
    X, y = data(2)
    loss0, _, dW0, db0 = kernel_step(net, X, y, 0.0)
    dW, db = net.gradients(X, y)  # the network's own codes: no smoothing
    for a, b in zip(dW0 + db0, dW + db):
        np.testing.assert_array_equal(a, b)
    assert loss0 == pytest.approx(net.loss_of(net.forward(X), y), rel=1e-6)
    loss1, *_ = kernel_step(net, X, y, 0.1)
    assert loss1 != pytest.approx(loss0, rel=1e-3)  # the smoothing does reach the kernel


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_loss_and_gradient_equal_pytorchs_label_smoothing(eps):
    torch = pytest.importorskip(
        "torch", reason="PyTorch is this test's oracle: pip install 'numrec[bench]'"
    )
    F = torch.nn.functional
    net = random_net(SIZES, "tanh", "softmax", "cross_entropy", seed=5)
    X, y = data(3)
    Ws = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in net.weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in net.biases]
    a = torch.tensor(X, dtype=torch.float64)
    for i, (W, b) in enumerate(zip(Ws, bs)):
        a = a @ W.T + b
        if i < len(Ws) - 1:
            a = torch.tanh(a)
    expected = F.cross_entropy(a, torch.tensor(y), label_smoothing=eps)
    expected.backward()
    mean_loss, _, dW, db = kernel_step(net, X, y, eps)
    assert mean_loss == pytest.approx(expected.item(), rel=1e-5)
    for got, p in zip(dW + db, Ws + bs):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-4, atol=2e-6)


def one_sgd_step(eps, **options):
    """One full-batch SGD step through the Trainer: its history and the network."""
    ds = blobs(n=ROWS, features=SIZES[0], classes=SIZES[-1], dtype=np.float32, seed=6)
    net = random_net(SIZES, "leaky_relu", "softmax", "cross_entropy", seed=7)
    start = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
    history = numrec.train(net, ds, epochs=1, batch_size=ROWS, optimizer="sgd", lr=0.5,
                           schedule="constant", validation_fraction=0, label_smoothing=eps,
                           progress=False, **options)  # fmt: skip
    return ds, net, start, history


def test_the_trainer_takes_a_smoothed_step_and_reports_plain_test_loss():
    eps = 0.2
    ds, net, (W0, b0), history = one_sgd_step(eps)
    X, y = ds.train.X, ds.train.y
    T = smoothed_targets(y, SIZES[-1], eps)
    kw = dict(hidden="leaky_relu", alpha=0.1)
    record = history[0]
    # the training loss is the smoothed one, at the weights the batch saw
    assert record["loss"] == pytest.approx(loss(W0, b0, X, T, **kw), rel=1e-5)
    fW, fb = finite_difference_gradients(W0, b0, X, T, **kw)
    for got, start, g in zip(net.weights + net.biases, W0 + b0, fW + fb):
        np.testing.assert_allclose(got, start - 0.5 * g, rtol=1e-4, atol=1e-5)
    # the training accuracy counts the true labels
    from oracle import forward

    P0 = forward(W0, b0, X, **kw)
    assert record["train_accuracy"] == pytest.approx((P0.argmax(1) == y).mean())
    # the test loss is the plain cross-entropy of the true labels (numrec-eval's)
    plain = net.evaluate(ds.test.X, ds.test.y)
    assert record["test_loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert record["test_loss"] == pytest.approx(
        loss(net.weights, net.biases, ds.test.X, np.eye(SIZES[-1])[ds.test.y], **kw), rel=1e-5
    )


def test_mpi_ranks_shares_add_up_to_the_smoothed_batch_gradient():
    """The MPI strategy calls the same kernels with the trainer's codes: each rank's share
    of a batch, summed, is the one-process smoothed gradient (and loss)."""
    eps, batch, size = 0.1, 40, 2
    ds = blobs(n=120)
    parts = [Trainer(numrec.Network([12, 7, 3], seed=2), ds, steps=MpiSteps(fake_comm(r, size)),
                     batch_size=batch, progress=False, seed=4, label_smoothing=eps)
             for r in range(size)]  # fmt: skip
    net = parts[0].net
    assert all(t.codes.smoothing == np.float32(eps) for t in parts)
    total = np.zeros(net.n_params)
    loss_sum = 0.0
    for t in parts:
        rows, starts = t.steps.epoch_rows(t, t.order(0))
        ws = t.steps.workspace(t.net, batch)
        part_loss, _ = batch_gradient(
            t.X, t.y, NO_TARGETS, rows, int(starts[0]), int(starts[1] - starts[0]), batch,
            t.scale, t.net.params(), t.codes, t.net.plan(batch), ws,
        )  # fmt: skip
        total += ws.grad
        loss_sum += part_loss
    rows_all = parts[0].train_rows[parts[0].order(0)[:batch]]
    X = ds.train.X[rows_all].astype(np.float32) / 255
    mean_loss, _, dW, db = kernel_step(net, X, ds.train.y[rows_all], eps)
    expected = np.zeros(net.n_params)
    for o, g in zip(list(net.w_off) + list(net.b_off), dW + db):
        expected[o : o + g.size] = g.ravel()
    np.testing.assert_allclose(total, expected, rtol=1e-5, atol=1e-7)
    assert loss_sum / batch == pytest.approx(mean_loss, rel=1e-5)


def test_the_setting_is_checked_and_refused_for_other_losses():
    for bad in (1.0, -0.1, 1.5, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="label_smoothing must be a number in \\[0, 1\\)"):
            numrec.TrainConfig(label_smoothing=bad)
    ds = blobs(n=40)
    for output, loss_name in (("sigmoid", "mse"), ("sigmoid", "cross_entropy")):
        net = numrec.Network([12, 5, 3], output=output, loss=loss_name)
        with pytest.raises(ValueError, match="label_smoothing=0.1 is for softmax outputs with "
                                             f"cross-entropy loss only.*'{output}'"):  # fmt: skip
            Trainer(net, ds, label_smoothing=0.1, progress=False)
        Trainer(net, ds, label_smoothing=0.0, progress=False)  # 0: nothing to refuse


def test_the_command_line_flag(tmp_path):
    env = cli_env(tmp_path)
    tiny = ("--dataset", "mnist-sample", "--hidden", "8", "--threads", "1", "--epochs", "1")
    result = run("numrec-train", *tiny, "--label-smoothing", "1", env=env)
    assert_usage_error(result, "--label-smoothing", "[0, 1)")
    summaries = {}
    for eps in ("0", "0.2"):
        result = run("numrec-train", *tiny, "--label-smoothing", eps, "--json", "--quiet",
                     env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        summaries[eps] = json.loads(result.stdout)
    # the smoothed targets' loss cannot fall below their entropy (about 0.5 nats here)
    assert summaries["0.2"]["final_train_loss"] > summaries["0"]["final_train_loss"] + 0.2
    assert summaries["0.2"]["test_accuracy"] > 0.5
    result = run("numrec-train", *tiny, "--label-smoothing", "0.1", "--output", "sigmoid",
                 env=env)  # fmt: skip
    assert_usage_error(result, "label_smoothing", "softmax")
