"""Issue 20: hostile and careless files, bounded memory, one clear line, signals, fileio.

Each numbered item of the issue has its regression tests here (named ``test_item<N>_...``).
Hostile files are built at test time; their loaders run in a subprocess whose peak
resident memory (``ru_maxrss``, via ``os.wait4``) must stay under ``PEAK_LIMIT_MB``.
Nothing is downloaded: the subprocesses' mirrors point at a closed port.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_usage_error, cli_env, run, script

import numrec
from numrec import DatasetError, fileio
from numrec.idx import encode_idx, read_idx, write_idx
from numrec.serialize import load_checkpoint, load_network, save_checkpoint, save_network

PEAK_LIMIT_MB = 300
GiB = 1 << 30


# --- helpers: peak memory of a subprocess, hostile files -----------------------------


# Runs a script or code and writes the process's own peak resident size (VmHWM, in kB) at
# exit. (``ru_maxrss`` from ``wait4`` would count the forking parent's pages too: Linux
# folds the old address space's peak into it at exec.)
_PEAK_WRAPPER = """
import atexit, runpy, sys
report, target = sys.argv[1], sys.argv[2]
def _report():
    with open("/proc/self/status") as f:
        kb = next(line for line in f if line.startswith("VmHWM:")).split()[1]
    with open(report, "w") as out:
        out.write(kb)
atexit.register(_report)
sys.argv = sys.argv[2:]
if target == "-c":
    sys.argv = ["-c", *sys.argv[2:]]
    exec(compile(_code, "<code>", "exec"), {"__name__": "__main__"})
else:
    runpy.run_path(target, run_name="__main__")
"""


def peak_run(argv: list[str], env: dict, tmp_path: Path) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, peak resident MB) of the Python script or
    ``-c CODE`` in ``argv``, run to its end in a fresh interpreter."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    report = tmp_path / "peak.kb"
    report.unlink(missing_ok=True)
    wrapper = _PEAK_WRAPPER
    if argv[0] == "-c":
        wrapper = f"_code = {argv[1]!r}\n" + wrapper
    result = subprocess.run([sys.executable, "-c", wrapper, str(report), *argv], env=env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
    peak = int(report.read_text()) / 1024 if report.exists() else float("nan")
    return result.returncode, result.stdout, result.stderr, peak


def peak_python(code: str, env: dict, tmp_path: Path) -> tuple[int, str, str, float]:
    """Run ``code`` in a fresh Python; a DatasetError becomes exit 2 with its message."""
    wrapped = (
        "import sys\nfrom numrec import DatasetError\ntry:\n"
        + textwrap.indent(textwrap.dedent(code), "    ")
        + "\nexcept DatasetError as e:\n    print(e, file=sys.stderr)\n    sys.exit(2)\n"
    )
    return peak_run(["-c", wrapped], env, tmp_path)


PEAKS: dict[str, float] = {}  # what each hostile file cost, printed at the end (pytest -s)


def record_peak(name: str, peak: float) -> None:
    PEAKS[name] = peak
    print(f"\npeak memory of {name}: {peak:.0f} MB")
    assert peak < PEAK_LIMIT_MB, f"{name}: {peak:.0f} MB"


def npy_header(dtype: str, shape: tuple) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def model_doc(**changes) -> dict:
    doc = {"format": "numrec-model", "format_version": 1, "architecture": {"sizes": [6, 5, 3]}}
    doc.update(changes)
    return doc


SMALL_THETA = np.zeros(6 * 5 + 5 + 5 * 3 + 3, np.float32)


def write_model(path: Path, doc: dict, theta: np.ndarray = SMALL_THETA) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", npy(np.array(json.dumps(doc))))
        z.writestr("theta.npy", npy(theta))
    return path


def deflated_zeros_model(path: Path, zeros: int = GiB) -> Path:
    """A ~1 MB model whose theta.npy declares 4.3 GB and inflates to 1 GiB of zeros."""
    sizes = [32768, 32768]
    n = 32768 * 32768 + 32768
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("meta.npy", npy(np.array(json.dumps(model_doc(architecture={"sizes": sizes})))))
        with z.open("theta.npy", "w", force_zip64=True) as member:
            member.write(npy_header("<f4", (n,)))
            block = bytes(16 << 20)
            for _ in range(zeros // len(block)):
                member.write(block)
    return path


def gzip_stream(*parts: bytes, repeat_zeros: int = 0) -> bytes:
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    out = [deflate.compress(p) for p in parts]
    block = bytes(16 << 20)
    for _ in range(repeat_zeros // len(block)):
        out.append(deflate.compress(block))
    out.append(deflate.flush())
    return b"".join(out)


def patch_zip(path: Path, member: str, *, encrypted: bool = False, size: int | None = None):
    """Edit a member's local and central headers: set the encrypted flag, or claim
    another uncompressed size (non-zip64 members only)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
        start = z.start_dir
    local = info.header_offset
    central = start
    while data[central : central + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, central + 28)
        name = bytes(data[central + 46 : central + 46 + name_len]).decode()
        if name == member:
            break
        central += 46 + name_len + extra_len + comment_len
    else:
        raise AssertionError(f"{member} not in the central directory")
    if encrypted:
        for at in (local + 6, central + 8):
            struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 0x1)
    if size is not None:
        struct.pack_into("<I", data, local + 22, size)
        struct.pack_into("<I", data, central + 24, size)
    path.write_bytes(bytes(data))
    return path


def tiny_mnist_model(path: Path, **meta) -> Path:
    net = numrec.Network([784, 8, 10], seed=0)
    return save_network(net, path, **meta)


def png(path: Path, width: int, height: int, mode: str = "L") -> Path:
    from PIL import Image

    pixels = np.zeros((height, width), np.uint8)
    pixels[height // 3 : 2 * height // 3, width // 2 - width // 20 : width // 2 + width // 20] = 255
    Image.fromarray(pixels).convert(mode).save(path)
    return path


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path)


# --- item 1: a model is data ----------------------------------------------------------


@pytest.mark.parametrize("stored", ["file", "proc"])
def test_item1_eval_never_reads_the_files_a_model_names(tmp_path, stored):
    secret = "topsecret-" + os.urandom(4).hex()
    env = cli_env(tmp_path, SECRET=secret)
    leaked = tmp_path / "env.csv"
    leaked.write_text(f"SECRET,{secret}\nlabel,{secret}\n")
    target = str(leaked) if stored == "file" else "/proc/self/environ"
    settings = {"dataset": "csv", "dataset_options": {"path": target, "train": target}}
    hostile = tiny_mnist_model(
        tmp_path / "hostile.npz", dataset="csv", trained={"settings": settings}
    )
    result = run("numrec-eval", hostile, env=env)
    assert secret not in result.stdout + result.stderr
    assert_usage_error(result, "csv: no data")
    assert "download" not in result.stderr
    data_root = Path(env["NUMREC_DATA"])
    assert not data_root.exists() or not any(data_root.rglob("*")), "nothing may be cached"


def test_item1_checkpoints_are_models_for_eval_and_predict(tmp_path, env):
    from numrec.training import Trainer

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60, 784), dtype=np.uint8)
    y = (X[:, 0] > 127).astype(np.int64)
    ds = numrec.Dataset("t", numrec.Split(X, y), numrec.Split(X[:20], y[:20]), ["0", "1"])
    trainer = Trainer(numrec.Network([784, 4, 2], seed=0), ds, epochs=1, progress=False)
    trainer.run()
    checkpoint = save_checkpoint(tmp_path / "run.ckpt.npz", trainer, {"args": {"dataset": "t"}})
    write_idx(tmp_path / "images", X[:20].reshape(20, 28, 28))
    write_idx(tmp_path / "labels", y[:20].astype(np.uint8))
    result = run("numrec-eval", checkpoint, "--images", tmp_path / "images", "--labels",
                 tmp_path / "labels", "--json", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "is a checkpoint of numrec-train: using its current weights" in result.stderr
    expected = trainer.net.evaluate(X[:20], y[:20])["accuracy"]
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(expected)
    image = png(tmp_path / "digit.png", 56, 56)
    result = run("numrec-predict", checkpoint, image, env=env)
    assert result.returncode == 0, result.stderr
    assert "is a checkpoint" in result.stderr


# --- item 3: bounded memory -----------------------------------------------------------


def test_item3_model_of_deflated_zeros(tmp_path, env):
    hostile = deflated_zeros_model(tmp_path / "zeros.npz")
    assert hostile.stat().st_size < 8 << 20
    code, _, err, peak = peak_python(f"import numrec; numrec.Network.load({str(hostile)!r})",
                                     env, tmp_path)  # fmt: skip
    assert code == 2 and str(hostile) in err and "header declares" in err, err
    record_peak("model: theta.npy of deflated zeros", peak)


def test_item3_member_sizes_are_checked_against_the_archive():
    info = zipfile.ZipInfo("theta.npy")
    info.compress_type, info.compress_size, info.file_size = zipfile.ZIP_DEFLATED, 10**6, 4 * GiB
    with pytest.raises(DatasetError, match="more than its 1,000,000 compressed bytes"):
        fileio.check_member("m.npz", info, 2 * 10**6)
    info.compress_size = 10**9
    with pytest.raises(DatasetError, match="the file has only"):
        fileio.check_member("m.npz", info, 2 * 10**6)


def test_item3_gzipped_idx_that_inflates_past_its_header(tmp_path, env):
    hostile = tmp_path / "one-image-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + np.array([1, 28, 28], ">u4").tobytes()
    hostile.write_bytes(gzip_stream(header, bytes(784), repeat_zeros=GiB))
    assert hostile.stat().st_size < 8 << 20
    code, _, err, peak = peak_python(
        f"from numrec.idx import read_idx; read_idx({str(hostile)!r})", env, tmp_path
    )
    assert code == 2 and "unexpected trailing bytes" in err, err
    record_peak("gzip IDX: 1 image declared, 1 GiB inflated", peak)


def test_item3_gzipped_idx_that_declares_more_than_it_can_hold(tmp_path):
    hostile = tmp_path / "huge-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + np.array([4_000_000, 28, 28], ">u4").tobytes()
    hostile.write_bytes(gzip_stream(header, bytes(1000)))
    with pytest.raises(DatasetError, match="cannot hold that many"):
        read_idx(hostile)


def emnist_zip(path: Path) -> Path:
    split = "digits"
    files = {f"emnist-{split}-mapping.txt": "".join(f"{i} {48 + i}\n" for i in range(10))}
    rng = np.random.default_rng(0)
    for part, n in (("train", 20), ("test", 10)):
        files[f"emnist-{split}-{part}-images-idx3-ubyte"] = encode_idx(
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        )
        files[f"emnist-{split}-{part}-labels-idx1-ubyte"] = encode_idx(
            rng.integers(0, 10, n).astype(np.uint8)
        )
    import gzip

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            if name.endswith(".txt"):
                z.writestr(f"gzip/{name}", data)
            else:
                z.writestr(f"gzip/{name}.gz", gzip.compress(data, mtime=0))
    return path


def test_item3_emnist_member_that_claims_3e9_bytes(tmp_path, env):
    hostile = emnist_zip(tmp_path / "gzip.zip")
    patch_zip(hostile, "gzip/emnist-digits-train-images-idx3-ubyte.gz", size=3_000_000_000)
    code, _, err, peak = peak_python(
        f"import numrec; numrec.load_dataset('emnist', split='digits', data_dir="
        f"{str(tmp_path)!r}, cache=False)",
        env,
        tmp_path,
    )
    assert code == 2 and "claims 3,000,000,000 bytes" in err and str(hostile) in err, err
    record_peak("EMNIST zip member claiming 3e9 bytes", peak)


def test_item3_csv_with_one_long_label(tmp_path, env):
    hostile = tmp_path / "long-label.csv"
    rows = 300_000
    with open(hostile, "w") as f:
        f.write("label,x\n")
        f.write("y" * 1000 + ",5\n")
        f.write("a,1\nb,2\n" * (rows // 2))
    code, out, err, peak = peak_python(
        f"""
        import numrec
        ds = numrec.load_dataset('csv', train={str(hostile)!r}, test={str(hostile)!r})
        print(len(ds.train), len(ds.class_names))
        """,
        env,
        tmp_path,
    )
    assert code == 0, err
    assert out.split() == [str(rows + 1), "3"]
    record_peak("CSV: one 1,000-character label, 300k rows", peak)


def wide_csv(path: Path) -> Path:
    with open(path, "w") as f:
        for i in range(6):
            f.write(f"{i % 2}," + ",".join(["1"] * 100_000) + "\n")
        f.write("\n" * 1_000_000)
    return path


def test_item3_csv_of_6_wide_rows_and_a_million_blank_lines(tmp_path, env):
    hostile = wide_csv(tmp_path / "wide.csv")
    code, out, err, peak = peak_python(
        f"""
        import numrec
        ds = numrec.load_dataset('csv', train={str(hostile)!r}, test={str(hostile)!r},
                                 cache=False)
        print(ds.train.X.shape)
        """,
        env,
        tmp_path,
    )
    assert code == 0 and out.strip() == "(6, 100000)", err
    record_peak("CSV: 6 rows x 100,000 columns + 1e6 blank lines", peak)


def test_item3_image_of_8000x8000_pixels_is_refused_before_decoding(tmp_path, env):
    model = tiny_mnist_model(tmp_path / "m.npz")
    big = png(tmp_path / "big.png", 8000, 8000)
    code, _, err, peak = peak_run([script("numrec-predict"), str(model), str(big)], env, tmp_path)
    assert code == 2 and "8000x8000 = 64,000,000 pixels" in err and "Traceback" not in err, err
    assert "scale it down first" in err
    record_peak("numrec-predict: 8000x8000 PNG", peak)


def test_item3_large_allowed_image_is_shrunk_before_float64(tmp_path, env):
    model = tiny_mnist_model(tmp_path / "m.npz")
    image = png(tmp_path / "photo.png", 4000, 4150, "RGBA")  # 63 MB decoded: the most
    code, out, err, peak = peak_run([script("numrec-predict"), str(model), str(image)], env,
                                    tmp_path)  # fmt: skip
    assert code == 0, err
    record_peak("numrec-predict: 4000x4150 RGBA PNG (accepted)", peak)


# --- item 4: one line, exit 2 ---------------------------------------------------------


def encrypted_model(path: Path) -> Path:
    tiny_mnist_model(path)
    return patch_zip(path, "theta.npy", encrypted=True)


HOSTILE_MODELS = {
    "format list": lambda p: write_model(p, model_doc(format=[])),
    "400-digit alpha": lambda p: write_model(
        p, model_doc(architecture={"sizes": [6, 5, 3], "alpha": 10**400})
    ),
    "alpha 1e300": lambda p: write_model(
        p, model_doc(architecture={"sizes": [6, 5, 3], "alpha": 1e300})
    ),
    "dataset object": lambda p: write_model(p, model_doc(dataset={"name": "mnist"})),
    "dataset number": lambda p: write_model(p, model_doc(dataset=7)),
    "image_shape words": lambda p: write_model(p, model_doc(meta={"image_shape": ["a", "b"]})),
    "hidden list": lambda p: write_model(
        p, model_doc(architecture={"sizes": [6, 5, 3], "hidden": ["relu"]})
    ),
    "encrypted theta": encrypted_model,
}
HOSTILE_MESSAGES = {
    "format list": "format is []",
    "400-digit alpha": "'alpha' must be a finite number",
    "alpha 1e300": "'alpha' must be a finite number",
    "dataset object": "must be a data set name",
    "dataset number": "must be a data set name",
    "image_shape words": "'image_shape' must be",
    "hidden list": "'hidden' must be a name",
    "encrypted theta": "is encrypted",
}


@pytest.mark.parametrize("case", list(HOSTILE_MODELS))
def test_item4_hostile_model_metadata_is_one_line(tmp_path, env, case):
    model = HOSTILE_MODELS[case](tmp_path / "m.npz")
    with pytest.raises(DatasetError) as info:
        load_network(model)
    assert str(model) in str(info.value) and HOSTILE_MESSAGES[case] in str(info.value)
    for name, args in (("numrec-eval", ("--dataset", "mnist")), ("numrec-predict", ("x.png",))):
        result = run(name, model, *args, env=env)
        assert_usage_error(result, str(model), HOSTILE_MESSAGES[case])


@pytest.mark.parametrize(
    "delta, message",
    [("1.5", "'huber_delta' must be a number, got '1.5'"),
     (1e300, "'huber_delta' must be a finite number from 0"),
     (0, "'huber_delta' must be positive, got 0.0")],
)  # fmt: skip
def test_item4_bad_huber_delta_is_named(tmp_path, delta, message):
    """The message names the field that is wrong (it once said 'alpha' for huber_delta)."""
    arch = {"sizes": [6, 5, 3], "loss": "huber", "huber_delta": delta}
    model = write_model(tmp_path / "m.npz", model_doc(architecture=arch))
    with pytest.raises(DatasetError, match=message) as info:
        load_network(model)
    assert str(model) in str(info.value) and "'alpha'" not in str(info.value)


def test_item4_encrypted_checkpoint_and_emnist_member(tmp_path, env):
    from numrec.training import Trainer

    X = np.random.default_rng(0).integers(0, 256, (30, 6), dtype=np.uint8)
    y = (X[:, 0] % 3).astype(np.int64)
    ds = numrec.Dataset("t", numrec.Split(X, y), numrec.Split(X, y), ["a", "b", "c"])
    trainer = Trainer(numrec.Network([6, 5, 3], seed=0), ds, epochs=1, progress=False)
    checkpoint = save_checkpoint(tmp_path / "c.npz", trainer)
    patch_zip(checkpoint, "m.npy", encrypted=True)
    with pytest.raises(DatasetError, match="zip member m.npy is encrypted"):
        load_checkpoint(checkpoint)
    result = run("numrec-train", "--resume", checkpoint, env=env)
    assert_usage_error(result, "encrypted")
    hostile = emnist_zip(tmp_path / "gzip.zip")
    patch_zip(hostile, "gzip/emnist-digits-test-labels-idx1-ubyte.gz", encrypted=True)
    result = run("numrec-eval", tiny_mnist_model(tmp_path / "m.npz"), "--dataset", "emnist",
                 "--split", "digits", "--data-dir", tmp_path, env=env)  # fmt: skip
    assert_usage_error(result, "emnist-digits-test-labels-idx1-ubyte.gz is encrypted")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label,a,b\n1,2\r3,4\n5,6,7\n", "line 2: a carriage return"),
        ("label,a,b\r5,6,7\n1,2,3\n", "line 1: a carriage return"),
        ('label,a\n1,"' + "9" * 140_000 + '"\n2,3\n', "more than 131,072 characters"),
        ("label,a\n0,1\n1,2\n" * 3 + '0,"' + "9" * 140_000 + '"\n', "more than 131,072"),
    ],
    ids=["lone CR in data line", "lone CR in header", "long field (sniffed)", "long quoted field"],
)
def test_item4_csv_lines_the_csv_module_refuses(tmp_path, env, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, newline="")
    with pytest.raises(DatasetError) as info:
        numrec.load_dataset("csv", train=path, test=path, cache=False)
    assert str(path) in str(info.value) and message in str(info.value)
    result = run("numrec-eval", tiny_mnist_model(tmp_path / "m.npz"), "--dataset", "csv",
                 "--train", path, "--test", path, env=env)  # fmt: skip
    assert_usage_error(result, str(path), message)


def test_item4_memory_error_is_one_line_with_exit_2(capsys):
    from numrec.cli import common

    def main(argv):
        np.empty((10**7, 10**7))  # 800 TB: MemoryError at once, nothing allocated

    assert common.run("numrec-x", main, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numrec-x: error: out of memory")


@pytest.mark.slow
def test_item4_huge_batch_on_a_wide_csv_is_one_line(tmp_path, env):
    data = wide_csv(tmp_path / "wide.csv")
    command = [script("numrec-train"), "--dataset", "csv", "--train", str(data),
               "--test", str(data), "--hidden", "4", "--epochs", "1", "--threads", "1",
               "--quiet"]  # fmt: skip
    # The same run with an ordinary batch first, measured the same way: it also compiles the
    # training kernels into the disk cache. What the huge batch may cost is measured against
    # it: the environment's own baseline (imports, numba, a cold compile where the cache is
    # empty) is 171 MB here and 335 MB in a fresh tox environment, whatever the batch.
    warm_code, _, warm_err, baseline = peak_run([*command, "--batch-size", "32"], env, tmp_path)
    assert warm_code == 0, warm_err
    code, out, err, peak = peak_run([*command, "--batch-size", "100000000"], env, tmp_path)
    assert "Traceback" not in err and code in (0, 2), err
    if code == 2:
        assert err.count(": error: ") == 1, err
    PEAKS[f"numrec-train --batch-size 1e8 on the wide CSV (exit {code})"] = peak
    print(f"\npeak memory, wide CSV: batch 32 {baseline:.0f} MB, batch 1e8 {peak:.0f} MB")
    # buffers are sized for the rows there are, so the huge batch costs no more than 32
    assert peak < baseline + 50, (baseline, peak)


# --- item 5: a data file that shrinks during training --------------------------------


def test_item5_idx_truncated_after_loading_is_no_bus_error(tmp_path, env):
    folder = tmp_path / "digits"
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix, n in (("train", 300), ("t10k", 50)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    code = f"""
        import os, numpy as np, numrec
        ds = numrec.load_dataset("mnist", data_dir={str(folder)!r})
        want = int(ds.train.X.sum())
        os.truncate({str(folder / "train-images-idx3-ubyte")!r}, 100)  # another program
        net = numrec.Network([784, 4, 10], seed=0)
        numrec.train(net, ds, epochs=1, batch_size=32, progress=False)
        assert int(ds.train.X.sum()) == want
        print("trained")
    """
    result, out, err, _ = peak_python(code, env, tmp_path)
    assert result == 0 and out.strip() == "trained", err
    # the same with the file memory-mapped (as every raw IDX file was before): SIGBUS
    mapped = code.replace("import os,", "import numrec.idx; numrec.idx.MAP_ABOVE = 0; import os,")
    for prefix in ("train",):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte",
            rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
        )
    result, _, err, _ = peak_python(mapped, env, tmp_path)
    assert result == -signal.SIGBUS, (result, err)


# --- item 6: silent numerics ----------------------------------------------------------


def test_item6_csv_cell_beyond_float32(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("label,a,b\n0,1,2\n1,3,1e39\n0,0.5,2\n")
    with pytest.raises(DatasetError) as info:
        numrec.load_dataset("csv", train=path, test=path, cache=False)
    assert f"{path}: line 3, column 3 ('b'): '1e39' is beyond float32's range" in str(info.value)


SEED = "[layers]\n[2, 2]\n[weights]\n[{w}, 0.5, 0.25, 0.125]\n[biases]\n[0, 0]\n[alpha]\n{a}\n"


@pytest.mark.parametrize(
    ("weight", "alpha", "message"),
    [
        ("1", "nan", "line 8: [alpha] must be a finite number"),
        ("1", "inf", "line 8: [alpha] must be a finite number"),
        ("1", "-1", "line 8: [alpha] must be a finite number"),
        ("1e39", "0.01", "line 4: value 1 (1e+39) is beyond float32's range"),
    ],
)
def test_item6_seed_text_alpha_and_weights(tmp_path, weight, alpha, message):
    path = tmp_path / "seed.txt"
    path.write_text(SEED.format(w=weight, a=alpha))
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("+", r"\+")):  # fmt: skip
        load_network(path)


def test_item6_npz_alpha_1e300_is_refused_at_load(tmp_path, env):
    model = save_network(numrec.Network([784, 8, 10], alpha=0.5, seed=0), tmp_path / "m.npz")
    with np.load(model) as npz:
        doc, theta = json.loads(str(npz["meta"])), npz["theta"]
    doc["architecture"]["alpha"] = 1e300
    hostile = write_model(tmp_path / "alpha.npz", doc, theta)
    result = run("numrec-eval", hostile, "--dataset", "mnist", env=env)
    assert_usage_error(result, str(hostile), "'alpha' must be a finite number from 0 to 3.403e+38")


# --- item 9: a signal while a console script imports ----------------------------------


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (SigCgt in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
    return bool(mask & (1 << (signum - 1)))


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.1])
def test_item9_sigint_during_imports_exits_130_quietly(tmp_path, env, delay):
    if not Path("/proc/self/status").exists():
        pytest.skip("watches the child's signal handlers in /proc (Linux)")
    child = subprocess.Popen([script("numrec-eval"), "--help"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    # Python itself never catches SIGTERM: once the child does, numrec's first import
    # has run and the numrec, numpy... imports are under way. (Earlier, while Python
    # itself starts, nothing numrec does can help.)
    deadline = time.monotonic() + 30
    while not _catches(child.pid, signal.SIGTERM) and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # 0: the help was printed before the signal came (a fast machine); never -2 or 1
    assert child.returncode in (130, 0), (child.returncode, err)


def test_item9_import_numrec_elsewhere_leaves_sigint_alone(tmp_path, env):
    # compared with the handler before the import: a process started with SIGINT ignored
    # (a background job of a non-interactive shell) keeps SIG_IGN, and so must numrec
    code = (
        "import signal\n"
        "before = signal.getsignal(signal.SIGINT)\n"
        "import numrec, numrec.cli.common\n"
        "assert signal.getsignal(signal.SIGINT) is before\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- fileio: the one writer -----------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_fileio_permissions_follow_the_umask(tmp_path, env, umask):
    code = (
        f"import os; os.umask({umask}); from numrec.fileio import write_bytes\n"
        f"write_bytes({str(tmp_path / 'f.bin')!r}, b'x')\n"
        "print(os.umask(0))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == umask  # the umask itself was never changed
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def test_fileio_failure_leaves_the_old_file_and_no_temp(tmp_path):
    path = fileio.write_bytes(tmp_path / "model.npz", b"old")
    with pytest.raises(RuntimeError), fileio.atomic_write(path) as out:
        out.write(b"half")
        raise RuntimeError("crash")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_fileio_a_sigkilled_writer_leaves_a_temp_that_the_next_write_removes(tmp_path, env):
    code = (
        "import time\nfrom numrec.fileio import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'model.npz')!r}) as out:\n"
        "    out.write(b'half'); out.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdout.readline().strip() == "writing"
    live = list(tmp_path.glob(".model.npz.*" + fileio.TEMP_SUFFIX))
    assert len(live) == 1
    # a live writer's temp is left alone by another writer of the same folder
    fileio.write_bytes(tmp_path / "other.npz", b"x")
    assert live[0].exists()
    child.kill()
    child.wait()
    other_host = tmp_path / f".x.npz.elsewhere-1.abcd{fileio.TEMP_SUFFIX}"
    other_host.write_bytes(b"")
    old_other_host = tmp_path / f".y.npz.elsewhere-2.abcd{fileio.TEMP_SUFFIX}"
    old_other_host.write_bytes(b"")
    os.utime(old_other_host, (time.time() - 2 * fileio.STALE_AFTER,) * 2)
    not_ours = tmp_path / ".z.npz.tmp"
    not_ours.write_bytes(b"")
    fileio.write_bytes(tmp_path / "model.npz", b"whole")
    assert not live[0].exists() and not old_other_host.exists()
    assert other_host.exists() and not_ours.exists()
    assert (tmp_path / "model.npz").read_bytes() == b"whole"


def test_fileio_every_writer_goes_through_it(tmp_path, monkeypatch):
    """Models, checkpoints, IDX files, the CSV and EMNIST caches are written by fileio."""
    written = []
    real = fileio.atomic_write

    def spy(path):
        written.append(Path(path).name)
        return real(path)

    import numrec_csv.cache
    import numrec_emnist.plugin

    import numrec.idx
    import numrec.serialize

    for module in (numrec.idx, numrec.serialize, numrec_csv.cache, numrec_emnist.plugin):
        monkeypatch.setattr(module, "atomic_write", spy)
    monkeypatch.setenv("NUMREC_DATA", str(tmp_path / "data"))
    save_network(numrec.Network([6, 5, 3], seed=0), tmp_path / "m.npz")
    write_idx(tmp_path / "x-idx1-ubyte", np.arange(5, dtype=np.uint8))
    csv = tmp_path / "d.csv"
    csv.write_text("label,a\n0,1\n1,2\n0,3\n1,4\n")
    numrec.load_dataset("csv", train=csv, test=csv)
    emnist_zip(tmp_path / "gzip.zip")
    numrec.load_dataset("emnist", split="digits", data_dir=tmp_path)
    assert written[:2] == ["m.npz", "x-idx1-ubyte"]
    assert len(written) == 4 and written[2].endswith(".npz") and written[3].startswith("digits-")


def test_item6_softmax_cross_entropy_is_log_sum_exp_not_saturated():
    """A confidently wrong softmax: the target's probability underflows in float32. The
    loss is PyTorch's cross_entropy from the logits (log-sum-exp), far above the ~69 that
    -log(max(p, 1e-30)) saturated at, in training and in evaluate alike."""
    net = numrec.Network([4, 3], seed=0)
    net.weights = [np.array([[200.0, 0, 0, 0], [0, 0, 0, 0], [-200.0, 0, 0, 0]])]
    net.biases = [np.zeros(3)]
    X = np.array([[1.0, 0, 0, 0], [0.5, 0, 0, 0]], dtype=np.float32)
    y = np.array([2, 2])
    z = net.logits(X)
    expected = float(np.mean([np.logaddexp.reduce(r) - r[2] for r in z]))  # 400 and 200
    assert expected > 250
    assert net.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-6)
    ds = numrec.Dataset("wrong", numrec.Split(X, y), numrec.Split(X[:0], y[:0]), list("abc"))
    history = numrec.train(net, ds, epochs=1, batch_size=2, lr=1e-12, validation_fraction=0,
                           schedule="constant", progress=False)  # fmt: skip
    assert history[0]["loss"] == pytest.approx(expected, rel=1e-5)
