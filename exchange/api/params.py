"""Path and paging parameters many operations share, each described once for the spec.

An id names one object of its kind; a caller that may not see it (another buyer's, another
publisher's) is answered as if it did not exist (404).
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

AccountId = Annotated[
    str, PathParameter(description="A buyer's or publisher's id: the id of its ledger account.")
]
BuyerId = Annotated[str, PathParameter(description="The buyer's id (`buy_…`).")]
CampaignId = Annotated[str, PathParameter(description="The campaign's id (`cmp_…`).")]
DeliveryId = Annotated[
    str, PathParameter(description="A delivery attempt's id (`dlv_…`), as the delivery audit lists it.")
]
FileBatchId = Annotated[str, PathParameter(description="The delivery file batch's id (`fb_…`).")]
HoldId = Annotated[str, PathParameter(description="The hold's id (`hold_…`).")]
JobId = Annotated[int, PathParameter(description="The job's number, as `GET /v1/jobs` lists it.")]
KeyId = Annotated[str, PathParameter(description="The API key's id (`key_…`), never the key itself.")]
LeadBatchId = Annotated[
    str, PathParameter(description="The id of an uploaded file of leads (`bat_…`), as its upload answered.")
]
LeadId = Annotated[str, PathParameter(description="The lead's id (`lead_…`).")]
PublisherId = Annotated[str, PathParameter(description="The publisher's id (`pub_…`).")]
PullId = Annotated[str, PathParameter(description="The pull's id (`pul_…`).")]
ReturnId = Annotated[str, PathParameter(description="The return's id (`ret_…`).")]
SubscriptionId = Annotated[str, PathParameter(description="The alert subscription's id (`asub_…`).")]
VerticalKey = Annotated[
    str,
    PathParameter(
        description="The vertical's key, e.g. `auto_insurance`, as `GET /v1/verticals` lists them."
    ),
]

_STARTS = "Where the page starts: the previous page's `next_cursor`; omitted: the first page."
PageLimit = Annotated[int, QueryParameter(ge=1, le=500, description="The most items one page holds.")]
LongPageLimit = Annotated[int, QueryParameter(ge=1, le=1000, description="The most items one page holds.")]
PageCursor = Annotated[str | None, QueryParameter(description=_STARTS)]
# An id-ordered page's cursor: the last row's number.
NumberCursor = Annotated[int | None, QueryParameter(ge=0, le=2**63 - 1, description=_STARTS)]
