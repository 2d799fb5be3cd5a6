"""The OpenAPI schema says what the routes answer: the error shape (400, 404, 409, 413 …) on
every API operation, audio for /v1/audio/speech, and event streams whose documented events are
made by the serializer the routes use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harvis.api.schema_docs import example_events
from harvis.pipeline import events as ev
from tests.security.inprocess import app_client

DECLARED = ("400", "401", "404", "409", "413", "422")


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with app_client(tmp_path_factory.mktemp("schema")) as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200
        return dict(r.json())


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]


def test_every_api_operation_declares_the_error_answers(schema: dict[str, Any]) -> None:
    api = [(m, p, op) for m, p, op in operations(schema) if p.startswith(("/api/", "/v1/"))]
    assert len(api) > 20
    for method, path, op in api:
        for status in DECLARED:
            answer = op["responses"].get(status)
            assert answer, f"{method.upper()} {path} does not declare {status}"
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorOut"), (method, path, status, ref)
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(error["required"])
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_speech_is_documented_as_audio(schema: dict[str, Any]) -> None:
    content = schema["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert "application/json" not in content
    assert {"audio/mpeg", "audio/wav", "audio/ogg"} <= set(content)


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/api/chat", {"session", "reasoning", "token", "fallback", "done", "error"}),
        ("/api/voice/turn", {"session", "transcript", "filler", "audio", "token", "done", "error"}),
    ],
)
def test_event_streams_document_the_events_sent(schema: dict[str, Any], path: str, names: set[str]) -> None:
    answer = schema["paths"][path]["post"]["responses"]["200"]
    assert set(answer["content"]) == {"text/event-stream"}
    parsed = example_events(answer["content"]["text/event-stream"]["example"])
    assert names <= {name for name, _ in parsed}
    # Each documented event carries exactly the fields the real event sends.
    real = {
        "session": ev.SessionStarted("a", "b", "c"),
        "token": ev.Token("x"),
        "done": ev.Done("m", "complete", None, "x", False, {}, {}),
        "transcript": ev.Transcript("t", None),
        "audio": ev.AudioOut(0, 16_000, b"x"),
    }
    for name, data in parsed:
        if name in real:
            assert set(data) == set(real[name].payload()), name
    assert parsed[-2][0] == "done" and parsed[-1][0] == "error"


def test_chat_completions_document_both_answers(schema: dict[str, Any]) -> None:
    content = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= set(content)
    example = content["text/event-stream"]["example"]
    assert example.startswith("data: {") and example.endswith("data: [DONE]\n\n")


def test_the_schema_has_no_stale_paths(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        assert client.get("/redoc").status_code == 404 or "redoc" not in client.get("/redoc").text.lower()
