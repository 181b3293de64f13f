"""The alert watch: every few seconds, in every process, the conditions of billing/alerts.py
are checked against the database and each one found is raised as an alert.

An alert is a row unique per (kind, subject, UTC hour), inserted with its notifications owed
(one outbox row per subscriber and channel, jobs/notify.py sends them) in one transaction:
processes sharing a database never raise one condition twice in an hour, and a crash after
the commit loses no notification. What the sale path noted of this process's own sales is
read here (billing.alerts.AlertNotes); low balances are read from the ledger, whatever sold.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import and_, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.alerts import (
    FAILING_AFTER,
    AlertNotes,
    Condition,
    Noted,
    cap_reached,
    delivery_failing,
    full_caps,
    hour_of,
    low_balance,
    unsold_no_funds,
)
from buyers.campaigns import Cap
from buyers.caps import period_key
from exchange.clock import Clock
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert
from exchange.tasks import stop_task

log = logging.getLogger(__name__)

SEND_JOB = "send_alert"
# A buyer below its threshold is alerted while it is still being charged: within this long.
CHARGED_WITHIN = timedelta(hours=1)

_th, _ab, _le, _b, _c = (
    t.alert_thresholds.c,
    t.account_balances.c,
    t.ledger_entries.c,
    t.buyers.c,
    t.campaigns.c,
)


class AlertWatch:
    """Checks the conditions every `poll_seconds` and raises what holds; `on_raise` (the
    outbox runner's wake-up) runs after alerts were raised, so their notices go at once."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        notes: AlertNotes,
        *,
        poll_seconds: float,
        on_raise: Callable[[], None] | None = None,
    ) -> None:
        self.engine, self.clock, self.notes = engine, clock, notes
        self.poll_seconds = poll_seconds
        self.on_raise = on_raise
        self._task: asyncio.Task[None] | None = None
        # (kind, subject, hour) raised already, by this process or another: not tried again.
        self._raised: set[tuple[str, str, datetime]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="alert-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.run_once()
            except Exception:  # a bad moment of the database: the notes wait for the next look
                log.exception("alerts: a look failed")

    async def run_once(self) -> list[str]:
        """One look: the ids of the alerts it raised."""
        now = self.clock()
        hour = hour_of(now)
        self._raised = {key for key in self._raised if key[2] == hour}
        noted = self.notes.take()
        try:
            async with self.engine.connect() as conn:
                found = await low_balances(conn, now)
                if noted:
                    found += await noted_conditions(conn, noted, now)
            fresh = [c for c in found if (c.kind, c.subject_id, hour) not in self._raised]
            raised: list[str] = []
            if fresh:
                async with self.engine.begin() as conn:
                    for condition in fresh:
                        alert_id = await raise_alert(conn, condition, now)
                        if alert_id is not None:
                            raised.append(alert_id)
        except Exception:
            self.notes.give_back(noted)
            raise
        self._raised.update((c.kind, c.subject_id, hour) for c in fresh)
        if raised and self.on_raise is not None:
            self.on_raise()
        return raised


async def low_balances(conn: AsyncConnection, now: datetime) -> list[Condition]:
    """Buyers below their threshold that were charged within CHARGED_WITHIN."""
    charged = exists(
        select(_le.id).where(
            _le.account_id == _th.buyer_id,
            _le.account_type == "buyer",
            _le.amount_cents < 0,
            _le.created_at >= now - CHARGED_WITHIN,
        )
    )
    rows = await conn.execute(
        select(_th.buyer_id, _th.low_balance_cents, _ab.balance_cents, _b.name)
        .join(t.account_balances, and_(_ab.account_type == "buyer", _ab.account_id == _th.buyer_id))
        .join(t.buyers, _b.id == _th.buyer_id)
        .where(_ab.balance_cents < _th.low_balance_cents, charged)
    )
    found = [low_balance(r.buyer_id, r.name, r.balance_cents, r.low_balance_cents) for r in rows]
    return [c for c in found if c is not None]


class _Campaign(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    buyer_id: str
    buyer_name: str
    caps: list[Cap]
    cap_timezone: str


async def noted_conditions(conn: AsyncConnection, noted: Noted, now: datetime) -> list[Condition]:
    """The conditions among what the sale path noted: caps full, endpoints failing, leads
    passed over for lack of funds."""
    rows = await conn.execute(
        select(_c.id, _c.buyer_id, _c.config, _b.name, _b.timezone)
        .join(t.buyers, _b.id == _c.buyer_id)
        .where(_c.id.in_(sorted(noted.campaign_ids)))
    )
    campaigns = {}
    for row in rows:
        schedule = row.config.get("schedule") or {}
        campaigns[row.id] = _Campaign(
            id=row.id,
            buyer_id=row.buyer_id,
            buyer_name=row.name,
            caps=msgspec.convert(row.config.get("caps") or [], list[Cap]),
            cap_timezone=schedule.get("timezone") or row.timezone,
        )
    found: list[Condition | None] = []
    found += await _caps_reached(conn, noted, campaigns, now)
    for campaign_id in sorted(noted.failed):
        campaign = campaigns.get(campaign_id)
        if campaign is not None:
            latest = await _latest_posts(conn, campaign)
            found.append(delivery_failing(campaign.id, campaign.buyer_id, campaign.buyer_name, latest))
    missed: dict[str, dict[str, int]] = defaultdict(dict)
    names = {}
    for campaign_id, leads in noted.short.items():
        campaign = campaigns.get(campaign_id)
        if campaign is not None:
            missed[campaign.buyer_id][campaign_id] = leads
            names[campaign.buyer_id] = campaign.buyer_name
    found += [
        unsold_no_funds(buyer_id, names[buyer_id], by_campaign) for buyer_id, by_campaign in missed.items()
    ]
    return [c for c in found if c is not None]


async def _caps_reached(
    conn: AsyncConnection, noted: Noted, campaigns: dict[str, _Campaign], now: datetime
) -> list[Condition | None]:
    """A cap the sale path found full is; one a sale may have filled is read from its counter."""
    found: list[Condition | None] = []
    for campaign_id, reason in sorted(noted.capped.items()):
        campaign = campaigns.get(campaign_id)
        if campaign is not None:
            found.append(cap_reached(campaign.id, campaign.buyer_id, campaign.buyer_name, [reason]))
    sold = [campaigns[c] for c in sorted(noted.sold - set(noted.capped)) if c in campaigns]
    sold = [c for c in sold if c.caps]
    if not sold:
        return found
    keys = {c.id: [period_key(cap.period, now, c.cap_timezone) for cap in c.caps] for c in sold}
    k = t.cap_counters.c
    wanted = [(c.id, key) for c in sold for key in keys[c.id]]
    rows = await conn.execute(
        select(k.campaign_id, k.period_key, k.leads, k.spend_cents).where(
            tuple_(k.campaign_id, k.period_key).in_(wanted)
        )
    )
    used: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        used[row.campaign_id][row.period_key] = (row.leads, row.spend_cents)
    for campaign in sold:
        reasons = full_caps(campaign.caps, used[campaign.id], keys[campaign.id])
        found.append(cap_reached(campaign.id, campaign.buyer_id, campaign.buyer_name, reasons))
    return found


async def _latest_posts(conn: AsyncConnection, campaign: _Campaign) -> list[tuple[str, str | None]]:
    d = t.deliveries.c
    rows = await conn.execute(
        select(d.status, d.reason)
        .where(d.buyer_id == campaign.buyer_id, d.campaign_id == campaign.id, d.kind == "post")
        .order_by(d.created_at.desc(), d.id.desc())
        .limit(FAILING_AFTER)
    )
    return [(row.status, row.reason) for row in rows]


async def raise_alert(conn: AsyncConnection, condition: Condition, now: datetime) -> str | None:
    """The alert's row and one notification owed per subscriber and channel, in the caller's
    transaction; None, with nothing written, when the condition was raised this hour already."""
    alert_id = new_id("alr")
    a = t.alerts.c
    inserted = await conn.execute(
        dialect_insert(conn.dialect.name, t.alerts)
        .values(
            id=alert_id,
            kind=condition.kind,
            subject_id=condition.subject_id,
            buyer_id=condition.buyer_id,
            campaign_id=condition.campaign_id,
            hour=hour_of(now),
            message=condition.message,
            detail=condition.detail,
            raised_at=now,
        )
        .on_conflict_do_nothing(index_elements=[a.kind, a.subject_id, a.hour])
        .returning(a.id)
    )
    if inserted.first() is None:
        return None
    s = t.alert_subscriptions.c
    subscribers = await conn.execute(
        select(s.id, s.kinds, s.email, s.webhook_url)
        .where(or_(s.buyer_id.is_(None), s.buyer_id == condition.buyer_id))
        .order_by(s.id)
    )
    owed = [
        _notice(alert_id, row.id, channel, now)
        for row in subscribers
        if condition.kind in row.kinds
        for channel, target in (("email", row.email), ("webhook", row.webhook_url))
        if target
    ]
    if owed:
        await conn.execute(t.outbox.insert(), owed)
    return alert_id


def _notice(alert_id: str, subscription_id: str, channel: str, now: datetime) -> dict[str, Any]:
    return {
        "job": SEND_JOB,
        "lead_id": None,
        "payload": {"alert_id": alert_id, "subscription_id": subscription_id, "channel": channel},
        "due_at": now,
        "attempts": 0,
        "locked_until": None,
        "owner": None,
        "created_at": now,
    }
