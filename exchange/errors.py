"""Domain errors: each carries an HTTP status, a machine code, a message and field problems.

The API layer maps them, once, to the contract's error body
`{"code", "message", "errors": [{"field", "code", "message"}]}`.
"""

from __future__ import annotations

from exchange.types import FieldError


class ExchangeError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.errors = errors or []
        if status_code is not None:
            self.status_code = status_code


class BadRequest(ExchangeError):
    """The request cannot be read (malformed JSON or XML, bad encoding, bad query)."""

    status_code = 400
    code = "bad_request"


class Unauthorized(ExchangeError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ExchangeError):
    status_code = 403
    code = "forbidden"


class NotFound(ExchangeError):
    status_code = 404
    code = "not_found"


class Conflict(ExchangeError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ExchangeError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ExchangeError):
    status_code = 415
    code = "unsupported_media_type"


class Invalid(ExchangeError):
    """Readable but wrong: a field's value breaks a rule."""

    status_code = 422
    code = "invalid"


def field_invalid(field: str, code: str, message: str) -> Invalid:
    """A 422 about one field, the message naming field and reason."""
    return Invalid(f"{field}: {message}", errors=[FieldError(field=field, code=code, message=message)])
