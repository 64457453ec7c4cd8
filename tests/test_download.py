"""Downloads against a real HTTP server on 127.0.0.1: mirrors, checksums, cache, timeouts."""

from __future__ import annotations

import hashlib
import socket
import sys
import time
from pathlib import Path

import pytest

from numrec import DatasetError, DownloadError, download
from numrec.download import cached, data_root, fetch, is_network_failure, mirror_urls

BODY = b"numrec test file \x00\x01\x02" * 1000
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


def leftovers(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_download_then_cache_hit(numrec_cache, numrec_http_server):
    server = numrec_http_server
    server.files["/a/data.bin"] = BODY
    path = fetch("toy", "data.bin", [server.url + "/a/"], sha256=SHA256, progress=False)
    assert path == numrec_cache / "toy" / "data.bin"
    assert path.read_bytes() == BODY
    assert download.origin(path) == server.url + "/a/data.bin"
    assert server.requests[0][1]["User-Agent"].startswith("numrec/")
    # second time: straight from the cache, the server is not asked again
    assert fetch("toy", "data.bin", [server.url + "/a/"], sha256=SHA256) == path
    assert server.paths() == ["/a/data.bin"]
    assert cached("toy", "data.bin") == path
    assert leftovers(numrec_cache) == [path]  # no temp file left beside it


def test_404_then_next_mirror(numrec_cache, numrec_http_server):
    server = numrec_http_server
    server.files["/good/data.bin"] = BODY
    mirrors = [server.url + "/missing", server.url + "/good/"]  # with or without a slash
    path = fetch("toy", "data.bin", mirrors, md5=MD5, size=len(BODY), progress=False)
    assert path.read_bytes() == BODY
    assert server.paths() == ["/missing/data.bin", "/good/data.bin"]


def test_checksum_mismatch_moves_on_then_fails_with_nothing_cached(
    numrec_cache, numrec_http_server
):
    server = numrec_http_server
    server.files["/bad1/data.bin"] = b"<html>not the file</html>"
    server.files["/bad2/data.bin"] = BODY[:-1] + b"X"
    server.files["/good/data.bin"] = BODY
    mirrors = [server.url + "/bad1/", server.url + "/bad2/"]
    with pytest.raises(DownloadError) as info:
        fetch("toy", "data.bin", mirrors, sha256=SHA256, progress=False)
    message = str(info.value)
    assert "checksum mismatch: expected sha256 " + SHA256 in message
    assert all(url + "data.bin" in message for url in mirrors)
    assert [why for _, why in info.value.attempts][0].startswith("checksum mismatch")
    assert not is_network_failure(info.value)  # a wrong file is never "offline"
    assert leftovers(numrec_cache) == []
    assert cached("toy", "data.bin") is None
    # a good mirror after the bad ones is reached
    path = fetch("toy", "data.bin", [*mirrors, server.url + "/good/"], sha256=SHA256)
    assert path.read_bytes() == BODY


def test_size_mismatch_and_404_are_reported_per_mirror(numrec_cache, numrec_http_server):
    server = numrec_http_server
    server.files["/short/data.bin"] = BODY[:100]
    with pytest.raises(DownloadError) as info:
        fetch("toy", "data.bin", [server.url + "/short/", server.url + "/none/"], size=len(BODY))
    reasons = [why for _, why in info.value.attempts]
    assert reasons[0] == f"size mismatch: expected {len(BODY)} bytes, got 100"
    assert reasons[1].startswith("HTTP 404")
    assert leftovers(numrec_cache) == []


def test_numrec_mirror_is_tried_first(numrec_cache, numrec_http_server, monkeypatch):
    server = numrec_http_server
    server.files["/base/toy/data.bin"] = BODY
    monkeypatch.setenv("NUMREC_MIRROR", server.url + "/base/")
    assert mirror_urls("toy", "data.bin", ["https://example.invalid/x/"]) == [
        server.url + "/base/toy/data.bin",
        "https://example.invalid/x/data.bin",
    ]
    path = fetch("toy", "data.bin", ["https://example.invalid/x/"], sha256=SHA256)
    assert path.read_bytes() == BODY
    assert server.paths() == ["/base/toy/data.bin"]


def test_a_server_that_never_answers_times_out_promptly(numrec_cache):
    silent = socket.socket()  # accepts connections (the kernel's backlog), never replies
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    try:
        start = time.monotonic()
        with pytest.raises(DownloadError, match="timed out after 1 s") as info:
            fetch("toy", "data.bin", [url], sha256=SHA256, timeout=1, progress=False)
        assert time.monotonic() - start < 10
    finally:
        silent.close()
    assert is_network_failure(info.value)
    assert leftovers(numrec_cache) == []


def test_refused_connection_is_a_network_failure(numrec_cache):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with pytest.raises(DownloadError, match="cannot connect") as info:
        fetch("toy", "data.bin", [f"http://127.0.0.1:{port}/"], timeout=2, progress=False)
    assert is_network_failure(info.value)


def test_interrupt_leaves_nothing_in_the_cache(numrec_cache, numrec_http_server, monkeypatch):
    server = numrec_http_server
    server.files["/a/data.bin"] = BODY

    def interrupted(response, out, hashers, bar):
        out.write(response.read(10))  # some bytes are on disk when the user hits Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch("toy", "data.bin", [server.url + "/a/"], sha256=SHA256, progress=False)
    assert leftovers(numrec_cache) == []


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NUMREC_DATA", str(blocker))
    with pytest.raises(DatasetError, match="NUMREC_DATA"):
        fetch("toy", "data.bin", ["http://127.0.0.1:9/"])


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMREC_DATA", str(tmp_path / "here"))
    assert data_root() == tmp_path / "here"
    monkeypatch.delenv("NUMREC_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "numrec"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert data_root() == tmp_path / ".cache" / "numrec"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert data_root() == tmp_path / "Library" / "Caches" / "numrec"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert data_root() == tmp_path / "Local" / "numrec" / "Cache"
