"""The pieces of data-parallel training, checked in one process (no MPI needed): how the
ranks share out each global batch, and that their partial gradients add up to the
batch's gradient, and the separate update equals the fused one."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from engine_helpers import blobs

import numrec
from numrec.distributed import MpiSteps
from numrec.kernels.step import NO_TARGETS, apply_update, batch_gradient, update_range
from numrec.mpi import Comm, let_launcher_read_output, partition, unread_bytes
from numrec.optim import Optimizer
from numrec.training import Trainer


def fake_comm(rank: int, size: int) -> Comm:
    """A Comm that is never used to communicate (rank/size only)."""
    comm = object.__new__(Comm)
    comm.rank, comm.size, comm.local_size = rank, size, size
    return comm


@pytest.mark.parametrize(("n", "size"), [(10, 3), (1001, 2), (7, 7), (64, 4)])
def test_partition_covers_every_row_once(n, size):
    shares = [partition(n, size, r) for r in range(size)]
    assert shares[0][0] == 0 and shares[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
    lengths = [hi - lo for lo, hi in shares]
    assert max(lengths) - min(lengths) <= 1


def trainers(ds, size, batch, **options):
    return [
        Trainer(
            numrec.Network([12, 7, 3], seed=2),
            ds,
            steps=MpiSteps(fake_comm(r, size)),
            batch_size=batch,
            progress=False,
            seed=4,
            **options,
        )  # fmt: skip
        for r in range(size)
    ]


@pytest.mark.parametrize(("size", "batch"), [(2, 16), (3, 50), (4, 7)])
def test_each_global_batch_is_shared_out_exactly(size, batch):
    ds = blobs(n=203)
    parts = trainers(ds, size, batch)
    perm = parts[0].order(1)  # the single-process order of epoch 1
    np.testing.assert_array_equal(perm, Trainer(
        numrec.Network([12, 7, 3]), ds, batch_size=batch, seed=4).order(1))  # fmt: skip
    shares = [t.steps.epoch_rows(t, perm) for t in parts]
    for b in range(parts[0].batches_per_epoch):
        whole = parts[0].train_rows[perm[b * batch : (b + 1) * batch]]
        got = []
        for t, (rows, starts) in zip(parts, shares):
            lo, hi = t.row_offset, t.row_offset + len(t.y)
            mine = rows[starts[b] : starts[b + 1]] + lo
            assert ((mine >= lo) & (mine < hi)).all()
            got.append(mine)
        # the same rows, each rank's in the order of the global batch
        np.testing.assert_array_equal(np.sort(np.concatenate(got)), np.sort(whole))
        for mine in got:
            np.testing.assert_array_equal(mine, whole[np.isin(whole, mine)])


def test_partial_gradients_add_up_to_the_batch_gradient():
    ds = blobs(n=120)
    size, batch = 3, 40
    parts = trainers(ds, size, batch)
    net = parts[0].net
    rows_all = parts[0].train_rows[parts[0].order(0)[:batch]]
    total = np.zeros(net.n_params, dtype=np.float64)
    loss_sum, correct = 0.0, 0
    for t in parts:
        rows, starts = t.steps.epoch_rows(t, t.order(0))
        ws = t.steps.workspace(t.net, batch)
        loss, hits = batch_gradient(
            t.X, t.y, NO_TARGETS, rows, int(starts[0]), int(starts[1] - starts[0]), batch,
            t.scale, t.net.params(), t.net.codes(), t.net.plan(batch), ws,
        )  # fmt: skip
        total += ws.grad
        loss_sum += loss
        correct += hits
    dW, db = net.gradients(ds.train.X[rows_all], ds.train.y[rows_all])  # one process, oracle-tested
    expected = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(dW, db)])
    order = np.concatenate(
        [
            [*range(o, o + W.size), *range(ob, ob + b.size)]
            for o, W, ob, b in zip(net.w_off, net.weights, net.b_off, net.biases)
        ]
    )
    np.testing.assert_allclose(total[order], expected, rtol=1e-5, atol=1e-7)
    P = net.forward(ds.train.X[rows_all])
    assert loss_sum / batch == pytest.approx(net.loss_of(P, ds.train.y[rows_all]), rel=1e-5)
    assert correct == int((P.argmax(1) == ds.train.y[rows_all]).sum())


def test_a_rank_without_rows_in_a_batch_contributes_zero():
    ds = blobs(n=40)
    t = trainers(ds, 2, 8)[1]
    ws = t.steps.workspace(t.net, 8)
    ws.grad[:] = 1.0
    rows = np.zeros(0, dtype=np.int64)
    loss, hits = batch_gradient(t.X, t.y, NO_TARGETS, rows, 0, 0, 8, t.scale, t.net.params(),
                                t.net.codes(), t.net.plan(8), ws)  # fmt: skip
    assert (loss, hits) == (0.0, 0) and not ws.grad.any()


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_the_blocked_update_equals_one_pass_over_all_parameters(name):
    """apply_update's blocks (a ragged last one included) cover every parameter once;
    update_range itself is checked against numpy's formulas in test_optimizers.py."""
    rng = np.random.default_rng(0)
    n = 200_003  # several blocks and a ragged end
    theta = rng.normal(size=n).astype(np.float32)
    grad = rng.normal(size=n).astype(np.float32)
    m = rng.normal(size=n).astype(np.float32) * 0.1
    v = np.abs(rng.normal(size=n)).astype(np.float32) * 0.01
    opt = Optimizer(name, lr=0.01, weight_decay=1e-3).kernel_args()
    a = [x.copy() for x in (theta, m, v)]
    b = [x.copy() for x in (theta, m, v)]
    apply_update(a[0], grad, 0.01, opt, a[1], a[2], 3)
    update_range(b[0], grad, 0, n, 0.01, opt, b[1], b[2], 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], theta)


@pytest.mark.parametrize(
    ("variables", "ranks", "rank"),
    [
        ({}, 1, 0),
        ({"PMI_SIZE": "4", "PMI_RANK": "2"}, 4, 2),  # MPICH's mpiexec
        ({"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "1"}, 3, 1),  # Open MPI
        ({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5"}, 8, 5),  # srun
        ({"SLURM_NTASKS": "8"}, 1, 0),  # an sbatch script or salloc shell: one process
    ],
)
def test_launchers_are_recognised_by_their_variables(monkeypatch, variables, ranks, rank):
    from numrec import mpi

    for size_var, rank_var in mpi.LAUNCHER_VARIABLES:
        monkeypatch.delenv(size_var, raising=False)
        monkeypatch.delenv(rank_var, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert (mpi.launched_ranks(), mpi.launched_rank()) == (ranks, rank)


def test_an_ending_rank_waits_until_its_output_pipe_is_read():
    """The launcher reads a rank's stderr through a pipe and stops reading when the job
    is aborted: the rank waits until the pipe is empty, so its last line is not lost."""
    read_fd, write_fd = os.pipe()
    writer = os.fdopen(write_fd, "w")
    message = "numrec-train: error: why\n" * 100
    writer.write(message)  # buffered in Python until flushed
    got = []

    def launcher():
        time.sleep(0.3)
        with os.fdopen(read_fd, "rb") as pipe:
            got.append(pipe.read(len(message)))

    reader = threading.Thread(target=launcher)
    reader.start()
    start = time.monotonic()
    let_launcher_read_output(wait=30, streams=(writer,))
    waited = time.monotonic() - start
    assert unread_bytes(write_fd) == 0
    reader.join()
    writer.close()
    assert 0.25 < waited < 20, waited
    assert got == [message.encode()]


def test_the_wait_for_a_reader_is_bounded_and_only_for_pipes(tmp_path):
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as writer, os.fdopen(read_fd, "rb"):
        writer.write("nobody reads this\n")
        start = time.monotonic()
        let_launcher_read_output(wait=0.2, streams=(writer,))
        assert 0.15 < time.monotonic() - start < 10
        assert unread_bytes(write_fd) == len("nobody reads this\n")
    with open(tmp_path / "log", "w") as file:  # a file is never "unread"
        file.write("x" * 5000)
        start = time.monotonic()
        let_launcher_read_output(wait=30, streams=(file,))
        assert time.monotonic() - start < 5 and unread_bytes(file.fileno()) == 0
