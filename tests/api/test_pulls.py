"""Publisher pulls against real servers on loopback: feeds (RSS, Atom) served by aiohttp, remote
folders on FTP and SFTP servers. Each item is taken once, across runs and restarts; failures
are events an operator reads in `GET /v1/pulls/{id}`.

The test client runs the app on a loop of its own and blocks the test's loop during a request,
so every server here runs in a thread of its own, and whatever the test calls on the app's
services runs on the app's loop (`in_app`).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import asyncssh
import pytest
from aiohttp import web
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select

from exchange.api.app import create_app
from exchange.api.services import Services
from exchange.pipeline.pulls import run_pull
from exchange.storage import tables as t
from tests.adapters.test_outbound_files import PASSWORD, USER, Server, _sftp
from tests.api.test_batches import csv_bytes, finished, row
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.distribution.buyers import serve
from tests.processes import free_port
from tests.transports import ftp

__all__ = ["ftp"]  # a fixture shared with the delivery tests

FIELDS_AS_ELEMENTS = ["last_name", "phone", "zip", "date_of_birth", "vehicle_year", "vehicle_make"]


@dataclass
class FeedServer:
    """A publisher's feed endpoint: whatever `documents` holds, served at `/PATH`."""

    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: int = 0
    url: str = ""  # where it listens, set by `serve`

    def at(self, path: str) -> str:
        return f"{self.url}/{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        found = self.documents.get(request.path.lstrip("/"))
        if found is None:
            return web.Response(status=404, text="no such feed")
        return web.Response(body=found[0], content_type=found[1])


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with serve(FeedServer()) as (server,):  # type: ignore[arg-type]
        yield server  # type: ignore[misc]


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[Server]:
    """An SFTP server on loopback (the adapters' tests' one) in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()
    acceptor, server = asyncio.run_coroutine_threadsafe(
        _sftp(tmp_path / "sftp", asyncssh.SFTPServer), loop
    ).result(timeout=10)

    async def close() -> None:
        acceptor.close()
        await acceptor.wait_closed()

    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def lead_item(guid: str, lead: dict[str, Any]) -> str:
    """An RSS item carrying a lead: some fields as `<lead:…>` elements, the others as
    `Key: Value` lines of its description."""
    elements = "".join(f"<lead:{name}>{escape(str(lead[name]))}</lead:{name}>" for name in FIELDS_AS_ELEMENTS)
    lines = "\n".join(
        [
            f"First Name: {lead['first_name']}",
            f"E-mail: {lead['email']}",
            f"Vehicle Model: {lead['vehicle_model']}",
            f"Currently Insured: {'yes' if lead['currently_insured'] else 'no'}",
        ]
    )
    return (
        f"<item><title>Quote request {guid}</title><guid isPermaLink='false'>{guid}</guid>"
        f"<link>https://acme.example/leads/{guid}</link>"
        f"<pubDate>Sat, 05 Dec 2026 10:00:00 GMT</pubDate>"
        f"<description>{escape(lines)}</description>{elements}</item>"
    )


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:lead="https://acme.example/lead">'
        f"<channel><title>Acme leads</title>{''.join(items)}</channel></rss>"
    ).encode()


def atom(entries: dict[str, dict[str, Any]]) -> bytes:
    body = "".join(
        f"<entry><id>{guid}</id><title>Lead {guid}</title><updated>2026-12-05T10:00:00Z</updated>"
        f"<content type='text'>{escape(chr(10).join(f'{k}: {v}' for k, v in lead.items()))}</content></entry>"
        for guid, lead in entries.items()
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Acme</title><id>urn:acme</id><updated>2026-12-05T10:00:00Z</updated>{body}</feed>"
    ).encode()


def in_app(client: AsyncTestClient[Any], step: Callable[[Services], Awaitable[Any]]) -> Any:
    """`step(services)` run on the app's own loop, where its engine and writer live."""
    services = client.app.state.services
    assert isinstance(services, Services)

    async def call() -> Any:
        return await step(services)

    return client.blocking_portal.call(call)


def beat(client: AsyncTestClient[Any]) -> None:
    """One beat of the app's upkeep, as its loop runs it every few seconds."""
    in_app(client, lambda services: services.upkeep.run_once())


async def make_pull(market: Market, publisher_id: str, **body: Any) -> dict[str, Any]:
    body = {"vertical": "auto_insurance", **body}
    answer = await market.client.post(f"/v1/publishers/{publisher_id}/pulls", json=body, headers=market.admin)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def run_now(market: Market, pull_id: str) -> dict[str, Any]:
    """Run the pull now, and its view once this run ended. A 202 says a run of the beat's has
    it (an app's first beat runs at start-up): then ask again once that one is over."""
    for _ in range(200):
        answer = await market.client.post(f"/v1/pulls/{pull_id}/run", headers=market.admin)
        if answer.status_code == 200:
            return dict(answer.json())
        assert answer.status_code == 202, answer.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"pull {pull_id} never ran")


def last_run(pull: dict[str, Any]) -> dict[str, Any]:
    return next(event["detail"] for event in pull["events"] if event["kind"] == "run")


def taken(pull: dict[str, Any]) -> list[dict[str, Any]]:
    return [event["detail"] for event in pull["events"] if event["kind"] == "taken"]


def count_leads(client: AsyncTestClient[Any]) -> int:
    async def count(services: Services) -> int:
        async with services.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(t.leads)) or 0)

    return int(in_app(client, count))


def drop(folder: Path, name: str, data: bytes, *, age_seconds: float = 600) -> Path:
    """A file a publisher uploaded `age_seconds` ago."""
    path = folder / name
    path.write_bytes(data)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


# ----------------------------------------------------------------------------------------------
# Feeds


async def test_a_feed_item_becomes_a_lead_with_its_fields_and_is_taken_once(
    market: Market, feeds: FeedServer
) -> None:
    publisher = await market.publisher()
    people = [auto_insurance_lead(), auto_insurance_lead()]
    feeds.documents["leads.rss"] = (
        rss(lead_item("a-1", people[0]), lead_item("a-2", people[1])),
        "application/rss+xml",
    )
    pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("leads.rss"), every_minutes=5)
    assert pull["active"] and pull["kind"] == "feed" and pull["id"].startswith("pul_")

    beat(market.client)  # the beat runs the due pull

    seen = (await market.client.get(f"/v1/pulls/{pull['id']}", headers=market.admin)).json()
    assert seen["last_error"] is None and seen["last_run_at"] is not None
    assert last_run(seen) == {**last_run(seen), "seen": 2, "taken": 2}
    items = {item["item"]: item["lead_id"] for item in taken(seen)}
    assert set(items) == {"a-1", "a-2"}
    lead = (await market.client.get(f"/v1/leads/{items['a-1']}", headers=publisher.auth)).json()
    assert lead["status"] in ("accepted", "unsold"), lead
    for name in ["first_name", "email", "last_name", "zip", "vehicle_make", "vehicle_model"]:
        assert lead["fields"][name] == people[0][name], name
    assert lead["fields"]["vehicle_year"] == people[0]["vehicle_year"]
    assert lead["extra"]["title"] == "Quote request a-1"
    events = (await market.client.get(f"/v1/leads/{items['a-1']}/events", headers=market.admin)).json()
    received = events["items"][0]["data"]
    assert received["channel"] == "pull" and received["pull_id"] == pull["id"] and received["item"] == "a-1"

    # Not due again for five minutes; run now takes nothing the first run took.
    beat(market.client)
    again = await run_now(market, pull["id"])
    assert last_run(again)["taken"] == 0 and last_run(again)["seen"] == 2
    assert count_leads(market.client) == 2

    # A new item at the top of the feed is taken, the others still not.
    newcomer = auto_insurance_lead()
    feeds.documents["leads.rss"] = (
        rss(lead_item("a-3", newcomer), lead_item("a-1", people[0]), lead_item("a-2", people[1])),
        "application/rss+xml",
    )
    third = await run_now(market, pull["id"])
    assert taken(third)[0]["item"] == "a-3"  # the newest event first
    assert last_run(third)["taken"] == 1
    assert count_leads(market.client) == 3


async def test_an_atom_feed_is_read_like_rss(market: Market, feeds: FeedServer) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    lines = {"First Name": lead["first_name"], "Last Name": lead["last_name"], "Phone": lead["phone"]}
    lines |= {"Email": lead["email"], "Zip": lead["zip"], "Date of Birth": lead["date_of_birth"]}
    lines |= {
        "Vehicle Year": 2020,
        "Vehicle Make": "Honda",
        "Vehicle Model": "Civic",
        "Currently Insured": "no",
    }
    feeds.documents["atom"] = (atom({"urn:acme:9": lines}), "application/atom+xml")
    pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("atom"))
    ran = await run_now(market, pull["id"])
    [item] = taken(ran)
    assert item["item"] == "urn:acme:9"
    stored = (await market.client.get(f"/v1/leads/{item['lead_id']}", headers=publisher.auth)).json()
    assert stored["fields"]["vehicle_make"] == "Honda" and stored["fields"]["last_name"] == lead["last_name"]
    assert last_run(await run_now(market, pull["id"]))["taken"] == 0


async def test_a_restarted_exchange_takes_nothing_twice(
    database_url: str, feeds: FeedServer, clock: Any
) -> None:
    settings = exchange_settings(database_url)
    feeds.documents["f"] = (rss(*(lead_item(f"r-{n}", auto_insurance_lead()) for n in range(3))), "text/xml")
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as first:
        market = Market(client=first, admin=bearer(ADMIN_KEY))
        publisher = await market.publisher()
        pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("f"))
        assert last_run(await run_now(market, pull["id"]))["taken"] == 3
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as second:
        market = Market(client=second, admin=bearer(ADMIN_KEY))
        again = await run_now(market, pull["id"])
        assert last_run(again)["taken"] == 0
        assert count_leads(second) == 3


async def test_a_run_that_died_before_recording_its_items_replays_the_same_leads(
    market: Market, feeds: FeedServer
) -> None:
    publisher = await market.publisher()
    feeds.documents["f"] = (rss(*(lead_item(f"d-{n}", auto_insurance_lead()) for n in range(2))), "text/xml")
    pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("f"))
    first = {item["item"]: item["lead_id"] for item in taken(await run_now(market, pull["id"]))}

    # The process died after intake stored the leads, before their items were recorded.
    async def forget_items(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(delete(t.pull_items))

    in_app(market.client, forget_items)
    second = await run_now(market, pull["id"])
    assert last_run(second)["taken"] == 2
    replayed = taken(second)[:2]
    assert {item["item"]: item["lead_id"] for item in replayed} == first  # the same leads
    assert all(item["replayed"] for item in replayed)
    assert count_leads(market.client) == 2


# ----------------------------------------------------------------------------------------------
# Remote folders


async def test_a_csv_in_an_ftp_folder_becomes_a_batch_whose_rows_are_leads_taken_once(
    market: Market, ftp: tuple[int, Path]
) -> None:
    port, folder = ftp
    publisher = await market.publisher()
    drop(folder, "today.csv", csv_bytes([row(), row()]))
    drop(folder, "notes.txt", b"not leads")
    url = f"ftp://buyer:s3cret@127.0.0.1:{port}/in"
    pull = await make_pull(market, publisher.id, kind="ftp", url=url)
    assert pull["url"] == f"ftp://buyer:***@127.0.0.1:{port}/in" and pull["after"] == "keep"

    ran = await run_now(market, pull["id"])
    [item] = taken(ran)
    assert item["file"] == "today.csv" and item["item"].startswith("today.csv|")
    batch = await finished(market, item["batch_id"], market.admin)
    assert [r["status"] for r in batch["rows"]] == ["unsold", "unsold"]
    lead_events = await market.client.get(
        f"/v1/leads/{batch['rows'][0]['lead_id']}/events", headers=market.admin
    )
    received = lead_events.json()["items"][0]["data"]
    assert (
        received["channel"] == "pull"
        and received["pull_id"] == pull["id"]
        and received["file"] == "today.csv"
    )

    assert last_run(await run_now(market, pull["id"]))["taken"] == 0  # still there, taken already
    assert count_leads(market.client) == 2
    # The same name uploaded again with other leads is a new file.
    drop(folder, "today.csv", csv_bytes([row(), row(), row()]), age_seconds=300)
    [again] = taken(await run_now(market, pull["id"]))[:1]
    assert again["file"] == "today.csv" and again["batch_id"] != item["batch_id"]
    await finished(market, again["batch_id"], market.admin)
    assert count_leads(market.client) == 5


async def test_an_sftp_folder_is_read_the_same_way_and_emptied_when_asked(
    market: Market, sftp: Server
) -> None:
    publisher = await market.publisher()
    drop(sftp.inbox, "a.csv", csv_bytes([row()]))
    drop(sftp.inbox, "b.CSV", csv_bytes([row(), row()]))
    drop(sftp.inbox, "skip.csv.part", b"half")
    url = f"sftp://{USER}:{PASSWORD}@127.0.0.1:{sftp.port}/incoming"
    pull = await make_pull(
        market,
        publisher.id,
        kind="sftp",
        url=url,
        host_key=sftp.host_key,
        pattern="*.csv",
        after="delete",
    )
    assert PASSWORD not in str(pull) and pull["host_key"] == sftp.host_key
    ran = await run_now(market, pull["id"])
    files = sorted(item["file"] for item in taken(ran))
    assert files == ["a.csv", "b.CSV"]
    assert sftp.files() == ["skip.csv.part"]  # taken files removed, the others left
    for item in taken(ran):
        await finished(market, item["batch_id"], market.admin)
    assert count_leads(market.client) == 3


async def test_sftp_with_another_host_key_than_the_pinned_one_fails(market: Market, sftp: Server) -> None:
    import asyncssh

    publisher = await market.publisher()
    drop(sftp.inbox, "a.csv", csv_bytes([row()]))
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    url = f"sftp://{USER}:{PASSWORD}@127.0.0.1:{sftp.port}/incoming"
    pull = await make_pull(market, publisher.id, kind="sftp", url=url, host_key=impostor)
    ran = await run_now(market, pull["id"])
    assert "host key not trusted" in ran["last_error"]
    assert taken(ran) == [] and sftp.files() == ["a.csv"]


async def test_a_file_still_being_written_waits_for_a_later_run(
    market: Market, ftp: tuple[int, Path]
) -> None:
    port, folder = ftp
    publisher = await market.publisher()
    path = drop(folder, "busy.csv", csv_bytes([row()]), age_seconds=0)
    pull = await make_pull(market, publisher.id, kind="ftp", url=f"ftp://buyer:s3cret@127.0.0.1:{port}/in")
    ran = await run_now(market, pull["id"])
    assert last_run(ran)["waiting"] == 1 and taken(ran) == []
    then = time.time() - 300
    os.utime(path, (then, then))
    assert [item["file"] for item in taken(await run_now(market, pull["id"]))] == ["busy.csv"]


async def test_a_file_too_big_or_of_no_known_format_is_refused_once(
    market: Market, ftp: tuple[int, Path]
) -> None:
    port, folder = ftp
    publisher = await market.publisher()
    drop(folder, "leads.pdf", b"%PDF-1.4")
    url = f"ftp://buyer:s3cret@127.0.0.1:{port}/in"
    pull = await make_pull(market, publisher.id, kind="ftp", url=url, pattern="leads.*")
    ran = await run_now(market, pull["id"])
    [failure] = [event["detail"] for event in ran["events"] if event["kind"] == "failed"]
    assert failure["file"] == "leads.pdf" and "not a file format" in failure["error"]
    again = await run_now(market, pull["id"])
    assert [event["kind"] for event in again["events"]].count("failed") == 1  # not again
    assert again["last_error"] is None


# ----------------------------------------------------------------------------------------------
# Failures, the guard, input


async def test_a_failing_host_is_a_failed_event_and_other_pulls_still_run(
    market: Market, feeds: FeedServer, ftp: tuple[int, Path]
) -> None:
    publisher = await market.publisher()
    closed = free_port()
    dead = await make_pull(market, publisher.id, kind="feed", url=f"http://127.0.0.1:{closed}/feed")
    port, _ = ftp
    refused = await make_pull(market, publisher.id, kind="ftp", url=f"ftp://buyer:wrong@127.0.0.1:{port}/in")
    missing = await make_pull(market, publisher.id, kind="feed", url=feeds.at("nothing-here"))
    feeds.documents["html"] = (b"<html><body>Our site</body></html>", "text/html")
    not_feed = await make_pull(market, publisher.id, kind="feed", url=feeds.at("html"))
    feeds.documents["ok"] = (rss(lead_item("ok-1", auto_insurance_lead())), "application/rss+xml")
    good = await make_pull(market, publisher.id, kind="feed", url=feeds.at("ok"))

    beat(market.client)

    async def seen(pull: dict[str, Any]) -> dict[str, Any]:
        return dict((await market.client.get(f"/v1/pulls/{pull['id']}", headers=market.admin)).json())

    errors = {
        "dead": (await seen(dead))["last_error"],
        "refused": (await seen(refused))["last_error"],
        "missing": (await seen(missing))["last_error"],
        "not_feed": (await seen(not_feed))["last_error"],
    }
    assert errors["dead"] == f"connection refused: 127.0.0.1:{closed}"
    assert errors["refused"].startswith("connect: ftp login refused: 530")
    assert errors["missing"] == "the feed answered HTTP 404"
    assert errors["not_feed"].startswith("not an RSS or Atom feed")
    failed = [event for event in (await seen(dead))["events"] if event["kind"] == "failed"]
    assert failed[0]["detail"]["error"] == errors["dead"]
    good_seen = await seen(good)
    assert good_seen["last_error"] is None and len(taken(good_seen)) == 1


async def test_a_private_address_is_refused_when_saved_and_when_run(
    database_url: str, feeds: FeedServer, ftp: tuple[int, Path]
) -> None:
    private = exchange_settings(database_url, allow_private_destinations=False)
    async with AsyncTestClient(app=create_app(exchange_settings(database_url))) as open_client:
        market = Market(client=open_client, admin=bearer(ADMIN_KEY))
        publisher = await market.publisher()
        feeds.documents["f"] = (rss(lead_item("p-1", auto_insurance_lead())), "text/xml")
        saved = await make_pull(market, publisher.id, kind="feed", url=feeds.at("f"))
        drop(ftp[1], "a.csv", csv_bytes([row()]))
        folder = await make_pull(
            market, publisher.id, kind="ftp", url=f"ftp://buyer:s3cret@127.0.0.1:{ftp[0]}/in"
        )
    async with AsyncTestClient(app=create_app(private)) as guarded:
        market = Market(client=guarded, admin=bearer(ADMIN_KEY))
        for kind, url in [
            ("feed", feeds.at("f")),
            ("ftp", "ftp://u:p@10.1.2.3/in"),
            ("sftp", "sftp://u:p@localhost/in"),
        ]:
            answer = await guarded.post(
                f"/v1/publishers/{publisher.id}/pulls",
                json={"kind": kind, "url": url, "vertical": "auto_insurance"},
                headers=market.admin,
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["errors"][0]["field"] == "url"
            assert answer.json()["errors"][0]["code"] == "private_destination"
        # A pull saved while private hosts were allowed is refused when it runs now.
        for pull in (saved, folder):
            ran = await run_now(market, pull["id"])
            assert ran["last_error"].startswith("private destination"), ran["last_error"]
            assert taken(ran) == []
        assert feeds.requests == 0 and (ftp[1] / "a.csv").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "gopher", "url": "gopher://x.example/"}, "kind"),
        ({"kind": "feed"}, "url"),
        ({"kind": "feed", "url": "ftp://x.example/feed"}, "url"),
        ({"kind": "ftp", "url": "https://x.example/in"}, "url"),
        ({"kind": "sftp", "url": "sftp://x.example/in"}, "url"),  # no user
        ({"kind": "feed", "url": "https://x.example/feed", "every_minutes": 0}, "every_minutes"),
        ({"kind": "feed", "url": "https://x.example/feed", "pattern": "*.csv"}, "pattern"),
        ({"kind": "feed", "url": "https://x.example/feed", "after": "delete"}, "after"),
        ({"kind": "ftp", "url": "ftp://x.example/in", "after": "shred"}, "after"),
        ({"kind": "ftp", "url": "ftp://x.example/in", "host_key": "ssh-ed25519 AAAA"}, "host_key"),
        ({"kind": "sftp", "url": "sftp://u:p@x.example/in", "host_key": "not a key"}, "host_key"),
        ({"kind": "ftp", "url": "ftp://x.example/in", "pattern": "../*.csv"}, "pattern"),
        ({"kind": "feed", "url": "https://x.example/feed", "vertical": "nope"}, "vertical"),
        ({"kind": "feed", "url": "https://x.example/feed", "colour": "red"}, "colour"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(market: Market, body: dict[str, Any], field: str) -> None:
    publisher = await market.publisher()
    answer = await market.client.post(
        f"/v1/publishers/{publisher.id}/pulls",
        json={"vertical": "auto_insurance", **body},
        headers=market.admin,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field, answer.json()


async def test_a_pull_needs_a_vertical_when_the_publisher_has_no_default(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.client.post(
        f"/v1/publishers/{publisher.id}/pulls",
        json={"kind": "feed", "url": "https://x.example/feed"},
        headers=market.admin,
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "vertical"
    defaulted = await market.publisher(name="Defaulted", default_vertical="auto_insurance")
    pull = await market.client.post(
        f"/v1/publishers/{defaulted.id}/pulls",
        json={"kind": "feed", "url": "https://x.example/feed"},
        headers=market.admin,
    )
    assert pull.status_code == 201 and pull.json()["vertical"] == "auto_insurance"


async def test_operators_manage_pulls_and_a_publisher_reads_only_its_own(market: Market) -> None:
    publisher = await market.publisher()
    other = await market.publisher(name="Other")
    pull = await make_pull(market, publisher.id, kind="ftp", url="ftp://user:hunter2@files.example/in")
    assert "hunter2" not in str(pull)

    mine = await market.client.get(f"/v1/publishers/{publisher.id}/pulls", headers=publisher.auth)
    assert mine.status_code == 200
    assert mine.json() == {"items": [pull], "next_cursor": None}
    assert (await market.client.get(f"/v1/pulls/{pull['id']}", headers=publisher.auth)).status_code == 200
    assert (await market.client.get(f"/v1/pulls/{pull['id']}", headers=other.auth)).status_code == 404
    assert (
        await market.client.get(f"/v1/publishers/{publisher.id}/pulls", headers=other.auth)
    ).status_code == 404
    create = await market.client.post(
        f"/v1/publishers/{publisher.id}/pulls",
        json={"kind": "feed", "url": "https://x.example/f", "vertical": "auto_insurance"},
        headers=publisher.auth,
    )
    assert create.status_code == 403
    assert (
        await market.client.post(f"/v1/pulls/{pull['id']}/run", headers=publisher.auth)
    ).status_code == 403
    assert (await market.client.delete(f"/v1/pulls/{pull['id']}", headers=publisher.auth)).status_code == 403
    missing = await market.client.post(
        "/v1/publishers/pub_nobody/pulls",
        json={"kind": "feed", "url": "https://x.example/f", "vertical": "auto_insurance"},
        headers=market.admin,
    )
    assert missing.status_code == 404


async def test_a_stopped_pull_is_not_run_again(market: Market, feeds: FeedServer) -> None:
    publisher = await market.publisher()
    feeds.documents["f"] = (rss(lead_item("s-1", auto_insurance_lead())), "text/xml")
    pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("f"))
    stopped = await market.client.delete(f"/v1/pulls/{pull['id']}", headers=market.admin)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    beat(market.client)
    assert feeds.requests == 0
    again = await market.client.post(f"/v1/pulls/{pull['id']}/run", headers=market.admin)
    assert again.status_code == 409 and again.json()["code"] == "pull_stopped"


async def test_two_processes_beating_at_once_run_a_pull_once(market: Market, feeds: FeedServer) -> None:
    publisher = await market.publisher()
    feeds.documents["f"] = (rss(*(lead_item(f"c-{n}", auto_insurance_lead()) for n in range(3))), "text/xml")
    pull = await make_pull(market, publisher.id, kind="feed", url=feeds.at("f"))

    async def two_at_once(services: Services) -> list[bool]:
        return list(await asyncio.gather(run_pull(services, pull["id"]), run_pull(services, pull["id"])))

    ran = in_app(market.client, two_at_once)
    assert sorted(ran) == [False, True]
    assert feeds.requests == 1 and count_leads(market.client) == 3
