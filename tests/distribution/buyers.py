"""Fake buyers: real HTTP servers on loopback that bid, accept, reject, stall or fail.

Each records every request it received, so tests can assert what was sent. Like a careful
real buyer, one takes a post it accepts as soon as it arrives, and answers a repeat of it
(the same Idempotency-Key) as it answered the first, without taking the lead twice.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Received:
    path: str
    content_type: str
    body: bytes
    idempotency_key: str | None = None

    def fields(self) -> dict[str, Any]:
        if self.content_type.startswith("application/json"):
            return dict(json.loads(self.body))
        if self.content_type.startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(self.body.decode()))
        return {"raw": self.body.decode()}


@dataclass
class FakeBuyer:
    """Answers pings with `bid` (currency units; None = no bid) and posts by `accept`."""

    bid: float | None = 10.0
    accept: bool = True
    ping_delay: float = 0.0
    post_delay: float = 0.0
    # Posts answered 503 before the buyer recovers (a flaky buyer).
    failures_before_success: int = 0
    answer_format: str = "json"
    received: list[Received] = field(default_factory=list)
    # Posts taken, by Idempotency-Key, with the reference each was answered with.
    taken: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def pings(self) -> list[Received]:
        return [r for r in self.received if r.path == "/ping"]

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.received if r.path == "/post"]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("Idempotency-Key")
        self.received.append(Received(request.path, request.headers.get("Content-Type", ""), body, key))
        if request.path == "/ping":
            await asyncio.sleep(self.ping_delay)
            return self._answer(self.bid is not None, price=self.bid)
        if self.failures_before_success > 0:  # down, whatever the request
            await asyncio.sleep(self.post_delay)
            self.failures_before_success -= 1
            return web.Response(status=503, text="busy")
        if key is not None and key in self.taken:
            return self._answer(True, reference=self.taken[key])  # a repeat of a post it took
        reference = f"ref-{len(self.posts)}"
        if self.accept and key is not None:
            self.taken[key] = reference  # taken on arrival, whether or not the answer gets back
        accept = self.accept
        await asyncio.sleep(self.post_delay)
        return self._answer(accept, reference=reference)

    def _answer(self, ok: bool, *, price: float | None = None, reference: str | None = None) -> web.Response:
        if self.answer_format == "xml":
            inner = f"<status>{'ok' if ok else 'no'}</status>"
            if price is not None:
                inner += f"<bid>{price}</bid>"
            if reference:
                inner += f"<id>{reference}</id>"
            return web.Response(text=f"<response>{inner}</response>", content_type="application/xml")
        if self.answer_format == "text":
            text = f"SUCCESS price={price} id={reference}" if ok else "FAILURE reason=not_wanted"
            return web.Response(text=text, content_type="text/plain")
        payload: dict[str, Any] = {"status": "ok" if ok else "rejected"}
        if price is not None:
            payload["bid"] = price
        if reference:
            payload["lead_ref"] = reference
        if not ok:
            payload["message"] = "not wanted"
        return web.json_response(payload)

    def delivery(self, *, bid: bool = True, mapping: dict[str, str] | None = None) -> dict[str, Any]:
        """The campaign `delivery` object that reaches this buyer, with rules for its answer format."""
        rules = {
            "json": {
                "format": "json",
                "accepted": {"path": "status", "equals": "ok"},
                "price": "bid",
                "reference": "lead_ref",
                "reason": "message",
            },
            "xml": {
                "format": "xml",
                "accepted": {"path": "/response/status", "equals": "ok"},
                "price": "/response/bid",
                "reference": "/response/id",
            },
            "text": {
                "format": "text",
                "accepted": {"regex": "^SUCCESS"},
                "price": "(?<=price=)[0-9.]+",
                "reference": "(?<=id=)[\\w-]+",
                "reason": "(?<=reason=)\\w+",
            },
        }[self.answer_format]
        post: dict[str, Any] = {
            "url": f"{self.url}/post",
            "format": "json",
            "response": rules,
            "timeout_ms": 2000,
        }
        if mapping is not None:
            post["mapping"] = mapping
        delivery: dict[str, Any] = {"adapter": "http", "post": post}
        if bid:
            delivery["ping"] = {
                "url": f"{self.url}/ping",
                "format": "json",
                "response": rules,
                "timeout_ms": 2000,
            }
        return delivery


@asynccontextmanager
async def serve(*buyers: FakeBuyer) -> AsyncIterator[list[FakeBuyer]]:
    """Run the fake buyers in a thread of their own, on their own event loop, as real servers.
    (Any object with an aiohttp `handle` and a `url` to set serves so: a webhook receiver.)

    The test client may block the test's loop while the app handles a request, so
    buyers sharing that loop could never answer.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-buyers", daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    async def start(buyer: FakeBuyer) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", buyer.handle)
        # A handler still waiting out a post_delay is not waited for at the end of a test.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        buyer.url = f"http://127.0.0.1:{port}"
        runners.append(runner)

    async def stop() -> None:
        for runner in runners:
            await runner.cleanup()

    try:
        for buyer in buyers:
            asyncio.run_coroutine_threadsafe(start(buyer), loop).result(timeout=10)
        yield list(buyers)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


Factory = Callable[..., FakeBuyer]
