"""Request bodies, guarded before a handler reads them (pure ASGI middleware).

An upload (a multipart body) is only read from a signed-in client: the credential is checked on
the headers alone, so an anonymous 25 MB body costs nothing. Every body is counted while it
streams to the handler (chunked or with a Content-Length) and stopped at its limit with a 413;
nothing here holds a body: the form parser spools file parts to disk as they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harvis.api.deps import credential_from, services, user_for_credential
from harvis.api.errors import error_body
from harvis.store.outage import DATABASE_ERRORS

JSON_LIMIT_BYTES = 1024 * 1024  # chat messages and settings; uploads get the speech limit
FRAMING_BYTES = 64 * 1024  # multipart boundaries and the small form fields beside the file
_NO_BODY = ("GET", "HEAD", "DELETE", "OPTIONS")


async def _answer(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """Answer now and close the connection, so the rest of the body is never read."""
    openai = str(scope.get("path", "")).startswith("/v1/")
    body = json.dumps(error_body(status, code, message, openai=openai)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, upload_limit_for: Callable[[str], int]) -> None:
        """`upload_limit_for(path)`: the largest multipart body, in bytes, that path accepts."""
        self.app = app
        self.upload_limit_for = upload_limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_limit_for(scope["path"]) if upload else JSON_LIMIT_BYTES
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(scope, send, 413, "too_large", _too_large(limit))
            return
        if upload:
            try:
                signed_in = await _signed_in(scope)
            except DATABASE_ERRORS:
                message = "the database is not reachable right now; try again shortly"
                await _answer(scope, send, 503, "database_unavailable", message)
                return
            if not signed_in:
                message = "sign in first: uploads need a valid credential"
                await _answer(scope, send, 401, "unauthorized", message)
                return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass the body through, counting; past the limit answer 413 ourselves and tell the
        handler the client left (whatever it answers then is dropped)."""
        size = 0
        started = rejected = False

        async def counting_receive() -> Message:
            nonlocal size, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    rejected = True
                    if not started:
                        await _answer(scope, send, 413, "too_large", _too_large(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise  # a body cut at its limit may make a handler fail; the client has its 413


async def _signed_in(scope: Scope) -> bool:
    conn = HTTPConnection(scope)
    credential = credential_from(conn)
    if credential is None:
        return False
    svc = services(conn)
    async with svc.db.session() as db:
        return await user_for_credential(db, credential, svc.secret) is not None
