"""An OPTIONS request is answered with every method its path takes.

The framework (Litestar 2) builds a path's OPTIONS answer when the path's first handler is
registered and never updates it, so a path with GET and POST answered `Allow: OPTIONS, POST`.
"""

from __future__ import annotations

from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send


def allow_every_method(app: ASGIApp) -> ASGIApp:
    """Middleware: OPTIONS gets 204 with `Allow` naming each method of the matched path."""
    allowed: dict[str, bytes] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        if not allowed:  # the routes are complete once a request arrives
            for route in scope["litestar_app"].routes:
                if isinstance(route, HTTPRoute):
                    allowed[route.path_format] = ", ".join(sorted(route.methods)).encode()
        methods = allowed.get(scope.get("path_template", ""))  # type: ignore[call-overload]
        if methods is None:
            await app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", methods)]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return middleware
