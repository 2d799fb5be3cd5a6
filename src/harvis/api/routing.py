"""The route class of every API router: text in a JSON body is checked once, here.

JSON may carry a lone UTF-16 surrogate ("\\ud800") that Python decodes into a str no UTF-8
encoder, database or response can hold; refusing it at the edge (422) covers every string
field, those a model declares and those it merely allows, so no handler ever sees one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from harvis.api.schema_docs import ERROR_RESPONSES

SURROGATE_STATUS = 422


def lone_surrogate_at(value: Any) -> str | None:
    """The JSON path of the first string (or key) with a lone surrogate, else None."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and not _encodable(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not key.isascii() and not _encodable(key):
                    return where
                stack.append((f"{where}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}", child) for i, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class TextCheckedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            value = json.loads(await self.body())
            if (where := lone_surrogate_at(value)) is not None:
                # An HTTPException passes through FastAPI's body parsing unchanged.
                raise HTTPException(
                    SURROGATE_STATUS, f"{where}: text must not contain lone UTF-16 surrogates"
                )
            self._json = value
        return self._json


class TextCheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(TextCheckedRequest(request.scope, request.receive))

        return checked


def api_router(*, tags: list[str]) -> APIRouter:
    """Every API router: the text check, and the error answers declared in the schema."""
    return APIRouter(tags=list(tags), route_class=TextCheckedRoute, responses=ERROR_RESPONSES)
