"""Data-parallel training on MPI: 2 ranks under a real ``mpiexec -n 2``, compared with one
process; interrupts and checkpoints across rank counts; a rank that dies or hangs.

These need mpi4py and an ``mpiexec`` (``pip install 'numrec[mpi]'``); they skip without
them, except inside tox, which sets NUMREC_REQUIRE_MPI=1 so that a broken install fails.
All are in the slow tier (several processes each). No test depends on what the launcher
prints, or on how fast a loaded machine reacts: only on numrec's own lines, with bounds
of minutes where a bound is needed at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, read_jsonl, run, script, write_idx_digits
from test_cli_train import INTERRUPTIBLE, _interrupt

import numrec

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
TIMEOUT = 300
# measured: 2 ranks vs 1 process differ by about 3e-7 after a few hundred steps (only the
# order of the per-row gradient sums differs); a bug (a lost or doubled share, a wrong
# average) moves weights by 1e-2 or more
CLOSE = 2e-5


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        if os.environ.get("NUMREC_REQUIRE_MPI") == "1":
            pytest.fail("mpi4py or mpiexec is missing: pip install 'numrec[mpi]'")
        pytest.skip("needs mpi4py and mpiexec: pip install 'numrec[mpi]'")
    return found


def on_two_ranks(*cmd, env, cwd: Path | None = None, timeout: float = TIMEOUT):
    return subprocess.run([mpiexec(), "-n", "2", *map(str, cmd)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def api_run(tmp_path: Path, ranks: int, optimizer: str, batch: int, noisy: bool = False) -> dict:
    out = tmp_path / f"{optimizer}-{batch}-{ranks}-{noisy}.npz"
    cmd = [sys.executable, HERE / "mpi_train.py", out, optimizer, batch, *(["noisy"] * noisy)]
    env = cli_env(tmp_path)
    if ranks == 1:
        done = subprocess.run(list(map(str, cmd)), env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)  # fmt: skip
    else:
        done = on_two_ranks(*cmd, env=env)
    assert done.returncode == 0, done.stderr
    with np.load(out) as saved:
        return {"theta": saved["theta"], "history": json.loads(str(saved["history"])),
                "ranks": int(saved["ranks"])}  # fmt: skip


@pytest.mark.parametrize(
    ("optimizer", "batch", "noisy"),
    [
        ("momentum", 64, False),
        ("adam", 100, False),
        pytest.param("momentum", 64, True, marks=pytest.mark.slow),
    ],  # fmt: skip
)
def test_two_ranks_train_the_model_of_one_process(tmp_path, optimizer, batch, noisy):
    """noisy: dropout and augmentation, whose draws are keyed by the global row index,
    so the two ranks draw the masks and pictures one process would."""
    one = api_run(tmp_path, 1, optimizer, batch, noisy)
    two = api_run(tmp_path, 2, optimizer, batch, noisy)
    assert (one["ranks"], two["ranks"]) == (1, 2)
    difference = np.abs(one["theta"] - two["theta"]).max()
    print(f"{optimizer}, batch {batch}, noisy {noisy}: largest difference 1 vs 2 ranks "
          f"{difference:.3g}")  # fmt: skip
    assert difference < CLOSE, difference
    assert np.abs(one["theta"]).max() > 0.1  # trained weights, not a degenerate case
    for a, b in zip(one["history"], two["history"]):
        assert a["epoch"] == b["epoch"]
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=1 / 203)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)
    if not noisy:  # (the labels compare single pixels, which augmentation moves)
        assert one["history"][-1]["test_accuracy"] > 0.6  # it learned


def test_cli_on_two_ranks(tmp_path):
    env = cli_env(tmp_path)
    data = write_idx_digits(tmp_path / "digits", 3_000, 500)  # uncompressed: memory-mapped
    common = ("--dataset", "mnist", "--data-dir", data, "--hidden", "16", "--epochs", "2",
              "--batch-size", "50", "--schedule", "constant")  # fmt: skip
    two = on_two_ranks(script("numrec-train"), *common, "--save", tmp_path / "two.npz",
                       "--metrics", tmp_path / "two.jsonl", env=env, cwd=tmp_path)  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert "Traceback" not in two.stderr
    # rank 0 alone talks and writes
    assert two.stderr.count("2 MPI ranks x 1 thread(s)") == 1, two.stderr
    assert two.stdout.count("model saved to") == 1, two.stdout
    assert [r["epoch"] for r in read_jsonl(tmp_path / "two.jsonl")] == [1, 2]
    one = run("numrec-train", *common, "--save", tmp_path / "one.npz", "--quiet", env=env)
    assert one.returncode == 0, one.stderr
    a, b = numrec.Network.load(tmp_path / "one.npz"), numrec.Network.load(tmp_path / "two.npz")
    assert np.abs(a.theta - b.theta).max() < CLOSE


def test_checkpoints_move_between_rank_counts(tmp_path):
    """Interrupted on 2 ranks, resumed in 1 process; and the other way round."""
    env = cli_env(tmp_path)
    # 12,000 images: two compiled chunks an epoch, so the stop lands inside epoch 2
    data = write_idx_digits(tmp_path / "digits", 12_000, 500)
    common = ("--dataset", "mnist", "--data-dir", data, "--hidden", "32", "--batch-size",
              "32", "--epochs", "3", "--threads", "1", "--lr", "0.01",
              "--schedule", "constant")  # fmt: skip
    whole = tmp_path / "whole.npz"
    done = run("numrec-train", *common, "--save", whole, "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    reference = numrec.Network.load(whole).theta

    for name, first, then in (("2to1", 2, 1), ("1to2", 1, 2)):
        parted, metrics = tmp_path / f"{name}.npz", tmp_path / f"{name}.jsonl"
        cmd = [script("numrec-train"), *map(str, common), "--save", str(parted),
               "--metrics", str(metrics)]  # fmt: skip
        if first == 2:
            cmd = [mpiexec(), "-n", "2", *cmd]
        code, _, err = _interrupt(cmd, env, metrics, signal.SIGINT)
        assert code == 130, err
        assert "Traceback" not in err
        assert err.count("checkpoint written to") == 1, err
        checkpoint = tmp_path / f"{name}.checkpoint.npz"
        # a checkpoint stores no output path: the resume names them, as printed
        outputs = ("--save", parted, "--metrics", metrics)
        resume = [script("numrec-train"), "--resume", checkpoint, *outputs]
        if then == 2:
            resumed = on_two_ranks(*resume, env=env, cwd=tmp_path)
        else:
            resumed = run("numrec-train", "--resume", checkpoint, *outputs, env=env, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert [r["epoch"] for r in read_jsonl(metrics)] == [1, 2, 3]
        difference = np.abs(numrec.Network.load(parted).theta - reference).max()
        print(f"{name}: largest difference from one process {difference:.3g}")
        assert difference < 1e-4, (name, difference)  # 1,125 steps


# --- faults: a rank that dies, a rank that hangs ------------------------------------------


def _rank_pid(mark: str, rank: int, deadline: float) -> int:
    """The pid of the process of ``rank`` whose environment carries ``mark``."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"NUMREC_TEST_MARK={mark}".encode() in environ and (
                f"PMI_RANK={rank}".encode() in environ
            ):
                return int(entry.name)
        time.sleep(0.05)
    pytest.fail(f"rank {rank} never started")


def _start_long_run(tmp_path: Path, **extra: str):
    mark = uuid.uuid4().hex
    env = cli_env(tmp_path, NUMREC_TEST_MARK=mark, **extra)
    data = write_idx_digits(tmp_path / "digits", 20_000, 1_000)
    metrics = tmp_path / "run.jsonl"
    cmd = [mpiexec(), "-n", "2", script("numrec-train"), *INTERRUPTIBLE, "--epochs", "50",
           "--data-dir", str(data), "--metrics", str(metrics)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while not (metrics.exists() and metrics.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"training ended before the fault: {proc.communicate()[1]}")
        time.sleep(0.02)
    return proc, _rank_pid(mark, 1, deadline)


@pytest.mark.parametrize("late", ["0", "1.5"], ids=["sentinel-on-time", "sentinel-late"])
def test_a_dead_rank_stops_the_job_and_numrec_says_which(tmp_path, late):
    """late: the sentinel looks only 1.5 s after the first line closed, as on a loaded
    machine: the launcher has ended rank 0 meanwhile, which must not be named."""
    proc, victim = _start_long_run(tmp_path, NUMREC_SENTINEL_LATE=late)
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=TIMEOUT)
    print(f"a killed rank ended the job after {time.monotonic() - killed:.1f} s")
    assert proc.returncode != 0
    # numrec's sentinel says it, whatever the launcher prints or fails to print
    lines = re.findall(r"numrec: rank \d.*", err)  # (mpiexec merges the ranks' output)
    assert lines == [
        f"numrec: rank 1 of 2 (pid {victim}) died without a word from numrec (killed by a "
        "signal, or out of memory?); the job was ended"
    ], f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err


def test_a_normal_run_leaves_no_sentinel_line_or_folder(tmp_path):
    env = cli_env(tmp_path, TMPDIR=str(tmp_path))
    result = on_two_ranks(script("numrec-train"), "--dataset", "mnist-sample", "--hidden", "8",
                          "--epochs", "1", "--quiet", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "numrec: rank" not in result.stderr
    deadline = time.monotonic() + 60  # the sentinel removes the marks once the ranks are gone
    while list(tmp_path.glob("numrec-mpi-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob("numrec-mpi-*")) == []


def test_a_hung_rank_stops_the_job_within_the_timeout(tmp_path):
    # 15 s, not less: before the fault, a loaded machine may keep one rank waiting for the
    # other (its numba cache loading, rank 0's evaluation) for seconds
    proc, victim = _start_long_run(tmp_path, NUMREC_MPI_TIMEOUT="15")
    stopped = time.monotonic()
    os.kill(victim, signal.SIGSTOP)  # alive but silent: the launcher sees nothing wrong
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    took = time.monotonic() - stopped
    print(f"a hung rank (timeout 15 s) ended the job after {took:.1f} s")
    assert proc.returncode != 0
    # (most likely in the gradient exchange; once an epoch, in another)
    assert re.search(r"rank 0 of 2: the [a-z ]+ exchange got no answer for 15 s", err), err
    assert "died without a word" not in err  # the watchdog spoke: the sentinel stays quiet
    assert "Traceback" not in err


# --- without the extra ----------------------------------------------------------------------


def test_a_launcher_without_mpi4py_says_how_to_install_it(tmp_path):
    """Started as one of two ranks (the launcher's variables) with mpi4py unimportable."""
    blocker = tmp_path / "blocked" / "mpi4py"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named mpi4py')\n")
    env = cli_env(tmp_path, PMI_SIZE="2", PMI_RANK="0", PYTHONPATH=str(blocker.parent))
    result = run("numrec-train", "--dataset", "mnist-sample", "--epochs", "1", env=env)
    assert_usage_error(result, "one of 2 started by an MPI launcher", "pip install 'numrec[mpi]'")


def test_a_failure_of_rank_0_alone_ends_the_job(tmp_path):
    """Rank 0 alone writes the metrics; when it cannot, the other rank must not wait for it
    in the gradient exchange (MPICH's mpiexec does not end a job when a rank exits)."""
    env = cli_env(tmp_path, NUMREC_MPI_TIMEOUT="600")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = on_two_ranks(script("numrec-train"), "--dataset", "mnist-sample", "--hidden", "8",
                          "--epochs", "1", "--metrics", blocker / "run.jsonl", env=env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "got no answer" not in result.stderr  # rank 0's abort ended it, not the watchdog
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"numrec-train: error: {blocker}: ")
    assert "Traceback" not in result.stderr


FETCH = """
import sys
from numrec.download import fetch
from numrec.mpi import world

sha256 = sys.argv[1]
comm = world()  # NUMREC_MIRROR is the test's server
path = comm.root_first(lambda: fetch("mpi-test", "data.bin", [], sha256=sha256, progress=False))
print(f"rank {comm.rank} read {len(path.read_bytes())} bytes", flush=True)
"""


def test_a_download_happens_once_on_rank_0_while_the_others_wait(tmp_path, numrec_http_server):
    import hashlib

    body = bytes(range(256)) * 1000
    numrec_http_server.files["/mpi-test/data.bin"] = body
    env = cli_env(tmp_path, NUMREC_MIRROR=numrec_http_server.url)
    result = on_two_ranks(sys.executable, "-c", FETCH, hashlib.sha256(body).hexdigest(), env=env)
    assert result.returncode == 0, result.stderr
    # (mpiexec merges the ranks' output, not always at line ends)
    reads = sorted(re.findall(r"rank \d read \d+ bytes", result.stdout))
    assert reads == [f"rank {r} read {len(body)} bytes" for r in (0, 1)], result.stdout
    assert numrec_http_server.paths() == ["/mpi-test/data.bin"]  # one request, not two


# rank 0 writes a screenful to stderr, then fails; the launcher that ends the job must
# not drop the last line (it did about 1 time in 7 before numrec waited for the pipe)
LOUD_FAILURE = """
import sys
from numrec.cli.common import run
from numrec.mpi import world

def main(argv):
    world()
    for i in range(200):
        print(f"{i:4d} " + "progress " * 20, file=sys.stderr)
    raise ValueError("the last line")

sys.exit(run("loud", main))
"""


def test_the_last_line_of_a_rank_that_ends_the_job_is_not_lost(tmp_path):
    env = cli_env(tmp_path)
    for attempt in range(4):
        result = on_two_ranks(sys.executable, "-c", LOUD_FAILURE, env=env)
        assert result.returncode == 2, result.stderr[-2000:]
        assert " 199 progress" in result.stderr, f"attempt {attempt}: {result.stderr[-2000:]}"
        assert "loud: error: the last line" in result.stderr, f"attempt {attempt}"


def test_a_failure_of_every_rank_is_reported_once(tmp_path):
    """Both ranks see the same diverging loss and stop; rank 0 alone says so."""
    env = cli_env(tmp_path)
    result = on_two_ranks(script("numrec-train"), "--dataset", "mnist-sample", "--hidden", "8",
                          "--epochs", "1", "--lr", "1e9", "--quiet", env=env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("numrec-train: error: training diverged in epoch 1")
    assert "the learning rate" in errors[0] and "too high" in errors[0]
