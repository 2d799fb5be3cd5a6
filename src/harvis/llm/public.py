"""Errors as clients see them: without the addresses of the nodes behind the router.

Clients' error messages never show an internal URL (the embedded node's port, a cluster
address, a cloud api_base); the router's own logs, written before this, keep them."""

from __future__ import annotations

import re

from harvis.llm.types import LLMError

_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>]*[^\s'\"<>:,.;)]")


def public(exc: LLMError) -> LLMError:
    """`exc` itself (same class, status and retry hint), its message without URLs."""
    text = _URL.sub("the LLM node", exc.message)
    exc.message = text
    exc.args = (text,)
    return exc
