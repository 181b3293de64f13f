"""The distribution engine: offer a stored lead to the campaigns and sell it.

    resume     holds a stopped distribution left open are settled first, with the same
               buyer (holds.py: the post asked again under the same delivery id)
    auction    eligible campaigns → pings within the deadline → the order of the waterfall
    waterfall  for each offer: a `posting` hold → the post → sold | released, until the
               lead is sold `max_sales` times or an exclusive campaign buys it alone
    outcome    sold or unsold, recorded under the lease

Everything the engine changes is committed under the lead's lease (storage/outbox.py): a
distribution whose lease was taken over stops at its next step (`Fenced`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.outbound.protocol import Request
from adapters.outbound.registry import AdapterRegistry
from billing.alerts import FAILED_CALLS, AlertNotes
from exchange.clock import Clock
from exchange.distribution.auction import Priced, order, price
from exchange.distribution.batches import enqueue, is_batched, queued
from exchange.distribution.calls import Call, from_record, outgoing, record, send, unanswered
from exchange.distribution.catalog import CampaignCatalog
from exchange.distribution.eligible import Eligible, affordable, select_candidates
from exchange.distribution.holds import (
    Gone,
    NotHeld,
    Refused,
    place_post,
    release,
    sell,
    start_posting,
    transition,
)
from exchange.distribution.outcome import answer_as_stored, answer_of, record_outcome
from exchange.distribution.records import Hold, LeadForSale, holds_of_lead, load_lead
from exchange.distribution.sale import Sold, sold_of_lead
from exchange.distribution.trail import Trail
from exchange.ids import new_id
from exchange.storage.outbox import Lease, extend_lease, finish_distribution
from exchange.storage.verticals import VerticalCache
from exchange.storage.writer import WriteResult
from exchange.types import LeadAnswer
from exchange.verticals import Distribution

log = logging.getLogger(__name__)

Mode = Literal["sync", "async"]
# A lead's status while its distribution may go on: sold, it may take more (shared) sales.
_OWED = frozenset({"accepted", "sold"})


@dataclass
class DistributionContext:
    engine: AsyncEngine
    clock: Clock
    adapters: AdapterRegistry
    catalog: CampaignCatalog
    verticals: VerticalCache
    # Async mode (and a takeover) tries a post that failed in transit this many times in all.
    post_attempts: int = 3
    retry_base_seconds: float = 0.2
    # How long a lease on a lead's distribution lasts unless renewed (jobs/outbox.py).
    lease_seconds: float = 6.0
    # The intake (exchange.api.services.Services), for jobs that take leads in (batches).
    intake: Any = None
    # What the sale path saw that may be an alert, for the alert watch (exchange/jobs/alerts.py).
    alerts: AlertNotes = field(default_factory=AlertNotes)


class Fenced(Exception):
    """The distribution's lease was taken over: another process now decides the lead."""


class Parked(Exception):
    """The lead waits on an operator: a post's outcome stayed unknown (an uncertain hold)."""


class Ahead:
    """A lead offered while its own commit is still in flight (sync intake without an
    idempotency key): the pings, which carry no personal data, go out first; nothing is
    held, posted or sold until `stored()` answers that the lead is committed as accepted.

    The commit starts once the pings are on the wire (or at the first `stored()` call, if
    that comes sooner): see auction.sent.
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


async def distribute(
    ctx: DistributionContext,
    lead_id: str,
    *,
    lease: Lease,
    mode: Mode = "async",
    ahead: Ahead | None = None,
    eligible: Eligible | None = None,
) -> LeadAnswer | None:
    """Sell the lead if campaigns want it, working under `lease`; the publisher's answer
    (`accepted` while the outcome is still owed), or None for an unknown lead (or, given
    `ahead`, for a lead that was not stored as accepted: a duplicate). `eligible`: the
    campaigns intake found for it a moment ago."""
    if ahead is not None:
        lead, holds = ahead.lead, []
    else:
        async with ctx.engine.connect() as conn:
            found = await load_lead(conn, lead_id)
            holds = await holds_of_lead(conn, lead_id) if found is not None else []
        if found is None:
            return None
        lead = found
    run = _Run(ctx, lead, lease, mode)
    # A lead distributed already has nothing left to do, unless an operator re-sent a post.
    if lead.status not in _OWED and not any(h.is_open for h in holds):
        # Distributed already (a retried job): the recorded outcome stands; the work is done.
        async with ctx.engine.begin() as conn:
            await finish_distribution(conn, lead.id, lease.token, ctx.clock())
        return answer_as_stored(lead)
    vertical = await ctx.verticals.get(lead.vertical)
    settings = vertical.distribution if vertical else Distribution()
    try:
        # A lead with holds or sales had a distribution before this one: it goes on from there.
        offers = await run.resume(holds, settings) if holds or lead.status != "accepted" else None
        if offers is None:
            tried = {h.campaign_id for h in holds} | {s.campaign_id for s in run.sold}
            offers = await run.auction(settings, eligible, ahead, tried=tried)
            if offers is None:
                return None
        closed = await run.waterfall(offers, settings)
        return closed if closed is not None else await run.finish()
    except Fenced:
        await run.stop()
    except Parked:
        pass
    return LeadAnswer(lead_id=lead.id, status="accepted", grade=lead.grade)  # type: ignore[arg-type]


@dataclass
class _Run:
    """One distribution of one lead: what it has sold, and its trail not yet written."""

    ctx: DistributionContext
    lead: LeadForSale
    lease: Lease
    mode: Mode
    sold: list[Sold] = field(default_factory=list)
    offered: bool = False

    def __post_init__(self) -> None:
        self.trail = Trail(self.lead.id)
        self.token = self.lease.token

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ctx.lease_seconds)

    async def _hold_lease(self, conn: AsyncConnection, now: datetime) -> None:
        """Make sure this distribution still holds its lease, in the transaction about to act.

        While less than half the lease has run since it was granted or last extended here,
        no other process can have claimed the row (a claim takes only a lapsed one), so the
        check is spared: a statement fewer on the first offer of most leads. Past that, the
        lease is extended under its token, which fails if another took it over.
        """
        half = timedelta(seconds=self.ctx.lease_seconds / 2)
        if now < self.lease.until - half:
            return
        until = self._until(now)
        if not await extend_lease(conn, self.lead.id, self.token, until):
            raise Fenced
        self.lease = Lease(self.token, until)

    async def auction(
        self, settings: Distribution, eligible: Eligible | None, ahead: Ahead | None, tried: set[str]
    ) -> list[Priced] | None:
        """The waterfall of a fresh auction among the campaigns not `tried` on this lead yet."""
        lead, ctx = self.lead, self.ctx
        now = ctx.clock()
        if eligible is None:
            live = await ctx.catalog.active(lead.vertical)
            eligible = select_candidates(live, lead.fields, lead.grade, settings.floor_cents_by_grade, now)
        if tried:
            eligible = Eligible(
                candidates=[c for c in eligible.candidates if c.live.id not in tried],
                excluded={**eligible.excluded, **dict.fromkeys(tried, "offered this lead already")},
            )
        eligible = await affordable(ctx.engine, eligible, now, notes=ctx.alerts)
        self.trail.event(
            "eligibility",
            now,
            candidates=[c.live.id for c in eligible.candidates],
            excluded=eligible.excluded,
        )
        on_sent = ahead.stored if ahead is not None else None
        priced = await price(
            ctx.adapters, ctx.clock, lead, eligible.candidates, settings, self.trail, on_sent
        )
        if ahead is not None:
            stored = await ahead.stored()
            if stored.answer.status != "accepted":
                # A duplicate: it was pinged, which its trail records, and is offered no further.
                async with ctx.engine.begin() as conn:
                    await self.trail.flush(conn)
                return None
        self.offered = bool(priced)
        return await order(ctx.engine, lead.vertical, priced, settings)

    async def waterfall(self, offers: list[Priced], settings: Distribution) -> LeadAnswer | None:
        """Offer the lead down `offers`; the answer if a sale ended the distribution."""
        for i, offer in enumerate(offers):
            if len(self.sold) >= settings.max_sales or any(s.exclusive for s in self.sold):
                break
            exclusive = offer.live.campaign.exclusive
            if self.sold and exclusive:
                continue  # an exclusive campaign buys alone, never beside others
            # The sale that ends the distribution records the outcome in its own transaction.
            closing = exclusive or len(self.sold) + 1 >= settings.max_sales
            answer = await self.offer(offer, offers[i + 1 :], max_sales=settings.max_sales, closing=closing)
            if answer is not None:
                return answer
        return None

    async def offer(
        self, offer: Priced, rest: list[Priced], *, max_sales: int, closing: bool
    ) -> LeadAnswer | None:
        """Hold, post, and sell or release: the hold is `posting`, with the exact request
        and the rest of the waterfall, before the request leaves."""
        lead, ctx, live = self.lead, self.ctx, offer.live
        now = ctx.clock()
        try:
            request = outgoing(ctx.adapters, live.adapter, live.config, "post", lead.post_fields())
        except Exception as exc:  # an adapter's own failure (a plugin's bug) skips its campaign
            log.exception("campaign %s: its %s adapter could not build a post", live.id, live.adapter)
            self.trail.event("skipped", now, campaign_id=live.id, reason=f"adapter failed: {exc}")
            return None
        delivery_id = new_id("dlv")
        async with ctx.engine.begin() as conn:
            await self._hold_lease(conn, now)
            hold = await place_post(
                conn,
                live,
                lead_id=lead.id,
                price_cents=offer.price_cents,
                now=now,
                source="push",
                delivery_id=delivery_id,
                request=record(request),
                waterfall=[p.offer for p in rest],
            )
            if isinstance(hold, NotHeld):
                self.trail.event("skipped", now, campaign_id=live.id, reason=hold.reason)
                if hold.code == "cap_reached":
                    ctx.alerts.cap_full(live.id, hold.reason)
                elif hold.code == "insufficient_funds":
                    ctx.alerts.short_of_funds(live.id)
            else:
                self.trail.of_hold("posting", hold, now, delivery_id=delivery_id)
            await self.trail.flush(conn)
        if isinstance(hold, NotHeld):
            return None
        if is_batched(request):
            return await self.queue(hold, request, max_sales=max_sales, closing=closing)
        call = await self.post(hold, request, attempts=ctx.post_attempts if self.mode == "async" else 1)
        return await self.settle(hold, call, max_sales=max_sales, closing=closing)

    async def queue(
        self, hold: Hold, request: Request, *, max_sales: int, closing: bool
    ) -> LeadAnswer | None:
        """A post its adapter delivers in batched files: accepted once it is in the campaign's
        queue, which the sale's own transaction writes (jobs/file_batches.py sends the files)."""
        call = queued(request, hold.delivery_id)
        self.trail.post(hold, 1, call, self.ctx.clock())
        return await self.settle(hold, call, max_sales=max_sales, closing=closing, queue=request)

    async def post(self, hold: Hold, request: Request, *, attempts: int, first: int = 1) -> Call:
        """Post under the hold's delivery id, trying again after a failure in transit."""
        ctx = self.ctx
        call: Call | None = None
        for attempt in range(first, first + attempts):
            call = await send(ctx.adapters, request, kind="post", idempotency_key=hold.delivery_id)
            self.trail.post(hold, attempt, call, ctx.clock())
            if call.status == "accepted" or not call.is_transient or attempt == first + attempts - 1:
                break
            await asyncio.sleep(ctx.retry_base_seconds * 2 ** (attempt - first) * (0.5 + random.random()))
        assert call is not None
        return call

    async def settle(
        self, hold: Hold, call: Call, *, max_sales: int, closing: bool, queue: Request | None = None
    ) -> LeadAnswer | None:
        """Sell on an accepting answer, release on any other; the answer if the sale closed
        the distribution. `queue`: the request goes in its campaign's next file with the sale."""
        lead, ctx = self.lead, self.ctx
        now = ctx.clock()
        answer = None
        async with ctx.engine.begin() as conn:
            if call.status != "accepted":
                result: Sold | Refused | Gone | Hold = await release(
                    conn, hold, now, reason=f"post {call.status}"
                )
            else:
                result = await sell(
                    conn, hold, lead, now, max_sales=max_sales, reference=call.answer.reference
                )
            if isinstance(result, Gone):
                await self._settled_elsewhere(conn, hold, result, now)
            elif isinstance(result, Refused):
                self.trail.of_hold(
                    "sale_refused", hold, now, reason=result.reason, reference=call.answer.reference
                )
            elif isinstance(result, Sold):
                self.sold.append(result)
                self.trail.sale(hold, result, now, reference=call.answer.reference)
                if queue is not None:
                    await enqueue(conn, hold, queue, now)
                if closing:
                    # The outcome too, under the lease; lost, the sale stands and whoever holds
                    # the lease now finds the lead sold.
                    answer = answer_of(lead, self.sold)
                    await record_outcome(conn, lead, answer, self.trail, now, self.token)
            await self.trail.flush(conn)
        # Noted once committed: the alert watch reads the sale's counters and the posts' audit.
        if isinstance(result, Sold):
            ctx.alerts.sold(hold.campaign_id)
        elif call.status in FAILED_CALLS:
            ctx.alerts.post_failed(hold.campaign_id)
        return answer

    async def _settled_elsewhere(self, conn: AsyncConnection, hold: Hold, gone: Gone, now: datetime) -> None:
        """Another process settled the hold first: a stalled one, while this one took the lead
        over (it goes on with the lead), or one that took it from this one (it stops)."""
        self.trail.event("hold_settled_elsewhere", now, hold_id=hold.id, state=gone.state)
        await self._hold_lease(conn, now)
        self.sold = await sold_of_lead(conn, self.lead.id)

    async def resume(self, holds: list[Hold], settings: Distribution) -> list[Priced] | None:
        """Settle the holds an earlier distribution of this lead left open (its process died,
        or an operator just decided an uncertain one); then the rest of the waterfall of its
        last post to go on with, or None for a fresh auction among campaigns not tried yet."""
        ctx, lead = self.ctx, self.lead
        async with ctx.engine.connect() as conn:
            self.sold = await sold_of_lead(conn, lead.id)
        left = [h for h in holds if h.is_open]
        if any(h.state == "uncertain" for h in left):
            await self._park(None)
        for hold in left:
            if hold.state == "posting":
                await self._settle_left(hold, settings)
            elif hold.source == "ping":
                await self._post_held(hold, settings)
            else:
                await self._release_left(hold)
        posted = [h for h in holds if h.delivery_id is not None]
        if not posted:
            return None
        rest = posted[-1].waterfall
        tried = {h.campaign_id for h in holds}
        live = await ctx.catalog.active(lead.vertical)
        now = ctx.clock()
        eligible = select_candidates(live, lead.fields, lead.grade, settings.floor_cents_by_grade, now)
        by_id = {c.live.id: c.live for c in eligible.candidates}
        return [
            Priced(live=by_id[o.campaign_id], price_cents=o.price_cents)
            for o in rest
            if o.campaign_id in by_id and o.campaign_id not in tried
        ]

    async def _settle_left(self, hold: Hold, settings: Distribution) -> None:
        """A post in flight when its process stopped: the buyer is asked again, the same
        request under the same delivery id, and the hold settled by that answer."""
        ctx = self.ctx
        assert hold.request is not None
        request = from_record(hold.request)
        self.offered = True
        if is_batched(request):  # never sent: it goes in the queue the sale writes
            await self.queue(hold, request, max_sales=settings.max_sales, closing=False)
            return
        first = 1
        if hold.source != "resend":  # a re-sent post was placed for this, not left in flight
            self.trail.post(
                hold, 1, unanswered(request, hold.delivery_id), ctx.clock(), kind="post_unanswered"
            )
            first = 2
        call = await self.post(hold, request, attempts=ctx.post_attempts, first=first)
        if call.status != "accepted" and call.is_transient:
            await self._park(hold, reason=f"no answer from the buyer after {ctx.post_attempts} more attempts")
        await self.settle(hold, call, max_sales=settings.max_sales, closing=False)

    async def _post_held(self, hold: Hold, settings: Distribution) -> None:
        """A publisher's ping held this buyer's bid; the lead is here now: post it at that price."""
        ctx, lead = self.ctx, self.lead
        live = next((c for c in await ctx.catalog.active(lead.vertical) if c.id == hold.campaign_id), None)
        if live is None or live.unavailable is not None:
            await self._release_left(hold)
            return
        request = outgoing(ctx.adapters, live.adapter, live.config, "post", lead.post_fields())
        now = ctx.clock()
        async with ctx.engine.begin() as conn:
            await self._hold_lease(conn, now)
            posting = await start_posting(conn, hold, now, request=record(request), delivery_id=new_id("dlv"))
            if posting is not None:
                self.trail.of_hold("posting", posting, now, delivery_id=posting.delivery_id)
            await self.trail.flush(conn)
        if posting is None:  # released on expiry meanwhile
            return
        self.offered = True
        if is_batched(request):
            await self.queue(posting, request, max_sales=settings.max_sales, closing=False)
            return
        call = await self.post(posting, request, attempts=ctx.post_attempts if self.mode == "async" else 1)
        await self.settle(posting, call, max_sales=settings.max_sales, closing=False)

    async def _release_left(self, hold: Hold) -> None:
        """A hold whose distribution stopped before it posted: nothing left for the buyer."""
        now = self.ctx.clock()
        async with self.ctx.engine.begin() as conn:
            await self._hold_lease(conn, now)
            released = await release(conn, hold, now, reason="its distribution stopped before posting")
            if not isinstance(released, Gone):
                self.trail.of_hold("reservation_released", hold, now)
            await self.trail.flush(conn)

    async def _park(self, hold: Hold | None, reason: str = "") -> None:
        """Stop here until an operator decides an uncertain hold; the lead goes nowhere else.
        Returns only if another process settled the hold meanwhile."""
        now = self.ctx.clock()
        async with self.ctx.engine.begin() as conn:
            if not await finish_distribution(conn, self.lead.id, self.token, now):
                raise Fenced
            if hold is not None:
                uncertain = await transition(conn, hold, "uncertain", now, reason=reason)
                if uncertain is None:  # settled by a stalled process meanwhile: go on
                    await conn.rollback()
                    return
                self.trail.of_hold("hold_uncertain", hold, now, reason=reason)
            await self.trail.flush(conn)
        raise Parked

    async def finish(self) -> LeadAnswer:
        """The outcome when no sale closed the distribution."""
        now = self.ctx.clock()
        answer = answer_of(self.lead, self.sold)
        if not self.sold:
            self.trail.event("unsold", now, reason="no_buyer" if self.offered else "no_eligible_campaign")
        async with self.ctx.engine.begin() as conn:
            if not await record_outcome(conn, self.lead, answer, self.trail, now, self.token):
                raise Fenced
        return answer

    async def stop(self) -> None:
        """Fenced: what this distribution did (its pings, its posts) still goes in the trail."""
        self.trail.event("distribution_stopped", self.ctx.clock(), reason="its lease was taken over")
        async with self.ctx.engine.begin() as conn:
            await self.trail.flush(conn)
