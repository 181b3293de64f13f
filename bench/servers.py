"""The two servers under test as child processes: start, wait for health, measure, stop.

Both run under uvicorn with one worker and no access log, so only the apps differ.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer

# The directory holding the `exchange` package: children import it from there.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    log_file: IO[bytes]

    def log_tail(self, lines: int = 30) -> str:
        self.log_file.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def logged_errors(self) -> tuple[int, str | None]:
        """Tracebacks the server logged (work that failed behind a 2xx), and the first in full."""
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace")
        count = text.count("Traceback (most recent call last)")
        if not count:
            return 0, None
        start = text.index("Traceback (most recent call last)")
        return count, text[start : start + 4000]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, *argv],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    return Server(name, process, f"http://127.0.0.1:{port}", log_path, log_file)


def start_exchange(
    database_url: str, admin_key: str, log_dir: Path, extra_env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EXCHANGE_ADMIN_KEY": admin_key,
        # A stray exchange.toml in the working directory must not change what is measured.
        "EXCHANGE_CONFIG": str(log_dir / "no-exchange.toml"),
        # The load comes from one key, far past a publisher's default rate: no limit here.
        "EXCHANGE_RATE_PER_SECOND": "0",
        **(extra_env or {}),
    }
    argv = ["-m", "exchange.cli", "serve", "--port", str(port), "--log-level", "warning"]
    return _start("exchange", argv, env, port, log_dir)


def start_bare(log_dir: Path) -> Server:
    port = free_port()
    argv = [
        "-m",
        "uvicorn",
        "bench.bare:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return _start("bare", argv, dict(os.environ), port, log_dir)


def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    """Poll GET /healthz until 200; the exchange migrates and loads its zip table first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode} before it was healthy:\n"
                + server.log_tail()
            )
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not healthy after {timeout:.0f} s:\n" + server.log_tail())


def create_publisher(exchange: Server, admin_key: str, **extra: Any) -> str:
    """A publisher through the API, as an operator would make one; returns its API key."""
    body = {"name": "bench", "payout": {"model": "revshare", "percent": 70}, **extra}
    request = urllib.request.Request(
        exchange.url + "/v1/publishers",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        created: dict[str, Any] = json.loads(answer.read())
    return str(created["api_key"])


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water resident set (VmHWM), in MB; None where /proc has no such line."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU the process has used so far, all its threads included."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised name, which may itself hold spaces; utime and stime
    # are the 14th and 15th fields of the whole line.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


T = TypeVar("T")


def with_cpu(pid: int, run: Callable[[], T]) -> tuple[T, float | None, float]:
    """`run()`'s result, the CPU seconds process `pid` used meanwhile (None if unreadable),
    and the seconds it took."""
    before, started = cpu_seconds(pid), time.monotonic()
    result = run()
    after, elapsed = cpu_seconds(pid), time.monotonic() - started
    return result, None if before is None or after is None else after - before, elapsed


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_server(server: Server) -> None:
    try:
        stop(server.process)
    finally:
        server.log_file.close()


DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="a PostgreSQL server to benchmark on (a fresh database is made and dropped)"),
]
JsonOnly = Annotated[bool, typer.Option("--json", help="print only the JSON figures")]


def prepare_run(database_url: str | None) -> None:
    """What every benchmark command does first: stop children on SIGTERM, check the URL."""
    # SIGTERM would end Python without unwinding; as SystemExit every child still gets stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if database_url is not None and not database_url.startswith("postgresql"):
        raise typer.BadParameter(
            "only PostgreSQL URLs; SQLite always runs on a fresh file", param_hint="--database-url"
        )


def runs_that_failed(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The runs whose figures cannot stand, each reported on stderr with its first problem.

    A non-2xx answer or an unsold auction is cheaper than a stored lead or a sale, so the rate
    would flatter; a traceback in the server's log is work that failed behind a 2xx.
    """
    failed = []
    for name, run in runs.items():
        problems = run.get("errors", 0) + run.get("not_sold", 0)
        if problems:
            print(f"{name}: {problems} errors; the first: {run['first_error']}", file=sys.stderr)
            failed.append(name)
        seeded = run.get("seeded_person_status")
        if seeded not in (None, 409):
            print(f"{name}: a stored person posted again answered {seeded}, not 409", file=sys.stderr)
            failed.append(name)
        if run.get("logged_errors"):
            print(
                f"{name} logged {run['logged_errors']} errors; the first:\n{run['first_logged_error']}",
                file=sys.stderr,
            )
            failed.append(name)
    return failed
