"""Hosted lead forms: `/forms/{publisher_id}/{vertical}` serves a publisher's lead form.

A person fills it in on the exchange's own page (or in a frame the `.js` script puts in any
page); the form posts back to the same path, and the lead goes through the same intake as a
`POST /v1/leads` (pipeline/intake.py `receive_fields`): validation, duplicates, grading and
a sync sale alike. The consent evidence is the exchange's own: the text shown beside the
checkbox, the moment it was ticked, the address, user agent and page it came from.

Decision: no session, no cookie. The form carries a signed token (HMAC with the console's
secret, console/session.py) bound to the publisher, the vertical and an expiry: a page
elsewhere cannot make one, a token of one form is no good for another, and an old one
expires. Submissions count against the sender's address (api/limits.py), as requests
without a key do.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import PathParameter, QueryParameter

from exchange.api.docs import WHY, raw_body
from exchange.api.form_parts import (
    FORM_LIFETIME,
    FormOf,
    embed_script,
    find_form,
    form_token,
    token_holds,
)
from exchange.api.limits import RateLimited
from exchange.api.services import Services, ServicesDep
from exchange.console.render import render
from exchange.console.session import signing_secret
from exchange.pipeline.intake import Posted, Received, receive_fields
from exchange.types import ErrorBody, FieldError

_RESULTS = {
    "sold": ("Thank you", "We have your request: someone will be in touch soon."),
    "unsold": ("Thank you", "We have your request."),
    "accepted": ("Thank you", "We have your request."),
    "duplicate": ("Already received", "We already have a request from you: no need to send it again."),
}
_STATUS = {"sold": 201, "unsold": 201, "accepted": 202, "duplicate": 409}
_HTML = "text/html; charset=utf-8"


def _html(html: str, status: int) -> Response[str]:
    return Response(html, status_code=status, media_type=_HTML)


def _message_page(status: int, title: str, message: str) -> Response[str]:
    return _html(render("hosted_result.html", title=title, message=message, reference=None), status)


def _not_found() -> Response[str]:
    return _message_page(404, "Form not found", "No such form: check the address of this page.")


def _page_url(value: Any) -> str:
    """An http(s) address, or nothing: a page address the lead can carry."""
    text = value.strip()[:2000] if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme in ("http", "https") and parts.hostname else ""


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _base_url(request: Request[Any, Any, Any], services: Services) -> str:
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


async def _form_page(
    request: Request[Any, Any, Any],
    services: Services,
    form: FormOf,
    *,
    status: int = 200,
    page_url: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
) -> Response[str]:
    secret = await signing_secret(services, request.app.state)
    expires = int((services.clock() + FORM_LIFETIME).timestamp())
    publisher_id, key = form.source.publisher_id, form.vertical.key
    html = render(
        "hosted_form.html",
        title=key.replace("_", " ").capitalize() + ": request a quote",
        action=f"/forms/{quote(publisher_id)}/{quote(key)}",
        csrf_token=form_token(secret, publisher_id, key, expires),
        page_url=page_url,
        fields=form.fields,
        labels={f.name: f.label for f in form.fields} | {"consent_given": "Consent"},
        consent_text=form.consent_text,
        values=values or {},
        errors=errors or {},
        problem=problem,
    )
    return _html(html, status)


_FORM_BODY = Schema(
    type=OpenAPIType.OBJECT,
    description=(
        "The form's inputs: each canonical and vertical field of the lead by its name "
        "(`first_name`, `zip`, `vehicle_year`…), plus these."
    ),
    properties={
        "csrf_token": Schema(
            type=OpenAPIType.STRING,
            description="The token the form was served with: bound to its publisher and vertical.",
        ),
        "consent_given": Schema(
            type=OpenAPIType.STRING,
            description="`yes` when the consent checkbox is ticked; the lead is refused without it.",
        ),
        "page_url": Schema(
            type=OpenAPIType.STRING,
            description="The page the form was filled in on (else the Referer header): recorded as evidence.",
        ),
    },
    required=["csrf_token"],
    additional_properties=Schema(type=OpenAPIType.STRING, description="A field of the lead, by its name."),
)


def _page(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=str, media_type=MediaType.HTML, description=description, generate_examples=False
    )


# A request the framework cannot read (a malformed parameter): the API's error body.
_BAD_REQUEST = ResponseSpec(ErrorBody, description=WHY[400], generate_examples=False)
PublisherId = Annotated[str, PathParameter(description="The publisher whose form it is.")]


class HostedFormController(Controller):
    path = "/forms"
    tags = ["hosted forms"]

    @get(
        "/{publisher_id:str}/{vertical:str}",
        summary="A publisher's hosted lead form (no key); `{vertical}.js`: a script embedding it",
        description=(
            "An HTML form with the vertical's fields and the publisher's consent text beside a "
            "checkbox, posting to the same path. With `.js` after the vertical's key, a script "
            "that puts the form where its `<script src>` tag stands, in any page."
        ),
        media_type=MediaType.HTML,
        security=[{}],  # no key
        responses={400: _BAD_REQUEST, 404: _page("No such publisher or vertical.")},
    )
    async def show_form(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        publisher_id: PublisherId,
        vertical: Annotated[
            str,
            PathParameter(
                description="The vertical's key; with `.js` after it, the script embedding the form."
            ),
        ],
        page_url: Annotated[
            str | None,
            QueryParameter(
                description="The page showing the form (the embedding script sends it): kept with the lead."
            ),
        ] = None,
    ) -> Response[str]:
        embed = vertical.endswith(".js")
        key = vertical.removesuffix(".js")
        form = await find_form(services, publisher_id, key)
        if form is None:
            return _not_found()
        if embed:
            url = f"{_base_url(request, services)}/forms/{quote(publisher_id)}/{quote(key)}"
            return Response(embed_script(url), media_type="application/javascript; charset=utf-8")
        page = _page_url(page_url) or _page_url(request.headers.get("referer"))
        return await _form_page(request, services, form, page_url=page)

    @post(
        "/{publisher_id:str}/{vertical:str}",
        summary="Submit a hosted lead form (no key): a lead, as `POST /v1/leads` makes one",
        description=(
            "The form's fields, `application/x-www-form-urlencoded`. The lead goes through intake "
            "as a publisher's post does; the answer is a page: 201 with the result, 422 with the "
            "form and each error beside its field, 403 for a missing, forged or expired "
            "`csrf_token`, 429 when this address sends too many."
        ),
        media_type=MediaType.HTML,
        security=[{}],  # no key: the form's token instead
        status_code=201,
        operation_class=raw_body({"application/x-www-form-urlencoded": _FORM_BODY}),
        responses={
            400: _BAD_REQUEST,
            202: _page("Stored; its sale is still under way."),
            403: _page("The form's token is missing, forged or expired: reload the form."),
            404: _page("No such publisher or vertical."),
            409: _page("A duplicate of a lead already received."),
            422: _page("The form again, each problem beside its field."),
            429: _page("Too many submissions from this address: `Retry-After` says when to try again."),
        },
    )
    async def submit_form(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        publisher_id: PublisherId,
        vertical: Annotated[str, PathParameter(description="The vertical's key.")],
    ) -> Response[str]:
        client = request.scope.get("client")
        address = client[0] if client else "unknown"
        try:
            await services.limits.check_address(address)
        except RateLimited as exc:
            answer = _message_page(429, "Too many attempts", exc.message)
            answer.headers["Retry-After"] = str(exc.retry_after)
            return answer
        form = await find_form(services, publisher_id, vertical)
        if form is None:
            return _not_found()
        body = await request.body()
        posted_form = await request.form()
        sent = {k: v.strip() for k, v in posted_form.items() if isinstance(v, str)}
        secret = await signing_secret(services, request.app.state)
        now = services.clock()
        if not token_holds(secret, publisher_id, vertical, sent.get("csrf_token"), int(now.timestamp())):
            return _message_page(
                403,
                "Please reload the form",
                "This form is out of date or did not come from this site: reload the page and send it again.",
            )
        page_url = _page_url(sent.get("page_url")) or _page_url(request.headers.get("referer"))
        values = {f.name: sent[f.name] for f in form.fields if sent.get(f.name)}
        if not sent.get("consent_given"):
            # Everything missing at once, so nobody fixes one problem only to be shown the next.
            missing = [f.name for f in form.fields if f.required and f.name not in values]
            errors = dict.fromkeys(missing, "is required")
            errors["consent_given"] = "tick the box to agree to be contacted"
            return await _sent_back(request, services, form, page_url, values, errors)
        user_agent = request.headers.get("user-agent", "")[:2000]
        evidence = {
            "text": form.consent_text,
            "at": now.isoformat(),
            "ip_address": address,
            "user_agent": user_agent,
            "page_url": page_url or None,
        }
        fields: dict[str, Any] = {
            **values,
            "consent": {"text": form.consent_text, "timestamp": now.isoformat()},
        }
        if _is_ip(address):
            fields["ip_address"] = address
        if user_agent:
            fields["user_agent"] = user_agent
        if page_url:
            fields["landing_page_url"] = page_url
        started = time.perf_counter()
        result = await receive_fields(
            services,
            form.source,
            Posted(
                body=body,
                content_type=request.headers.get("content-type"),
                vertical=form.vertical.key,
                origin={"channel": "hosted_form", "consent_evidence": evidence},
            ),
            fields,
        )
        services.metrics.leads.labels(form.vertical.key, result.answer.status).inc()
        services.metrics.intake_seconds.observe(time.perf_counter() - started)
        return await _answer(request, services, form, result, page_url, {**values, "consent_given": "yes"})


async def _answer(
    request: Request[Any, Any, Any],
    services: Services,
    form: FormOf,
    result: Received,
    page_url: str,
    values: dict[str, str],
) -> Response[str]:
    answer = result.answer
    if answer.status == "rejected":
        return await _sent_back(request, services, form, page_url, values, _by_field(answer.errors or []))
    title, message = _RESULTS[answer.status]
    html = render("hosted_result.html", title=title, message=message, reference=answer.lead_id)
    return _html(html, 200 if result.replayed else _STATUS[answer.status])


async def _sent_back(
    request: Request[Any, Any, Any],
    services: Services,
    form: FormOf,
    page_url: str,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response[str]:
    """The form again (422), as it was filled in, each problem beside its input."""
    return await _form_page(
        request,
        services,
        form,
        status=422,
        page_url=page_url,
        values=values,
        errors=errors,
        problem="Please check the form.",
    )


def _by_field(errors: list[FieldError]) -> dict[str, str]:
    """Each error beside the input it is about (`consent.…` beside the checkbox)."""
    found: dict[str, str] = {}
    for error in errors:
        name = "consent_given" if error.field.startswith("consent") else error.field.split(".")[0]
        found.setdefault(name, error.message)
    return found
