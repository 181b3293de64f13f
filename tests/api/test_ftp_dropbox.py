"""The FTP drop box: real uploads with ftplib to the exchange's own FTP server."""

from __future__ import annotations

import asyncio
import csv
import ftplib
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from tests.api.test_batches import COLUMNS, csv_bytes, row
from tests.conftest import ADMIN_KEY, Account, Market, auto_insurance_lead, bearer, exchange_settings
from tests.processes import free_port

MAX_FILE = 200_000


class Drop:
    def __init__(self, market: Market, port: int, root: Path) -> None:
        self.market, self.port, self.root = market, port, root

    def login(self, publisher: Account, key: str | None = None) -> ftplib.FTP:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.port, timeout=10)
        ftp.login(publisher.id, key or publisher.key)
        return ftp

    def upload(self, publisher: Account, path: str, data: bytes) -> str:
        with self.login(publisher) as ftp:
            return ftp.storbinary(f"STOR {path}", io.BytesIO(data))

    def results(self, publisher: Account, path: str) -> list[dict[str, str]] | None:
        """The results file's rows once it is there, else None."""
        with self.login(publisher) as ftp:
            folder, _, name = path.rpartition("/")
            if name not in ftp.nlst(folder):
                return None
            buffer = io.BytesIO()
            ftp.retrbinary(f"RETR {path}", buffer.write)
        return list(csv.DictReader(io.StringIO(buffer.getvalue().decode())))

    async def wait_results(self, publisher: Account, path: str) -> list[dict[str, str]]:
        for _ in range(200):
            found = await asyncio.to_thread(self.results, publisher, path)
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} never appeared")

    async def leads(self, publisher: Account) -> list[dict[str, Any]]:
        answer = await self.market.client.get("/v1/leads", headers=publisher.auth)
        return list(answer.json()["items"])


@pytest.fixture
async def drop(database_url: str, tmp_path: Path) -> AsyncIterator[Drop]:
    port = free_port()
    root = tmp_path / "ftp"
    settings = exchange_settings(database_url, ftp_port=port, ftp_root=str(root), ftp_max_file_bytes=MAX_FILE)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Drop(Market(client=client, admin=bearer(ADMIN_KEY)), port, root)


def ftp_error(call: Any) -> str:
    """The FTP reply a refused command got."""
    try:
        call()
    except ftplib.Error as exc:
        return str(exc)
    raise AssertionError("the command was not refused")


async def test_a_csv_upload_becomes_leads_and_a_results_file_beside_it(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    folders = await asyncio.to_thread(lambda: drop.login(publisher).nlst("/"))
    assert {"auto_insurance", "mortgage", "solar", "auto_sales"} <= {f.strip("/") for f in folders}

    body = csv_bytes([row(), row(email="not-an-email"), row()])
    reply = await asyncio.to_thread(drop.upload, publisher, "/auto_insurance/today.csv", body)
    assert reply.startswith("226") and "today.results.csv" in reply

    results = await drop.wait_results(publisher, "/auto_insurance/today.results.csv")
    # Rows are sold (or not) before the results are written: every status is final.
    assert [(r["row"], r["status"]) for r in results] == [("1", "unsold"), ("2", "rejected"), ("3", "unsold")]
    assert results[1]["errors"].startswith("email invalid_email: ")
    leads = await drop.leads(publisher)
    assert {lead["id"] for lead in leads} == {r["lead_id"] for r in results}
    events = await drop.market.client.get(
        f"/v1/leads/{results[0]['lead_id']}/events", headers=drop.market.admin
    )
    received = next(e for e in events.json()["items"] if e["kind"] == "received")["data"]
    assert (received["channel"], received["path"], received["row"]) == ("ftp", "/auto_insurance/today.csv", 1)
    # The upload itself is kept where the publisher put it, beside its results.
    assert (drop.root / publisher.id / "auto_insurance" / "today.csv").read_bytes() == body


async def test_xlsx_xml_and_ndjson_files_are_batches_too(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(COLUMNS)
    sheet.append(row())
    xlsx = io.BytesIO()
    workbook.save(xlsx)
    lead = auto_insurance_lead()
    plain = [{k: v for k, v in auto_insurance_lead().items() if k != "consent"} for _ in range(2)]
    xml = "<leads>" + "".join(
        "<lead>" + "".join(f"<{k}>{v}</{k}>" for k, v in one.items()) + "</lead>" for one in plain
    )
    ndjson = json.dumps(lead) + "\n\n" + "not json\n" + json.dumps(auto_insurance_lead()) + "\n"
    for name, data in (
        ("a.xlsx", xlsx.getvalue()),
        ("b.xml", (xml + "</leads>").encode()),
        ("c.ndjson", ndjson.encode()),
    ):
        await asyncio.to_thread(drop.upload, publisher, f"/auto_insurance/{name}", data)
    xlsx_rows = await drop.wait_results(publisher, "/auto_insurance/a.results.csv")
    xml_rows = await drop.wait_results(publisher, "/auto_insurance/b.results.csv")
    ndjson_rows = await drop.wait_results(publisher, "/auto_insurance/c.results.csv")
    assert [r["status"] for r in xlsx_rows] == ["unsold"]
    assert [r["status"] for r in xml_rows] == ["unsold", "unsold"]
    assert [(r["row"], r["status"]) for r in ndjson_rows] == [
        ("1", "unsold"),
        ("2", "rejected"),
        ("3", "unsold"),
    ]
    assert "unreadable_row" in ndjson_rows[1]["errors"]


async def test_renaming_a_finished_upload_to_a_lead_file_takes_it(drop: Drop) -> None:
    publisher = await drop.market.publisher()

    def upload_then_rename() -> tuple[str, str]:
        with drop.login(publisher) as ftp:
            stored = ftp.storbinary("STOR /auto_insurance/night.tmp", io.BytesIO(csv_bytes([row()])))
            renamed = ftp.rename("/auto_insurance/night.tmp", "/auto_insurance/night.csv")
        return stored, renamed

    stored, renamed = await asyncio.to_thread(upload_then_rename)
    assert stored.startswith("226") and "not a file of leads" in stored
    assert renamed.startswith("250") and "batch" in renamed
    results = await drop.wait_results(publisher, "/auto_insurance/night.results.csv")
    assert [r["status"] for r in results] == ["unsold"]


async def test_a_publisher_logs_in_only_with_its_own_key(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    other = await drop.market.publisher(name="Other Leads")
    wrong = await asyncio.to_thread(ftp_error, lambda: drop.login(publisher, key="lx_not-a-key"))
    assert wrong.startswith("530")
    crossed = await asyncio.to_thread(ftp_error, lambda: drop.login(publisher, key=other.key))
    assert crossed.startswith("530")
    unknown = await asyncio.to_thread(ftp_error, lambda: drop.login(Account("pub_nobody", other.key, {})))
    assert unknown.startswith("530")


async def test_paths_outside_a_vertical_folder_or_the_home_are_refused(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    other = await drop.market.publisher(name="Other Leads")
    await asyncio.to_thread(lambda: drop.login(other).quit())  # makes the other home
    body = io.BytesIO(csv_bytes([row()]))

    def attempts() -> dict[str, str]:
        with drop.login(publisher) as ftp:
            return {
                "root": ftp_error(lambda: ftp.storbinary("STOR /today.csv", body)),
                "dotdot": ftp_error(lambda: ftp.storbinary(f"STOR ../{other.id}/auto_insurance/x.csv", body)),
                "deep": ftp_error(lambda: ftp.storbinary("STOR /../../etc/x.csv", body)),
                "cwd": ftp_error(lambda: ftp.cwd("/..")),
                "vertical": ftp_error(lambda: ftp.storbinary("STOR /nope/x.csv", body)),
                "results": ftp_error(lambda: ftp.storbinary("STOR /auto_insurance/x.results.csv", body)),
                "hidden": ftp_error(lambda: ftp.storbinary("STOR /auto_insurance/.x.csv", body)),
                "mkdir": ftp_error(lambda: ftp.mkd("/auto_insurance/sub")),
                "append": ftp_error(lambda: ftp.storbinary("APPE /auto_insurance/x.csv", body)),
                "link": ftp_error(lambda: ftp.retrbinary("RETR /auto_insurance/escape/hosts", print)),
            }

    home = drop.root / publisher.id / "auto_insurance"
    await asyncio.to_thread(lambda: drop.login(publisher).quit())
    (home / "escape").symlink_to("/etc", target_is_directory=True)
    refused = await asyncio.to_thread(attempts)
    assert {what: reply[:3] for what, reply in refused.items()} == {
        "root": "553",
        "dotdot": "553",
        "deep": "553",
        "cwd": "553",
        "vertical": "553",
        "results": "553",
        "hidden": "553",
        "mkdir": "550",
        "append": "504",
        "link": "553",
    }
    assert "leaves your home" in refused["dotdot"]
    assert await drop.leads(publisher) == [] and await drop.leads(other) == []
    assert not list((drop.root / other.id / "auto_insurance").iterdir())


async def test_a_file_over_the_size_limit_is_refused_and_leaves_nothing(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    big = csv_bytes([row() for _ in range(MAX_FILE // 50)])
    assert len(big) > MAX_FILE
    reply = await asyncio.to_thread(ftp_error, lambda: drop.upload(publisher, "/auto_insurance/big.csv", big))
    assert reply.startswith("552")
    assert not list((drop.root / publisher.id / "auto_insurance").iterdir())
    assert await drop.leads(publisher) == []


# A client that dies mid-upload: its data connection and its control connection close as the
# process ends, in whichever order the kernel takes them; or the data connection ends a moment
# before the process does (a writer thread that dies first).
DYING_CLIENT = textwrap.dedent(
    """
    import ftplib, os, signal, sys, time
    port, login, key, gap = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    data = sys.stdin.buffer.read()
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    ftp.login(login, key)
    conn = ftp.transfercmd("STOR /auto_insurance/cut.csv")
    conn.sendall(data[: len(data) // 2])
    if gap:
        conn.close()
        time.sleep(gap)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


async def test_an_upload_whose_client_dies_midway_leaves_nothing_taken(drop: Drop) -> None:
    publisher = await drop.market.publisher()
    body = csv_bytes([row() for _ in range(50)])
    for gap in ("0", "0", "0.05", "0.1"):
        process = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", DYING_CLIENT, str(drop.port), publisher.id, publisher.key, gap],
            input=body,
            capture_output=True,
            timeout=30,
        )
        assert process.returncode == -9, process.stderr
    await asyncio.sleep(1.0)  # longer than the server waits before taking a file
    folder = drop.root / publisher.id / "auto_insurance"
    assert sorted(os.listdir(folder)) == []
    assert await drop.leads(publisher) == []
    # The drop box still serves: the same file sent whole is taken.
    reply = await asyncio.to_thread(drop.upload, publisher, "/auto_insurance/cut.csv", body)
    assert reply.startswith("226")
    results = await drop.wait_results(publisher, "/auto_insurance/cut.results.csv")
    assert len(results) == 50
