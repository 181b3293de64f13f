"""Pulls: a publisher's feed or remote folder the exchange polls (operators manage them; the
publisher reads its own). The run itself is pipeline/pulls.py."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.netguard import check_destination
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import PublisherId, PullId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import Conflict, NotFound, field_invalid
from exchange.ids import new_id
from exchange.pipeline.pulls import request_run, run_pull
from exchange.storage import tables as t
from exchange.types import Page

PullKind = Literal["feed", "ftp", "sftp"]
SCHEMES: dict[str, tuple[str, ...]] = {"feed": ("http", "https"), "ftp": ("ftp",), "sftp": ("sftp",)}
RECENT_EVENTS = 50


class PullIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[
        PullKind,
        msgspec.Meta(
            description=(
                "`feed` (an http or https URL serving an RSS or Atom feed whose entries are "
                "leads) or `ftp` / `sftp` (a remote folder whose files are taken as batches)."
            ),
            examples=["sftp"],
        ),
    ]
    url: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=2000),
        msgspec.Meta(
            description=(
                "Where: `https://…` for a feed, `ftp://user:password@host/dir` or "
                "`sftp://user:password@host/dir` for a folder (1 to 2000 characters). A private "
                "or loopback host is refused unless the exchange allows private destinations."
            ),
            examples=["sftp://leads:s3cret@files.publisher.example/outbox"],
        ),
    ]
    # The publisher's default vertical when not named.
    vertical: Annotated[
        str | None,
        msgspec.Meta(
            description="The vertical of the leads it finds; null: the publisher's default vertical.",
            examples=["auto_insurance"],
        ),
    ] = None
    every_minutes: Annotated[
        int,
        msgspec.Meta(ge=1, le=1440),
        msgspec.Meta(
            description="How often the exchange polls it, in minutes (1 to 1440).",
            examples=[15],
        ),
    ] = 15
    # Remote folders only: the SFTP server's key (one OpenSSH line), which files (a glob such
    # as `*.csv`; every batch format without one), and what becomes of a file once taken.
    host_key: Annotated[
        str | None,
        msgspec.Meta(
            description=("For sftp: the server's public key, one OpenSSH line; any other key fails the run."),
            examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy/xIq9S3ptGcbjQv1wXqtuPpxLZ8IWRmJPYv0KOhRB"],
        ),
    ] = None
    pattern: Annotated[
        Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None,
        msgspec.Meta(
            description=(
                "For a folder: which files to take, a glob such as `*.csv`; null: every file in "
                "a batch format (.csv, .xlsx, .xml, .ndjson)."
            ),
            examples=["*.csv"],
        ),
    ] = None
    after: Annotated[
        Literal["keep", "delete"] | None,
        msgspec.Meta(
            description=(
                "For a folder: what becomes of a file once taken: `keep` it (files are known by "
                "name, size and time, so it is taken once) or `delete` it; null for a feed."
            ),
            examples=["delete"],
        ),
    ] = None


class PullView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The pull's id.", examples=["pul_01jp9zq20gamze6h7baeaenvxq"])
    ]
    publisher_id: Annotated[
        str,
        msgspec.Meta(
            description="The publisher whose leads it takes.", examples=["pub_01jp9zn4frpfzrv0peeg471ejb"]
        ),
    ]
    kind: Annotated[
        PullKind,
        msgspec.Meta(
            description=(
                "`feed` (an http or https URL serving an RSS or Atom feed whose entries are "
                "leads) or `ftp` / `sftp` (a remote folder whose files are taken as batches)."
            ),
            examples=["sftp"],
        ),
    ]
    url: Annotated[
        str,
        msgspec.Meta(
            description="Where it polls, its password masked (`***`).",
            examples=["sftp://leads:***@files.publisher.example/outbox"],
        ),
    ]
    vertical: Annotated[
        str, msgspec.Meta(description="The vertical of the leads it finds.", examples=["auto_insurance"])
    ]
    every_minutes: Annotated[
        int,
        msgspec.Meta(description="How often the exchange polls it, in minutes (1 to 1440).", examples=[15]),
    ]
    host_key: Annotated[
        str | None,
        msgspec.Meta(
            description=("For sftp: the server's public key, one OpenSSH line; any other key fails the run."),
            examples=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy/xIq9S3ptGcbjQv1wXqtuPpxLZ8IWRmJPYv0KOhRB"],
        ),
    ]
    pattern: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "For a folder: which files to take, a glob such as `*.csv`; null: every file in "
                "a batch format (.csv, .xlsx, .xml, .ndjson)."
            ),
            examples=["*.csv"],
        ),
    ]
    after: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "For a folder: what becomes of a file once taken: `keep` it (files are known by "
                "name, size and time, so it is taken once) or `delete` it; null for a feed."
            ),
            examples=["delete"],
        ),
    ]
    active: Annotated[
        bool, msgspec.Meta(description="Whether it is polled; `false` pauses it.", examples=[True])
    ]
    next_due_at: Annotated[
        datetime, msgspec.Meta(description="When it runs next (UTC).", examples=["2025-03-15T16:02:11Z"])
    ]
    last_run_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When it last ran (UTC); null before its first run.",
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]
    last_error: Annotated[
        str | None,
        msgspec.Meta(
            description="Why its last run failed; null when it did not.",
            examples=[None, "sftp: permission denied"],
        ),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was made (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]


class PullEventView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        int, msgspec.Meta(description="The event's number, in the order events happened.", examples=[5120])
    ]
    kind: Annotated[
        str,
        msgspec.Meta(
            description=(
                "`run` (one poll: what it saw and took), `taken` (one item or file taken as a "
                "lead or a batch) or `failed`."
            ),
            examples=["taken"],
        ),
    ]
    at: Annotated[datetime, msgspec.Meta(description="When (UTC).", examples=["2025-03-14T09:27:01Z"])]
    detail: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "What there is to know: for `run` `seen`, `taken`, `waiting`, `more`, "
                "`seconds`, `error`; for `taken` `item` and its `lead_id` or `batch_id`; for "
                "`failed` `error`."
            ),
            examples=[{"item": "leads-0314.csv", "batch_id": "bat_01jp9zpv5rjyvh3xeeywt5hkp7"}],
        ),
    ]


class PullDetail(PullView, frozen=True, kw_only=True):
    events: Annotated[
        list[PullEventView],
        msgspec.Meta(description="Its most recent events (up to 50), the most recent first."),
    ]


class PullPage(Page, kw_only=True):
    items: Annotated[list[PullView], msgspec.Meta(description="Pulls, by id.")]


def masked_url(url: str) -> str:
    """The URL with its password as `***`: a pull's URL is shown, its password never."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port is not None else ""
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}{port}"))
    except ValueError:
        return "***"


def pull_view(row: Any) -> PullView:
    options = row.options or {}
    return PullView(
        id=row.id,
        publisher_id=row.publisher_id,
        kind=row.kind,
        url=masked_url(row.url),
        vertical=row.vertical,
        every_minutes=row.every_minutes,
        host_key=options.get("host_key"),
        pattern=options.get("pattern"),
        after=options.get("after"),
        active=row.active,
        next_due_at=row.next_due_at,
        last_run_at=row.last_run_at,
        last_error=row.last_error,
        created_at=row.created_at,
    )


def checked_options(data: PullIn, url: str) -> dict[str, Any]:
    """The URL fit for its kind and a folder's options, or a 422 naming the field."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise field_invalid("url", "invalid_url", f"not a valid URL: {exc}") from None
    if scheme not in SCHEMES[data.kind]:
        wanted = " or ".join(f"{s}://" for s in SCHEMES[data.kind])
        raise field_invalid("url", "invalid_url", f"a {data.kind} pull's URL is {wanted}")
    if data.kind == "feed":
        for name in ("host_key", "pattern", "after"):
            if getattr(data, name) is not None:
                raise field_invalid(name, "invalid_value", "only a remote folder (ftp, sftp) has this")
        return {}
    from adapters.outbound.files import file_place, read_host_key  # aioftp, asyncssh: on first use

    try:
        file_place(url)
    except ValueError as exc:
        raise field_invalid("url", "invalid_url", str(exc)) from None
    options: dict[str, Any] = {"after": data.after or "keep"}
    host_key = read_host_key(data.host_key, scheme, "host_key")
    if host_key is not None:
        options["host_key"] = host_key
    if data.pattern is not None:
        pattern = data.pattern.strip()
        if not pattern or "/" in pattern or any(ord(c) < 32 for c in pattern):
            raise field_invalid("pattern", "invalid_value", "a file name glob such as *.csv (no folder)")
        options["pattern"] = pattern
    return options


async def _load(services: Services, principal: Principal, pull_id: str) -> Any:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.pulls).where(t.pulls.c.id == pull_id))).first()
    if row is None or (principal.role == "publisher" and row.publisher_id != principal.publisher_id):
        raise NotFound(f"no pull {pull_id}")
    return row


async def _detail(services: Services, row: Any) -> PullDetail:
    e = t.pull_events.c
    async with services.engine.connect() as conn:
        events = (
            await conn.execute(
                select(e.id, e.kind, e.at, e.detail)
                .where(e.pull_id == row.id)
                .order_by(e.id.desc())
                .limit(RECENT_EVENTS)
            )
        ).all()
    return PullDetail(
        **msgspec.structs.asdict(pull_view(row)),
        events=[PullEventView(id=ev.id, kind=ev.kind, at=ev.at, detail=ev.detail or {}) for ev in events],
    )


class PullController(Controller):
    """A publisher's pulls: leads the exchange fetches instead of waiting for them."""

    tags = ["leads"]

    @post(
        "/v1/publishers/{publisher_id:str}/pulls",
        summary="Poll a feed or remote folder (operator)",
        opt=roles("operator"),
    )
    async def create_pull(
        self,
        publisher_id: PublisherId,
        data: JSONBody[PullIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> PullView:
        async with services.engine.connect() as conn:
            publisher = (
                await conn.execute(
                    select(t.publishers.c.default_vertical).where(t.publishers.c.id == publisher_id)
                )
            ).first()
        if publisher is None:
            raise NotFound(f"no publisher {publisher_id}")
        vertical = data.vertical or publisher.default_vertical
        if vertical is None:
            raise field_invalid("vertical", "required", "name the vertical (the publisher has no default)")
        if await services.verticals.get(vertical) is None:
            raise field_invalid("vertical", "unknown_vertical", f"no vertical {vertical!r}")
        url = data.url.strip()
        options = checked_options(data, url)
        # The private-network check resolves the host name: off the event loop.
        await asyncio.to_thread(
            check_destination, url, allow_private=services.settings.allow_private_destinations, field="url"
        )
        now = services.clock()
        pull_id = new_id("pul")
        async with services.engine.begin() as conn:
            await conn.execute(
                t.pulls.insert().values(
                    id=pull_id,
                    publisher_id=publisher_id,
                    kind=data.kind,
                    url=url,
                    vertical=vertical,
                    every_minutes=data.every_minutes,
                    options=options,
                    active=True,
                    next_due_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            await record_change(
                conn,
                principal,
                action="pull.create",
                entity_type="pull",
                entity_id=pull_id,
                # The URL's password is masked.
                after={
                    **msgspec.to_builtins(data),
                    "url": url,
                    "vertical": vertical,
                    "publisher_id": publisher_id,
                },
                at=now,
            )
        return pull_view(await _load(services, principal, pull_id))

    @get(
        "/v1/publishers/{publisher_id:str}/pulls",
        summary="A publisher's pulls (operator, or itself)",
        opt=roles("operator", "publisher"),
    )
    async def list_pulls(
        self, publisher_id: PublisherId, principal: PrincipalDep, services: ServicesDep
    ) -> PullPage:
        if principal.role == "publisher" and principal.publisher_id != publisher_id:
            raise NotFound(f"no publisher {publisher_id}")
        p = t.pulls.c
        async with services.engine.connect() as conn:
            rows = (
                await conn.execute(select(t.pulls).where(p.publisher_id == publisher_id).order_by(p.id))
            ).all()
        return PullPage(items=[pull_view(row) for row in rows], next_cursor=None)

    @get(
        "/v1/pulls/{pull_id:str}",
        summary="A pull and its recent events: runs, items taken, failures",
        opt=roles("operator", "publisher"),
    )
    async def get_pull(self, pull_id: PullId, principal: PrincipalDep, services: ServicesDep) -> PullDetail:
        return await _detail(services, await _load(services, principal, pull_id))

    @post(
        "/v1/pulls/{pull_id:str}/run",
        summary="Run a pull now (operator): 200 once it ran, 202 while another run of it goes on",
        status_code=200,
        opt=roles("operator"),
    )
    async def run_pull_now(
        self, pull_id: PullId, principal: PrincipalDep, services: ServicesDep
    ) -> Response[PullDetail]:
        row = await _load(services, principal, pull_id)
        if not row.active:
            raise Conflict(f"the pull {pull_id} was stopped", code="pull_stopped")
        now = services.clock()

        async def audit(conn: AsyncConnection) -> None:
            await record_change(
                conn,
                principal,
                action="pull.run",
                entity_type="pull",
                entity_id=pull_id,
                after={"run_requested_at": now},
                at=now,
            )

        if not await request_run(services, pull_id, audit):
            raise NotFound(f"no pull {pull_id}")
        ran = await run_pull(services, pull_id)
        detail = await _detail(services, await _load(services, principal, pull_id))
        return Response(detail, status_code=200 if ran else 202)

    @delete(
        "/v1/pulls/{pull_id:str}",
        status_code=200,
        summary="Stop polling (operator); its record stays",
        opt=roles("operator"),
    )
    async def stop_pull(self, pull_id: PullId, principal: PrincipalDep, services: ServicesDep) -> PullView:
        row = await _load(services, principal, pull_id)
        now = services.clock()
        async with services.engine.begin() as conn:
            await conn.execute(
                update(t.pulls).where(t.pulls.c.id == pull_id).values(active=False, updated_at=now)
            )
            await record_change(
                conn,
                principal,
                action="pull.stop",
                entity_type="pull",
                entity_id=pull_id,
                before={"active": row.active},
                after={"active": False},
                at=now,
            )
        return pull_view(await _load(services, principal, pull_id))
