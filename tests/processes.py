"""The exchange as its own process (`exchange serve`), as in production: started, killed, restarted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str, port: int, log: Path, *, cwd: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`exchange serve` on `port`, answering /healthz; `env` adds or overrides settings (an
    empty value leaves the default)."""
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EXCHANGE_ADMIN_KEY": ADMIN_KEY,
        "EXCHANGE_OUTBOX_LEASE_SECONDS": "1",
        "EXCHANGE_OUTBOX_POLL_SECONDS": "0.2",
        # Fake buyers listen on loopback.
        "EXCHANGE_ALLOW_PRIVATE_DESTINATIONS": "1",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=environ,
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator stops it; killed if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_worker(database_url: str, redis_url: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`exchange worker`, once it has started (its log says so)."""
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EXCHANGE_ADMIN_KEY": ADMIN_KEY,
        "EXCHANGE_OUTBOX_LEASE_SECONDS": "1",
        "EXCHANGE_ALLOW_PRIVATE_DESTINATIONS": "1",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "worker", "--log-level", "info"],
        env=environ,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "exchange worker ready" in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            raise AssertionError(f"worker exited: {log.read_text()}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"worker did not start: {log.read_text()}")
