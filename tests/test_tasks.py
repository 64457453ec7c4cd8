"""Regression, multi-label and weighted training in the engine: each loss and its gradient
against float64 finite differences (tests/oracle.py) and against the PyTorch loss it
documents (kernels/codes.py), weights as sum(w l) / sum(w), the metrics of each task, and
bit-identical weights whatever the thread count."""

import numpy as np
import pytest
from engine_helpers import blobs
from oracle import finite_difference_gradients, loss

import numrec
from numrec import metrics
from numrec.training import class_weights

LINEAR = ["mse", "mae", "huber"]
DELTA = 0.7  # a Huber delta that is not the default, so that it is seen to be used


def random_net(sizes, output, loss_name, seed=0, hidden="leaky_relu", **kw):
    net = numrec.Network(sizes, hidden=hidden, alpha=0.1, output=output, loss=loss_name,
                         init="glorot", seed=seed, **kw)  # fmt: skip
    rng = np.random.default_rng(seed)
    for b in net.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    return net


def torch_loss_and_grads(net, X, target, make_loss, logits=False):
    """(loss, [dW...], [db...]) of ``make_loss(output, target)`` in torch, float64."""
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'numrec[bench]'")
    params = []
    a = torch.tensor(X, dtype=torch.float64)
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
        bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        params.append((Wt, bt))
        z = a @ Wt.T + bt
        if l < net.n_layers - 1:
            a = torch.nn.functional.leaky_relu(z, net.alpha)
        elif logits or net.output == "linear":
            a = z
        elif net.output == "sigmoid":
            a = torch.sigmoid(z)
        else:
            a = torch.softmax(z, 1)
    value = make_loss(a, target)
    value.backward()
    return (value.item(), [W.grad.numpy() for W, _ in params],
            [b.grad.numpy() for _, b in params])  # fmt: skip


@pytest.mark.parametrize("kind", LINEAR)
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_linear_losses_match_finite_differences(kind, weighted):
    net = random_net([5, 6, 4, 3], "linear", kind, seed=2, huber_delta=DELTA)
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (9, 5)).astype(np.float32)
    T = rng.normal(0, 1.5, (9, 3)).astype(np.float32)  # errors on both sides of delta
    w = rng.uniform(0.2, 3.0, 9).astype(np.float32) if weighted else None
    kw = dict(hidden="leaky_relu", alpha=0.1, output="linear", kind=kind, delta=DELTA, w=w)
    fd_W, fd_b = finite_difference_gradients(net.weights, net.biases, X, T, **kw)
    dW, db = net.gradients(X, T, sample_weight=w)
    for got, want in zip(dW + db, fd_W + fd_b):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-6)
    want = loss(net.weights, net.biases, X, T, **kw)
    assert net.loss_of(net.forward(X), T, w) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("kind", LINEAR)
def test_linear_losses_are_torchs(kind):
    """mse = MSELoss(), mae = L1Loss(), huber = HuberLoss(delta): mean over rows and outputs."""
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'numrec[bench]'")
    make = {"mse": torch.nn.MSELoss(), "mae": torch.nn.L1Loss(),
            "huber": torch.nn.HuberLoss(delta=DELTA)}[kind]  # fmt: skip
    net = random_net([5, 8, 3], "linear", kind, seed=4, huber_delta=DELTA)
    rng = np.random.default_rng(5)
    X = rng.normal(0, 1, (40, 5)).astype(np.float32)  # 40 rows: two shards
    T = rng.normal(0, 1.5, (40, 3)).astype(np.float32)
    want, tW, tb = torch_loss_and_grads(net, X, torch.tensor(T, dtype=torch.float64), make)
    assert net.loss_of(net.forward(X), T) == pytest.approx(want, rel=1e-5)
    dW, db = net.gradients(X, T)
    for got, ref in zip(dW + db, tW + tb):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_multilabel_loss_is_torchs_bce_summed_over_labels():
    """sigmoid + cross_entropy = BCEWithLogitsLoss(reduction="sum") / rows, with weights
    the weighted mean over rows of each row's sum over labels."""
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'numrec[bench]'")
    net = random_net([6, 7, 4], "sigmoid", "cross_entropy", seed=6)
    rng = np.random.default_rng(7)
    X = rng.normal(0, 1, (33, 6)).astype(np.float32)
    T = (rng.random((33, 4)) < 0.4).astype(np.float32)
    w = rng.uniform(0.5, 2, 33).astype(np.float32)
    wt = torch.tensor(w, dtype=torch.float64)

    def bce(z, t):
        rows = torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none")
        return (rows.sum(1) * wt).sum() / wt.sum()

    want, tW, tb = torch_loss_and_grads(net, X, torch.tensor(T, dtype=torch.float64), bce,
                                        logits=True)  # fmt: skip
    assert net.loss_of(net.forward(X), T, w) == pytest.approx(want, rel=1e-5)
    dW, db = net.gradients(X, T, sample_weight=w)
    for got, ref in zip(dW + db, tW + tb):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_class_weights_are_torchs_cross_entropy_weight():
    """Rows weighted by their class's weight: CrossEntropyLoss(weight=w), loss and
    gradient (to 1e-5), and class_weight="balanced" is scikit-learn's."""
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'numrec[bench]'")
    net = random_net([6, 9, 4], "softmax", "cross_entropy", seed=8)
    rng = np.random.default_rng(9)
    X = rng.normal(0, 1, (50, 6)).astype(np.float32)
    y = rng.choice(4, 50, p=[0.05, 0.25, 0.3, 0.4])
    cw = class_weights("balanced", y, 4, [])
    sklearn = pytest.importorskip(
        "sklearn.utils.class_weight", reason="needs scikit-learn: pip install 'numrec[sklearn]'"
    )
    np.testing.assert_allclose(cw, sklearn.compute_class_weight("balanced", classes=np.arange(4),
                                                                y=y))  # fmt: skip
    make = torch.nn.CrossEntropyLoss(weight=torch.tensor(cw, dtype=torch.float64))
    want, tW, tb = torch_loss_and_grads(net, X, torch.tensor(y), make, logits=True)
    w = cw[y].astype(np.float32)
    assert net.loss_of(net.forward(X), y, w) == pytest.approx(want, rel=1e-5)
    dW, db = net.gradients(X, y, sample_weight=w)
    for got, ref in zip(dW + db, tW + tb):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_class_weight_trains_the_weighted_mean_gradient():
    """One full batch of plain SGD with class_weight="balanced" moves theta by
    -lr x the weighted mean gradient (as CrossEntropyLoss(weight=) computes it)."""
    ds = blobs(n=90, features=6, classes=3, seed=1, dtype=np.float32)
    net = random_net([6, 5, 3], "softmax", "cross_entropy", seed=3)
    cw = class_weights("balanced", ds.train.y, 3, [])
    dW, db = net.gradients(ds.train.X, ds.train.y, sample_weight=cw[ds.train.y])
    before = [W.copy() for W in net.weights] + [b.copy() for b in net.biases]
    numrec.train(net, ds, epochs=1, batch_size=90, optimizer="sgd", lr=0.5, schedule="constant",
                 validation_fraction=0, class_weight="balanced", progress=False)  # fmt: skip
    for old, new, g in zip(before, net.weights + net.biases, dW + db):
        np.testing.assert_allclose(new, old - 0.5 * g, rtol=1e-5, atol=1e-6)


def test_unit_weights_change_nothing():
    """Weights of 1 train bit for bit what no weights train."""
    ds = blobs(n=150, features=8, classes=3, seed=2)
    thetas = []
    for weights in (None, np.ones(150, np.float32)):
        data = numrec.Dataset("w", numrec.Split(ds.train.X, ds.train.y, weights), ds.test,
                              ds.class_names)  # fmt: skip
        net = numrec.Network([8, 10, 3], seed=1)
        numrec.train(net, data, epochs=2, batch_size=40, progress=False)
        thetas.append(net.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])


def regression_data(n=240, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 6)).astype(np.float32)
    Y = np.tanh(X @ rng.normal(0, 0.7, (6, outputs))) * 40 + 200  # user units: not standard
    Y = Y.astype(np.float32)
    k = int(0.8 * n)
    return numrec.Dataset("reg", numrec.Split(X[:k], Y[:k]), numrec.Split(X[k:], Y[k:]),
                          [f"y{i}" for i in range(outputs)])  # fmt: skip


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_weighted_training_is_the_same_for_any_thread_count(kind):
    w = np.random.default_rng(4).uniform(0.1, 2, 240).astype(np.float32)
    thetas = []
    for threads in (1, 2):
        ds = regression_data(n=300)
        data = numrec.Dataset("w", numrec.Split(ds.train.X, ds.train.y, w), ds.test,
                              ds.class_names)  # fmt: skip
        net = numrec.Network([6, 70, 2], output="linear", loss=kind, seed=1)
        numrec.train(net, data, epochs=2, batch_size=100, threads=threads, progress=False)
        thetas.append(net.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])
    thetas = []
    for threads in (1, 2):
        net = numrec.Network([8, 70, 3], seed=1)
        numrec.train(net, blobs(n=300, features=8), epochs=2, batch_size=100, threads=threads,
                     class_weight={"c0": 3.0, "2": 0.5}, progress=False)  # fmt: skip
        thetas.append(net.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])


def test_regression_learns_in_the_users_units():
    ds = regression_data(n=800)
    net = numrec.Network([6, 32, 2], output="linear", seed=0)
    history = numrec.train(net, ds, epochs=30, lr=0.05, batch_size=32, progress=False)
    assert {"val_r2", "val_rmse", "val_mae", "test_r2", "test_rmse", "test_mae"} <= set(history[-1])
    assert "val_accuracy" not in history[-1] and "train_accuracy" not in history[-1]
    Y = ds.train.y.astype(np.float64)
    np.testing.assert_allclose(net.meta["target_mean"], Y[:].mean(0), rtol=0.05)  # train rows
    result = net.evaluate(ds.test.X, ds.test.y)
    assert result["r2"] > 0.9, result
    predicted = net.predict(ds.test.X)
    assert predicted.shape == (len(ds.test), 2)
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    truth = ds.test.y
    assert result["r2"] == pytest.approx(r2_score(truth, predicted), rel=1e-5)
    assert result["rmse"] == pytest.approx(root_mean_squared_error(truth, predicted), rel=1e-5)
    assert result["mae"] == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-5)
    per_output = r2_score(truth, predicted, multioutput="raw_values")
    np.testing.assert_allclose(result["r2_outputs"], per_output, rtol=1e-5)
    # the record of the kept epoch says the same as evaluate
    best = next(h for h in history if h["epoch"] == max(e["epoch"] for e in history if e["best"]))
    assert best["test_r2"] == pytest.approx(result["r2"], rel=1e-6)


def test_multilabel_metrics_are_scikit_learns():
    from sklearn.metrics import f1_score, hamming_loss

    rng = np.random.default_rng(0)
    T = (rng.random((200, 4)) < 0.3).astype(np.float32)
    T[:, 3] = 0  # a label never present
    P = np.clip(T * 0.7 + rng.random((200, 4)) * 0.5, 0, 1).astype(np.float32)
    got = metrics.scores("multilabel", P, T)
    guess = (P >= 0.5).astype(int)
    assert got["subset_accuracy"] == pytest.approx(np.mean(np.all(guess == T, 1)))
    assert got["hamming_loss"] == pytest.approx(hamming_loss(T, guess))
    assert got["micro_f1"] == pytest.approx(f1_score(T, guess, average="micro", zero_division=0))
    assert got["macro_f1"] == pytest.approx(f1_score(T, guess, average="macro", zero_division=0))


def test_multilabel_training_monitors_a_task_metric():
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (400, 5)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5], 1).astype(np.uint8)
    ds = numrec.Dataset("ml", numrec.Split(X[:300], Y[:300]), numrec.Split(X[300:], Y[300:]),
                        ["a", "b", "c"])  # fmt: skip
    assert ds.task == "multilabel"
    net = numrec.NetworkConfig(hidden=(16,)).build(5, 3, task="multilabel")
    assert (net.output, net.loss) == ("sigmoid", "cross_entropy")
    history = numrec.train(net, ds, epochs=15, monitor="val_macro_f1", patience=4, progress=False)
    assert history[-1]["test_subset_accuracy"] > 0.8
    assert net.predict(X[:3]).shape == (3, 3) and set(np.unique(net.predict(X))) <= {0, 1}
    # lower is better for a loss-like monitor, higher for the others
    assert metrics.higher_is_better("val_macro_f1") and not metrics.higher_is_better("val_rmse")
    with pytest.raises(ValueError, match="monitor='val_r2' is not a multilabel metric"):
        numrec.train(net, ds, epochs=1, monitor="val_r2", progress=False)


def test_task_and_outputs_must_agree():
    ds = regression_data()
    with pytest.raises(ValueError, match="task is regression.*expected output linear"):
        numrec.train(numrec.Network([6, 4, 2]), ds, epochs=1, progress=False)
    with pytest.raises(ValueError, match="class_weight is for classification"):
        numrec.train(numrec.Network([6, 4, 2], output="linear"), ds, epochs=1,
                     class_weight="balanced", progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="class_weight must be"):
        numrec.TrainConfig(class_weight="even")
    with pytest.raises(ValueError, match="class_weight names class 'c9'"):
        numrec.train(numrec.Network([12, 4, 3]), blobs(), epochs=1, class_weight={"c9": 2},
                     progress=False)  # fmt: skip
    with pytest.raises(numrec.DatasetError, match="sample_weight must hold one weight per row"):
        numrec.Split(ds.train.X, ds.train.y, np.ones(3))


def test_class_weight_setting_from_the_command_line_and_json():
    rule = next(f for f in numrec.TrainConfig.settings() if f.name == "class_weight")
    rule = rule.metadata["rule"]
    assert rule.parse("balanced") == "balanced" and rule.parse("none") is None
    assert rule.parse("cat=2, 1=0.5") == {"cat": 2.0, "1": 0.5}
    for bad in ("cat", "cat=-1", "=2", "cat=x"):
        with pytest.raises(ValueError, match="must be 'balanced' or a mapping"):
            rule.parse(bad)
    config = numrec.TrainConfig(class_weight={0: 3, "dog": 1.5})
    assert numrec.TrainConfig.from_dict(config.to_dict()).class_weight == {"0": 3.0, "dog": 1.5}


def test_a_resumed_regression_run_is_bit_identical():
    from numrec.training import Trainer

    def run(epochs, state=None):
        net = numrec.Network([6, 12, 2], output="linear", loss="huber", huber_delta=0.5, seed=3)
        trainer = Trainer(net, regression_data(), epochs=epochs, schedule="constant",
                          restore_best=False, progress=False)  # fmt: skip
        if state is not None:
            trainer.load_state_dict(state)
        trainer.run()
        return trainer

    whole = run(4)
    half = run(2)
    resumed = run(4, half.state_dict())
    np.testing.assert_array_equal(whole.net.theta, resumed.net.theta)
    assert [h["test_r2"] for h in whole.history] == [h["test_r2"] for h in resumed.history]
    assert resumed.net.meta["target_std"] == whole.net.meta["target_std"]


def test_mpi_ranks_partial_regression_gradients_add_up():
    """Data-parallel pieces (no MPI needed): each rank's share of a regression batch,
    targets standardised alike on every rank, adds up to the one-process gradient."""
    from numrec.distributed import MpiSteps
    from numrec.kernels.step import batch_gradient
    from numrec.mpi import Comm
    from numrec.training import Trainer

    def fake_comm(rank, size):
        comm = object.__new__(Comm)
        comm.rank, comm.size, comm.local_size = rank, size, size
        return comm

    ds, batch = regression_data(n=150), 40
    parts = [
        Trainer(numrec.Network([6, 9, 2], output="linear", seed=2), ds, batch_size=batch,
                steps=MpiSteps(fake_comm(r, 3)), progress=False)
        for r in range(3)
    ]  # fmt: skip
    total = np.zeros(parts[0].net.n_params)
    for t in parts:
        rows, starts = t.steps.epoch_rows(t, t.order(0))
        ws = t.steps.workspace(t.net, batch)
        batch_gradient(t.X, t.y, t.Y, rows, int(starts[0]), int(starts[1] - starts[0]), batch,
                       t.scale, t.net.params(), t.net.codes(), t.net.plan(batch), ws)  # fmt: skip
        total += ws.grad
    one = Trainer(numrec.Network([6, 9, 2], output="linear", seed=2), ds, batch_size=batch,
                  progress=False)  # fmt: skip
    rows = one.train_rows[one.order(0)[:batch]]
    dW, db = one.net.gradients(ds.train.X[rows], one.Y[rows])
    net = one.net
    expected = np.zeros(net.n_params)
    for o, g in zip(list(net.w_off) + list(net.b_off), dW + db):
        expected[o : o + g.size] = g.ravel()
    np.testing.assert_allclose(total, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="not supported with MPI yet"):
        Trainer(numrec.Network([6, 9, 2], output="linear"), numrec.Dataset(
            "w", numrec.Split(ds.train.X, ds.train.y, np.ones(len(ds.train))), ds.test,
            ds.class_names), steps=MpiSteps(fake_comm(0, 2)), progress=False)  # fmt: skip
