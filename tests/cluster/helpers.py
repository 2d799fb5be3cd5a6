"""Small helpers shared by the cluster tests."""

from __future__ import annotations

import httpx

from tests.support.backend import iter_events


def chat(client: httpx.Client, message: str, session_id: str | None = None) -> tuple[str, dict]:
    body: dict[str, object] = {"message": message, "options": {"num_predict": 24, "temperature": 0}}
    if session_id:
        body["session_id"] = session_id
    text, done = "", {}
    with client.stream("POST", "/api/chat", json=body) as r:
        assert r.status_code == 200, r.read()
        for name, data in iter_events(r):
            if name == "token":
                text += data.get("text", "")
            elif name == "session":
                done["session_id"] = data["session_id"]
            elif name == "done":
                done.update(data)
            elif name == "error":
                raise AssertionError(data)
    return text, done
