"""`exchange import FILE --publisher ID --vertical V`: a batch from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.api.test_batches import csv_bytes, row
from tests.conftest import Market


def exchange_import(file: Path, publisher_id: str, database_url: str) -> subprocess.CompletedProcess[str]:
    command = ["import", str(file), "--publisher", publisher_id, "--vertical", "auto_insurance"]
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *command],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_file_is_imported_with_its_counts(market: Market, database_url: str, tmp_path: Path) -> None:
    publisher = await market.publisher()
    file = tmp_path / "today.csv"
    file.write_bytes(csv_bytes([row(), row(), row(email="nope")]))
    done = await asyncio.to_thread(exchange_import, file, publisher.id, database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "sold=0 unsold=2 accepted=0 duplicate=0 rejected=1"
    leads = (await market.client.get("/v1/leads", headers=publisher.auth)).json()["items"]
    assert sorted(lead["status"] for lead in leads) == ["rejected", "unsold", "unsold"]
    missing = await asyncio.to_thread(exchange_import, file, "pub_nope", database_url)
    assert missing.returncode != 0 and "no publisher pub_nope" in missing.stderr
