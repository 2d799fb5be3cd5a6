"""One error shape for every failure: {"error": {"code", "message"}} (plus OpenAI's "type" and
"param" under /v1, which the official clients read). No stack trace ever leaves the server."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from harvis.errors import HarvisError
from harvis.store.outage import DATABASE_ERRORS, database_down

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, code: str, message: str, *, openai: bool = False) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if openai:
        error["type"] = _OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        error["param"] = None
    return {"error": error}


def error_response(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    openai = request.url.path.startswith("/v1/")
    hdrs = dict(headers or {})
    if status == 401:
        hdrs.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(error_body(status, code, message, openai=openai), status_code=status, headers=hdrs)


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def retry_after_header(seconds: float | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds else {}


async def _harvis_error(request: Request, exc: Exception) -> JSONResponse:
    """The one translation of Harvis's errors into HTTP."""
    assert isinstance(exc, HarvisError)
    if exc.status >= 500:
        log.warning("%s %s: %s %s", request.method, request.url.path, exc.code, exc.message)
    headers = {**retry_after_header(exc.retry_after), **exc.headers}
    return error_response(request, exc.status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(request, 400, "invalid_json", "the request body is not valid JSON")
    return error_response(request, 422, "validation_error", _describe(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = dict(exc.headers or {})
    if status == 405:  # Starlette names one route's methods; a path may have several routes
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(request, status, _CODES.get(status, "http_error"), message, headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at this request's path."""
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    return sorted(methods)


DB_RETRY_AFTER_S = "5"


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database and driver errors, handled here rather than by the catch-all so that Starlette
    does not re-raise them after answering (which drops the client's connection)."""
    if database_down(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(
            request,
            503,
            "database_unavailable",
            "the database is not reachable right now; try again shortly",
            {"Retry-After": DB_RETRY_AFTER_S},
        )
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", "the server hit an internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HarvisError, _harvis_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, _database_error)
    app.add_exception_handler(Exception, _unexpected)
