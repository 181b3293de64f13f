"""A delivery adapter as a third party would ship it: its own package, found by entry point.

`"delivery": {"adapter": "jsonl", "path": "/var/leads/buyer.jsonl"}` appends each lead bought
as one line of JSON to the file. It imports nothing from the exchange: an adapter is any object
with the shape of `adapters.outbound.DeliveryAdapter`, and its requests and answers are the
exchange's own `Request` and `Delivery`, found at run time.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any


def _types() -> tuple[Any, Any]:
    from adapters.outbound import Delivery, Request

    return Request, Delivery


class JsonlAdapter:
    name = "jsonl"
    can_ping = False
    answers = False  # a line written is a lead delivered

    def configure(self, delivery: Any, *, allow_private: bool, field: str) -> str:
        path = delivery.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            from exchange.errors import field_invalid

            raise field_invalid(f"{field}.path", "invalid", "an absolute file path to append leads to")
        return path

    def request(self, config: str, stage: str, fields: Any, *, shared: Any = None) -> Any:
        request_type, _ = _types()
        return request_type(
            adapter=self.name,
            target=config,
            body=json.dumps(dict(fields), sort_keys=True, default=str),
            content_type="application/x-ndjson",
        )

    async def send(self, request: Any, *, key: str | None) -> Any:
        _, delivery_type = _types()
        started = time.perf_counter()
        line = json.dumps({"key": key, "lead": json.loads(request.body)}) + "\n"
        try:
            await asyncio.to_thread(_append, request.target, line)
        except OSError as exc:
            return delivery_type(status=None, error=f"cannot write {request.target}: {exc.strerror}")
        return delivery_type(status=0, latency_ms=(time.perf_counter() - started) * 1000)

    async def close(self) -> None:
        pass


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)


ADAPTER = JsonlAdapter()
