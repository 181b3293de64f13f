"""The closed loop: each source's score from returns and dispositions, fed to the grader.

Scores are recomputed from the last SCORE_DAYS of leads and cached per process for
`cache_seconds`. The computation (billing/reports.source_scores) reads the publisher's
sales, returns and dispositions in that window, which grow with its business, so intake
never waits for it once a score exists: a stale score is served while one refresh per
publisher runs in the background. On SQLite, whose statements run on the event loop's thread
(exchange/storage/inline.py), that refresh runs on a worker thread with a connection
of its own, so the loop keeps answering; a publisher's first score is waited for at
most FIRST_WAIT seconds. With `cache_seconds` 0 every lead recomputes
the score at once, in line (tests of the loop rely on that).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from billing.reports import source_scores
from exchange.clock import Clock
from exchange.storage.db import create_engine, sqlite_path

SCORE_DAYS = 90
# How long intake waits for a publisher's first score before grading without it.
FIRST_WAIT = 0.5
Scores = dict[str | None, float | None]
log = logging.getLogger(__name__)


@dataclass
class SourceScores:
    engine: AsyncEngine
    clock: Clock
    cache_seconds: float = 300.0
    _cache: dict[str, tuple[datetime, Scores]] = field(default_factory=dict)
    _refreshing: dict[str, asyncio.Task[Scores]] = field(default_factory=dict)

    async def score(self, publisher_id: str, sub_id: str | None) -> float | None:
        cached = self._cache.get(publisher_id)
        if self.cache_seconds <= 0:
            scores = await asyncio.shield(self._refresh(publisher_id))
        elif cached is None:
            # The first score of a publisher since start: a big database takes seconds to
            # report, and intake does not wait that long; the source is unknown meanwhile.
            try:
                scores = await asyncio.wait_for(asyncio.shield(self._refresh(publisher_id)), FIRST_WAIT)
            except TimeoutError:
                return None
        else:
            if (self.clock() - cached[0]).total_seconds() >= self.cache_seconds:
                self._refresh(publisher_id)
            scores = cached[1]
        # A sub_id without its own record is judged by the publisher's record as a whole.
        if sub_id in scores and scores[sub_id] is not None:
            return scores[sub_id]
        known = [s for s in scores.values() if s is not None]
        return round(sum(known) / len(known), 3) if known else None

    def _refresh(self, publisher_id: str) -> asyncio.Task[Scores]:
        """The publisher's refresh under way, or a new one: one at a time per publisher."""
        running = self._refreshing.get(publisher_id)
        if running is None:
            running = asyncio.ensure_future(self._compute(publisher_id))
            self._refreshing[publisher_id] = running
            running.add_done_callback(lambda task: self._done(publisher_id, task))
        return running

    def _done(self, publisher_id: str, task: asyncio.Task[Scores]) -> None:
        self._refreshing.pop(publisher_id, None)
        if not task.cancelled() and task.exception() is not None:
            # A background refresh: the stale score stands, the next lead tries again.
            log.warning("source score of %s not refreshed: %r", publisher_id, task.exception())

    async def _compute(self, publisher_id: str) -> Scores:
        now = self.clock()
        start = now - timedelta(days=SCORE_DAYS)
        url = self.engine.url.render_as_string(hide_password=False)
        if sqlite_path(url) is not None and self.cache_seconds > 0:
            scores = await asyncio.to_thread(asyncio.run, _scores(url, publisher_id, start, now))
        else:
            scores = await _scores_on(self.engine, publisher_id, start, now)
        self._cache[publisher_id] = (now, scores)
        return scores

    def forget(self) -> None:
        self._cache.clear()


async def _scores_on(engine: AsyncEngine, publisher_id: str, start: datetime, end: datetime) -> Scores:
    async with engine.connect() as conn:
        return await source_scores(conn, start=start, end=end, publisher_id=publisher_id)


async def _scores(url: str, publisher_id: str, start: datetime, end: datetime) -> Scores:
    """On a worker thread's own loop, with an engine of its own (a WAL reader beside the writer)."""
    engine = create_engine(url)
    try:
        return await _scores_on(engine, publisher_id, start, end)
    finally:
        await engine.dispose()
