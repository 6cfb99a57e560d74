"""Test support: puts ../src on sys.path, builds the lsmvec server binary once
per test run, and starts instances of it on free loopback ports with a
temporary data directory.

Environment:
    LSMVEC_BIN: use this server binary instead of building one with
        `go build ./cmd/lsmvec` from the repository root.
    LSMVEC_TEST_VERBOSE: when set, server logs are copied to stderr when a
        server stops.

Only the loopback interface is used.
"""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Dict, Optional

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent  # clients/python
SRC = PKG_ROOT / "src"
REPO_ROOT = PKG_ROOT.parent.parent

if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

RW_KEY = "test-rw-key"
RO_KEY = "test-ro-key"

_build_lock = threading.Lock()
_binary: Optional[str] = None
_build_error: Optional[str] = None
_tmp_root = tempfile.mkdtemp(prefix="lsmvec-pytest-")
atexit.register(shutil.rmtree, _tmp_root, True)


def server_binary() -> str:
    """Returns the path of the lsmvec binary, building it on first use.
    Raises unittest.SkipTest when it cannot be had (no Go toolchain)."""
    global _binary, _build_error
    with _build_lock:
        if _binary:
            return _binary
        if _build_error:
            raise unittest.SkipTest(_build_error)
        env_bin = os.environ.get("LSMVEC_BIN")
        if env_bin:
            if not os.access(env_bin, os.X_OK):
                raise RuntimeError(f"LSMVEC_BIN={env_bin} is not an executable file")
            _binary = env_bin
            return _binary
        go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
        if go is None:
            _build_error = "no Go toolchain (go not on PATH) and LSMVEC_BIN unset: cannot build the server to test against"
            raise unittest.SkipTest(_build_error)
        out = os.path.join(_tmp_root, "lsmvec")
        t0 = time.monotonic()
        p = subprocess.run(
            [go, "build", "-o", out, "./cmd/lsmvec"],
            cwd=str(REPO_ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if p.returncode != 0:
            # A real failure, not a skip: the server must build.
            raise RuntimeError(f"cannot build the server (go build ./cmd/lsmvec):\n{p.stdout}")
        sys.stderr.write(f"[support] built {out} in {time.monotonic() - t0:.1f}s\n")
        _binary = out
        return _binary


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """Returns a loopback port nothing listens on (connections are refused)."""
    return free_port()


class Server:
    """One lsmvec process on loopback ports with its own data directory.
    Not safe for concurrent use; start and stop it from one thread."""

    def __init__(self, env: Optional[Dict[str, str]] = None, keys: bool = True) -> None:
        self.extra_env = dict(env or {})
        self.keys = keys
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.url = ""
        self.data_dir = ""
        self.log_path = ""

    def start(self) -> "Server":
        binary = server_binary()
        last = ""
        for _ in range(3):  # a port taken between free_port() and bind: try again
            self.data_dir = tempfile.mkdtemp(prefix="data-", dir=_tmp_root)
            self.port = free_port()
            grpc_port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log_path = self.data_dir + ".log"
            env = {k: v for k, v in os.environ.items() if not k.startswith("LSMVEC_")}
            env.update({"LSMVEC_LOG_LEVEL": "warn", "LSMVEC_SHUTDOWN_TIMEOUT": "5s"})
            if self.keys:
                env.update({"LSMVEC_API_KEYS": RW_KEY, "LSMVEC_READONLY_KEYS": RO_KEY})
            env.update(self.extra_env)
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [
                        binary,
                        "-http",
                        f"127.0.0.1:{self.port}",
                        "-grpc",
                        f"127.0.0.1:{grpc_port}",
                        "-data",
                        self.data_dir,
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_healthy(20.0):
                return self
            last = self.log()
            self.stop()
        raise RuntimeError(f"cannot start lsmvec; its log:\n{last}")

    def _wait_healthy(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-8000:]
        except OSError:
            return ""

    def stop(self) -> None:
        p = self.proc
        self.proc = None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if os.environ.get("LSMVEC_TEST_VERBOSE"):
            sys.stderr.write(f"[support] server {self.url} log:\n{self.log()}\n")

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def numpy_or_none():
    """Returns the numpy module, or None when it is not installed."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    return numpy
