"""Shared fixtures: a numrec cache in a temp dir, a clean plugin host, the environment of a
console script run in-process, local HTTP servers."""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@pytest.fixture
def numrec_cache(tmp_path, monkeypatch) -> Path:
    """NUMREC_DATA pointed at an empty temp folder, and no NUMREC_MIRROR."""
    root = tmp_path / "numrec-data"
    monkeypatch.setenv("NUMREC_DATA", str(root))
    monkeypatch.delenv("NUMREC_MIRROR", raising=False)
    return root


@pytest.fixture
def cli_inprocess(tmp_path, monkeypatch, numrec_plugin_host):
    """This process's environment as ``cli_helpers.cli_env`` makes a subprocess's: an empty
    cache, no outside plugin, every download refused at once. For ``cli_helpers.run_main``."""
    from cli_helpers import cli_env

    for name in [k for k in os.environ if k.startswith("NUMREC_")]:
        monkeypatch.delenv(name)
    for name, value in cli_env(tmp_path).items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture
def numrec_plugin_host(monkeypatch):
    """A fresh plugin host that loads no installed outside plugin; reset again after."""
    from numrec import plugins

    monkeypatch.setenv("NUMREC_LOAD_PLUGINS", "")
    plugins._reset()
    yield plugins
    plugins._reset()


class LocalServer:
    """What the test server serves (``files``: URL path -> bytes) and what it was asked.

    Per path, it can also answer slowly: ``answer_delay`` seconds before the headers,
    ``chunk_delay`` seconds between 4 KiB chunks of the body; and ``endless`` paths
    stream junk without a Content-Length until the client hangs up (``sent`` counts it).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.answer_delay: dict[str, float] = {}
        self.chunk_delay: dict[str, float] = {}
        self.endless: set[str] = set()
        self.sent: dict[str, int] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def numrec_http_server():
    """A real HTTP server on 127.0.0.1 in a thread: 200 for ``files``, else 404."""
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests.append((self.path, dict(self.headers)))
            time.sleep(state.answer_delay.get(self.path, 0))
            if self.path in state.endless:
                self.send_response(200)
                self.end_headers()
                junk = b"junk" * 16384
                state.sent[self.path] = 0
                try:
                    while True:
                        self.wfile.write(junk)
                        state.sent[self.path] += len(junk)
                except OSError:  # the client hung up
                    return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            delay = state.chunk_delay.get(self.path)
            if delay is None:
                self.wfile.write(body)
                return
            try:
                for start in range(0, len(body), 4096):
                    self.wfile.write(body[start : start + 4096])
                    self.wfile.flush()
                    time.sleep(delay)
            except OSError:
                return

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_url():
    """``hanging_url()``: the URL of a new server that accepts connections (the kernel's
    backlog does) and never answers, like a host behind a firewall that drops replies."""
    sockets = []

    def make() -> str:
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        sockets.append(silent)
        return f"http://127.0.0.1:{silent.getsockname()[1]}/"

    yield make
    for silent in sockets:
        silent.close()


@pytest.fixture
def refused_url() -> str:
    """The URL of a port of 127.0.0.1 where nothing listens: connecting is refused."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return f"http://127.0.0.1:{port}/"
