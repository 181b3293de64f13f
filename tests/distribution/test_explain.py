"""Why a lead is not sold: the dry run against every campaign, the sale as recorded, and what
each role may see of them; nothing is sold, held, charged, pinged or written to find out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from buyers.campaigns import Campaign, Cap, Filter, FixedPricing, Schedule
from exchange.distribution.at_sale import replay
from exchange.distribution.catalog import LiveCampaign
from exchange.distribution.explain import Standing, StoredLead, judge
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import Account, Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

# Prices no timestamp or id is likely to contain, so a search of the answer text finds only them.
CAPPED_PRICE, BROKE_PRICE, UNDER_FLOOR_PRICE, LATE_PRICE, FLOOR = 6123, 6321, 2345, 7345, 5111
TOUCHED = (t.sales, t.holds, t.ledger_entries, t.deliveries, t.lead_events)


def fixed(cents: int) -> dict[str, Any]:
    return {"model": "fixed", "cents_by_grade": {g: cents for g in "ABCD"}}


async def row_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
                for table in TOUCHED
            }
    finally:
        await engine.dispose()


async def funded(market: Market, name: str) -> Account:
    buyer = await market.buyer(name=name)
    await market.fund(buyer, 10_000_000)
    return buyer


async def explain(market: Market, lead_id: str, auth: dict[str, str]) -> Any:
    answer = await market.client.get(f"/v1/leads/{lead_id}/explain", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer


async def test_each_campaign_says_which_rule_left_the_lead_out_and_nothing_is_written(
    market: Market, database_url: str
) -> None:
    publisher = await market.publisher()
    async with serve(*(FakeBuyer(bid=None) for _ in range(7))) as fakes:
        capped_buyer = await funded(market, "Capped")
        capped = await market.campaign(
            capped_buyer,
            fakes[0].delivery(bid=False),
            pricing=fixed(CAPPED_PRICE),
            caps=[{"period": "day", "max_leads": 1}],
        )
        first = await market.post_lead(publisher, auto_insurance_lead())
        assert first.json()["status"] == "sold", first.text  # the day cap is now full
        await market.distribution(floor_cents_by_grade={g: FLOOR for g in "ABCD"})
        filtered = await market.campaign(
            await funded(market, "Nevada"),
            fakes[1].delivery(bid=False),
            filters=[{"field": "state", "op": "in", "value": ["NV"]}],
        )
        closed = await market.campaign(
            await funded(market, "Closed"),
            fakes[2].delivery(bid=False),
            schedule={"timezone": "America/New_York", "hours": {}},
        )
        broke_buyer = await market.buyer(name="Broke")
        broke = await market.campaign(broke_buyer, fakes[3].delivery(bid=False), pricing=fixed(BROKE_PRICE))
        cheap = await market.campaign(
            await funded(market, "Cheap"), fakes[4].delivery(bid=False), pricing=fixed(UNDER_FLOOR_PRICE)
        )
        answer = await market.post_lead(publisher, auto_insurance_lead())
        assert answer.json()["status"] == "unsold", answer.text
        lead_id = answer.json()["lead_id"]
        # Campaigns made after the sale: the dry run sees them, the record of the sale does not.
        late_buyer = await funded(market, "Late")
        late = await market.campaign(late_buyer, fakes[5].delivery(bid=False), pricing=fixed(LATE_PRICE))
        bidder = await market.campaign(await funded(market, "Bidder"), fakes[6].delivery())

        received = [len(f.received) for f in fakes]
        before = await row_counts(database_url)
        staff = (await explain(market, lead_id, market.admin)).json()
        publisher_view = await explain(market, lead_id, publisher.auth)
        after = await row_counts(database_url)
        assert after == before
        assert [len(f.received) for f in fakes] == received == [1, 0, 0, 0, 0, 0, 0]

    assert staff["status"] == "unsold"
    verdicts = {v["campaign_id"]: v for v in staff["dry_run"]["verdicts"]}
    assert verdicts[filtered["id"]]["outcome"] == "filtered"
    assert verdicts[filtered["id"]]["rule"] == {"field": "state", "op": "in", "value": ["NV"]}
    shut = verdicts[closed["id"]]
    assert (shut["outcome"], shut["rule"]["timezone"], shut["rule"]["hours"]) == (
        "closed",
        "America/New_York",
        [],
    )
    assert shut["rule"]["day"] in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    full = verdicts[capped["id"]]
    assert full["outcome"] == "cap_full" and full["buyer_id"] == capped_buyer.id
    assert {k: full["rule"][k] for k in ("period", "max_leads", "used_leads")} == {
        "period": "day",
        "max_leads": 1,
        "used_leads": 1,
    }
    assert full["rule"]["period_key"].startswith("day:")
    assert verdicts[broke["id"]]["outcome"] == "no_funds"
    assert verdicts[broke["id"]]["rule"] == {"needed_cents": BROKE_PRICE, "available_cents": 0}
    under = verdicts[cheap["id"]]
    assert under["outcome"] == "below_floor"
    assert {k: under["rule"][k] for k in ("floor_cents", "price_cents")} == {
        "floor_cents": FLOOR,
        "price_cents": UNDER_FLOOR_PRICE,
    }
    assert verdicts[late["id"]]["outcome"] == "eligible"
    assert verdicts[late["id"]]["price_cents"] == LATE_PRICE
    assert verdicts[bidder["id"]]["outcome"] == "eligible"
    assert verdicts[bidder["id"]]["needs_ping"] is True and "price_cents" not in verdicts[bidder["id"]]

    # The truth then: the stored eligibility event, campaign by campaign.
    then = {p["campaign_id"]: p for p in staff["at_sale"]["campaigns"]}
    assert staff["at_sale"]["unsold_reason"] == "no_eligible_campaign"
    assert set(then) == {capped["id"], filtered["id"], closed["id"], broke["id"], cheap["id"]}
    assert then[filtered["id"]]["outcome"] == "filtered" and then[filtered["id"]]["field"] == "state"
    assert then[capped["id"]]["outcome"] == "cap_full"
    assert then[broke["id"]]["outcome"] == "no_funds"
    assert then[capped["id"]]["buyer_id"] == capped_buyer.id

    # The publisher: the reasons counted, and no buyer, campaign or price of anyone.
    mine = publisher_view.json()
    assert set(mine) == {"lead_id", "vertical", "status", "dry_run", "at_sale"}
    assert "verdicts" not in mine["dry_run"] and "campaigns" not in mine["at_sale"]
    reasons = {(r["outcome"], r.get("field")): r["count"] for r in mine["dry_run"]["reasons"]}
    assert reasons == {
        ("eligible", None): 2,
        ("filtered", "state"): 1,
        ("closed", None): 1,
        ("cap_full", None): 1,
        ("no_funds", None): 1,
        ("below_floor", None): 1,
    }
    text = publisher_view.text
    for secret in (
        *(c["id"] for c in (capped, filtered, closed, broke, cheap, late, bidder)),
        capped_buyer.id,
        broke_buyer.id,
        late_buyer.id,
        *(str(cents) for cents in (CAPPED_PRICE, BROKE_PRICE, UNDER_FLOOR_PRICE, LATE_PRICE, FLOOR)),
    ):
        assert secret not in text


async def test_a_buyer_sees_only_its_own_campaigns_of_a_lead_it_was_pinged_for(market: Market) -> None:
    publisher = await market.publisher()
    # The auction waits long enough for the "no bid" to arrive however loaded the machine is:
    # what is recorded must be that answer, not a timeout.
    await market.distribution(ping_timeout_ms=10_000)
    async with serve(FakeBuyer(bid=None), FakeBuyer()) as fakes:
        pinged_buyer = await funded(market, "Pinged")
        delivery = fakes[0].delivery()
        delivery["ping"]["timeout_ms"] = 10_000
        pinged = await market.campaign(pinged_buyer, delivery)
        outsider = await funded(market, "Nevada")
        await market.campaign(
            outsider, fakes[1].delivery(), filters=[{"field": "state", "op": "in", "value": ["NV"]}]
        )
        answer = await market.post_lead(publisher, auto_insurance_lead())
        assert answer.json()["status"] == "unsold", answer.text
        lead_id = answer.json()["lead_id"]
        pings = len(fakes[0].pings)
        view = (await explain(market, lead_id, pinged_buyer.auth)).json()
        assert len(fakes[0].pings) == pings == 1
        # Excluded by its filter, the other buyer never heard of the lead: no such lead for it.
        hidden = await market.client.get(f"/v1/leads/{lead_id}/explain", headers=outsider.auth)
    assert hidden.status_code == 404
    assert [v["campaign_id"] for v in view["dry_run"]["verdicts"]] == [pinged["id"]]
    assert view["dry_run"]["verdicts"][0]["outcome"] == "eligible"
    assert [(p["campaign_id"], p["outcome"]) for p in view["at_sale"]["campaigns"]] == [
        (pinged["id"], "no_bid")
    ]
    assert outsider.id not in str(view)


async def test_another_publishers_lead_is_not_found(market: Market) -> None:
    owner, other = await market.publisher(), await market.publisher(name="Other")
    answer = await market.post_lead(owner, auto_insurance_lead())
    lead_id = answer.json()["lead_id"]
    assert (await market.client.get(f"/v1/leads/{lead_id}/explain", headers=other.auth)).status_code == 404
    assert (await market.client.get("/v1/leads/lead_nope/explain", headers=market.admin)).status_code == 404
    mine = (await explain(market, lead_id, owner.auth)).json()
    assert mine["dry_run"]["reasons"] == [] and mine["at_sale"]["unsold_reason"] == "no_eligible_campaign"


NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)  # a Saturday
LEAD = StoredLead(
    id="lead_1",
    vertical="auto_insurance",
    status="unsold",
    grade="B",
    fields={"state": "CA"},
    publisher_id="pub_1",
    sub_id=None,
)


def live(**config: Any) -> LiveCampaign:
    campaign = Campaign(
        id="cmp_1",
        buyer_id="buy_1",
        vertical="auto_insurance",
        pricing=config.pop("pricing", FixedPricing(cents_by_grade={"B": 2000})),
        delivery={"adapter": "http"},
        created_at=NOW,
        updated_at=NOW,
        **config,
    )
    return LiveCampaign(campaign=campaign, cap_timezone="America/New_York", adapter="http")


def test_judge_reads_the_rules_in_the_order_distribution_does() -> None:
    def outcome(
        campaign: LiveCampaign, *, funds: int = 10_000, used: int = 0, standing: Standing = "active"
    ) -> str:
        return judge(
            LEAD,
            campaign,
            standing=standing,
            history=None,
            floors={"B": 1000},
            now=NOW,
            used={"day:2026-03-14": (used, used * 2000)},
            funds_cents=funds,
        ).outcome

    nevada = [Filter(field="state", op="in", value=["NV"])]
    weekdays = Schedule(timezone="America/New_York", hours={"mon": ["08:00-20:00"]})
    day_cap = [Cap(period="day", max_leads=3)]
    assert outcome(live(filters=nevada), standing="paused") == "paused"
    assert outcome(live(filters=nevada), standing="archived") == "archived"
    assert outcome(live(filters=nevada, schedule=weekdays)) == "filtered"
    assert outcome(live(schedule=weekdays, caps=day_cap), used=3) == "closed"
    assert outcome(live(pricing=FixedPricing(cents_by_grade={"A": 2000}))) == "not_priced"
    assert outcome(live(pricing=FixedPricing(cents_by_grade={"B": 900})), funds=0) == "below_floor"
    assert outcome(live(caps=day_cap), funds=1999, used=3) == "no_funds"
    assert outcome(live(caps=day_cap), used=3) == "cap_full"
    assert outcome(live(caps=day_cap), used=2) == "eligible"


def test_the_record_of_a_sale_keeps_each_campaigns_last_outcome() -> None:
    past = replay(
        [
            ("eligibility", NOW, {"candidates": ["c1", "c2", "c3"], "excluded": {"c4": "schedule closed"}}),
            ("pinged", NOW, {"campaign_id": "c1", "status": "bid", "bid_cents": 2500, "price_cents": 2500}),
            ("pinged", NOW, {"campaign_id": "c2", "status": "timeout", "bid_cents": None}),
            ("skipped", NOW, {"campaign_id": "c1", "reason": "cap day 5 reached"}),
            ("unsold", NOW, {"reason": "no_buyer"}),
        ]
    )
    assert [(p.campaign_id, p.outcome) for p in past.campaigns or []] == [
        ("c1", "cap_full"),
        ("c2", "timeout"),
        ("c3", "not_reached"),
        ("c4", "closed"),
    ]
    assert past.unsold_reason == "no_buyer"
    assert {(r.outcome, r.count) for r in past.reasons} == {
        ("cap_full", 1),
        ("timeout", 1),
        ("not_reached", 1),
        ("closed", 1),
    }
