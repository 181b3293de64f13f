"""Alerts in the console: the alerts raised (staff all, a buyer its own), who hears of them (an
operator's and a buyer's subscriptions, by e-mail or signed webhook) and a buyer's low-balance
threshold (set by the buyer itself or an operator; finance reads it).

Everything goes through the API's own functions (exchange/api/alerts.py): the same checks, the
same audit rows. A new webhook subscription's signing secret is shown once, on the page that
answers the form, which no browser may cache; the subscription list never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect

from billing.alerts import KINDS, AlertKind
from exchange.api.alerts import (
    SubscriptionIn,
    ThresholdIn,
    alerts_page_for,
    set_threshold_for,
    subscribe_for,
    subscriptions_page_for,
    threshold_for,
    unsubscribe_for,
)
from exchange.api.auth import Principal
from exchange.api.buyers import buyers_page
from exchange.api.params import SubscriptionId
from exchange.api.services import Services, ServicesDep
from exchange.console.fields import converted, form_of, placed_errors, shown_values, text
from exchange.console.money_actions import cents_of
from exchange.console.render import NO_STORE, ViewerDep, page, provide_viewer
from exchange.errors import ExchangeError, NotFound, field_invalid

LIST = "/console/alerts"
KIND_NAMES = {
    "low_balance": "Low balance",
    "cap_reached": "Cap reached",
    "delivery_failing": "Delivery failing",
    "unsold_no_funds": "Unsold for lack of funds",
}
SUBSCRIPTION_FIELDS = {"kinds", "email", "webhook_url", "buyer_id"}
# The threshold form's own names: the amount in dollars, and (an operator's) whose it is.
THRESHOLD_FIELDS = {"low_balance", "threshold_buyer_id"}
_AS_FORM = {"low_balance_cents": "low_balance"}
Filter = Annotated[str | None, Parameter(description="A filter; empty means any.")]
Cursor = Annotated[str | None, Parameter(description="Where the previous page ended.")]


def threshold_cents(typed: str) -> int:
    """The threshold typed in dollars ('250', '1,250.00') as cents; zero is a threshold too
    (alert once the balance is below zero)."""
    return cents_of(typed, "low_balance", zero_allowed=True)


def subscription_of_form(form: Mapping[str, Any], kinds: list[str], viewer: Principal) -> SubscriptionIn:
    """The new-subscription form as the API's subscription; errors name the API's fields."""
    body: dict[str, Any] = {
        "kinds": kinds,
        "email": text(form, "email") or None,
        "webhook_url": text(form, "webhook_url") or None,
    }
    if viewer.role == "operator":
        body["buyer_id"] = text(form, "buyer_id") or None
    return converted(body, SubscriptionIn)


def _filters(viewer: Principal, kind: str | None, buyer_id: str | None) -> tuple[str | None, str | None]:
    """The GET form's filters, empty meaning any; a buyer sees its own alerts whatever it asks."""
    if kind and kind not in KINDS:
        raise field_invalid("kind", "invalid_choice", f"kind must be one of: {', '.join(KINDS)}")
    return kind or None, (buyer_id or None) if viewer.is_staff else None


async def _alerts_page(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    *,
    kind: str | None = None,
    buyer_id: str | None = None,
    cursor: str | None = None,
    subscriptions_cursor: str | None = None,
    form_name: str | None = None,
    form: Mapping[str, Any] | None = None,
    kinds_checked: list[str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response[str]:
    kind, buyer_id = _filters(viewer, kind, buyer_id)
    alerts = await alerts_page_for(
        services, viewer, kind=cast("AlertKind | None", kind), buyer_id=buyer_id, cursor=cursor or None
    )
    subscribes = viewer.role in ("operator", "buyer")
    subscriptions = (
        await subscriptions_page_for(services, viewer, cursor=subscriptions_cursor or None)
        if subscribes
        else None
    )
    # Whose threshold is shown: a buyer's own; for staff, the buyer the alerts are filtered by.
    threshold_buyer = viewer.buyer_id if viewer.role == "buyer" else buyer_id
    threshold, threshold_missing = None, False
    if threshold_buyer:
        try:
            threshold = await threshold_for(services, viewer, threshold_buyer)
        except NotFound:
            threshold_missing = True
    buyers = (await buyers_page(services, 100, None)).items if viewer.role == "operator" else []
    filters = {"kind": kind or "", "buyer_id": buyer_id or ""}
    query = urlencode({k: v for k, v in filters.items() if v})
    values = shown_values(form)
    if form_name == "threshold" and "threshold_buyer_id" not in values:
        values["threshold_buyer_id"] = threshold_buyer or ""
    return await page(
        request,
        services,
        "alerts.html",
        viewer,
        status=422 if errors else 200,
        title="Alerts",
        alerts=alerts,
        subscriptions=subscriptions,
        threshold=threshold,
        threshold_buyer=threshold_buyer or "",
        threshold_missing=threshold_missing,
        buyers=buyers,
        kinds=KINDS,
        kind_names=KIND_NAMES,
        filters=filters,
        query=query,
        form_name=form_name,
        values=values,
        kinds_checked=kinds_checked or [],
        errors=errors or {},
    )


class ConsoleAlertController(Controller):
    path = LIST
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def alerts(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        kind: Filter = None,
        buyer_id: Filter = None,
        after: Cursor = None,
        subscriptions_after: Cursor = None,
    ) -> Response[str]:
        """The alerts raised, newest first; who hears of them; the low-balance threshold."""
        viewer.require("operator", "finance", "buyer")
        return await _alerts_page(
            request,
            services,
            viewer,
            kind=kind,
            buyer_id=buyer_id,
            cursor=after,
            subscriptions_cursor=subscriptions_after,
        )

    @post("/subscriptions", include_in_schema=False, status_code=201)
    async def subscribe(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[Any]:
        """A new subscription through the API's checks; a webhook's signing secret shown once."""
        viewer.require("operator", "buyer")
        form = await form_of(request)
        kinds = [k for k in (await request.form()).getall("kinds", []) if isinstance(k, str)]
        try:
            created = await subscribe_for(services, viewer, subscription_of_form(form, kinds, viewer))
        except ExchangeError as exc:
            if exc.status_code != 422:  # 403 and 404 are pages of their own
                raise
            return await _alerts_page(
                request,
                services,
                viewer,
                form_name="subscription",
                form=form,
                kinds_checked=kinds,
                errors=placed_errors(exc, SUBSCRIPTION_FIELDS),
            )
        if created.webhook_secret is None:
            return Redirect(f"{LIST}#subscriptions-heading", status_code=303)
        answer = await page(
            request,
            services,
            "alert_secret_shown.html",
            viewer,
            status=201,
            title="Alert subscription created",
            subscription=created,
            kind_names=KIND_NAMES,
        )
        answer.headers.update(NO_STORE)
        return answer

    @post("/subscriptions/{subscription_id:str}/stop", include_in_schema=False, status_code=303)
    async def stop(
        self, services: ServicesDep, viewer: ViewerDep, subscription_id: SubscriptionId
    ) -> Redirect:
        """Stop a subscription: an operator any, a buyer its own (another's is a 404)."""
        viewer.require("operator", "buyer")
        await unsubscribe_for(services, viewer, subscription_id)
        return Redirect(f"{LIST}#subscriptions-heading", status_code=303)

    @post("/threshold", include_in_schema=False, status_code=303)
    async def threshold(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[Any]:
        """Set or clear (`clear`) a buyer's low-balance threshold, typed in dollars: a buyer its
        own, an operator the buyer it names."""
        viewer.require("operator", "buyer")
        form = await form_of(request)
        typed_buyer = text(form, "threshold_buyer_id")
        buyer_id = viewer.buyer_id if viewer.role == "buyer" else typed_buyer
        try:
            if not buyer_id:
                raise field_invalid("threshold_buyer_id", "required", "give the buyer's id")
            cents = None if text(form, "clear") == "yes" else threshold_cents(text(form, "low_balance"))
            data = converted({"low_balance_cents": cents}, ThresholdIn)
            try:
                await set_threshold_for(services, viewer, buyer_id, data)
            except NotFound:
                if viewer.role != "operator":
                    raise
                # The buyer id the operator typed: named beside its field, as a typo is.
                raise field_invalid("threshold_buyer_id", "not_found", f"no buyer {buyer_id}") from None
        except ExchangeError as exc:
            if exc.status_code != 422:
                raise
            errors = placed_errors(exc, THRESHOLD_FIELDS, _AS_FORM)
            return await _alerts_page(
                request,
                services,
                viewer,
                buyer_id=typed_buyer if viewer.role == "operator" else None,
                form_name="threshold",
                form=form,
                errors=errors,
            )
        where = {"buyer_id": buyer_id} if viewer.role == "operator" else {}
        target = f"{LIST}?{urlencode(where)}" if where else LIST
        return Redirect(f"{target}#threshold-heading", status_code=303)
