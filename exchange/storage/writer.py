"""The lead writer: one task per process commits concurrent requests' leads together.

Group commit: requests queue their lead (row, events, outbox work, dedupe claims,
idempotency key) and wait; the writer takes everything queued, claims keys in order,
inserts all rows in one transaction and commits, then answers each request. Nobody is
answered before the commit that holds their lead.

The writer executes; intake decides. It reports a conflict and writes what intake said
to write for it: an idempotency key already stored is reported with its first answer
(nothing is written), a dedupe claim held by another lead within the window makes it
store the lead's `if_duplicate` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert, per_dialect
from exchange.tasks import stop_task
from exchange.types import LeadAnswer

log = logging.getLogger(__name__)

# Built once (exchange/storage/statements.py): the writer runs them for every batch.
_c, _i = t.dedupe_claims.c, t.idempotency_keys.c
_INSERT_LEADS = t.leads.insert()
_INSERT_EVENTS = t.lead_events.insert()
_INSERT_OUTBOX = t.outbox.insert()
# Every claim the batch names, in one look-up of the primary key.
_HELD_CLAIMS = select(_c.key, _c.lead_id, _c.seen_at).where(_c.key.in_(bindparam("keys", expanding=True)))
# Per publisher, so the primary key's leading column is equal and the rest an IN list:
# SQLite scans the whole table for a row-value IN of tuples.
_STORED_ANSWERS = select(_i.publisher_id, _i.key, _i.fingerprint, _i.lead_id, _i.mode, _i.answer).where(
    _i.publisher_id == bindparam("publisher_id"), _i.key.in_(bindparam("keys", expanding=True))
)


def _claim_statement(dialect: str) -> Any:
    """Claim dedupe keys: insert each, or take it over from a lead outside the window;
    answer the keys this statement claimed (a key held by a lead inside the window is not).

    Executed with one row per key, as one multi-row INSERT … RETURNING; the window's start,
    outside the VALUES, is one value for the statement (the batch's latest)."""
    statement = dialect_insert(dialect, t.dedupe_claims).values(
        key=bindparam("key"),
        lead_id=bindparam("lead_id"),
        seen_at=bindparam("seen_at", type_=t.UTCDateTime()),
    )
    return statement.on_conflict_do_update(
        index_elements=[_c.key],
        set_={"lead_id": statement.excluded.lead_id, "seen_at": statement.excluded.seen_at},
        where=_c.seen_at < bindparam("window_start", type_=t.UTCDateTime()),
    ).returning(_c.key)


def _idempotency_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect, t.idempotency_keys)
        .values(
            publisher_id=bindparam("p_publisher_id"),
            key=bindparam("p_key"),
            fingerprint=bindparam("p_fingerprint"),
            lead_id=bindparam("p_lead_id"),
            mode=bindparam("p_mode"),
            answer=bindparam("p_answer", type_=_i.answer.type),
            created_at=bindparam("p_created_at", type_=t.UTCDateTime()),
        )
        .on_conflict_do_nothing()
        .returning(_i.key)
    )


_CLAIM = per_dialect(_claim_statement)
_STORE_ANSWER = per_dialect(_idempotency_statement)


@dataclass
class LeadWrite:
    """Everything one request must commit, prepared by intake before the writer sees it."""

    lead: dict[str, Any]
    events: list[dict[str, Any]]
    answer: LeadAnswer
    mode: Literal["sync", "async"] = "async"
    outbox: dict[str, Any] | None = None
    # The outcome's events when intake already settled the lead (no campaign can take it).
    settled: list[dict[str, Any]] = field(default_factory=list)
    # (kind, key) pairs claimed for duplicate detection (pipeline/dedupe.py); empty when none.
    dedupe: list[tuple[str, int]] = field(default_factory=list)
    window_start: datetime | None = None
    # What to store instead when another lead holds a claim: f(this write, that lead, kind).
    if_duplicate: Callable[[LeadWrite, str, str], LeadWrite] | None = None
    # (publisher_id, key, fingerprint) when the request carried an idempotency key.
    idempotency: tuple[str, str, str] | None = None


class StoredAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """An idempotency key as first stored: its lead, its body's fingerprint, its answer."""

    lead_id: str | None
    fingerprint: str
    mode: str | None
    answer: LeadAnswer


class WriteResult(msgspec.Struct, kw_only=True):
    """The answer of what was written; `earlier` when the idempotency key was already
    stored (by an earlier request, or earlier in the same batch) and nothing was written."""

    answer: LeadAnswer
    earlier: StoredAnswer | None = None


class _Raced(Exception):
    """Another process committed the same idempotency key first: redo this item alone."""


class _Batch:
    """What earlier items of the same transaction claimed, invisible to SELECTs until commit."""

    def __init__(self) -> None:
        self.claims: dict[int, str] = {}
        # Read once per batch, then kept up to date: claims held in the database, and
        # stored answers (with those this batch stores).
        self.held: dict[int, tuple[str, datetime]] = {}
        self.stored: dict[tuple[str, str], StoredAnswer] = {}
        self.new_claims: list[dict[str, Any]] = []
        self.leads: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []


class LeadWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 256,
        on_commit: Callable[[], None] | None = None,
        concurrency: int | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: asyncio.Queue[tuple[LeadWrite, asyncio.Future[WriteResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Group commits in flight at once. SQLite has one connection and one writer: one.
        # On PostgreSQL each transaction waits on round trips and its commit's flush, and the
        # event loop serves requests meanwhile; a few in flight keep the server busy. Keys
        # two batches both claim are settled by the race check (the later batch is redone).
        if concurrency is None:
            concurrency = 1 if engine.dialect.name == "sqlite" else 4
        self._slots = asyncio.Semaphore(concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        # On PostgreSQL each slot keeps its connection from one group commit to the next,
        # sparing the pool's checkout and return (and a ping after idling, db.py) per
        # transaction. A kept connection that fails is given back; the next is checked out.
        # (SQLite's one connection is everybody's: it goes back to the pool every time.)
        self._keep_connections = engine.dialect.name != "sqlite"
        self._kept: list[AsyncConnection] = []
        # Transactions committed and leads carried: their ratio is the group-commit gain.
        self.commits = 0
        self.written = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lead-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        await stop_task(self._task)
        self._task = None
        while self._kept:
            await self._kept.pop().close()

    async def write(self, item: LeadWrite) -> WriteResult:
        if self._task is None:
            raise RuntimeError("the lead writer is not running")
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def _run(self) -> None:
        while True:
            # A free slot first: while every slot is busy, requests gather into the next batch.
            await self._slots.acquire()
            try:
                batch = [await self._queue.get()]
            except BaseException:
                self._slots.release()
                raise
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._commit_in_slot(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _commit_in_slot(self, batch: list[tuple[LeadWrite, asyncio.Future[WriteResult]]]) -> None:
        try:
            await self._commit(batch)
        finally:
            self._slots.release()
            for _ in batch:
                self._queue.task_done()

    async def _commit(self, batch: list[tuple[LeadWrite, asyncio.Future[WriteResult]]]) -> None:
        try:
            outcomes = await self._transaction([item for item, _ in batch])
            self.commits += 1
            self.written += len(batch)
        except Exception:
            # One bad item must not sink its neighbours: commit each alone.
            log.warning("group commit of %d leads failed; committing one by one", len(batch))
            for item, future in batch:
                try:
                    (outcome,) = await self._transaction([item])
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                    continue
                _settle(future, outcome)
        else:
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                _settle(future, outcome)
        # Wake the outbox runner only for work it may take now: a sync request's row is
        # leased to the request itself, and a settled lead has none.
        if self._on_commit is not None and any(
            item.outbox is not None and item.outbox["locked_until"] is None for item, _ in batch
        ):
            self._on_commit()

    async def _transaction(self, items: list[LeadWrite]) -> list[WriteResult]:
        for attempt in range(2):
            state = _Batch()
            conn = self._kept.pop() if self._kept else await self._engine.connect()
            try:
                async with conn.begin():
                    await self._read_batch(conn, items, state)
                    outcomes = [await self._apply(conn, item, state) for item in items]
                    if state.new_claims:
                        await self._write_claims(conn, state)
                    if state.leads:
                        await conn.execute(_INSERT_LEADS, state.leads)
                    if state.events:
                        await conn.execute(_INSERT_EVENTS, state.events)
                    if state.outbox:
                        await conn.execute(_INSERT_OUTBOX, state.outbox)
            except BaseException as exc:
                await conn.close()
                if isinstance(exc, _Raced) and not attempt:
                    continue
                raise
            if self._keep_connections and self._task is not None:
                self._kept.append(conn)
            else:
                await conn.close()
            return outcomes
        raise AssertionError("unreachable")

    async def _apply(self, conn: AsyncConnection, item: LeadWrite, state: _Batch) -> WriteResult:
        if item.idempotency is not None:
            earlier = state.stored.get(item.idempotency[:2])
            if earlier is not None:
                return WriteResult(answer=earlier.answer, earlier=earlier)
        write = item
        if item.dedupe:
            taken = self._claim(item, state)
            if taken is not None:
                if item.if_duplicate is None:
                    raise ValueError("a lead with dedupe claims needs `if_duplicate`")
                write = item.if_duplicate(item, *taken)
        lead = write.lead
        if item.idempotency is not None:
            publisher_id, key, fingerprint = item.idempotency
            stored = await conn.execute(
                _STORE_ANSWER(conn),
                {
                    "p_publisher_id": publisher_id,
                    "p_key": key,
                    "p_fingerprint": fingerprint,
                    "p_lead_id": lead["id"],
                    "p_mode": write.mode,
                    "p_answer": msgspec.to_builtins(write.answer),
                    "p_created_at": lead["received_at"],
                },
            )
            if stored.first() is None:
                raise _Raced
            state.stored[(publisher_id, key)] = StoredAnswer(
                lead_id=lead["id"], fingerprint=fingerprint, mode=write.mode, answer=write.answer
            )
        state.leads.append(lead)
        state.events.extend(write.events)
        state.events.extend(write.settled)
        if write.outbox is not None:
            state.outbox.append(write.outbox)
        return WriteResult(answer=write.answer)

    async def _read_batch(self, conn: AsyncConnection, items: list[LeadWrite], state: _Batch) -> None:
        """Two reads for the whole batch: the dedupe claims it names, and its idempotency keys."""
        wanted = {key for item in items for _, key in item.dedupe}
        if wanted:
            held = await conn.execute(_HELD_CLAIMS, {"keys": sorted(wanted)})
            state.held = {r.key: (r.lead_id, r.seen_at) for r in held}
        keys = {(item.idempotency[0], item.idempotency[1]) for item in items if item.idempotency}
        if keys:
            by_publisher: dict[str, list[str]] = {}
            for publisher_id, key in sorted(keys):
                by_publisher.setdefault(publisher_id, []).append(key)
            for publisher_id, named in by_publisher.items():
                rows = await conn.execute(_STORED_ANSWERS, {"publisher_id": publisher_id, "keys": named})
                state.stored.update(
                    (
                        (r.publisher_id, r.key),
                        StoredAnswer(
                            lead_id=r.lead_id,
                            fingerprint=r.fingerprint,
                            mode=r.mode,
                            answer=msgspec.convert(r.answer, LeadAnswer),
                        ),
                    )
                    for r in rows
                )

    def _claim(self, item: LeadWrite, state: _Batch) -> tuple[str, str] | None:
        """Claim the lead's phone and e-mail keys; answer (original lead, kind) if one is taken."""
        assert item.window_start is not None
        for kind, key in item.dedupe:
            if key in state.claims:
                return state.claims[key], kind
            held = state.held.get(key)
            if held is not None and held[1] >= item.window_start:
                return held[0], kind
        for _, key in item.dedupe:
            state.claims[key] = item.lead["id"]
            state.new_claims.append(
                {
                    "key": key,
                    "lead_id": item.lead["id"],
                    "seen_at": item.lead["received_at"],
                    "window_start": item.window_start,
                }
            )
        return None

    async def _write_claims(self, conn: AsyncConnection, state: _Batch) -> None:
        """One upsert for every claim of the batch. A key another process claimed meanwhile
        is left alone by the upsert and missing from what it returns: the batch is redone."""
        # In key order, so concurrent batches lock the same keys in the same order.
        claims = sorted(state.new_claims, key=lambda c: c["key"])
        # One window start for the statement, the batch's latest: every key claimed here was
        # read as free or as older than its own lead's window start, which is no later. So
        # the upsert passes over a key only if another process claimed it since the read.
        window_start = max(c["window_start"] for c in claims)
        for claim in claims:
            claim["window_start"] = window_start
        claimed = await conn.execute(_CLAIM(conn), claims)
        if len(claimed.all()) != len(claims):
            raise _Raced


def _settle(future: asyncio.Future[WriteResult], outcome: WriteResult) -> None:
    if not future.done():
        future.set_result(outcome)
