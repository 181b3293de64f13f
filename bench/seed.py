"""Stored leads for the growth figure: the rows a busy exchange would have left, written in bulk.

Each seeded lead is what intake stores for a valid lead no campaign can take: the lead row,
its events (received … unsold) and its phone and e-mail dedupe keys, so every index is as
deep as after that many real leads.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Column, Dialect, Table, event, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.leads import numbered_phone
from exchange.ids import new_id
from exchange.pipeline.dedupe import claim_key, value_hash
from exchange.storage import tables as t
from exchange.storage.db import create_engine, sqlite_path
from exchange.storage.migrate import hash_key

# Disjoint from the load's phones and e-mails (bench/leads.py: area codes 212, 312,
# 415, 617, 713, 206, 305, 404 and bench.N@example.com): the load must never post a seeded
# person, or it would get 409 duplicates. A test checks both sets stay apart.
SEED_AREA_CODES: tuple[str, ...] = ("303", "503", "602", "702", "214", "512", "615", "919")
SEED_EMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")
SEED_CAPACITY = len(SEED_AREA_CODES) * 800 * 10_000  # exchanges 200-999, lines 0000-9999

CHUNK = 20_000

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
_PLACES = (
    ("1 Market St", "San Francisco", "CA", "94105"),
    ("233 S Wacker Dr", "Chicago", "IL", "60606"),
    ("901 Bagby St", "Houston", "TX", "77002"),
    ("400 Broad St", "Seattle", "WA", "98109"),
    ("1 Biscayne Blvd", "Miami", "FL", "33132"),
    ("55 Trinity Ave SW", "Atlanta", "GA", "30303"),
    ("1 City Hall Sq", "Boston", "MA", "02201"),
)
_VEHICLES = (
    (2019, "Toyota", "Camry"),
    (2017, "Honda", "Civic"),
    (2021, "Ford", "F-150"),
    (2022, "Tesla", "Model 3"),
    (2015, "Chevrolet", "Malibu"),
    (2020, "Subaru", "Outback"),
)
_CERT_URL = "https://cert.trustedform.com/" + "a1" * 20


class _Profile(NamedTuple):
    """How a lead was graded, consistent with its consent and IP (see pipeline/grade.py)."""

    ip_address: str
    has_trustedform: bool
    grade: str
    score: int
    reasons: tuple[str, ...]


_PROFILES = (
    _Profile(
        "98.97.12.34",
        True,
        "B",
        56,
        ("consent:trustedform", "phone:unknown", "email:ok", "completeness:0.21", "source:unknown"),
    ),
    _Profile(
        "203.0.113.7",
        True,
        "C",
        46,
        (
            "consent:trustedform",
            "phone:unknown",
            "email:ok",
            "ip:private",
            "completeness:0.21",
            "source:unknown",
        ),
    ),
    _Profile(
        "203.0.113.7",
        False,
        "C",
        33,
        ("consent:text", "phone:unknown", "email:ok", "ip:private", "completeness:0.21", "source:unknown"),
    ),
)

LEAD_COLUMNS = [column.key for column in t.leads.columns]
EVENT_COLUMNS = ["lead_id", "kind", "at", "data"]
CLAIM_COLUMNS = [column.key for column in t.dedupe_claims.columns]


class Seeded(NamedTuple):
    leads: int
    seconds: float
    database_mb: float | None


def seed_phone(n: int) -> str:
    """The n-th seeded number in E.164, as the exchange stores a validated phone."""
    area, exchange, line = numbered_phone(n, SEED_AREA_CODES)
    return f"+1{area}{exchange}{line:04d}"


def seed_email(n: int) -> str:
    first, last = _FIRST_NAMES[n % len(_FIRST_NAMES)], _LAST_NAMES[n % len(_LAST_NAMES)]
    return f"{first}.{last}.{n}@{SEED_EMAIL_DOMAINS[n % len(SEED_EMAIL_DOMAINS)]}".lower()


def seeded_fields(n: int, received_at: datetime) -> tuple[dict[str, Any], dict[str, Any], _Profile]:
    """The n-th seeded lead's validated fields and consent, and how it was graded."""
    address, city, state, zip_code = _PLACES[n % len(_PLACES)]
    year, make, model = _VEHICLES[n % len(_VEHICLES)]
    profile = _PROFILES[n % len(_PROFILES)]
    fields: dict[str, Any] = {
        "first_name": _FIRST_NAMES[n % len(_FIRST_NAMES)],
        "last_name": _LAST_NAMES[n % len(_LAST_NAMES)],
        "email": seed_email(n),
        "phone": seed_phone(n),
        "address": address,
        "city": city,
        "state": state,
        "zip": zip_code,
        "date_of_birth": f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "currently_insured": n % 4 != 0,
        "vehicle_year": year,
        "vehicle_make": make,
        "vehicle_model": model,
        "ip_address": profile.ip_address,
    }
    consent: dict[str, Any] = {
        "text": "I agree to be contacted.",
        "timestamp": (received_at - timedelta(seconds=5)).isoformat(timespec="seconds")[:19] + "Z",
    }
    if profile.has_trustedform:
        consent["trustedform_cert_url"] = _CERT_URL
    return fields, consent, profile


Row = tuple[Any, ...]


def _bind(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else lambda value: value


def insert_sql(table: Table, columns: list[str], dialect: Dialect) -> str:
    """The INSERT Core would send for these columns, in the driver's own parameter style."""
    compiled = table.insert().compile(dialect=dialect, column_keys=columns)
    if list(compiled.positiontup or ()) != columns:
        raise AssertionError(f"{table.name}: parameters in order {compiled.positiontup}, not {columns}")
    return str(compiled)


class RowEncoder:
    """Seeded leads as the tuples the driver receives, each value converted by its column's
    own type (so stored exactly as Core stores it); values shared by many rows once."""

    def __init__(self, dialect: Dialect, *, publisher_id: str, vertical: str) -> None:
        self.publisher_id, self.vertical = publisher_id, vertical
        self._at = _bind(t.leads.c.received_at, dialect)
        self._json = json = _bind(t.leads.c.fields, dialect)
        self._empty_object, self._empty_list = json({}), json([])
        self._reasons = {profile: json(profile.reasons) for profile in _PROFILES}
        self._graded = {
            profile: json({"grade": profile.grade, "score": profile.score, "reasons": profile.reasons})
            for profile in _PROFILES
        }
        self._validated = json({})
        # What distribution.engine.unsold_events records when no campaign is active.
        self._eligibility = json({"candidates": [], "excluded": {}})
        self._unsold = json({"reason": "no_eligible_campaign"})

    def rows(self, n: int, received_at: datetime) -> tuple[Row, list[Row], list[Row]]:
        """The n-th lead's `leads` row, its `lead_events` rows and its `dedupe_claims` rows."""
        fields, consent, profile = seeded_fields(n, received_at)
        lead_id = new_id("lead", int(received_at.timestamp() * 1e9))
        at, json = self._at(received_at), self._json
        fields_json, consent_json = json(fields), json(consent)
        lead = (
            lead_id,
            self.vertical,
            self.publisher_id,
            None,  # sub_id
            None,  # external_id
            "unsold",
            profile.grade,
            profile.score,
            self._reasons[profile],
            fields_json,
            consent_json,
            self._empty_object,  # extra
            self._empty_list,  # errors
            0,  # payout_cents
            at,  # received_at
            at,  # updated_at
        )
        received = {
            "content_type": "application/json",
            # The posted body's size, near enough: its fields and its consent.
            "bytes": len(fields_json) + len(consent_json) + 12,
            "mode": "async",
            "idempotency": None,
            "extra_fields": [],
        }
        events = [
            (lead_id, "received", at, json(received)),
            (lead_id, "validated", at, self._validated),
            (lead_id, "graded", at, self._graded[profile]),
            (lead_id, "eligibility", at, self._eligibility),
            (lead_id, "unsold", at, self._unsold),
        ]
        claims = [
            (claim_key(self.vertical, kind, value_hash(fields[kind])), lead_id, at)
            for kind in ("phone", "email")
        ]
        return lead, events, claims


class ChunkSpec(NamedTuple):
    """The leads one transaction holds: numbers [first, last), lead n received at start + n·step."""

    url: str
    publisher_id: str
    vertical: str
    first: int
    last: int
    start: datetime
    step: timedelta


ChunkRows = tuple[list[Row], list[Row], list[Row]]


@functools.cache
def _encoder(url: str, publisher_id: str, vertical: str) -> RowEncoder:
    # One per process that builds chunks; the engine is never connected, only its dialect used.
    return RowEncoder(create_engine(url).dialect, publisher_id=publisher_id, vertical=vertical)


def build_chunk(spec: ChunkSpec) -> ChunkRows:
    """The rows of one chunk, oldest lead first: ids ascend as the exchange's do."""
    encoder = _encoder(spec.url, spec.publisher_id, spec.vertical)
    leads: list[Row] = []
    events: list[Row] = []
    keys: list[Row] = []
    for n in range(spec.first, spec.last):
        lead, trail, claims = encoder.rows(n, spec.start + spec.step * n)
        leads.append(lead)
        events.extend(trail)
        keys.extend(claims)
    # Hashes land all over their index; in order they share the pages they touch.
    keys.sort(key=lambda key: (key[1], key[2]))
    return leads, events, keys


def _builder(chunks: int) -> Executor:
    # Building rows costs about as much as SQLite's writing them: a process builds the next
    # chunks meanwhile (threads would fight over the GIL). One chunk is not worth starting it.
    if chunks > 1:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return ThreadPoolExecutor(max_workers=1)


def _fast_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Only this seeding connection: a crash leaves a broken file, which nobody would keep.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=OFF")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-262144")  # KiB: 256 MB, the whole dedupe claims' pages
    cursor.close()


def _flush(path: Path) -> None:
    """Put the seeded file on disk before the exchange opens it. Written without syncing, it
    would still be gigabytes of dirty pages in the page cache, and the exchange's first
    checkpoint, which syncs the file, would write them all out inside the measured run."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _file_mb(path: Path) -> float:
    # Without a journal everything went straight into the file; a write-ahead log left
    # beside it (had the mode not switched) would hold the rest.
    files = (path, path.with_name(path.name + "-wal"))
    return sum(file.stat().st_size for file in files if file.exists()) / 1e6


_TABLES = ((t.leads, LEAD_COLUMNS), (t.lead_events, EVENT_COLUMNS), (t.dedupe_claims, CLAIM_COLUMNS))


async def _write(conn: AsyncConnection, statements: list[str], chunk_rows: ChunkRows) -> None:
    if conn.dialect.name != "postgresql":
        for statement, rows in zip(statements, chunk_rows, strict=True):
            await conn.exec_driver_sql(statement, rows)
        return
    # COPY costs the server a fraction of row-by-row INSERTs; it takes the same values
    # (asyncpg encodes them by the column types, as it would the INSERT's parameters).
    driver = (await conn.get_raw_connection()).driver_connection
    for (table, columns), rows in zip(_TABLES, chunk_rows, strict=True):
        await driver.copy_records_to_table(table.name, records=rows, columns=columns)


async def _seed(
    url: str,
    count: int,
    *,
    publisher_id: str,
    vertical: str,
    days: float,
    chunk: int,
    now: datetime,
    say: Callable[[str], None],
) -> Seeded:
    engine = create_engine(url)
    if sqlite_path(url) is not None:
        event.listen(engine.sync_engine, "connect", _fast_sqlite)
    started = last_said = time.monotonic()
    done = written = 0
    size: float | None = None
    try:
        dialect = engine.dialect
        statements = [insert_sql(table, columns, dialect) for table, columns in _TABLES]
        start, step = now - timedelta(days=days), timedelta(days=days) / count
        specs = [
            ChunkSpec(url, publisher_id, vertical, first, min(first + chunk, count), start, step)
            for first in range(0, count, chunk)
        ]
        with _builder(len(specs)) as builder:
            # Two chunks ahead at most: enough to keep both busy, little memory.
            ahead = deque(builder.submit(build_chunk, spec) for spec in specs[:2])
            rest = iter(specs[2:])
            while ahead:
                chunk_rows = await asyncio.wrap_future(ahead.popleft())
                if (spec := next(rest, None)) is not None:
                    ahead.append(builder.submit(build_chunk, spec))
                async with engine.begin() as conn:
                    await _write(conn, statements, chunk_rows)
                done += len(chunk_rows[0])
                written += sum(len(rows) for rows in chunk_rows)
                if time.monotonic() - last_said >= 5 or done == count:
                    last_said, elapsed = time.monotonic(), time.monotonic() - started
                    say(f"seeded {done:,} of {count:,} leads, {written / elapsed:,.0f} rows/s")
        if engine.dialect.name == "postgresql":
            # Autovacuum would have analysed tables this size long before; the planner
            # should not meet them unanalysed.
            async with engine.begin() as conn:
                for table in (t.leads, t.lead_events, t.dedupe_claims):
                    await conn.execute(text(f"ANALYZE {table.name}"))
                size = int(await conn.scalar(text("SELECT pg_database_size(current_database())"))) / 1e6
    finally:
        await engine.dispose()
    path = sqlite_path(url)
    if path is not None:
        _flush(path)
        size = _file_mb(path)
    return Seeded(leads=count, seconds=time.monotonic() - started, database_mb=size)


def seed_leads(
    url: str,
    count: int,
    *,
    publisher_id: str,
    vertical: str = "auto_insurance",
    days: float = 90.0,
    chunk: int = CHUNK,
    now: datetime | None = None,
    say: Callable[[str], None] | None = None,
) -> Seeded:
    """Store `count` unsold leads of `publisher_id`, received over the `days` before `now`.

    The exchange must not be running on the database meanwhile: on SQLite this connection
    writes without a journal or syncing. Progress goes to `say`, stderr by default. More than
    one chunk is built in a spawned process, so a calling script needs the usual
    `if __name__ == "__main__":` guard.
    """
    if not 0 < count <= SEED_CAPACITY:
        raise ValueError(f"count must be 1..{SEED_CAPACITY}; got {count}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1; got {chunk}")
    return asyncio.run(
        _seed(
            url,
            count,
            publisher_id=publisher_id,
            vertical=vertical,
            days=days,
            chunk=chunk,
            now=now or datetime.now(UTC),
            say=say or (lambda message: print(message, file=sys.stderr, flush=True)),
        )
    )


async def _publisher_for_key(url: str, api_key: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                select(t.api_keys.c.publisher_id).where(t.api_keys.c.key_hash == hash_key(api_key))
            )
    finally:
        await engine.dispose()
    if found is None:
        raise LookupError("no publisher holds that API key")
    return str(found)


def publisher_for_key(url: str, api_key: str) -> str:
    """The id of the publisher whose API key this is, read from the database."""
    return asyncio.run(_publisher_for_key(url, api_key))
