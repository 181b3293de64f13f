"""Signing in to the console with an API key, and out again."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from exchange.api.auth import authenticate_digest
from exchange.api.limits import RateLimited
from exchange.api.services import ServicesDep
from exchange.console.render import page
from exchange.console.session import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SIGN_IN_COOKIE,
    clear_cookie,
    new_sign_in_nonce,
    session_principal,
    session_value,
    set_cookie,
    signing_secret,
)
from exchange.errors import Unauthorized
from exchange.storage.migrate import hash_key

# Where each role lands once signed in.
HOME = {"operator": "/console/flow"}


class SignInController(Controller):
    path = "/console"

    @get("/", include_in_schema=False)
    async def home(self, request: Request[Any, Any, Any], services: ServicesDep) -> Redirect:
        viewer = await session_principal(request, services)
        if viewer is None:
            return Redirect("/console/sign-in", status_code=303)
        return Redirect(HOME.get(viewer.role, "/console/leads"), status_code=303)

    @get("/sign-in", include_in_schema=False)
    async def sign_in_form(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
        return await _sign_in_page(request, services)

    @post("/sign-in", include_in_schema=False, status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
        client = request.scope.get("client")
        try:
            # Every attempt counts against the address, as requests without a valid key do.
            await services.limits.check_address(client[0] if client else "unknown")
        except RateLimited as exc:
            answer = await _sign_in_page(request, services, status=429, problem=exc.message)
            answer.headers["Retry-After"] = str(exc.retry_after)
            return answer
        form = await request.form()
        key = form.get("api_key")
        key = key.strip() if isinstance(key, str) else ""
        if not key:
            return await _sign_in_page(request, services, status=422, problem="api_key: enter your API key")
        try:
            principal = await authenticate_digest(services, hash_key(key))
        except Unauthorized:
            problem = "api_key: unknown or revoked API key"
            return await _sign_in_page(request, services, status=401, problem=problem)
        expires = int((services.clock() + SESSION_LIFETIME).timestamp())
        secret = await signing_secret(services, request.app.state)
        answer: Response[Any] = Redirect(HOME.get(principal.role, "/console/leads"), status_code=303)
        set_cookie(
            answer, request, services, SESSION_COOKIE, session_value(secret, principal.key_id, expires)
        )
        clear_cookie(answer, SIGN_IN_COOKIE)
        return answer

    @post("/sign-out", include_in_schema=False, status_code=303)
    async def sign_out(self) -> Response[Any]:
        answer: Response[Any] = Redirect("/console/sign-in", status_code=303)
        clear_cookie(answer, SESSION_COOKIE)
        return answer


async def _sign_in_page(
    request: Request[Any, Any, Any], services: ServicesDep, *, status: int = 200, problem: str | None = None
) -> Response[Any]:
    """The sign-in form, bound (CSRF) to a random cookie of this browser, set here if it has none."""
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    fresh = nonce is None
    if fresh:
        nonce = new_sign_in_nonce()
        request.state.sign_in_nonce = nonce
    answer = await page(
        request, services, "sign_in.html", None, status=status, title="Sign in", problem=problem
    )
    if fresh and nonce is not None:
        set_cookie(answer, request, services, SIGN_IN_COOKIE, nonce)
    return answer
