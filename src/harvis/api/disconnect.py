"""Non-streamed answers end when their client leaves.

A server does not cancel a handler whose client has gone: a non-streamed completion would run
to its last token (holding the LLM for everyone) for nobody. Streams need none of this: their
next write fails and closes the generator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from harvis.errors import HarvisError

T = TypeVar("T")


class ClientGone(HarvisError):
    """Nobody reads this answer; the status only shows in the access log (nginx's 499)."""

    status = 499
    code = "client_closed_request"


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work` (the body already read); cancel it when the client disconnects."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            raise ClientGone("the client closed the connection before the answer") from None
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if not task.done():
            task.cancel()
