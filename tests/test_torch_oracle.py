"""numrec against PyTorch, as micrograd's tests check their engine: the same network built
in torch (float64, from numrec's weights) must give the same outputs, mean loss and
gradients for every hidden activation x output/loss pair, and three steps of every
optimizer with weight decay must land on the weights torch.optim reaches.

Which torch expression each numrec loss equals (mean over rows, summed over outputs):
- softmax + cross_entropy: F.cross_entropy(logits, labels), reduction "mean"
  (with target rows, F.cross_entropy(logits, probabilities)).
- sigmoid + mse: F.mse_loss(P, T, reduction="sum") / n - the seed's quadratic cost
  sum_j (p_j - t_j)^2 per row, not torch's default mean over every element.
- sigmoid + cross_entropy: F.binary_cross_entropy(P, T, reduction="sum") / n, i.e.
  binary cross-entropy summed over the outputs (one independent yes/no per output),
  equal to F.binary_cross_entropy_with_logits(logits, T, reduction="sum") / n.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from test_gradients import random_net

import numrec
from numrec.kernels.codes import HIDDEN, OPTIMIZERS, OUTPUT
from numrec.optim import Optimizer

torch = pytest.importorskip(
    "torch", reason="PyTorch is the oracle of these tests: pip install 'numrec[bench]'"
)
F = torch.nn.functional

SIZES = [5, 7, 6, 4]  # two hidden layers
ALPHA = 0.1  # random_net's leaky-ReLU slope: not the default 0.01, so alpha must reach torch
ROWS = 50  # more than one shard of the batch (shards hold at least 32 rows)

TORCH_HIDDEN = {
    "leaky_relu": lambda z: F.leaky_relu(z, negative_slope=ALPHA),
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
TORCH_OUTPUT = {
    "softmax": lambda z: F.softmax(z, dim=1),
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
}


def torch_loss(output: str, loss: str, logits, targets, delta: float = 1.0):
    """The torch loss numrec's (output, loss) pair equals: ``targets`` are int64 labels
    or float target rows. See the module docstring for why each one is this expression.
    The linear (regression) outputs are torch's default reduction, the mean over rows and
    outputs: MSELoss, L1Loss, HuberLoss(delta)."""
    n = logits.shape[0]
    if output == "linear":
        losses = {"mse": F.mse_loss, "mae": F.l1_loss,
                  "huber": lambda z, t: F.huber_loss(z, t, delta=delta)}  # fmt: skip
        return losses[loss](logits, targets)
    if (output, loss) == ("softmax", "cross_entropy"):
        return F.cross_entropy(logits, targets)  # labels, or probability rows
    T = targets
    if T.dtype == torch.int64:
        T = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    P = torch.sigmoid(logits)
    if (output, loss) == ("sigmoid", "mse"):
        return F.mse_loss(P, T, reduction="sum") / n
    if (output, loss) == ("sigmoid", "cross_entropy"):
        return F.binary_cross_entropy(P, T, reduction="sum") / n
    raise KeyError(f"no torch oracle for numrec's {output} + {loss}: add it here")


def torch_params(net: numrec.Network) -> list:
    """[W0, b0, W1, b1, ...] as float64 leaf tensors holding numrec's float32 values."""
    params = []
    for W, b in zip(net.weights, net.biases):
        params += [torch.tensor(W, dtype=torch.float64, requires_grad=True),
                   torch.tensor(b, dtype=torch.float64, requires_grad=True)]  # fmt: skip
    return params


def torch_logits(params, X: np.ndarray, hidden: str):
    """The output layer's pre-activations z = W a + b (torch's Linear: a @ W.T + b)."""
    a = torch.tensor(X, dtype=torch.float64)
    layers = list(zip(params[0::2], params[1::2]))
    for l, (W, b) in enumerate(layers):
        z = F.linear(a, W, b)
        a = TORCH_HIDDEN[hidden](z) if l < len(layers) - 1 else z
    return a


def target_rows(output: str, rng, n: int, k: int) -> np.ndarray:
    """Soft targets a pair accepts: probability rows for softmax (the kernel's P - T is
    the cross-entropy gradient only when each row sums to 1), anything in [0, 1] for
    sigmoid (mse and binary cross-entropy both take soft targets)."""
    if output == "softmax":
        return rng.dirichlet(np.ones(k), n).astype(np.float32)
    return rng.uniform(0, 1, (n, k)).astype(np.float32)


def assert_gradients_match(net, X, Y, torch_targets, hidden):
    params = torch_params(net)
    value = torch_loss(net.output, net.loss, torch_logits(params, X, hidden), torch_targets,
                       net.huber_delta)  # fmt: skip
    value.backward()
    want = [p.grad.numpy() for p in params]
    dW, db = net.gradients(X, Y)
    got = [g for pair in zip(dW, db) for g in pair]
    # float32 kernels against float64 autograd: sums of a few dozen float32 products,
    # each rounded to ~6e-8 relative; measured at most 3.2e-7 of the largest gradient
    scale = max(float(np.abs(w).max()) for w in want)
    for got_l, want_l in zip(got, want):
        np.testing.assert_allclose(got_l, want_l, rtol=1e-4, atol=1e-5 * scale)
    return value.item()


@pytest.mark.parametrize("hidden", list(HIDDEN))
@pytest.mark.parametrize("output,loss", list(OUTPUT))
def test_forward_loss_and_gradients_match_pytorch(hidden, output, loss):
    net = random_net(SIZES, hidden, output, loss, seed=5)
    assert net.alpha == ALPHA
    rng = np.random.default_rng(7)
    X = rng.normal(0, 1, (ROWS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], ROWS)

    params = torch_params(net)
    logits = torch_logits(params, X, hidden)
    want_P = TORCH_OUTPUT[output](logits).detach().numpy()
    np.testing.assert_allclose(net.forward(X), want_P, rtol=1e-5, atol=1e-7)

    if output == "linear":  # regression: real-valued target rows, no labels
        T = rng.normal(0, 2, (ROWS, SIZES[-1])).astype(np.float32)
        torch_T = torch.tensor(T, dtype=torch.float64)
        want_loss = torch_loss(output, loss, logits, torch_T, net.huber_delta).item()
        assert net.loss_of(net.forward(X), T) == pytest.approx(want_loss, rel=1e-5)
        assert assert_gradients_match(net, X, T, torch_T, hidden) == pytest.approx(want_loss)
        return

    labels = torch.tensor(y, dtype=torch.int64)
    want_loss = torch_loss(output, loss, logits, labels).item()
    assert net.evaluate(X, y)["loss"] == pytest.approx(want_loss, rel=1e-5)
    assert net.loss_of(net.forward(X), y) == pytest.approx(want_loss, rel=1e-5)

    # gradients of the mean loss: from int labels (one-hot targets) and from target rows
    assert assert_gradients_match(net, X, y, labels, hidden) == pytest.approx(want_loss)
    T = target_rows(output, rng, ROWS, SIZES[-1])
    assert_gradients_match(net, X, T, torch.tensor(T, dtype=torch.float64), hidden)


def without_validation(**options) -> dict:
    """``options`` plus validation_fraction=0 where numrec.TrainConfig takes it: a
    validation split would hold back rows, and the oracle needs them all in the batch."""
    config = getattr(numrec, "TrainConfig", None)
    if config is not None and "validation_fraction" in inspect.signature(config).parameters:
        options["validation_fraction"] = 0
    return options


TORCH_OPTIMIZERS = {
    # numrec's momentum keeps v <- mu v - lr g, theta += v; torch's keeps b <- mu b + g,
    # theta -= lr b: v = -lr b while lr is constant, so the weights are the same
    "sgd": lambda p, o: torch.optim.SGD(p, lr=o.lr, weight_decay=o.weight_decay),
    "momentum": lambda p, o: torch.optim.SGD(
        p, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay
    ),
    "nesterov": lambda p, o: torch.optim.SGD(
        p, lr=o.lr, momentum=o.momentum, nesterov=True, weight_decay=o.weight_decay
    ),
    "adam": lambda p, o: torch.optim.Adam(
        p, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay
    ),
    "adamw": lambda p, o: torch.optim.AdamW(
        p, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_steps_of_each_optimizer_match_torch_optim(name):
    net = random_net(SIZES, "tanh", "softmax", "cross_entropy", seed=2)
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (48, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], 48)
    classes = [str(c) for c in range(SIZES[-1])]
    data = numrec.Dataset("oracle", numrec.Split(X, y), numrec.Split(X[:0], y[:0]), classes)
    lr = 0.01 if name.startswith("adam") else 0.1
    settings = Optimizer(name, lr=lr, momentum=0.9, weight_decay=0.05)

    params = torch_params(net)
    opt = TORCH_OPTIMIZERS[name](params, settings)
    labels = torch.tensor(y, dtype=torch.int64)
    torch_losses = []
    for _ in range(3):
        opt.zero_grad()
        value = F.cross_entropy(torch_logits(params, X, "tanh"), labels)
        torch_losses.append(value.item())
        value.backward()
        opt.step()

    # one mini-batch holding every row: each epoch is exactly one update, and the
    # gradient is the batch mean whatever the shuffled order
    history = numrec.train(
        net,
        data,
        **without_validation(
            epochs=3,
            batch_size=len(X),
            optimizer=name,
            lr=lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
            schedule="constant",
            progress=False,
            seed=0,
        ),
    )
    # each epoch's training loss is the kernel's, at the weights before that epoch's step
    np.testing.assert_allclose([r["loss"] for r in history], torch_losses, rtol=1e-5)
    want = [p.detach().numpy() for p in params]
    got = [a for pair in zip(net.weights, net.biases) for a in pair]
    # float32 updates against float64 torch.optim: measured at most 9e-8 apart for the
    # SGD family and 4.3e-7 for Adam/AdamW, which divide by sqrt(v) ~ |g| and so magnify
    # the rounding of small gradients; 2e-6 is still 1e-4 of Adam's three steps (~3 lr)
    # and allows for another machine's shard split (it follows the core count). Mixing
    # up Adam and AdamW, or momentum and Nesterov, moves weights by 2e-2 or more.
    atol = 2e-6 if name.startswith("adam") else 1e-6
    for got_l, want_l in zip(got, want):
        np.testing.assert_allclose(got_l, want_l, rtol=1e-5, atol=atol)
