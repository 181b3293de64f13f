"""The closed loop: each source's score from returns and dispositions, fed to the grader.

Scores are recomputed from the last SCORE_DAYS of leads and cached per process for
`cache_seconds`, so intake pays for a look-up at most once per source in that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from billing.reports import source_report, source_score
from exchange.clock import Clock

SCORE_DAYS = 90


@dataclass
class SourceScores:
    engine: AsyncEngine
    clock: Clock
    cache_seconds: float = 300.0
    _cache: dict[str, tuple[float, dict[str | None, float | None]]] = field(default_factory=dict)

    async def score(self, publisher_id: str, sub_id: str | None) -> float | None:
        cached = self._cache.get(publisher_id)
        if cached is None or time.monotonic() - cached[0] >= self.cache_seconds:
            now = self.clock()
            async with self.engine.connect() as conn:
                rows = await source_report(
                    conn, start=now - timedelta(days=SCORE_DAYS), end=now, publisher_id=publisher_id
                )
            cached = (time.monotonic(), {row.sub_id: source_score(row) for row in rows})
            self._cache[publisher_id] = cached
        scores = cached[1]
        # A sub_id without its own record is judged by the publisher's record as a whole.
        if sub_id in scores and scores[sub_id] is not None:
            return scores[sub_id]
        known = [s for s in scores.values() if s is not None]
        return round(sum(known) / len(known), 3) if known else None

    def forget(self) -> None:
        self._cache.clear()
