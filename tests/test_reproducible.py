"""Same seed -> bit-identical weights, whatever the thread count (1, 2 and 4)."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
from engine_helpers import blobs

import numrec
from numrec.kernels.codes import shard_size
from numrec.kernels.step import MIN_TASK_ROWS, TASK_PARAMS, task_plan

SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    sys.path.insert(0, {tests!r})
    from engine_helpers import blobs
    import numrec
    for threads in (1, 4):
        net = numrec.Network([12, 16, 8, 3], seed=5)
        numrec.train(net, blobs(n=300), epochs=2, batch_size=100, threads=threads, seed=9,
                     lr=0.05, progress=False)  # the settings of trained() below
        print(threads, hashlib.sha256(net.theta.tobytes()).hexdigest())
    """
)


def trained(threads, seed=9, optimizer="momentum", batch=100):
    net = numrec.Network([12, 16, 8, 3], seed=5)
    numrec.train(
        net,
        blobs(n=300),
        epochs=2,
        batch_size=batch,
        threads=threads,
        seed=seed,
        optimizer=optimizer,
        lr=0.01 if optimizer.startswith("adam") else 0.05,
        progress=False,
    )
    return net.theta.copy()


def test_same_seed_same_weights():
    np.testing.assert_array_equal(trained(2), trained(2))
    assert not np.array_equal(trained(2, seed=9), trained(2, seed=10))


def test_thread_count_does_not_change_the_weights():
    for optimizer in ("momentum", "adam"):
        for batch in (100, 256):  # 2 and 4 shards; a partial last batch (300 rows)
            one = trained(1, optimizer=optimizer, batch=batch)
            np.testing.assert_array_equal(one, trained(2, optimizer=optimizer, batch=batch))


def test_layers_split_into_several_tasks_do_not_depend_on_threads():
    """A 300-240 layer is 72,000 weights: two gradient tasks, dealt out to the threads
    in turn with the output layer's task (3 tasks on 2 threads)."""
    assert len(task_plan([300, 240, 5])) == 3
    weights = []
    for threads in (1, 2):
        net = numrec.Network([300, 240, 5], seed=1)
        data = blobs(n=130, features=300, classes=5)
        numrec.train(net, data, epochs=1, batch_size=64, threads=threads, progress=False)
        weights.append(net.theta.copy())
    np.testing.assert_array_equal(weights[0], weights[1])


def test_task_plan_covers_every_unit_once_largest_first():
    for sizes in ([784, 512, 256, 10], [784, 256, 10], [10, 1000, 10], [12, 16, 8, 3],
                  [784, 2048, 768, 10]):  # fmt: skip
        tasks = task_plan(sizes)
        costs = [sizes[layer - 1] * (r1 - r0) for layer, r0, r1 in tasks]
        assert costs == sorted(costs, reverse=True)
        for layer in range(1, len(sizes)):
            n_in, n_out = sizes[layer - 1], sizes[layer]
            blocks = sum(t[0] == layer for t in tasks)
            # no more blocks than TASK_PARAMS asks for (one more to make them even), and
            # in a wide layer none with fewer than about MIN_TASK_ROWS units
            assert blocks <= -(-(n_in * n_out) // TASK_PARAMS) + 1, (sizes, layer)
            most = max(2, n_out // MIN_TASK_ROWS)
            assert blocks <= most + most % 2, (sizes, layer)
            rows = sorted(r for lay, r0, r1 in tasks if lay == layer for r in range(r0, r1))
            assert rows == list(range(sizes[layer])), (sizes, layer)
            if sizes[layer - 1] * sizes[layer] >= TASK_PARAMS // 2:  # two threads share them
                assert sum(1 for t in tasks if t[0] == layer) % 2 == 0, (sizes, layer)


def test_four_threads_match_one():
    """numba fixes its pool size at start-up, so 4 threads need a fresh process."""
    tests = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=tests)],
        env={**os.environ, "NUMBA_NUM_THREADS": "4"},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout.split()
    assert out[0] == "1" and out[2] == "4"
    assert out[1] == out[3], "threads=4 gave other weights than threads=1"
    here = hashlib.sha256(trained(1).tobytes()).hexdigest()
    assert out[1] == here, "a fresh process gave other weights than this one"


def test_shard_size_depends_on_the_batch_and_the_cores_alone():
    """Two shards while they stay small, then as many as cores (at most four); never
    fewer rows than 16."""
    batches = (1, 32, 64, 100, 128, 256, 512)
    assert [shard_size(b, 4) for b in batches] == [16, 16, 32, 50, 64, 64, 128]
    assert [shard_size(b, 2) for b in batches] == [16, 16, 32, 50, 64, 128, 256]
    assert [shard_size(b, 1) for b in batches] == [16, 32, 64, 100, 128, 256, 512]
    assert shard_size(512, 64) == 128
    for cores in (1, 2, 3, 4, 8):
        for batch in range(1, 2000):
            size = shard_size(batch, cores)
            assert size >= 16 and -(-batch // size) <= max(2, min(4, cores))
