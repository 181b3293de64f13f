"""Prices and order: fixed prices as they are, bid campaigns pinged at once within the
vertical's deadline, then the order the lead is offered in (the waterfall).

auction: best price first, ties rotate; round_robin: weighted rotation; priority: by
level, rotating within one. With shared sales allowed, an exclusive bid goes first only
when it beats the best shared set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.outbound.registry import AdapterRegistry
from buyers.pricing import bid_price
from exchange.clock import Clock
from exchange.distribution.calls import Call, adapter_failed, outgoing, ping_fields, send
from exchange.distribution.catalog import LiveCampaign
from exchange.distribution.eligible import Candidate
from exchange.distribution.records import LeadForSale, Offer
from exchange.distribution.rotation import rank_ties, rotate
from exchange.distribution.trail import Trail
from exchange.verticals import Distribution

log = logging.getLogger(__name__)


class Priced(msgspec.Struct, frozen=True, kw_only=True):
    live: LiveCampaign
    price_cents: int

    @property
    def offer(self) -> Offer:
        return Offer(self.live.id, self.price_cents)


async def price(
    adapters: AdapterRegistry,
    clock: Clock,
    lead: LeadForSale,
    candidates: list[Candidate],
    settings: Distribution,
    trail: Trail,
    on_sent: Callable[[], Any] | None = None,
) -> list[Priced]:
    """Fixed prices as they are; bid campaigns pinged at once, within the vertical's deadline.
    `on_sent` runs once the pings are on the wire (see `sent`)."""
    priced = [Priced(live=c.live, price_cents=c.price_cents) for c in candidates if c.price_cents is not None]
    bidders = [c for c in candidates if c.price_cents is None]
    if not bidders:
        return priced
    payload = ping_fields(lead.fields, lead.grade, lead.id)
    started = time.monotonic()
    shared: dict[Any, Any] = {}

    async def ping(c: Candidate) -> Call:
        try:
            request = outgoing(adapters, c.live.adapter, c.live.config, "ping", payload, shared)
        except Exception as exc:  # an adapter's own failure (a plugin's bug): no bid from it
            log.exception("campaign %s: its %s adapter could not build a ping", c.live.id, c.live.adapter)
            return adapter_failed(c.live.adapter, exc)
        if request.timeout_ms > settings.ping_timeout_ms:
            request = msgspec.structs.replace(request, timeout_ms=settings.ping_timeout_ms)
        return await send(adapters, request, kind="ping")

    pings = [asyncio.ensure_future(ping(c)) for c in bidders]
    if on_sent is not None:
        try:
            await sent()
        finally:  # a request cancelled meanwhile still does what it began
            on_sent()
    calls = await asyncio.gather(*pings)
    now = clock()
    for c, call in zip(bidders, calls, strict=True):
        pricing = c.live.campaign.pricing
        bid = bid_price(pricing, call.answer.price_cents, lead.grade, settings.floor_cents_by_grade)  # type: ignore[arg-type]
        status = call.status if bid is not None or call.status != "bid" else "no_bid"
        delivery_id = trail.delivery(
            campaign_id=c.live.id,
            buyer_id=c.live.campaign.buyer_id,
            kind="ping",
            attempt=1,
            call=msgspec.structs.replace(call, status=status),
            at=now,
            price_cents=bid,
        )
        trail.event(
            "pinged",
            now,
            campaign_id=c.live.id,
            delivery_id=delivery_id,
            status=status,
            bid_cents=call.answer.price_cents,
            price_cents=bid,
            latency_ms=round(call.latency_ms, 2),
        )
        if bid is not None:
            priced.append(Priced(live=c.live, price_cents=bid))
    log.debug("pinged %d campaigns in %.1f ms", len(bidders), (time.monotonic() - started) * 1000)
    return priced


async def sent() -> None:
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


async def order(
    engine: AsyncEngine, vertical: str, priced: list[Priced], settings: Distribution
) -> list[Priced]:
    """The waterfall: the order in which the lead is offered."""
    if len(priced) <= 1:
        return priced
    by_id = {p.live.id: p for p in priced}
    weights = {p.live.id: p.live.campaign.weight for p in priced}
    if settings.strategy == "auction":
        prices = [p.price_cents for p in priced]
        rotation: list[str] = []
        if len(set(prices)) < len(prices):  # ties rotate
            async with engine.begin() as conn:
                rotation = await rotate(conn, f"{vertical}:auction", weights)
        ranked = [by_id[cid] for cid in rank_ties([(p.live.id, p.price_cents) for p in priced], rotation)]
        return exclusive_only_if_worth_it(ranked, settings.max_sales)
    if settings.strategy == "round_robin":
        async with engine.begin() as conn:
            return [by_id[cid] for cid in await rotate(conn, f"{vertical}:rotation", weights)]
    levels = sorted({p.live.campaign.priority for p in priced})
    ordered: list[Priced] = []
    async with engine.begin() as conn:
        for level in levels:
            members = {cid: w for cid, w in weights.items() if by_id[cid].live.campaign.priority == level}
            ordered += [by_id[cid] for cid in await rotate(conn, f"{vertical}:priority:{level}", members)]
    return ordered


def exclusive_only_if_worth_it(ranked: list[Priced], max_sales: int) -> list[Priced]:
    """With shared sales allowed, an exclusive bid goes first only if it beats the best shared set."""
    if max_sales <= 1:
        return ranked
    shared = [p for p in ranked if not p.live.campaign.exclusive]
    shared_value = sum(p.price_cents for p in shared[:max_sales])
    ahead = [p for p in ranked if p.live.campaign.exclusive and p.price_cents >= shared_value]
    behind = [p for p in ranked if p.live.campaign.exclusive and p.price_cents < shared_value]
    return ahead + shared + behind
