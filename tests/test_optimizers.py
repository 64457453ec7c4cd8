"""Each optimizer's first three updates against a plain-numpy implementation of its
formula, and the learning-rate schedules against their definitions."""

import numpy as np
import pytest
from engine_helpers import blobs

import numrec
from numrec.optim import Optimizer
from numrec.training import Trainer


def numpy_step(name, theta, g, state, lr, mu=0.9, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    """The update rules as written in numrec.optim's docstring, in float64."""
    t = state["t"] = state.get("t", 0) + 1
    m = state.setdefault("m", np.zeros_like(theta))
    v = state.setdefault("v", np.zeros_like(theta))
    if name == "adamw":
        theta = theta - lr * wd * theta
    else:
        g = g + wd * theta
    if name == "sgd":
        return theta - lr * g
    if name in ("momentum", "nesterov"):
        m[:] = mu * m - lr * g
        return theta + (m if name == "momentum" else mu * m - lr * g)
    m[:] = b1 * m + (1 - b1) * g
    v[:] = b2 * v + (1 - b2) * g * g
    return theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_first_three_updates(name, wd):
    ds = blobs(n=48, features=6, classes=3, dtype=np.float32)
    net = numrec.Network([6, 5, 3], hidden="tanh", seed=1)
    # one mini-batch holding every row: each epoch is exactly one update
    trainer = Trainer(
        net,
        ds,
        epochs=0,
        batch_size=48,
        optimizer=name,
        lr=0.1,
        momentum=0.9,
        weight_decay=wd,
        schedule="constant",
        validation_fraction=0,  # every row in the one batch
        progress=False,
    )
    theta = net.theta.astype(np.float64)
    state = {}
    for k in range(1, 4):
        g_W, g_b = net.gradients(ds.train.X, ds.train.y)
        g = np.zeros_like(theta)
        for o, gw in zip(net.w_off, g_W):
            g[o : o + gw.size] = gw.ravel()
        for o, gb in zip(net.b_off, g_b):
            g[o : o + gb.size] = gb
        theta = numpy_step(name, theta, g, state, lr=0.1, wd=wd)
        trainer.epochs = k
        trainer.run()
        # Adam divides by |g|: where g is tiny its float32 rounding (the engine sums the
        # batch in shuffled order) shows; 1e-5 is still 1e-4 of a step of lr = 0.1
        atol = 1e-5 if name.startswith("adam") else 1e-6
        np.testing.assert_allclose(net.theta, theta, rtol=1e-5, atol=atol)
        theta = net.theta.astype(np.float64)  # follow the engine, so errors cannot compound


def test_schedules():
    step = Optimizer("sgd", lr=1.0, schedule="step", step_size=2, gamma=0.5)
    assert [step.learning_rates(e, 3, 6)[0] for e in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    cos = Optimizer("sgd", lr=1.0, schedule="cosine", min_lr=0.1)
    lrs = np.concatenate([cos.learning_rates(e, 4, 2) for e in range(2)])
    t = np.arange(8)
    np.testing.assert_allclose(lrs, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * t / 8)))
    assert np.all(Optimizer(lr=0.3).learning_rates(5, 7, 9) == 0.3)


def test_schedule_reaches_the_kernel():
    """With a step schedule, SGD's second epoch moves the weights by half as much."""
    ds = blobs(n=32, features=4, classes=2, dtype=np.float32)
    net = numrec.Network([4, 2], seed=0)
    tr = Trainer(
        net,
        ds,
        epochs=0,
        batch_size=32,
        optimizer="sgd",
        lr=0.5,
        schedule="step",
        step_size=1,
        gamma=0.5,
        validation_fraction=0,
        progress=False,
    )
    before = net.theta.copy()
    g1 = np.concatenate(
        [a.ravel() for pair in zip(*net.gradients(ds.train.X, ds.train.y)) for a in pair]
    )
    tr.epochs = 1
    tr.run()
    np.testing.assert_allclose(before - net.theta, 0.5 * g1, rtol=1e-5, atol=1e-7)
    g2 = np.concatenate(
        [a.ravel() for pair in zip(*net.gradients(ds.train.X, ds.train.y)) for a in pair]
    )
    mid = net.theta.copy()
    tr.epochs = 2
    tr.run()
    np.testing.assert_allclose(mid - net.theta, 0.25 * g2, rtol=1e-5, atol=1e-7)
