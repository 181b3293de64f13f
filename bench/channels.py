"""`python -m bench.channels`: the inbound channels beside `POST /v1/leads`, in one run.

One exchange (SQLite, a fresh database) takes, in turn:

- a batch of `--rows` leads as one CSV (`POST /v1/leads/batch`): rows/s from the upload to
  the batch's `done`, and the server's peak RSS, measured first so it is the batch's own;
- raw e-mails of one `Key: Value` lead each (`POST /v1/inbound/email`), from `--connections`
  concurrent clients for `--seconds`: messages/s;
- leads as JSON (`POST /v1/leads?mode=async`), by the same load generator as `python -m bench`:
  leads/s, the rate the other two are read against.

Every lead is a different person, so no channel is answered with a cheaper duplicate.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer

from bench.leads import bench_lead
from bench.load import LoadConfig, load_in_subprocess
from bench.servers import create_publisher, peak_rss_mb, start_exchange, stop_server, wait_healthy

ADMIN_KEY = "bench-admin-key"
COLUMNS = ("first_name", "last_name", "email", "phone", "zip", "date_of_birth", "currently_insured")
COLUMNS += ("vehicle_year", "vehicle_make", "vehicle_model")
LABELS = ("First Name", "Last Name", "E-mail", "Phone Number", "Zip Code", "Date of Birth")
LABELS += ("Currently Insured", "Vehicle Year", "Vehicle Make", "Vehicle Model")

cli = typer.Typer(add_completion=False)


def batch_csv(first: int, rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for n in range(first, first + rows):
        lead = bench_lead(n)
        writer.writerow([lead[c] for c in COLUMNS])
    return out.getvalue().encode()


def message(n: int) -> bytes:
    lead = bench_lead(n)
    lines = "\r\n".join(f"{label}: {lead[c]}" for label, c in zip(LABELS, COLUMNS, strict=True))
    head = (
        f"From: vendor@example.com\r\nTo: bench+auto_insurance@leads.example\r\nMessage-ID: <{n}@bench>\r\n"
    )
    return f"{head}Subject: lead\r\n\r\n{lines}\r\n".encode()


def run_batch(url: str, key: str, database: Path, rows: int) -> dict[str, Any]:
    body = batch_csv(10_000_000, rows)
    started = time.perf_counter()
    request = aiohttp_post(url + "/v1/leads/batch?vertical=auto_insurance", key, body, "text/csv")
    batch_id = json.loads(request)["batch_id"]
    while True:  # read from the database, not GET /v1/batches: that would list every row
        with sqlite3.connect(database) as db:
            status = db.execute("select status from batches where id = ?", (batch_id,)).fetchone()[0]
        if status == "done":
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds, 1)}


def aiohttp_post(url: str, key: str, body: bytes, content_type: str) -> bytes:
    async def send() -> bytes:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, data=body, headers={"Authorization": f"Bearer {key}", "Content-Type": content_type}
            ) as answer,
        ):
            payload = await answer.read()
            if answer.status >= 300:
                raise RuntimeError(f"HTTP {answer.status}: {payload[:500]!r}")
            return payload

    return asyncio.run(send())


async def run_email(url: str, key: str, seconds: float, connections: int) -> dict[str, Any]:
    numbers = itertools.count(20_000_000)
    done = errors = 0
    end = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < end:
            async with session.post(
                url + "/v1/inbound/email", data=message(next(numbers)), headers=headers
            ) as answer:
                await answer.read()
                if answer.status == 202:
                    done += 1
                else:
                    errors += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"messages": done, "errors": errors, "messages_per_second": round(done / elapsed, 1)}


@cli.command()
def bench(
    rows: Annotated[int, typer.Option(min=1, help="rows in the batch")] = 100_000,
    seconds: Annotated[float, typer.Option(min=0.1, help="measured e-mail and lead load")] = 10.0,
    connections: Annotated[int, typer.Option(min=1, help="concurrent clients")] = 32,
) -> None:
    """Print batch rows/s (with peak RSS), e-mail messages/s and POST /v1/leads leads/s."""
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as folder:
        database = Path(folder) / "exchange.db"
        server = start_exchange(f"sqlite:///{database}", ADMIN_KEY, Path(folder))
        try:
            wait_healthy(server)
            key = create_publisher(server, ADMIN_KEY)
            batch = run_batch(server.url, key, database, rows)
            batch["peak_rss_mb"] = peak_rss_mb(server.process.pid)
            email = asyncio.run(run_email(server.url, key, seconds, connections))
            leads = load_in_subprocess(
                LoadConfig(url=server.url, api_key=key, seconds=seconds, warmup=1.0, connections=connections)
            )
        finally:
            stop_server(server)
    report = {
        "batch": batch,
        "email": email,
        "leads": {"leads_per_second": round(leads.rate, 1), "errors": leads.errors},
    }
    rss = batch["peak_rss_mb"]
    print(f"batch   {batch['rows']} rows in {batch['seconds']} s: {batch['rows_per_second']} rows/s")
    print(f"        peak RSS of the exchange {rss:.0f} MB" if rss else "        peak RSS unknown")
    print(f"e-mail  {email['messages_per_second']} messages/s ({email['errors']} errors)")
    print(f"leads   {report['leads']['leads_per_second']} leads/s (POST /v1/leads?mode=async)")
    print(json.dumps(report))


if __name__ == "__main__":
    cli()
