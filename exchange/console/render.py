"""Console pages as HTML: the templates, who is looking at them, and errors as pages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import MediaType, Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from exchange.api.auth import Principal
from exchange.api.services import Services, ServicesDep
from exchange.console.session import csrf_holds, csrf_token, session_principal
from exchange.errors import ExchangeError, Forbidden, field_invalid

SIGN_IN = "/console/sign-in"
# Answers that show a secret (a new key, a signing secret) must never be kept by a browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The header the flow's script sends: such a request gets a 401, not a page to sign in on.
FETCH_HEADER = "x-console-fetch"

# Navigation by role: the pages each may open. A publisher's and a buyer's own account page is
# added by `nav_for`, since its address names the account.
NAV: dict[str, list[tuple[str, str]]] = {
    "operator": [
        ("Live flow", "/console/flow"),
        ("Leads", "/console/leads"),
        ("Money", "/console/money"),
        ("Charts", "/console/charts"),
        ("Campaigns", "/console/campaigns"),
        ("Returns", "/console/returns"),
        ("Deliveries", "/console/deliveries"),
        ("Holds", "/console/holds"),
        ("Alerts", "/console/alerts"),
        ("Accounts", "/console/accounts"),
        ("Keys", "/console/keys"),
    ],
    "finance": [
        ("Leads", "/console/leads"),
        ("Money", "/console/money"),
        ("Charts", "/console/charts"),
        ("Returns", "/console/returns"),
        ("Holds", "/console/holds"),
        ("Alerts", "/console/alerts"),
        ("Accounts", "/console/accounts"),
    ],
    "publisher": [("My leads", "/console/leads")],
    "buyer": [
        ("Bought leads", "/console/leads"),
        ("Campaigns", "/console/campaigns"),
        ("Returns", "/console/returns"),
        ("Alerts", "/console/alerts"),
    ],
}


def nav_for(viewer: Principal) -> list[tuple[str, str]]:
    """The links of the viewer's role, and for a publisher or a buyer its own account page."""
    links = list(NAV.get(viewer.role, []))
    own = viewer.publisher_id or viewer.buyer_id
    if own:
        links.append(("My account", f"/console/accounts/{own}"))
    return links


def _cents(value: int | None) -> str:
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value) // 100:,}.{abs(value) % 100:02d}"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


_templates = Environment(
    loader=PackageLoader("exchange.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(cents=_cents, when=_when, pretty=_pretty)


def render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


ViewerDep = NamedDependency[Principal]


class SignInNeeded(Exception):
    """No session, an expired one, or one whose key was revoked."""


async def provide_viewer(request: Request[Any, Any, Any], services: ServicesDep) -> Principal:
    """The signed-in account of a console page; without one the page sends to sign-in."""
    principal = await session_principal(request, services)
    if principal is None:
        raise SignInNeeded
    return principal


async def page(
    request: Request[Any, Any, Any],
    services: Services,
    template: str,
    viewer: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> Response[str]:
    """A whole page: the layout with the account's navigation and its forms' CSRF token."""
    html = render(
        template,
        viewer=viewer,
        nav=nav_for(viewer) if viewer else [],
        csrf_token=await csrf_token(request, services),
        path=request.url.path,
        **context,
    )
    return Response(html, status_code=status, media_type=MediaType.HTML)


def _refuse_nul(where: str, items: Any) -> None:
    for name, value in items:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            field = name.replace("\x00", "\\u0000")
            raise field_invalid(field, "invalid_value", f"{where} may not hold a NUL character (\\u0000)")


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Every console request, before its handler: no NUL in its query or form (no text the
    exchange keeps holds one, and PostgreSQL refuses it), named; and every POST carries its
    form's CSRF token, else it is refused (403)."""
    _refuse_nul("a query value", request.query_params.multi_items())
    if request.method != "POST":
        return
    form = await request.form()
    _refuse_nul("a form field", form.multi_items())
    sent = form.get("csrf_token")
    services = request.app.state.services
    if not await csrf_holds(request, services, sent if isinstance(sent, str) else None):
        raise Forbidden(
            "this form's CSRF token is missing or out of date: reload the page and try again",
            code="csrf_failed",
        )


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[str]:
    titles = {403: "Not allowed", 404: "Not found", 429: "Too many attempts"}
    html = render(
        "error.html",
        viewer=None,
        nav=[],
        csrf_token="",
        path=request.url.path,
        status=status,
        title=titles.get(status, "Something is wrong"),
        message=message,
    )
    return Response(html, status_code=status, media_type=MediaType.HTML)


def on_sign_in_needed(request: Request[Any, Any, Any], _: SignInNeeded) -> Response[Any]:
    if request.headers.get(FETCH_HEADER):
        return Response("sign in again", status_code=401, media_type=MediaType.TEXT)
    return Redirect(SIGN_IN, status_code=303)


def on_exchange_error(request: Request[Any, Any, Any], exc: ExchangeError) -> Response[str]:
    named = "; ".join(f"{error.field}: {error.message}" for error in exc.errors)
    return _error_page(request, exc.status_code, f"{exc.message} ({named})" if named else exc.message)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    return _error_page(request, exc.status_code, exc.detail)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    SignInNeeded: on_sign_in_needed,
    ExchangeError: on_exchange_error,
    HTTPException: on_http_error,
}
