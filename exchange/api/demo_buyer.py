"""A demo buyer inside the demo exchange: bids by grade and accepts posts.

Mounted only by `exchange serve --demo`, so a newcomer sees a lead sold without
running a buyer of their own. Real buyers are other companies' servers.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Router, post

BIDS_BY_GRADE = {"A": 25.00, "B": 18.00, "C": 12.00}


@post("/ping", status_code=200, include_in_schema=False)
async def demo_ping(request: Request[Any, Any, Any]) -> dict[str, Any]:
    offer = msgspec.json.decode(await request.body())
    grade = offer.get("grade")
    # A publisher's ping comes before its lead is graded: it gets the lowest bid.
    bid = BIDS_BY_GRADE["C"] if grade is None else BIDS_BY_GRADE.get(str(grade))
    return {"status": "ok", "bid": bid} if bid else {"status": "no_bid"}


@post("/post", status_code=200, include_in_schema=False)
async def demo_post(request: Request[Any, Any, Any]) -> dict[str, Any]:
    lead = msgspec.json.decode(await request.body())
    return {"status": "ok", "lead_ref": f"demo-{str(lead.get('lead_id', ''))[-8:]}"}


demo_buyer = Router(path="/demo-buyer", route_handlers=[demo_ping, demo_post], include_in_schema=False)
