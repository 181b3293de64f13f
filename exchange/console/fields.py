"""A console form's fields read as the API's values, and the API's errors placed beside them.

Forms name their fields after the API's (`payout.percent`, `caps[0].max_leads`), so an error
the API's own checks raise names the field it belongs beside.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Request

from exchange.errors import ExchangeError, field_invalid

_SECTION = re.compile(r"^[a-z_]+")
T = TypeVar("T")


def text(form: Mapping[str, Any], name: str) -> str:
    """A field's text, trimmed; empty when absent."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def whole(form: Mapping[str, Any], name: str) -> int | None:
    """A field's whole number, None when empty; anything else is a 422 naming the field."""
    value = text(form, name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise field_invalid(name, "not_an_integer", f"{name} must be a whole number") from None


def converted(body: dict[str, Any], kind: type[T]) -> T:
    """The form's values as the API's type; a type error names its field as the API does."""
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        where = message.split("at `$.", 1)[1].rstrip("`") if "at `$." in message else "form"
        raise field_invalid(where, "invalid", message) from None


def placed_errors(
    exc: ExchangeError, known: set[str], aliases: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """The API's errors by the field they name when the form shows it (or the form field an
    alias maps the API's name to), else by their section (`caps`, `pricing`, `payout`…), else
    under `form`."""
    aliases = aliases or {}
    placed: dict[str, list[str]] = defaultdict(list)
    for error in exc.errors or []:
        named = aliases.get(error.field or "", error.field)
        name = named if named in known else None
        if name is None:
            section = _SECTION.match(error.field or "")
            name = section.group(0) if section else "form"
        placed[name].append(error.message)
    if not exc.errors:
        placed["form"].append(exc.message)
    return dict(placed)


def shown_values(form: Mapping[str, Any] | None) -> dict[str, str]:
    """A form's text fields as sent, to show again beside its errors."""
    return {key: value for key, value in (form or {}).items() if isinstance(value, str)}


async def form_of(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A POSTed form's fields, without its CSRF token."""
    return {key: value for key, value in (await request.form()).items() if key != "csrf_token"}
