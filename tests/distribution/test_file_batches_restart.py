"""Batched FTP delivery survives a kill in the middle of a file: every lead in exactly one file.

The exchange runs as its own process; an FTP server on loopback takes uploads slowly, the
exchange is SIGKILLed while a batch's file is half written, and a new process sends the
batch again once its claim lapses.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aioftp
import httpx
import pytest

from tests.conftest import ADMIN_KEY, auto_insurance_lead, bearer
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_ftp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An FTP server (user `buyer`, password `pw`) that reads uploads at 600 bytes/s."""
    root = tmp_path / "ftp"
    root.mkdir()
    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    user = aioftp.User("buyer", "pw", base_path=root, read_speed_limit=600)
    server = aioftp.Server([user])
    asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", port), loop).result(timeout=10)
    try:
        yield port, root
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def _wait(what: str, check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds}s for {what}")


def test_a_batch_killed_mid_upload_is_sent_whole_once(slow_ftp: tuple[int, Path], tmp_path: Path) -> None:
    ftp_port, root = slow_ftp
    database = f"sqlite:///{tmp_path / 'exchange.db'}"
    env = {"EXCHANGE_UPKEEP_SECONDS": "0.2", "EXCHANGE_FILE_BATCH_CLAIM_SECONDS": "2"}
    port = free_port()
    server = start_server(database, port, tmp_path / "first.log", **env)
    lead_ids = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(ADMIN_KEY), timeout=10) as api:
            publisher = api.post(
                "/v1/publishers", json={"name": "P", "payout": {"model": "revshare", "percent": 50}}
            )
            buyer = api.post("/v1/buyers", json={"name": "Files", "timezone": "UTC"}).json()
            api.post(f"/v1/buyers/{buyer['id']}/payments", json={"amount_cents": 100_000, "reference": "w"})
            created = api.post(
                "/v1/campaigns",
                json={
                    "buyer_id": buyer["id"],
                    "vertical": "auto_insurance",
                    "pricing": {"model": "fixed", "cents_by_grade": {g: 1000 for g in "ABCD"}},
                    "delivery": {
                        "adapter": "ftp",
                        "url": f"ftp://buyer:pw@127.0.0.1:{ftp_port}/",
                        "format": "csv",
                        "mapping": {
                            "LeadId": "lead_id",
                            "First": "first_name",
                            "Phone": "phone",
                            "Zip": "zip",
                        },
                        "batch": {"max_leads": 8},
                    },
                },
            )
            assert created.status_code == 201, created.text
            for _ in range(8):
                answer = api.post(
                    "/v1/leads",
                    params={"vertical": "auto_insurance"},
                    json=auto_insurance_lead(),
                    headers=bearer(publisher.json()["api_key"]),
                ).json()
                assert answer["status"] == "sold", answer
                lead_ids.append(answer["lead_id"])
            # The batch is formed and its file is on its way, slowly: kill the exchange now.
            _wait("a partial upload", lambda: any(p.name.endswith(".part") for p in root.iterdir()))
    finally:
        server.kill()
        server.wait()
    assert not [p for p in root.iterdir() if p.name.endswith(".csv")]  # no whole file yet

    server = start_server(database, port, tmp_path / "second.log", **env)
    try:
        _wait("the whole file", lambda: [p for p in root.iterdir() if p.name.endswith(".csv")], seconds=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(ADMIN_KEY), timeout=10) as api:
            _wait(
                "the batch marked sent",
                lambda: api.get("/v1/file-batches").json()["items"][0]["state"] == "sent",
            )
            [batch] = api.get("/v1/file-batches").json()["items"]
            events = api.get(f"/v1/leads/{lead_ids[0]}/events").json()["items"]
    finally:
        stop_server(server)
    files = sorted(root.iterdir())
    assert [p.name for p in files] == [batch["file"]]  # one file, no temporary left behind
    rows = list(csv.DictReader(io.StringIO(files[0].read_text())))
    assert [row["LeadId"] for row in rows] == lead_ids  # each lead once, in the order sold
    assert batch["leads"] == 8 and batch["attempts"] >= 2
    assert any(e["kind"] == "delivered_in_file" and e["data"]["batch_id"] == batch["id"] for e in events)
