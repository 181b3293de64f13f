"""The distribution engine: offer a stored lead to the campaigns and sell it.

eligible campaigns (filters, schedule, price, funds and caps at a glance) → pings
to bid-priced campaigns within the vertical's deadline → order by strategy
(auction: best price, ties rotate; round_robin: weighted rotation; priority: by
level, rotating within one) → posts down that order (the waterfall) until the lead
is sold `max_sales` times or an exclusive campaign buys it alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.outbound.http import HttpClient
from buyers.campaigns import HttpStep
from buyers.caps import period_key
from buyers.pricing import bid_price
from exchange.clock import Clock
from exchange.distribution.calls import Call, call_buyer, ping_fields
from exchange.distribution.catalog import CampaignCatalog, LiveCampaign
from exchange.distribution.eligible import Candidate, select_candidates
from exchange.distribution.rotation import rank_ties, rotate
from exchange.distribution.sale import (
    Reservation,
    Sold,
    commit_sale,
    forget_hold,
    release,
    reserve,
    sales_of_lead,
)
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.verticals import VerticalCache
from exchange.storage.writer import WriteResult
from exchange.types import LeadAnswer
from exchange.verticals import Distribution

log = logging.getLogger(__name__)
Mode = Literal["sync", "async"]

# Built once (exchange/storage/statements.py): every distributed lead runs these.
_lc, _p, _o, _i = t.leads.c, t.publishers.c, t.outbox.c, t.idempotency_keys.c
_NOW = bindparam("now", type_=t.UTCDateTime())
_LOAD_LEAD = (
    select(
        _lc.id,
        _lc.vertical,
        _lc.status,
        _lc.grade,
        _lc.fields,
        _lc.consent,
        _lc.payout_cents,
        _lc.publisher_id,
        _p.payout,
    )
    .join(t.publishers, _p.id == _lc.publisher_id)
    .where(_lc.id == bindparam("id"))
)
# A lead still accepted becomes unsold.
_MARK_UNSOLD = (
    update(t.leads)
    .where(_lc.id == bindparam("lid"), _lc.status == "accepted")
    .values(status="unsold", updated_at=_NOW)
)
# Done, and no hold in flight any more (sale.py): the outcome settles the last one.
_OUTBOX_DONE = (
    update(t.outbox)
    .where(_o.lead_id == bindparam("lid"), _o.job == "distribute", _o.done_at.is_(None))
    .values(done_at=_NOW, locked_until=None, payload={})
)
# A sync request stored its idempotent answer as 201 before it knew the outcome.
_STORE_OUTCOME = (
    update(t.idempotency_keys)
    .where(_i.lead_id == bindparam("lid"), _i.status_code == 201)
    .values(answer=bindparam("stored", type_=_i.answer.type))
)
_INSERT_DELIVERIES = t.deliveries.insert()
_b, _a, _k = t.buyers.c, t.account_balances.c, t.cap_counters.c
_BUYER_FUNDS = (
    select(_b.id, _b.credit_limit_cents, _a.balance_cents, _a.reserved_cents)
    .outerjoin(t.account_balances, (_a.account_type == "buyer") & (_a.account_id == _b.id))
    .where(_b.id.in_(bindparam("ids", expanding=True)))
)
_CAPS_USED = select(_k.campaign_id, _k.period_key, _k.leads, _k.spend_cents).where(
    _k.campaign_id.in_(bindparam("ids", expanding=True))
)
_INSERT_EVENTS = t.lead_events.insert()
_LEAD_STATE = select(_lc.status, _lc.payout_cents).where(_lc.id == bindparam("id"))
_LOCK_LEAD = select(_lc.id).where(_lc.id == bindparam("id")).with_for_update()


@dataclass
class DistributionContext:
    engine: AsyncEngine
    clock: Clock
    http: HttpClient
    catalog: CampaignCatalog
    verticals: VerticalCache
    # Async mode retries a post that failed in transit this many times in all.
    post_attempts: int = 3
    retry_base_seconds: float = 0.2


class Priced(msgspec.Struct, frozen=True, kw_only=True):
    live: LiveCampaign
    price_cents: int


class LeadForSale(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vertical: str
    status: str
    grade: str | None
    fields: dict[str, Any]
    consent: dict[str, Any] | None
    payout_cents: int
    publisher_id: str
    publisher_terms: dict[str, Any]


class _Trail:
    """Events and delivery rows gathered during a step, written in one transaction."""

    def __init__(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []

    def event(self, kind: str, at: datetime, /, **data: Any) -> None:
        self.events.append({"lead_id": self.lead_id, "kind": kind, "at": at, "data": data})

    def delivery(
        self, live: LiveCampaign, kind: str, attempt: int, call: Call, at: datetime, price: int | None
    ) -> str:
        delivery_id = new_id("dlv")
        self.deliveries.append(
            {
                "id": delivery_id,
                "lead_id": self.lead_id,
                "campaign_id": live.id,
                "buyer_id": live.campaign.buyer_id,
                "kind": kind,
                "attempt": attempt,
                "status": call.status,
                "request": call.request,
                "response": call.response,
                "http_status": call.http_status,
                "latency_ms": round(call.latency_ms, 2),
                "price_cents": price,
                "reason": call.answer.reason,
                "reference": call.answer.reference,
                "created_at": at,
            }
        )
        return delivery_id

    async def flush(self, conn: Any) -> None:
        if self.deliveries:
            await conn.execute(_INSERT_DELIVERIES, self.deliveries)
        if self.events:
            await conn.execute(_INSERT_EVENTS, self.events)
        self.events, self.deliveries = [], []


async def load_lead(engine: AsyncEngine, lead_id: str) -> LeadForSale | None:
    async with engine.connect() as conn:
        row = (await conn.execute(_LOAD_LEAD, {"id": lead_id})).first()
    if row is None:
        return None
    return LeadForSale(
        id=row.id,
        vertical=row.vertical,
        status=row.status,
        grade=row.grade,
        fields=row.fields,
        consent=row.consent,
        payout_cents=row.payout_cents,
        publisher_id=row.publisher_id,
        publisher_terms=row.payout,
    )


async def release_abandoned_hold(ctx: DistributionContext, lead_id: str, held: dict[str, Any]) -> None:
    """Release the caps and funds a stopped distribution of the lead still held, and say so."""
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        released = msgspec.convert(held, Reservation)
        await release(conn, released, lead_id)
        await conn.execute(
            _INSERT_EVENTS,
            {
                "lead_id": lead_id,
                "kind": "reservation_released",
                "at": now,
                "data": {
                    "campaign_id": released.campaign_id,
                    "buyer_id": released.buyer_id,
                    "price_cents": released.price_cents,
                    "reason": "its distribution stopped before a sale or a release",
                },
            },
        )


async def unwanted_by_all(
    catalog: CampaignCatalog,
    vertical: str,
    floors: dict[str, int],
    fields: dict[str, Any],
    grade: str | None,
    now: datetime,
) -> dict[str, str] | None:
    """Why each campaign passes when none can take the lead; None when some campaign may."""
    candidates, excluded = select_candidates(await catalog.active(vertical), fields, grade, floors, now)
    return None if candidates else excluded


def unsold_events(lead_id: str, excluded: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """The trail of a lead that no campaign can take, settled at intake."""
    return [
        {
            "lead_id": lead_id,
            "kind": "eligibility",
            "at": now,
            "data": {"candidates": [], "excluded": excluded},
        },
        {"lead_id": lead_id, "kind": "unsold", "at": now, "data": {"reason": "no_eligible_campaign"}},
    ]


class Ahead:
    """A lead offered while its own commit is still in flight (sync intake without an
    idempotency key): the pings, which carry no personal data, go out first; nothing is
    reserved, posted or sold until `stored()` answers that the lead is committed as accepted.

    The commit starts once the pings are on the wire (or at the first `stored()` call, if
    that comes sooner): see `_sent`.
    """

    def __init__(self, lead: LeadForSale, write: Callable[[], Awaitable[WriteResult]]) -> None:
        self.lead = lead
        self._write = write
        self._stored: asyncio.Future[WriteResult] | None = None

    def stored(self) -> asyncio.Future[WriteResult]:
        """The lead's commit, started by the first call."""
        if self._stored is None:
            self._stored = asyncio.ensure_future(self._write())
        return self._stored


async def _sent() -> None:
    """Two turns of the event loop, after which the requests started just before are on the
    wire: the first turn runs each request's task until it has written its head, the second
    aiohttp's task that writes the body (started lazily before Python 3.12).

    Work done after this hides behind the buyers' answer time; done before, it would delay
    the requests themselves, and on SQLite a transaction is the event loop's own work
    (storage/inline.py). Only the timing depends on it: a request not yet sent by then is
    sent a little later, nothing else.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def distribute(
    ctx: DistributionContext, lead_id: str, *, mode: Mode = "async", ahead: Ahead | None = None
) -> LeadAnswer | None:
    """Sell the lead if campaigns want it; the publisher's answer, or None for an unknown lead
    (or, given `ahead`, for a lead that was not stored as accepted: a duplicate)."""
    lead = ahead.lead if ahead is not None else await load_lead(ctx.engine, lead_id)
    if lead is None:
        return None
    if lead.status != "accepted":
        # Distributed already (a retried job): the recorded outcome stands; the work is done.
        async with ctx.engine.begin() as conn:
            await conn.execute(_OUTBOX_DONE, {"lid": lead.id, "now": ctx.clock()})
        return LeadAnswer(
            lead_id=lead.id, status=lead.status, grade=lead.grade, payout_cents=lead.payout_cents
        )
    vertical = await ctx.verticals.get(lead.vertical)
    settings = vertical.distribution if vertical else Distribution()
    trail = _Trail(lead.id)
    now = ctx.clock()
    candidates, excluded = select_candidates(
        await ctx.catalog.active(lead.vertical), lead.fields, lead.grade, settings.floor_cents_by_grade, now
    )
    candidates = await _affordable(ctx, candidates, excluded, now)
    trail.event("eligibility", now, candidates=[c.live.id for c in candidates], excluded=excluded)
    priced = await _price(ctx, lead, candidates, settings, trail, ahead)
    if ahead is not None:
        stored = await ahead.stored()
        if stored.replayed or stored.answer.status != "accepted":
            # A duplicate: it was pinged, which its trail records, and is offered no further.
            async with ctx.engine.begin() as conn:
                await trail.flush(conn)
            return None
    order = await _order(ctx, lead.vertical, priced, settings)
    sold: list[Sold] = []
    for offer in order:
        if len(sold) >= settings.max_sales:
            break
        if sold and offer.live.campaign.exclusive:
            continue  # an exclusive campaign buys alone, never beside others
        # The sale that ends the lead's distribution records the outcome in its own transaction.
        closes = len(sold) + 1 >= settings.max_sales or offer.live.campaign.exclusive
        # An exclusive campaign buys only a lead nobody bought.
        at_most = 1 if offer.live.campaign.exclusive else settings.max_sales
        outcome, answer = await _sell(ctx, lead, offer, trail, mode, sold if closes else None, at_most)
        if answer is not None:
            return answer
        if outcome is not None:
            sold.append(outcome)
            if offer.live.campaign.exclusive:
                break
    now = ctx.clock()
    answer = _answer(lead, sold)
    if not sold:
        trail.event("unsold", now, reason="no_buyer" if priced else "no_eligible_campaign")
    async with ctx.engine.begin() as conn:
        await _record_outcome(conn, lead, answer, trail, now)
    return answer


def _answer(lead: LeadForSale, sold: list[Sold]) -> LeadAnswer:
    if not sold:
        return LeadAnswer(lead_id=lead.id, status="unsold", grade=lead.grade)
    return LeadAnswer(
        lead_id=lead.id, status="sold", grade=lead.grade, payout_cents=sum(s.payout_cents for s in sold)
    )


async def _record_outcome(
    conn: Any, lead: LeadForSale, answer: LeadAnswer, trail: _Trail, now: datetime
) -> None:
    """The end of a lead's distribution: its status, its trail, its outbox row, its stored answer."""
    if answer.status == "unsold":
        await conn.execute(_MARK_UNSOLD, {"lid": lead.id, "now": now})
    await trail.flush(conn)
    await conn.execute(_OUTBOX_DONE, {"lid": lead.id, "now": now})
    await conn.execute(_STORE_OUTCOME, {"lid": lead.id, "stored": msgspec.to_builtins(answer)})


async def _affordable(
    ctx: DistributionContext, candidates: list[Candidate], excluded: dict[str, str], now: datetime
) -> list[Candidate]:
    """Drop campaigns whose buyer cannot pay their least price or whose caps are full, at a glance.

    The sale reserves exactly; this read only spares pings that could never become sales.
    """
    if not candidates:
        return candidates
    buyer_ids = {c.live.campaign.buyer_id for c in candidates}
    keys = {
        (c.live.id, period_key(cap.period, now, c.live.cap_timezone))
        for c in candidates
        for cap in c.live.campaign.caps
    }
    async with ctx.engine.connect() as conn:
        funds = {
            row.id: row.credit_limit_cents + (row.balance_cents or 0) - (row.reserved_cents or 0)
            for row in await conn.execute(_BUYER_FUNDS, {"ids": sorted(buyer_ids)})
        }
        used: dict[tuple[str, str], tuple[int, int]] = {}
        if keys:
            rows = await conn.execute(_CAPS_USED, {"ids": sorted({cid for cid, _ in keys})})
            used = {(r.campaign_id, r.period_key): (r.leads, r.spend_cents) for r in rows}
    kept = []
    for c in candidates:
        campaign = c.live.campaign
        if c.min_price_cents > funds.get(campaign.buyer_id, 0):
            excluded[c.live.id] = "insufficient funds"
            continue
        full = None
        for cap in campaign.caps:
            leads, spend = used.get((c.live.id, period_key(cap.period, now, c.live.cap_timezone)), (0, 0))
            if cap.max_leads is not None and leads >= cap.max_leads:
                full = f"cap {cap.period} max_leads {cap.max_leads} reached"
            elif cap.max_spend_cents is not None and spend + c.min_price_cents > cap.max_spend_cents:
                full = f"cap {cap.period} max_spend_cents {cap.max_spend_cents} reached"
            if full:
                break
        if full:
            excluded[c.live.id] = full
            continue
        kept.append(c)
    return kept


async def _price(
    ctx: DistributionContext,
    lead: LeadForSale,
    candidates: list[Candidate],
    settings: Distribution,
    trail: _Trail,
    ahead: Ahead | None = None,
) -> list[Priced]:
    """Fixed prices as they are; bid campaigns pinged at once, within the vertical's deadline
    (and an `ahead` lead's commit started once the pings are sent)."""
    priced = [Priced(live=c.live, price_cents=c.price_cents) for c in candidates if c.price_cents is not None]
    bidders = [c for c in candidates if c.price_cents is None]
    if not bidders:
        return priced
    payload = ping_fields(lead.fields, lead.grade, lead.id)
    started = time.monotonic()
    bodies: dict[Any, tuple[bytes, str]] = {}

    async def ping(c: Candidate) -> Call:
        step = _step(c.live, "ping")
        timeout = min(step.timeout_ms, settings.ping_timeout_ms)
        return await call_buyer(ctx.http, step, payload, kind="ping", timeout_ms=timeout, bodies=bodies)

    pings = [asyncio.ensure_future(ping(c)) for c in bidders]
    if ahead is not None:
        try:
            await _sent()
        finally:  # a request cancelled meanwhile still stores what it began to offer
            ahead.stored()
    calls = await asyncio.gather(*pings)
    now = ctx.clock()
    for c, call in zip(bidders, calls, strict=True):
        pricing = c.live.campaign.pricing
        price = bid_price(pricing, call.answer.price_cents, lead.grade, settings.floor_cents_by_grade)  # type: ignore[arg-type]
        status = call.status if price is not None or call.status != "bid" else "no_bid"
        delivery_id = trail.delivery(
            c.live, "ping", 1, msgspec.structs.replace(call, status=status), now, price
        )
        trail.event(
            "pinged",
            now,
            campaign_id=c.live.id,
            delivery_id=delivery_id,
            status=status,
            bid_cents=call.answer.price_cents,
            price_cents=price,
            latency_ms=round(call.latency_ms, 2),
        )
        if price is not None:
            priced.append(Priced(live=c.live, price_cents=price))
    log.debug("pinged %d campaigns in %.1f ms", len(bidders), (time.monotonic() - started) * 1000)
    return priced


async def _order(
    ctx: DistributionContext, vertical: str, priced: list[Priced], settings: Distribution
) -> list[Priced]:
    if len(priced) <= 1:
        return priced
    by_id = {p.live.id: p for p in priced}
    weights = {p.live.id: p.live.campaign.weight for p in priced}
    if settings.strategy == "auction":
        prices = [p.price_cents for p in priced]
        rotation: list[str] = []
        if len(set(prices)) < len(prices):  # ties rotate
            async with ctx.engine.begin() as conn:
                rotation = await rotate(conn, f"{vertical}:auction", weights)
        ranked = [by_id[cid] for cid in rank_ties([(p.live.id, p.price_cents) for p in priced], rotation)]
        return _exclusive_only_if_worth_it(ranked, settings.max_sales)
    if settings.strategy == "round_robin":
        async with ctx.engine.begin() as conn:
            return [by_id[cid] for cid in await rotate(conn, f"{vertical}:rotation", weights)]
    levels = sorted({p.live.campaign.priority for p in priced})
    ordered: list[Priced] = []
    async with ctx.engine.begin() as conn:
        for level in levels:
            members = {cid: w for cid, w in weights.items() if by_id[cid].live.campaign.priority == level}
            ordered += [by_id[cid] for cid in await rotate(conn, f"{vertical}:priority:{level}", members)]
    return ordered


def _exclusive_only_if_worth_it(ranked: list[Priced], max_sales: int) -> list[Priced]:
    """With shared sales allowed, an exclusive bid goes first only if it beats the best shared set."""
    if max_sales <= 1:
        return ranked
    shared = [p for p in ranked if not p.live.campaign.exclusive]
    shared_value = sum(p.price_cents for p in shared[:max_sales])
    ahead = [p for p in ranked if p.live.campaign.exclusive and p.price_cents >= shared_value]
    behind = [p for p in ranked if p.live.campaign.exclusive and p.price_cents < shared_value]
    return ahead + shared + behind


def _step(live: LiveCampaign, kind: Literal["ping", "post"]) -> HttpStep:
    step = live.steps.get(kind)
    return step if step is not None else msgspec.convert(live.campaign.delivery[kind], HttpStep)


async def _sell(
    ctx: DistributionContext,
    lead: LeadForSale,
    offer: Priced,
    trail: _Trail,
    mode: Mode,
    closing: list[Sold] | None,
    at_most: int,
) -> tuple[Sold | None, LeadAnswer | None]:
    """Reserve, post, and commit or release. With `closing` (the sales before it), a sale ends
    the distribution: the outcome is recorded with it and answered as the second value. A
    lead with `at_most` sales already is not sold again (see `_settle`)."""
    now = ctx.clock()
    held = await reserve(ctx.engine, offer.live, offer.price_cents, now, lead.id)
    if held is None:
        trail.event("skipped", now, campaign_id=offer.live.id, reason="cap or funds reserved by another sale")
        return None, None
    step = _step(offer.live, "post")
    payload = {**lead.fields, "consent": lead.consent, "grade": lead.grade, "lead_id": lead.id}
    attempts = ctx.post_attempts if mode == "async" else 1
    call: Call | None = None
    for attempt in range(1, attempts + 1):
        call = await call_buyer(ctx.http, step, payload, kind="post", timeout_ms=step.timeout_ms)
        at = ctx.clock()
        delivery_id = trail.delivery(offer.live, "post", attempt, call, at, offer.price_cents)
        trail.event(
            "posted",
            at,
            campaign_id=offer.live.id,
            delivery_id=delivery_id,
            attempt=attempt,
            status=call.status,
            reason=call.answer.reason,
            latency_ms=round(call.latency_ms, 2),
        )
        if call.status == "accepted" or not call.is_transient or attempt == attempts:
            break
        await asyncio.sleep(ctx.retry_base_seconds * 2 ** (attempt - 1) * (0.5 + random.random()))
    assert call is not None
    return await _settle(ctx, lead, held, call, trail, closing, at_most)


async def _settle(
    ctx: DistributionContext,
    lead: LeadForSale,
    held: Reservation,
    call: Call,
    trail: _Trail,
    closing: list[Sold] | None,
    at_most: int,
) -> tuple[Sold | None, LeadAnswer | None]:
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        if call.status != "accepted":
            await release(conn, held, lead.id)
            await trail.flush(conn)
            return None, None
        # The bound on a lead's sales holds in the transaction that records one. Outbox leases
        # keep a lead to one distribution at a time; should two ever overlap (a process stalled
        # past its lease), the later sale is refused here and nobody is charged for it.
        if conn.dialect.name != "sqlite":
            # Sales of one lead in concurrent transactions queue on its row, so each counts
            # the sales committed before it (SQLite has one writer at a time already).
            await conn.execute(_LOCK_LEAD, {"id": lead.id})
        earlier = await sales_of_lead(conn, lead.id)
        if earlier >= at_most:
            await release(conn, held, lead.id)
            trail.event(
                "sale_refused",
                now,
                campaign_id=held.campaign_id,
                buyer_id=held.buyer_id,
                reference=call.answer.reference,
                reason=f"the lead already has {earlier} sale(s), sold by another distribution",
            )
            await trail.flush(conn)
            state = (await conn.execute(_LEAD_STATE, {"id": lead.id})).one()
            return None, LeadAnswer(
                lead_id=lead.id, status=state.status, grade=lead.grade, payout_cents=state.payout_cents
            )
        sold = await commit_sale(
            conn,
            held,
            lead_id=lead.id,
            publisher_id=lead.publisher_id,
            publisher_terms=lead.publisher_terms,
            grade=lead.grade,
            reference=call.answer.reference,
            now=now,
            earlier_sales=earlier,
        )
        trail.event(
            "sold",
            now,
            campaign_id=held.campaign_id,
            buyer_id=held.buyer_id,
            price_cents=sold.price_cents,
            payout_cents=sold.payout_cents,
            reference=call.answer.reference,
        )
        trail.event("ledger_posted", now, transaction_id=sold.transaction_id, kind="sale")
        if closing is None:
            await forget_hold(conn, lead.id)
            await trail.flush(conn)
            return sold, None
        answer = _answer(lead, [*closing, sold])
        await _record_outcome(conn, lead, answer, trail, now)
    return sold, answer
