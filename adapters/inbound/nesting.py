"""Dotted field names become nested groups: `consent.text` → `{"consent": {"text": …}}`.

Shared by every format, so JSON keys, form names and XML element names nest alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.errors import BadRequest
from exchange.types import FieldError

# `consent.text` is two levels; no field of a lead is near this deep.
MAX_DEPTH = 16


def nest_dotted(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted names (and the keys of nested mappings); a later scalar replaces an earlier."""
    if _without_dots(flat):
        return dict(flat)  # the usual body: nothing to nest
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        if isinstance(value, Mapping):
            value = nest_dotted(value)
        parts = name.split(".", MAX_DEPTH)
        # "a..b", ".a" or "a." are not paths: keep such a name as it is.
        if not all(parts):
            parts = [name]
        if len(parts) > MAX_DEPTH:
            shown = name[:60] + ("…" if len(name) > 60 else "")
            message = f"a field name nests at most {MAX_DEPTH} levels deep"
            raise BadRequest(
                f"{shown!r}: {message}",
                code="too_deep",
                errors=[FieldError(field=shown, code="too_deep", message=message)],
            )
        _put(nested, parts, value, name)
    return nested


def _without_dots(mapping: Mapping[str, Any]) -> bool:
    for name, value in mapping.items():
        if "." in name:
            return False
        if isinstance(value, Mapping) and not _without_dots(value):
            return False
    return True


def _put(target: dict[str, Any], parts: list[str], value: Any, name: str) -> None:
    for depth, part in enumerate(parts[:-1]):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise _conflict(".".join(parts[: depth + 1]))
        target = child
    leaf = parts[-1]
    existing = target.get(leaf)
    if isinstance(existing, dict) and isinstance(value, dict):
        for key, item in value.items():
            _put(existing, [key], item, f"{name}.{key}")
    elif isinstance(existing, dict) or (leaf in target and isinstance(value, dict)):
        raise _conflict(name)
    else:
        target[leaf] = value


def _conflict(name: str) -> BadRequest:
    message = f"{name!r} is given both as a single value and as a group of fields"
    return BadRequest(
        message,
        code="conflicting_fields",
        errors=[FieldError(field=name, code="conflicting_fields", message=message)],
    )
