"""Accounts in the console: the publishers and buyers (operators and finance read them; operators
create them), and the API keys (operators list, make and revoke them).

Every change goes through the API's own functions (exchange/api/publishers.py, buyers.py,
keys.py), checks and audit included. A new key is shown once, on the page that answers the
form, which no browser may cache; after that only its id is ever shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, get_args

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect

from exchange.api.auth import Principal
from exchange.api.buyers import BuyerIn, buyers_page, create_buyer_for
from exchange.api.keys import KeyIn, create_key_for, keys_page, revoke_key_for
from exchange.api.params import KeyId
from exchange.api.publishers import PublisherIn, create_publisher_for, publishers_page
from exchange.api.services import Services, ServicesDep
from exchange.console.fields import converted, form_of, placed_errors, shown_values, text, whole
from exchange.console.render import NO_STORE, ViewerDep, page, provide_viewer
from exchange.errors import ExchangeError, field_invalid
from exchange.types import Role

ROLES: tuple[str, ...] = get_args(Role)
LIST = "/console/accounts"
KEYS = "/console/keys"
GRADES = ("A", "B", "C", "D")
# Offered as suggestions for a buyer's time zone; any IANA name is taken.
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "UTC",
    "Europe/London",
)
PUBLISHER_FIELDS = {
    "name",
    "payout.model",
    "payout.percent",
    "default_vertical",
    "consent_text",
    "field_mapping",
    "rate_limit.per_second",
    "rate_limit.burst",
} | {f"payout.cents_by_grade.{g}" for g in GRADES}
BUYER_FIELDS = {"name", "timezone", "credit_limit_cents"}
KEY_FIELDS = {"role", "name", "publisher_id", "buyer_id"}
Cursor = Annotated[str | None, Parameter(description="Where the previous page ended.")]
Text = Annotated[str | None, Parameter(description="A form field; empty means not given.")]


async def key_shown(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    title: str,
    *,
    kind: str,
    account: Any,
    key_id: str,
    api_key: str,
) -> Response[str]:
    """The page that shows a new key, once: never kept by a browser or a proxy. A new publisher's
    shows where it sends leads too (its inbox, FTP login and hosted forms)."""
    publisher = kind == "publisher"
    answer = await page(
        request,
        services,
        "key_shown.html",
        viewer,
        status=201,
        title=title,
        kind=kind,
        account=account,
        key_id=key_id,
        api_key=api_key,
        verticals=[v.key for v in await services.verticals.all()] if publisher else [],
        public_url=(services.settings.public_url or str(request.base_url)).rstrip("/"),
    )
    answer.headers.update(NO_STORE)
    return answer


def publisher_of(form: Mapping[str, Any]) -> PublisherIn:
    """The new-publisher form as the API's publisher; errors name the API's fields."""
    if text(form, "payout.model") == "fixed":
        prices = {g: whole(form, f"payout.cents_by_grade.{g}") for g in GRADES}
        payout: dict[str, Any] = {
            "model": "fixed",
            "cents_by_grade": {g: c for g, c in prices.items() if c is not None},
        }
    else:
        percent = whole(form, "payout.percent")
        if percent is None:
            raise field_invalid("payout.percent", "required", "give the publisher's share, 0 to 100")
        payout = {"model": "revshare", "percent": percent}
    body: dict[str, Any] = {"name": text(form, "name"), "payout": payout}
    if text(form, "default_vertical"):
        body["default_vertical"] = text(form, "default_vertical")
    if text(form, "consent_text"):
        body["consent_text"] = text(form, "consent_text")
    if text(form, "field_mapping"):
        try:
            body["field_mapping"] = json.loads(text(form, "field_mapping"))
        except ValueError as exc:
            raise field_invalid(
                "field_mapping", "malformed_json", f"field_mapping must be a JSON object: {exc}"
            ) from None
    if text(form, "rate_limit.per_second"):
        try:
            per_second = float(text(form, "rate_limit.per_second"))
        except ValueError:
            raise field_invalid(
                "rate_limit.per_second", "not_a_number", "rate_limit.per_second must be a number"
            ) from None
        body["rate_limit"] = {"per_second": per_second, "burst": whole(form, "rate_limit.burst") or 0}
    return converted(body, PublisherIn)


def buyer_of(form: Mapping[str, Any]) -> BuyerIn:
    body = {
        "name": text(form, "name"),
        "timezone": text(form, "timezone"),
        "credit_limit_cents": whole(form, "credit_limit_cents") or 0,
    }
    return converted(body, BuyerIn)


def key_of(form: Mapping[str, Any]) -> KeyIn:
    """The new-key form: one account field, the publisher's or the buyer's by the role."""
    role, account = text(form, "role"), text(form, "account_id")
    body: dict[str, Any] = {"role": role, "name": text(form, "name")}
    if role == "publisher":
        body["publisher_id"] = account or None
    elif role == "buyer":
        body["buyer_id"] = account or None
    elif account:
        raise field_invalid("account_id", "invalid_value", f"a {role or 'staff'} key belongs to no account")
    return converted(body, KeyIn)


async def _accounts_page(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    *,
    publisher_cursor: str | None = None,
    buyer_cursor: str | None = None,
    kind: str | None = None,
    form: Mapping[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response[str]:
    publishers = await publishers_page(services, 100, publisher_cursor)
    buyers = await buyers_page(services, 100, buyer_cursor)
    return await page(
        request,
        services,
        "accounts.html",
        viewer,
        status=422 if errors else 200,
        title="Accounts",
        publishers=publishers,
        buyers=buyers,
        verticals=[v.key for v in await services.verticals.all()],
        zones=ZONES,
        grades=GRADES,
        kind=kind,
        values=shown_values(form),
        errors=errors or {},
    )


class ConsoleAccountsController(Controller):
    path = LIST
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def accounts(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        publishers_after: Cursor = None,
        buyers_after: Cursor = None,
    ) -> Response[str]:
        """Publishers and buyers, newest first; operators also get the forms that create them."""
        viewer.require("operator", "finance")
        return await _accounts_page(
            request, services, viewer, publisher_cursor=publishers_after, buyer_cursor=buyers_after
        )

    @post("/", include_in_schema=False, status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        """A new publisher or buyer (`kind`) through the API's checks; its first key shown once."""
        viewer.require("operator")
        form = await form_of(request)
        kind = text(form, "kind")
        if kind not in ("publisher", "buyer"):
            raise field_invalid("kind", "invalid_choice", "kind must be one of: publisher, buyer")
        try:
            if kind == "publisher":
                created: Any = await create_publisher_for(services, viewer, publisher_of(form))
            else:
                created = await create_buyer_for(services, viewer, buyer_of(form))
        except ExchangeError as exc:
            if exc.status_code != 422:
                raise
            known = PUBLISHER_FIELDS if kind == "publisher" else BUYER_FIELDS
            errors = placed_errors(exc, known)
            return await _accounts_page(request, services, viewer, kind=kind, form=form, errors=errors)
        return await key_shown(
            request,
            services,
            viewer,
            f"{kind.capitalize()} {created.name} created",
            kind=kind,
            account=created,
            key_id=created.key_id,
            api_key=created.api_key,
        )


async def _keys_page(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    *,
    role: str | None = None,
    account_id: str | None = None,
    cursor: str | None = None,
    form: Mapping[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response[str]:
    if role and role not in ROLES:
        raise field_invalid("role", "invalid_choice", f"role must be one of: {', '.join(ROLES)}")
    found = await keys_page(
        services, role=role or None, account_id=account_id or None, limit=100, cursor=cursor
    )
    query = "&".join(f"{k}={v}" for k, v in (("role", role), ("account_id", account_id)) if v)
    return await page(
        request,
        services,
        "keys.html",
        viewer,
        status=422 if errors else 200,
        title="API keys",
        keys=found,
        roles=ROLES,
        role=role or "",
        account_id=account_id or "",
        query=query,
        values=shown_values(form),
        errors=errors or {},
    )


class ConsoleKeysController(Controller):
    path = KEYS
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def keys(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        role: Text = None,
        account_id: Text = None,
        after: Cursor = None,
    ) -> Response[str]:
        """Every key, newest first, by its id, never its secret; filtered by role or account."""
        viewer.require("operator")
        return await _keys_page(request, services, viewer, role=role, account_id=account_id, cursor=after)

    @post("/", include_in_schema=False, status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        """A new key for staff or an account, shown once."""
        viewer.require("operator")
        form = await form_of(request)
        try:
            created = await create_key_for(services, viewer, key_of(form))
        except ExchangeError as exc:
            if exc.status_code != 422:
                raise
            # Both are the form's one account field.
            one_account = {"publisher_id": "account_id", "buyer_id": "account_id"}
            errors = placed_errors(exc, KEY_FIELDS | {"account_id"}, one_account)
            return await _keys_page(request, services, viewer, form=form, errors=errors)
        return await key_shown(
            request,
            services,
            viewer,
            f"Key {created.name} created",
            kind="key",
            account=created,
            key_id=created.id,
            api_key=created.api_key,
        )

    @post("/{key_id:str}/revoke", include_in_schema=False, status_code=303)
    async def revoke(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, key_id: KeyId
    ) -> Redirect:
        """Revoke at once; back to the page the button was on (the key list or an account)."""
        viewer.require("operator")
        await revoke_key_for(services, viewer, key_id)
        back = text(await form_of(request), "back")
        target = back if back.startswith("/console/") else KEYS  # never to another site
        return Redirect(target, status_code=303)
