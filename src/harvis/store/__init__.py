"""The store: table models, the Database, and query functions (keyword-only, session first).

Names are re-exported lazily so that `harvis --help` does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Database": "db",
    "normalise_url": "db",
    "User": "models",
    "ChatSession": "models",
    "Message": "models",
    "Voice": "models",
    "ApiKey": "models",
    "create_voice": "voices",
    "list_voices": "voices",
    "get_voice": "voices",
    "delete_voice": "voices",
    "set_speaker_data": "voices",
    "create_session": "chats",
    "get_session": "chats",
    "list_sessions": "chats",
    "list_messages": "chats",
    "add_message": "chats",
    "finish_message": "chats",
    "history": "chats",
    "update_session": "chats",
    "get_user": "users",
    "get_user_by_name": "users",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harvis.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harvis.store.{module}"), name)
