"""One error shape for every failure: `{"code", "message", "errors": [{"field", "code", "message"}]}`."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import msgspec
import msgspec.inspect
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from exchange.errors import ExchangeError
from exchange.types import ErrorBody, FieldError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}
_AT = re.compile(r" - at `\$\.?([^`]*)`")
_NAMED = re.compile(r"(?:missing required|contains unknown) field `([^`]*)`")


def _response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def error_body(exc: ExchangeError) -> ErrorBody:
    return ErrorBody(code=exc.code, message=exc.message, errors=exc.errors)


INTERNAL_ERROR = ErrorBody(code="internal_error", message="internal error; it has been logged")


def exchange_error(_: Request, exc: ExchangeError) -> Response[ErrorBody]:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return _response(exc.status_code, error_body(exc), headers)


def validation_error(request: Request, exc: ValidationException) -> Response[ErrorBody]:
    """A typed body or query that did not decode: 422 naming each field (and, for a value
    outside a fixed set, the values allowed), 400 if unreadable."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        message = str(problem.get("message", "invalid"))
        key = problem.get("key")
        match = _AT.search(message)
        field = match.group(1) if match else (str(key) if key else "body")
        named = _NAMED.search(message)
        if named:  # a field missing or unknown: named itself, not the object around it
            field = f"{match.group(1)}.{named.group(1)}" if match and match.group(1) else named.group(1)
        message = _AT.sub("", message)
        if message.startswith(("Invalid enum value", "Invalid value")):
            allowed = allowed_values(_body_type(request), field) or allowed_values(
                _query_type(request, key), ""
            )
            if allowed:
                message += f"; one of: {', '.join(allowed)}"
        errors.append(FieldError(field=field or "body", code="invalid", message=message))
    if not errors:
        return _response(400, ErrorBody(code="bad_request", message=str(exc.detail)))
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return _response(422, ErrorBody(code="invalid", message=summary, errors=errors))


def http_error(_: Request, exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else None
    return _response(status, ErrorBody(code=_CODES.get(status, "error"), message=str(exc.detail)), headers)


def too_deep(_: Request, exc: RecursionError) -> Response[ErrorBody]:
    """A JSON body nested past what the decoder follows (hundreds of levels): no lead or
    setting is, so it is refused as unreadable rather than failing as ours."""
    message = "the body nests too deeply to read"
    return _response(
        400,
        ErrorBody(
            code="too_deep",
            message=message,
            errors=[FieldError(field="body", code="too_deep", message=message)],
        ),
    )


# A failure of ours is logged with its traceback once a minute per kind and place, so a
# client repeating a request that trips it cannot fill the log.
LOG_EVERY_SECONDS = 60.0
_last_logged: dict[tuple[str, str, str], float] = {}


def internal_error(request: Request, exc: Exception) -> Response[ErrorBody]:
    # The route's template, not the URL: no ids, no personal data from paths or queries.
    route = str(request.scope.get("path_template", "?"))
    key = (type(exc).__name__, request.method, route)
    now = time.monotonic()
    if now - _last_logged.get(key, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
        if len(_last_logged) > 1000:
            _last_logged.clear()
        _last_logged[key] = now
        log.error("unhandled error on %s %s", request.method, route, exc_info=exc)
    else:
        log.warning("unhandled %s on %s %s again (traceback logged lately)", key[0], request.method, route)
    return _response(500, INTERNAL_ERROR)


EXCEPTION_HANDLERS = {
    ExchangeError: exchange_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    RecursionError: too_deep,
    Exception: internal_error,
}


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _body_type(request: Request) -> Any:
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    except Exception:  # not a route's request (a test's, a hook's): nothing to look up
        return None
    return None if parameter is None else parameter.annotation


def _query_type(request: Request, name: Any) -> Any:
    """A query parameter's type, found by its name in the query string."""
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except Exception:
        return None
    for argument, parameter in parameters.items():
        if getattr(parameter.kwarg_definition, "name", None) == name or argument == name:
            return parameter.annotation
    return None


def allowed_values(body_type: Any, field: str) -> list[str]:
    """The values the field at `field` (`filters[0].op`) may take, when they are a fixed set."""
    if body_type is None:
        return []
    try:
        info = msgspec.inspect.type_info(body_type)
    except (TypeError, ValueError):
        return []
    segments = [name or int(index) for name, index in _SEGMENT.findall(field)]
    return sorted({str(v) for v in _walk(info, segments)})


def _walk(info: Any, segments: list[Any]) -> list[Any]:
    mi = msgspec.inspect
    if isinstance(info, mi.Metadata):
        return _walk(info.type, segments)
    if isinstance(info, mi.UnionType):
        if len(segments) == 1:  # a tagged union's tag: every member's
            tags = [t.tag for t in info.types if isinstance(t, mi.StructType) and t.tag_field == segments[0]]
            if tags:
                return tags
        return [value for member in info.types for value in _walk(member, segments)]
    if not segments:
        if isinstance(info, mi.LiteralType):
            return list(info.values)
        if isinstance(info, mi.EnumType):
            return [member.value for member in info.cls]
        return []
    head, rest = segments[0], segments[1:]
    if isinstance(info, mi.StructType) and isinstance(head, str):
        for field in info.fields:
            if field.encode_name == head:
                return _walk(field.type, rest)
    if isinstance(info, mi.DictType) and isinstance(head, str):
        return _walk(info.value_type, rest)
    if isinstance(head, int) and hasattr(info, "item_type"):
        return _walk(info.item_type, rest)
    return []
