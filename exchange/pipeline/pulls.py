"""Pulls: the exchange polls a publisher's feed or remote folder, and what it finds goes through
the same intake as `POST /v1/leads`.

    claim   the upkeep beat (jobs/upkeep.py) runs each active pull whose `next_due_at` has come:
            a conditional UPDATE gives it to one process for a while (`claimed_by` until
            `claimed_until`, renewed as the run goes on) and moves `next_due_at` on
    feed    each entry not yet in `pull_items` goes through intake under the key
            `pull:ID:ITEM`, then its `pull_items` row is written: a process that dies between
            the two leaves the next run to replay the first answer (the same lead), never to
            make a second one
    folder  each file not yet in `pull_items` (known by name, size and time, so a file uploaded
            again is new) is stored as a batch with its `pull_items` row in ONE transaction;
            `after: delete` removes it from the server once recorded (again on a later run, if
            the removal was cut short). A file changed in the last minute may still be being
            written: it waits for a later run.
    events  every run, item taken and failure is a `pull_events` row, and the run's failure
            the pull's `last_error`. A failing pull stops neither the others nor the beat.

Exactly-once rests on `pull_items`' primary key, not on the lease: two processes running one
pull (a lease lapsed in a stall) still take each item once.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from adapters.inbound.feed import MAX_FEED_BYTES, FeedError, FeedItem, fetch_feed, parse_feed
from adapters.inbound.protocol import SourceError
from adapters.outbound.http import HttpClient
from exchange.audit import AuditHook
from exchange.errors import Invalid
from exchange.pipeline.batches import accept_batch, format_of_name
from exchange.pipeline.intake import Posted, Source, receive_fields
from exchange.storage import tables as t
from exchange.storage.outbox import new_lease

if TYPE_CHECKING:
    from adapters.inbound.folder import RemoteFile, RemoteFolder

log = logging.getLogger(__name__)

# How long a claimed pull is one process's unless renewed (every third of it, as it goes).
CLAIM_SECONDS = 600.0
# A run stops taking items after this long; the rest is taken at once by the next beat.
RUN_SECONDS = 120.0
MAX_FILE_BYTES = 64 * 1024 * 1024
# A file changed more recently than this may be half uploaded.
SETTLE_SECONDS = 60.0
MAX_KEY = 200
PULLS_AT_ONCE = 4
_p, _i = t.pulls.c, t.pull_items.c


class _LeaseLost(Exception):
    """Another process claimed the pull after this one's lease lapsed: this run stops."""


class _Run:
    """One run of one pull: what it took, what failed, and the lease it holds."""

    def __init__(self, services: Any, pull: Any, token: str, claim_seconds: float) -> None:
        self.services, self.pull, self.token, self.claim_seconds = services, pull, token, claim_seconds
        self.started_at = services.clock()
        self.started = self.renewed = time.monotonic()
        self.taken = self.seen = self.waiting = 0
        self.error: str | None = None
        self.more = False

    @property
    def over_budget(self) -> bool:
        return time.monotonic() - self.started > RUN_SECONDS

    async def event(self, kind: str, **detail: Any) -> None:
        async with self.services.engine.begin() as conn:
            await conn.execute(_event(self.pull.id, kind, self.services.clock(), detail))

    async def failed(self, message: str, **detail: Any) -> None:
        self.error = message
        log.warning("pull %s: %s", self.pull.id, message)
        await self.event("failed", error=message, **detail)

    async def renew(self) -> None:
        """Extend the lease when a third of it has gone; stop if it is someone else's now."""
        if time.monotonic() - self.renewed < self.claim_seconds / 3:
            return
        until = self.services.clock() + timedelta(seconds=self.claim_seconds)
        async with self.services.engine.begin() as conn:
            done = await conn.execute(
                update(t.pulls)
                .where(_p.id == self.pull.id, _p.claimed_by == self.token)
                .values(claimed_until=until)
            )
        if done.rowcount != 1:
            raise _LeaseLost(self.pull.id)
        self.renewed = time.monotonic()


def _event(pull_id: str, kind: str, at: datetime, detail: dict[str, Any]) -> Any:
    return t.pull_events.insert().values(pull_id=pull_id, kind=kind, at=at, detail=detail)


async def run_due_pulls(services: Any, now: datetime, *, claim_seconds: float = CLAIM_SECONDS) -> int:
    """Run every pull due now that no process is running (services: the intake's Services);
    how many ran here."""
    async with services.engine.connect() as conn:
        due = (
            await conn.scalars(
                select(_p.id)
                .where(_p.active.is_(True), _p.next_due_at <= now, _free(now))
                .order_by(_p.next_due_at)
                .limit(50)
            )
        ).all()
    if not due:
        return 0
    http = feed_client(services)
    limit = asyncio.Semaphore(PULLS_AT_ONCE)

    async def one(pull_id: str) -> bool:
        async with limit:
            return await run_pull(services, pull_id, http=http, claim_seconds=claim_seconds)

    try:
        ran = await asyncio.gather(*(one(pull_id) for pull_id in due), return_exceptions=True)
    finally:
        await http.close()
    for pull_id, outcome in zip(due, ran, strict=True):
        if isinstance(outcome, BaseException):  # the database failed us: the lease lapses
            log.error("pull %s: the run could not be recorded", pull_id, exc_info=outcome)
    return sum(1 for outcome in ran if outcome is True)


def feed_client(services: Any) -> HttpClient:
    """An HTTP client for feeds: the guard as deliveries have it, a feed's size bound."""
    return HttpClient(
        allow_private=services.settings.allow_private_destinations,
        limit=PULLS_AT_ONCE * 2,
        max_answer_bytes=MAX_FEED_BYTES,
    )


async def request_run(services: Any, pull_id: str, audit: AuditHook | None = None) -> bool:
    """Make an active pull due now; False if there is none. `audit` records the request in
    the same transaction."""
    now = services.clock()
    async with services.engine.begin() as conn:
        done = await conn.execute(
            update(t.pulls)
            .where(_p.id == pull_id, _p.active.is_(True))
            .values(next_due_at=now, updated_at=now)
        )
        if done.rowcount == 1 and audit is not None:
            await audit(conn)
    return done.rowcount == 1


async def run_pull(
    services: Any,
    pull_id: str,
    *,
    http: HttpClient | None = None,
    claim_seconds: float = CLAIM_SECONDS,
) -> bool:
    """Claim the pull if it is due and nobody runs it, run it, record the run; False if it
    was not this process's to run."""
    claimed = await _claim(services, pull_id, claim_seconds)
    if claimed is None:
        return False
    pull, token = claimed
    run = _Run(services, pull, token, claim_seconds)
    client = http or feed_client(services)
    try:
        if pull.kind == "feed":
            await _run_feed(run, client)
        else:
            await _run_folder(run)
    except SourceError as exc:
        await run.failed(exc.message)
    except _LeaseLost:
        log.warning("pull %s: its lease went to another process mid-run", pull.id)
        return True
    except Exception as exc:
        log.exception("pull %s: the run failed", pull.id)
        await run.failed(f"internal error: {type(exc).__name__}")
    finally:
        if http is None:
            await client.close()
    await _finish(run)
    return True


def _free(now: datetime) -> Any:
    return or_(_p.claimed_until.is_(None), _p.claimed_until <= now)


async def _claim(services: Any, pull_id: str, claim_seconds: float) -> tuple[Any, str] | None:
    now = services.clock()
    token = new_lease()
    async with services.engine.begin() as conn:
        pull = (await conn.execute(select(t.pulls).where(_p.id == pull_id))).first()
        if pull is None:
            return None
        claimed = await conn.execute(
            update(t.pulls)
            .where(_p.id == pull_id, _p.active.is_(True), _p.next_due_at <= now, _free(now))
            .values(
                claimed_by=token,
                claimed_until=now + timedelta(seconds=claim_seconds),
                next_due_at=now + timedelta(minutes=pull.every_minutes),
            )
        )
    return (pull, token) if claimed.rowcount == 1 else None


async def _finish(run: _Run) -> None:
    """The run's event, and the pull free again (due at once when the run had to stop early)."""
    now = run.services.clock()
    values: dict[str, Any] = {
        "claimed_by": None,
        "claimed_until": None,
        "last_run_at": run.started_at,
        "last_error": run.error,
        "updated_at": now,
    }
    if run.more:
        values["next_due_at"] = now
    detail = {
        "seen": run.seen,
        "taken": run.taken,
        "waiting": run.waiting,
        "more": run.more,
        "seconds": round(time.monotonic() - run.started, 3),
        "error": run.error,
    }
    async with run.services.engine.begin() as conn:
        await conn.execute(_event(run.pull.id, "run", now, detail))
        await conn.execute(
            update(t.pulls).where(_p.id == run.pull.id, _p.claimed_by == run.token).values(**values)
        )


async def _taken_keys(run: _Run, keys: list[str]) -> set[str]:
    found: set[str] = set()
    async with run.services.engine.connect() as conn:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found.update(
                (await conn.scalars(select(_i.key).where(_i.pull_id == run.pull.id, _i.key.in_(chunk)))).all()
            )
    return found


async def _record(run: _Run, key: str, *, lead_id: str | None = None, **detail: Any) -> bool:
    """The item taken, with its event; False if another process recorded it first."""
    try:
        async with run.services.engine.begin() as conn:
            await _record_in(conn, run, key, lead_id=lead_id, batch_id=None, **detail)
    except IntegrityError:
        return False
    return True


async def _record_in(
    conn: Any, run: _Run, key: str, *, lead_id: str | None, batch_id: str | None, **detail: Any
) -> None:
    now = run.services.clock()
    await conn.execute(
        t.pull_items.insert().values(
            pull_id=run.pull.id, key=key, lead_id=lead_id, batch_id=batch_id, taken_at=now
        )
    )
    taken = {"item": key, "lead_id": lead_id, "batch_id": batch_id, **detail}
    await conn.execute(_event(run.pull.id, "taken", now, {k: v for k, v in taken.items() if v is not None}))


async def _source(run: _Run) -> Source:
    p = t.publishers.c
    async with run.services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(p.id, p.default_vertical, p.field_mapping, p.payout).where(
                    p.id == run.pull.publisher_id
                )
            )
        ).first()
    if row is None:
        raise FeedError(f"the publisher {run.pull.publisher_id} is gone")
    return Source(
        publisher_id=row.id,
        default_vertical=row.default_vertical,
        field_mapping=row.field_mapping or {},
        payout=row.payout,
    )


# ----------------------------------------------------------------------------------------------
# Feeds: each new entry a lead.


async def _run_feed(run: _Run, http: HttpClient) -> None:
    body, content_type = await fetch_feed(http, run.pull.url)
    items = parse_feed(body, content_type)
    run.seen = len(items)
    taken = await _taken_keys(run, [item.key for item in items])
    fresh = [item for item in items if item.key not in taken]
    if not fresh:
        return
    source = await _source(run)
    for item in fresh:
        if run.over_budget:
            run.more = True
            return
        await _take_entry(run, source, item, content_type)
        await run.renew()


async def _take_entry(run: _Run, source: Source, item: FeedItem, content_type: str | None) -> None:
    pull = run.pull
    posted = Posted(
        body=b"",
        content_type=(content_type or "application/rss+xml").split(";")[0].strip(),
        vertical=pull.vertical,
        mode="async",
        idempotency_key=f"pull:{pull.id}:{item.key}",
        origin={"channel": "pull", "pull_id": pull.id, "item": item.key},
    )
    try:
        received = await receive_fields(run.services, source, posted, dict(item.fields))
    except Invalid as exc:
        if exc.code != "idempotency_mismatch":  # left for the next run, where it fails again
            await run.failed(f"item {item.key}: {exc.message}", item=item.key)
            return
        # The entry changed after an earlier run stored its lead (and died before recording
        # it): that lead stands, the entry is taken.
        await _record(run, item.key, changed=True)
        return
    answer = received.answer
    if await _record(
        run, item.key, lead_id=answer.lead_id, status=answer.status, replayed=received.replayed or None
    ):
        run.taken += 1


# ----------------------------------------------------------------------------------------------
# Remote folders: each new file a batch.


def file_key(file: RemoteFile) -> str:
    """A file is its name, size and time: the same name uploaded again is a new file."""
    modified = file.modified.isoformat() if file.modified is not None else ""
    key = f"{file.name}|{file.size if file.size is not None else ''}|{modified}"
    if len(key) <= MAX_KEY:
        return key
    return f"{file.name[:100]}|sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def is_wanted(name: str, pattern: str | None) -> bool:
    """A file the pull takes: not hidden (an upload in progress, often), matching the pattern
    (any file of a batch format without one)."""
    if name.startswith(".") or "/" in name:
        return False
    if pattern is None:
        return format_of_name(name) is not None
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


async def _run_folder(run: _Run) -> None:
    pull, options = run.pull, run.pull.options or {}
    after = options.get("after", "keep")
    # aioftp and asyncssh load with the first folder pulled, not in every process that starts.
    from adapters.inbound.folder import connect_folder

    folder = await connect_folder(
        pull.url,
        host_key=options.get("host_key"),
        allow_private=run.services.settings.allow_private_destinations,
    )
    async with folder:
        files = [file for file in await folder.list() if is_wanted(file.name, options.get("pattern"))]
        files.sort(key=lambda file: (file.modified.timestamp() if file.modified else 0.0, file.name))
        run.seen = len(files)
        taken = await _taken_keys(run, [file_key(file) for file in files])
        settled = run.services.clock() - timedelta(seconds=SETTLE_SECONDS)
        for file in files:
            key = file_key(file)
            if key in taken:
                if after == "delete":  # its removal was cut short on an earlier run
                    await _remove(run, folder, file.name)
                continue
            if file.modified is not None and file.modified > settled:
                run.waiting += 1
                continue
            if run.over_budget:
                run.more = True
                return
            await _take_file(run, folder, file, key, after)
            await run.renew()


async def _take_file(run: _Run, folder: RemoteFolder, file: RemoteFile, key: str, after: str) -> None:
    pull = run.pull
    format = format_of_name(file.name)
    refusal = None
    if format is None:
        refusal = "not a file format the exchange reads (csv, xlsx, xml, ndjson)"
    elif file.size is not None and file.size > MAX_FILE_BYTES:
        refusal = f"over {MAX_FILE_BYTES // (1024 * 1024)} MiB"
    if refusal is not None:  # taken once, as refused: a file fixed and uploaded again is new
        if await _record(run, key):
            await run.failed(f"{file.name}: {refusal}", file=file.name)
        return
    assert format is not None
    try:
        data = await folder.read(file.name, MAX_FILE_BYTES)
    except SourceError as exc:
        if exc.broken:
            raise
        await run.failed(exc.message, file=file.name)
        return
    if file.size is not None and len(data) != file.size:  # still being written: a later run
        run.waiting += 1
        return
    services = run.services
    try:
        async with services.engine.begin() as conn:
            batch_id = None
            if data.strip():
                batch_id = await accept_batch(
                    conn,
                    publisher_id=pull.publisher_id,
                    vertical=pull.vertical,
                    format=format,
                    data=data,
                    now=services.clock(),
                    origin={"channel": "pull", "pull_id": pull.id, "file": file.name},
                    name=file.name,
                )
            await _record_in(conn, run, key, lead_id=None, batch_id=batch_id, file=file.name, bytes=len(data))
    except IntegrityError:  # another process took it first; its batch is the only one
        return
    run.taken += 1
    services.runner.notify()
    if after == "delete":
        await _remove(run, folder, file.name)


async def _remove(run: _Run, folder: RemoteFolder, name: str) -> None:
    try:
        await folder.remove(name)
    except SourceError as exc:
        if exc.broken:
            raise
        await run.failed(exc.message, file=name)
