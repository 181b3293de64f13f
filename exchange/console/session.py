"""Console sessions: a signed cookie naming an API key, and the CSRF token of each form.

Decision: the session is not stored server-side. Signing in with an API key sets a cookie
`key id . expiry . HMAC-SHA256(secret, both)`; every page checks the signature and the
expiry, then reads the key's principal by its id (uncached), so revoking the key ends its
sessions at the next page. The secret is the `EXCHANGE_CONSOLE_SECRET` setting, else one
generated on first use and kept in the database (`instance_secrets`), so every process and
every machine of a deployment signs alike and sessions survive restarts. The key itself
never leaves the sign-in form: a stolen cookie dies with the key or at its expiry.

CSRF: each form carries an HMAC of the session cookie (signed in) or of a random
`exchange_signin` cookie (the sign-in form): a page on another site can neither read nor
guess it, and a POST without it is refused (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Response
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from exchange.api.auth import Principal, principal_where
from exchange.api.services import Services
from exchange.storage import tables as t

SESSION_COOKIE = "exchange_session"
SIGN_IN_COOKIE = "exchange_signin"
SESSION_LIFETIME = timedelta(hours=12)
_SECRET_NAME = "console_session"


async def signing_secret(services: Services, app_state: Any) -> bytes:
    """The setting's secret, else the database's (made by whichever process asks first)."""
    known = app_state.get("console_secret")
    if known is not None:
        return bytes(known)
    if services.settings.console_secret:
        secret = services.settings.console_secret.encode()
    else:
        secret = (await _stored_secret(services)).encode()
    app_state["console_secret"] = secret
    return secret


async def _stored_secret(services: Services) -> str:
    s = t.instance_secrets.c
    query = select(s.value).where(s.name == _SECRET_NAME)
    async with services.engine.connect() as conn:
        found = await conn.scalar(query)
    if found is not None:
        return str(found)
    made = secrets.token_urlsafe(48)
    try:
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(t.instance_secrets).values(name=_SECRET_NAME, value=made, created_at=services.clock())
            )
        return made
    except IntegrityError:  # another process made it first: theirs is the one
        async with services.engine.connect() as conn:
            return str(await conn.scalar(query))


def _sign(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_value(secret: bytes, key_id: str, expires: int) -> str:
    body = f"{key_id}.{expires}"
    return f"{body}.{_sign(secret, 'session', body)}"


def _same(sent: str, expected: str) -> bool:
    """A constant-time comparison of what a browser sent (any text) with a signature."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode())


def key_of_session(secret: bytes, value: str, now: int) -> str | None:
    """The key id a session cookie names, if its signature holds and it has not expired."""
    key_id, _, rest = value.partition(".")
    expires, _, signature = rest.partition(".")
    # ASCII digits only: `isdigit()` alone takes "¹", which int() refuses.
    if not key_id or not (expires.isascii() and expires.isdigit()) or int(expires) <= now:
        return None
    if not _same(signature, _sign(secret, "session", f"{key_id}.{expires}")):
        return None
    return key_id


async def session_principal(request: Request[Any, Any, Any], services: Services) -> Principal | None:
    """Who is signed in on this request: None without a valid session or once its key is revoked."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    secret = await signing_secret(services, request.app.state)
    key_id = key_of_session(secret, value, int(services.clock().timestamp()))
    if key_id is None:
        return None
    principal = await principal_where(services, t.api_keys.c.id == key_id)
    client = request.scope.get("client")
    if principal is not None and client:
        principal = msgspec.structs.replace(principal, address=client[0])
    return principal


async def csrf_token(request: Request[Any, Any, Any], services: Services) -> str:
    """The token this browser's forms carry: bound to its session, else to its sign-in cookie."""
    secret = await signing_secret(services, request.app.state)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return _sign(secret, "csrf", session)
    nonce = request.state.get("sign_in_nonce") or request.cookies.get(SIGN_IN_COOKIE) or ""
    return _sign(secret, "csrf-sign-in", nonce)


async def csrf_holds(request: Request[Any, Any, Any], services: Services, sent: str | None) -> bool:
    """Whether a form's token is this browser's: with the session, or before signing in."""
    if not sent:
        return False
    secret = await signing_secret(services, request.app.state)
    bindings = [("csrf", request.cookies.get(SESSION_COOKIE))]
    bindings.append(("csrf-sign-in", request.cookies.get(SIGN_IN_COOKIE)))
    return any(value and _same(sent, _sign(secret, purpose, value)) for purpose, value in bindings)


def new_sign_in_nonce() -> str:
    return secrets.token_urlsafe(24)


def is_secure(request: Request[Any, Any, Any], services: Services) -> bool:
    """Secure cookies when this request came over HTTPS or the exchange's public address is https."""
    public = services.settings.public_url or ""
    return request.url.scheme == "https" or public.lower().startswith("https://")


def set_cookie(
    response: Response[Any], request: Request[Any, Any, Any], services: Services, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_secure(request, services),
    )


def clear_cookie(response: Response[Any], name: str) -> None:
    response.delete_cookie(name, path="/console")
