"""The spec says what the API answers: every `/v1` operation documents its error answers in
the shape CONTRACT.md gives them (`{"code", "message", "errors"}`), not the framework's."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from exchange.types import ErrorBody

WHY = {
    400: "unreadable: a malformed body or query, a body nested too deep, an unknown query parameter",
    401: "no API key, or an unknown or revoked one (checked before the body is read)",
    403: "the key's role may never do this",
    404: "no such object, or another tenant's (its existence is not revealed)",
    409: "the request conflicts with what is stored (already sold, already decided, a key reused)",
    422: "a field is missing or invalid: `errors` names each field and why",
    429: "too many requests from this key or address: try again after `Retry-After` seconds",
}
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def document_errors(app: Litestar) -> None:
    """Add the error answers to every `/v1` operation; an operation's own wins."""
    for route in app.routes:
        if not route.path.startswith("/v1/"):
            continue
        for handler in getattr(route, "route_handlers", ()):
            methods: Any = handler.http_methods
            if methods == {"OPTIONS"}:
                continue
            codes = {400, 401, 403, 422, 429}
            if "{" in route.path:
                codes.add(404)
            if methods & _CHANGES:
                codes.add(409)
            errors = {
                code: ResponseSpec(ErrorBody, description=WHY[code], generate_examples=False)
                for code in codes
            }
            handler.responses = {**errors, **(handler.responses or {})}
