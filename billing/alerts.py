"""Alerts before money runs out: the four conditions, and the notes the sale path takes of them.

The sale path only notes what it saw, in memory and without I/O: a sale, a cap found full, a
post that failed in transit, a campaign passed over for lack of funds. The watch
(exchange/jobs/alerts.py) reads the notes and the database a moment later, decides here
whether a condition holds, and raises its alert at most once per subject and UTC hour.

    low_balance        a buyer's balance is below the threshold it set, and it was charged
                       within the last hour (an idle buyer is not reminded every hour)
    cap_reached        a campaign's cap for the current period is full
    delivery_failing   a campaign's last FAILING_AFTER posts all failed in transit
    unsold_no_funds    leads a buyer's campaigns wanted went past it for lack of funds
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from buyers.campaigns import Cap

AlertKind = Literal["low_balance", "cap_reached", "delivery_failing", "unsold_no_funds"]
KINDS: tuple[AlertKind, ...] = ("low_balance", "cap_reached", "delivery_failing", "unsold_no_funds")
# Posts in a row that failed in transit (no answer, a timeout, a 5xx) before a campaign's
# endpoint counts as failing.
FAILING_AFTER = 3
FAILED_CALLS = frozenset({"failed", "timeout"})
# Subjects one process notes between two looks at most: beyond, the condition is noted
# again by the next lead that meets it.
MAX_NOTED = 10_000


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as operators list it and subscribers receive it."""

    id: Annotated[
        str, msgspec.Meta(description="The alert's id.", examples=["alr_01jp9zqxbg0y2nv4kxbwpf1qqh"])
    ]
    kind: Annotated[
        AlertKind,
        msgspec.Meta(
            description=(
                "`low_balance` (the buyer's balance fell below its threshold), `cap_reached` (a "
                "campaign's cap for the period is full), `delivery_failing` (a campaign's "
                "recent posts all failed in transit) or `unsold_no_funds` (leads its campaigns "
                "wanted went past the buyer for lack of funds)."
            ),
            examples=["low_balance"],
        ),
    ]
    buyer_id: Annotated[
        str, msgspec.Meta(description="The buyer it is about.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ]
    campaign_id: Annotated[
        str | None,
        msgspec.Meta(description="The campaign it is about; null for a buyer-wide alert.", examples=[None]),
    ]
    # The UTC hour it belongs to: a condition raises one alert per subject and hour at most.
    hour: Annotated[
        datetime,
        msgspec.Meta(
            description="The UTC hour it belongs to: one alert per kind, subject and hour at most.",
            examples=["2025-03-14T09:00:00Z"],
        ),
    ]
    message: Annotated[
        str,
        msgspec.Meta(
            description="The alert in words.",
            examples=[
                "Acme Insurance: the balance, 18000 cents, is below the alert threshold of 25000 cents"
            ],
        ),
    ]
    detail: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "Its numbers, by kind: `balance_cents` and `low_balance_cents`; `caps`; "
                "`failed_posts` and `last_error`; `leads` and `campaigns`."
            ),
            examples=[{"balance_cents": 18000, "low_balance_cents": 25000}],
        ),
    ]
    raised_at: Annotated[
        datetime, msgspec.Meta(description="When it was raised (UTC).", examples=["2025-03-14T09:27:01Z"])
    ]


def alert_of(row: Any) -> Alert:
    return Alert(**{name: getattr(row, name) for name in Alert.__struct_fields__})


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """A condition found to hold: what the alert about it will say."""

    kind: AlertKind
    # The buyer (low_balance, unsold_no_funds) or the campaign (cap_reached, delivery_failing).
    subject_id: str
    buyer_id: str
    campaign_id: str | None = None
    message: str
    detail: dict[str, Any]


def hour_of(now: datetime) -> datetime:
    """The start of the UTC hour holding `now`."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Noted(msgspec.Struct, kw_only=True):
    """What the sale path noted since the last look, by campaign."""

    sold: set[str] = msgspec.field(default_factory=set)
    # Why its cap turned a lead away ("cap day max_leads 100 reached").
    capped: dict[str, str] = msgspec.field(default_factory=dict)
    failed: set[str] = msgspec.field(default_factory=set)
    # Leads it wanted and could not pay for.
    short: dict[str, int] = msgspec.field(default_factory=dict)

    @property
    def campaign_ids(self) -> set[str]:
        return self.sold | set(self.capped) | self.failed | set(self.short)

    def __bool__(self) -> bool:
        return bool(self.sold or self.capped or self.failed or self.short)


class AlertNotes:
    """The sale path's notes, one set or counter update each; `take` hands them to the watch."""

    def __init__(self, limit: int = MAX_NOTED) -> None:
        self.limit = limit
        self._noted = Noted()

    def sold(self, campaign_id: str) -> None:
        if len(self._noted.sold) < self.limit:
            self._noted.sold.add(campaign_id)

    def cap_full(self, campaign_id: str, reason: str) -> None:
        if len(self._noted.capped) < self.limit:
            self._noted.capped[campaign_id] = reason

    def post_failed(self, campaign_id: str) -> None:
        if len(self._noted.failed) < self.limit:
            self._noted.failed.add(campaign_id)

    def short_of_funds(self, campaign_id: str) -> None:
        short = self._noted.short
        if campaign_id in short or len(short) < self.limit:
            short[campaign_id] = short.get(campaign_id, 0) + 1

    def take(self) -> Noted:
        noted, self._noted = self._noted, Noted()
        return noted

    def give_back(self, noted: Noted) -> None:
        """Notes a look could not act on (the database away a moment), for the next look."""
        for campaign_id in noted.sold:
            self.sold(campaign_id)
        for campaign_id, reason in noted.capped.items():
            self.cap_full(campaign_id, reason)
        for campaign_id in noted.failed:
            self.post_failed(campaign_id)
        for campaign_id, leads in noted.short.items():
            for _ in range(leads):
                self.short_of_funds(campaign_id)


def low_balance(buyer_id: str, name: str, balance_cents: int, threshold_cents: int) -> Condition | None:
    if balance_cents >= threshold_cents:
        return None
    return Condition(
        kind="low_balance",
        subject_id=buyer_id,
        buyer_id=buyer_id,
        message=f"{name}: the balance, {balance_cents} cents, is below the alert threshold "
        f"of {threshold_cents} cents",
        detail={"balance_cents": balance_cents, "low_balance_cents": threshold_cents},
    )


def full_caps(caps: Sequence[Cap], used: Mapping[str, tuple[int, int]], keys: Sequence[str]) -> list[str]:
    """The caps whose counters (`used[period_key]`: leads, spend) have reached their limit;
    `keys[i]` is the current period's key of `caps[i]`."""
    full = []
    for cap, key in zip(caps, keys, strict=True):
        leads, spend = used.get(key, (0, 0))
        if cap.max_leads is not None and leads >= cap.max_leads:
            full.append(f"cap {cap.period} max_leads {cap.max_leads} reached")
        elif cap.max_spend_cents is not None and spend >= cap.max_spend_cents:
            full.append(f"cap {cap.period} max_spend_cents {cap.max_spend_cents} reached")
    return full


def cap_reached(campaign_id: str, buyer_id: str, name: str, reasons: Sequence[str]) -> Condition | None:
    if not reasons:
        return None
    return Condition(
        kind="cap_reached",
        subject_id=campaign_id,
        buyer_id=buyer_id,
        campaign_id=campaign_id,
        message=f"{name}: campaign {campaign_id} takes no more leads this period ({'; '.join(reasons)})",
        detail={"caps": list(reasons)},
    )


def delivery_failing(
    campaign_id: str, buyer_id: str, name: str, latest: Sequence[tuple[str, str | None]]
) -> Condition | None:
    """`latest`: the campaign's last posts (status, reason), newest first."""
    if len(latest) < FAILING_AFTER or any(status not in FAILED_CALLS for status, _ in latest[:FAILING_AFTER]):
        return None
    last_error = latest[0][1]
    return Condition(
        kind="delivery_failing",
        subject_id=campaign_id,
        buyer_id=buyer_id,
        campaign_id=campaign_id,
        message=f"{name}: the last {FAILING_AFTER} posts to campaign {campaign_id}'s endpoint failed"
        + (f" (last: {last_error})" if last_error else ""),
        detail={"failed_posts": FAILING_AFTER, "last_error": last_error},
    )


def unsold_no_funds(buyer_id: str, name: str, missed: Mapping[str, int]) -> Condition:
    """`missed`: leads passed over for lack of funds, by the buyer's campaign."""
    leads = sum(missed.values())
    return Condition(
        kind="unsold_no_funds",
        subject_id=buyer_id,
        buyer_id=buyer_id,
        message=f"{name}: {leads} lead{'s' if leads != 1 else ''} its campaigns wanted went past it "
        "for lack of funds",
        detail={"leads": leads, "campaigns": dict(sorted(missed.items()))},
    )
