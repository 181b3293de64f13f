"""A batch whose server is killed mid-import goes on after a restart: every row once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_batches import csv_bytes, row
from tests.conftest import ADMIN_KEY, bearer
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow
ROWS = 3000


def test_a_batch_killed_mid_import_makes_each_row_one_lead(tmp_path: Path) -> None:
    database = tmp_path / "exchange.db"
    port = free_port()
    server = start_server(f"sqlite:///{database}", port, tmp_path / "first.log")
    body = csv_bytes([row() for _ in range(ROWS)])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            publisher = api.post(
                "/v1/publishers",
                json={"name": "Bulk", "payout": {"model": "revshare", "percent": 50}},
                headers=bearer(ADMIN_KEY),
            ).json()
            key = bearer(publisher["api_key"])
            answer = api.post(
                "/v1/leads/batch?vertical=auto_insurance",
                content=body,
                headers={**key, "Content-Type": "text/csv"},
            )
            assert answer.status_code == 202, answer.text
            batch_id = answer.json()["batch_id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = len(api.get(f"/v1/batches/{batch_id}", headers=key).json()["rows"])
                if done >= 256:
                    break
                time.sleep(0.02)
    finally:
        server.kill()
        server.wait()
    with sqlite3.connect(database) as db:
        before = db.execute("select count(*) from leads").fetchone()[0]
    assert before < ROWS, "the import finished before the kill; nothing was proven"

    server = start_server(f"sqlite:///{database}", port, tmp_path / "second.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                batch = api.get(f"/v1/batches/{batch_id}", headers=key).json()
                if batch["status"] == "done":
                    break
                time.sleep(0.2)
    finally:
        stop_server(server)
    assert batch["status"] == "done" and batch["total"] == ROWS
    assert [r["row"] for r in batch["rows"]] == list(range(1, ROWS + 1))
    lead_ids = {r["lead_id"] for r in batch["rows"]}
    with sqlite3.connect(database) as db:
        stored = db.execute("select count(*) from leads").fetchone()[0]
    assert len(lead_ids) == ROWS == stored  # every row one lead, none twice
