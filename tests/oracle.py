"""A plain-numpy, float64 reference network: the oracle the compiled kernels are tested
against. Written for clarity, not speed; it shares no code with numrec's kernels."""

from __future__ import annotations

import numpy as np

HIDDEN = {
    "leaky_relu": lambda z, alpha: np.where(z > 0, z, alpha * z),
    "relu": lambda z, alpha: np.maximum(z, 0.0),
    "tanh": lambda z, alpha: np.tanh(z),
    "sigmoid": lambda z, alpha: 1.0 / (1.0 + np.exp(-z)),
}


def forward(weights, biases, X, hidden="leaky_relu", alpha=0.01, output="softmax"):
    a = np.asarray(X, dtype=np.float64)
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = a @ np.asarray(W, np.float64).T + np.asarray(b, np.float64)
        if l < len(weights) - 1:
            a = HIDDEN[hidden](z, alpha)
        elif output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        elif output == "linear":
            a = z
        else:
            a = 1.0 / (1.0 + np.exp(-z))
    return a


def loss(
    weights, biases, X, T, hidden="leaky_relu", alpha=0.01, output="softmax", kind="cross_entropy",
    delta=1.0, w=None,
):  # fmt: skip
    """Mean over rows of the per-sample loss (the quantity whose gradient numrec reports);
    with per-row weights ``w`` the weighted mean sum(w l) / sum(w). Linear outputs: the
    mean over outputs of the squared, absolute or Huber(delta) error."""
    P = forward(weights, biases, X, hidden, alpha, output)
    if output == "linear":
        d = P - T
        per = {"mse": d * d, "mae": np.abs(d),
               "huber": np.where(np.abs(d) <= delta, 0.5 * d * d,
                                 delta * (np.abs(d) - 0.5 * delta))}[kind]  # fmt: skip
        rows = per.mean(axis=1)
    elif kind == "mse":
        rows = ((P - T) ** 2).sum(axis=1)
    elif output == "softmax":
        rows = -(T * np.log(P)).sum(axis=1)
    else:
        rows = -(T * np.log(P) + (1 - T) * np.log(1 - P)).sum(axis=1)
    if w is None:
        return float(rows.mean())
    return float((np.asarray(w, np.float64) * rows).sum() / np.sum(w, dtype=np.float64))


def finite_difference_gradients(weights, biases, X, T, eps=1e-6, **kw):
    """Central differences of ``loss`` with respect to every weight and bias (float64)."""
    weights = [np.array(W, dtype=np.float64) for W in weights]
    biases = [np.array(b, dtype=np.float64) for b in biases]
    grads = []
    for params in (weights, biases):
        out = []
        for p in params:
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + eps
                up = loss(weights, biases, X, T, **kw)
                p[idx] = old - eps
                down = loss(weights, biases, X, T, **kw)
                p[idx] = old
                g[idx] = (up - down) / (2 * eps)
            out.append(g)
        grads.append(out)
    return grads[0], grads[1]
