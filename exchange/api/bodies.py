"""A JSON body is read as the spec says it is: strictly.

The framework converts a body into the handler's type leniently (`"5"` for an integer, `0` for
`false`, `"null"` for null), which the spec does not allow and no client should lean on; so
the body is first converted strictly into the same type, and a body that does not fit it is
refused as the framework refuses one (422 naming each field: api/errors.py). A number with no
fraction (`5.0`) is an integer, as JSON Schema counts them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


async def decode_strictly(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON body that is not, as sent, the handler's `data` type."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return  # not JSON at all: the framework answers that itself (400)
    try:
        msgspec.convert(_whole_numbers(body), parameter.annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}", extra=[{"message": str(exc)}]
        ) from None


def _whole_numbers(value: Any) -> Any:
    """`value` with each float that has no fraction as an int."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value
