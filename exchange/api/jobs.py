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
from litestar.params import QueryParameter
from sqlalchemy import and_, or_, select, update

from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import JobId, PageLimit
from exchange.api.services import ServicesDep
from exchange.audit import record_change
from exchange.errors import Conflict, NotFound, field_invalid
from exchange.storage import tables as t
from exchange.types import Page

JobState = Literal["pending", "running", "done", "failed"]
_o = t.outbox.c


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[int, msgspec.Meta(description="The job's number.", examples=[4182])]
    job: Annotated[
        str,
        msgspec.Meta(
            description=(
                "What the work is: `distribute` (sell a lead), `import_batch` (read an uploaded file)…"
            ),
            examples=["distribute"],
        ),
    ]
    state: Annotated[
        JobState,
        msgspec.Meta(
            description=(
                "`pending` (due, or waiting for its next attempt), `running` (a process holds "
                "it), `done`, or `failed` (its attempts spent; `POST /v1/jobs/{id}/retry` runs "
                "it again)."
            ),
            examples=["failed"],
        ),
    ]
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The lead it is about, if any.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"]
        ),
    ]
    payload: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description="The job's arguments.", examples=[{"lead_id": "lead_01jp9zmpt80m37k7v3dka7xqbj"}]
        ),
    ]
    attempts: Annotated[int, msgspec.Meta(description="How many times it was started.", examples=[5])]
    due_at: Annotated[
        datetime,
        msgspec.Meta(description="When it runs next, or ran last (UTC).", examples=["2025-03-14T09:27:01Z"]),
    ]
    locked_until: Annotated[
        datetime | None,
        msgspec.Meta(
            description=(
                "While running: until when the process running it holds it (UTC); then another "
                "may take it over."
            ),
            examples=[None],
        ),
    ]
    last_error: Annotated[
        str | None,
        msgspec.Meta(
            description="What went wrong on its last attempt; null when nothing did.",
            examples=["database is locked"],
        ),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When the work was owed (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]
    done_at: Annotated[
        datetime | None, msgspec.Meta(description="When it finished (UTC); null until then.", examples=[None])
    ]
    failed_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When its attempts ran out (UTC); null unless it failed.",
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]


class JobPage(Page, kw_only=True):
    items: Annotated[list[JobView], msgspec.Meta(description="Jobs, newest first.")]


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

    @get(
        "/",
        summary="Background jobs, newest first (operator); state=failed lists those parked",
        opt=roles("operator"),
    )
    async def list_jobs(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        # `state` is a name Litestar reserves for its app state.
        job_state: Annotated[
            JobState | None,
            QueryParameter(
                name="state",
                description="Only jobs in this state (`failed`: those whose attempts are spent).",
            ),
        ] = None,
        job: Annotated[
            str | None, QueryParameter(description="Only jobs of this kind, e.g. `distribute`.")
        ] = None,
        lead_id: Annotated[str | None, QueryParameter(description="Only jobs about this lead.")] = None,
        limit: PageLimit = 100,
        # A page's next_cursor: the digits of a job's id.
        cursor: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^[0-9]{0,18}$",
                description=(
                    "Where the page starts: the previous page's `next_cursor`; omitted: the first page."
                ),
            ),
        ] = None,
    ) -> JobPage:
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
        opt=roles("operator"),
    )
    async def retry_job(self, job_id: JobId, principal: PrincipalDep, services: ServicesDep) -> JobView:
        if not 0 < job_id < 2**63:
            raise NotFound(f"no job {job_id}")
        now = services.clock()
        async with services.engine.begin() as conn:
            result = await conn.execute(
                update(t.outbox)
                .where(_o.id == job_id, _o.failed_at.is_not(None))
                .values(failed_at=None, done_at=None, attempts=0, due_at=now, locked_until=None, owner=None)
            )
            if result.rowcount == 1:
                await record_change(
                    conn,
                    principal,
                    action="job.retry",
                    entity_type="job",
                    entity_id=job_id,
                    before={"state": "failed"},
                    after={"state": "pending", "attempts": 0, "due_at": now},
                    at=now,
                )
            row = (await conn.execute(select(t.outbox).where(_o.id == job_id))).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        if result.rowcount == 0:
            raise Conflict(f"job {job_id} is {_state(row, now)}, not failed", code="job_not_failed")
        services.runner.notify()
        return _view(row, now)
