"""Same seed -> bit-identical weights, whatever the thread count (1, 2 and 4)."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
from engine_helpers import blobs

import numrec

SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    sys.path.insert(0, {tests!r})
    from engine_helpers import blobs
    import numrec
    for threads in (1, 4):
        net = numrec.Network([12, 16, 8, 3], seed=5)
        numrec.train(net, blobs(n=300), epochs=2, batch_size=100, threads=threads, seed=9,
                     progress=False)
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
        for batch in (100, 256):  # 4 shards; 8 shards with a partial last batch
            one = trained(1, optimizer=optimizer, batch=batch)
            np.testing.assert_array_equal(one, trained(2, optimizer=optimizer, batch=batch))


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
