"""Background work owed and parked: `GET /v1/jobs`, `POST /v1/jobs/{id}/retry` (operator).

A job is an outbox row (jobs/outbox.py): `pending` while due or waiting for its next
attempt, `running` while a process holds its lease, `done`, or `failed` once its attempts
are spent; a failed job keeps its last error until an operator runs it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import and_, or_, select, update

from exchange.api.auth import PrincipalDep
from exchange.api.services import ServicesDep
from exchange.errors import Conflict, NotFound, field_invalid
from exchange.storage import tables as t
from exchange.types import Page

JobState = Literal["pending", "running", "done", "failed"]
_o = t.outbox.c


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    job: str
    state: JobState
    lead_id: str | None
    payload: dict[str, Any]
    attempts: int
    due_at: datetime
    locked_until: datetime | None
    last_error: str | None
    created_at: datetime
    done_at: datetime | None
    failed_at: datetime | None


class JobPage(Page, kw_only=True):
    items: list[JobView]


def _state(row: Any, now: datetime) -> JobState:
    if row.failed_at is not None:
        return "failed"
    if row.done_at is not None:
        return "done"
    if row.locked_until is not None and row.locked_until >= now:
        return "running"
    return "pending"


def _view(row: Any, now: datetime) -> JobView:
    fields = {f: getattr(row, f) for f in JobView.__struct_fields__ if f != "state"}
    return JobView(state=_state(row, now), **fields)


def _where(state: JobState, now: datetime) -> Any:
    leased = and_(_o.locked_until.is_not(None), _o.locked_until >= now)
    return {
        "failed": _o.failed_at.is_not(None),
        "done": and_(_o.done_at.is_not(None), _o.failed_at.is_(None)),
        "running": and_(_o.done_at.is_(None), leased),
        "pending": and_(_o.done_at.is_(None), or_(_o.locked_until.is_(None), _o.locked_until < now)),
    }[state]


class JobController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]

    @get("/", summary="Background jobs, newest first (operator); state=failed lists those parked")
    async def list_jobs(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        job_state: Annotated[JobState | None, QueryParameter(name="state")] = None,
        job: FromQuery[str | None] = None,
        lead_id: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> JobPage:
        principal.require("operator")
        now = services.clock()
        query = select(t.outbox).order_by(_o.id.desc()).limit(limit + 1)
        if job_state is not None:
            query = query.where(_where(job_state, now))
        for column, value in ((_o.job, job), (_o.lead_id, lead_id)):
            if value is not None:
                query = query.where(column == value)
        if cursor:
            if not cursor.isdigit() or len(cursor) > 18:
                raise field_invalid("cursor", "invalid_cursor", "a cursor is the next_cursor of a page")
            query = query.where(_o.id < int(cursor))
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_view(row, now) for row in rows[:limit]]
        return JobPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)

    @post(
        "/{job_id:int}/retry",
        summary="Run a failed job again, from its first attempt (operator)",
        status_code=200,
    )
    async def retry_job(
        self, job_id: FromPath[int], principal: PrincipalDep, services: ServicesDep
    ) -> JobView:
        principal.require("operator")
        if not 0 < job_id < 2**63:
            raise NotFound(f"no job {job_id}")
        now = services.clock()
        async with services.engine.begin() as conn:
            result = await conn.execute(
                update(t.outbox)
                .where(_o.id == job_id, _o.failed_at.is_not(None))
                .values(failed_at=None, done_at=None, attempts=0, due_at=now, locked_until=None, owner=None)
            )
            row = (await conn.execute(select(t.outbox).where(_o.id == job_id))).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        if result.rowcount == 0:
            raise Conflict(f"job {job_id} is {_state(row, now)}, not failed", code="job_not_failed")
        services.runner.notify()
        return _view(row, now)
