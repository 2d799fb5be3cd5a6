"""The one error type. Every failure Harvis reports to a client is a HarvisError.

Each subclass names one condition: its HTTP `status`, a stable `code`, and a plain `message`
for people; `retry_after` (seconds) when trying again later can help. The API turns any of
them into `{"error": {"code", "message"}}` in one handler; the voice pipeline into an `error`
event; the LLM node into Ollama's shape. This module imports nothing of Harvis's.
"""

from __future__ import annotations

from collections.abc import Mapping


class HarvisError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.headers = dict(headers or {})


class BadInput(HarvisError):
    """The request itself is wrong (a 400 unless a subclass says otherwise)."""

    status = 400
    code = "bad_request"


class Invalid(BadInput):
    """Well-formed, but a value is not acceptable."""

    status = 422
    code = "validation_error"


class Unauthorized(HarvisError):
    status = 401
    code = "unauthorized"


class Forbidden(HarvisError):
    status = 403
    code = "forbidden"


class NotFound(HarvisError):
    status = 404
    code = "not_found"


class Conflict(HarvisError):
    status = 409
    code = "conflict"


class TooLarge(HarvisError):
    """A body, upload or payload over its limit; one code for every such limit."""

    status = 413
    code = "too_large"


class RateLimited(HarvisError):
    status = 429
    code = "rate_limited"


class ServiceUnavailable(HarvisError):
    """Something needed is not running or cannot load right now."""

    status = 503
    code = "unavailable"


class InternalError(HarvisError):
    """A bug: the message says so without details (they go to the log)."""

    def __init__(self, message: str = "the server hit an internal error") -> None:
        super().__init__(message)
