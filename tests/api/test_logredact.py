"""Credentials in URLs never reach a log line."""

from __future__ import annotations

import logging

from harvis.api.logredact import RedactFilter, redact


def test_tokens_in_query_strings_are_redacted() -> None:
    line = '127.0.0.1:5 - "WebSocket /api/voice/ws?token=eyJ.abc.def&x=1" [accepted]'
    assert redact(line) == '127.0.0.1:5 - "WebSocket /api/voice/ws?token=[redacted]&x=1" [accepted]'
    assert redact("/v1/x?a=1&api_key=hv-secret") == "/v1/x?a=1&api_key=[redacted]"
    assert redact("/api/sessions?tokens=3") == "/api/sessions?tokens=3"


def test_filter_rewrites_uvicorn_style_args() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/api/voice/ws?token=sekrit", "1.1", 101),
        None,
    )
    assert RedactFilter().filter(record)
    assert "sekrit" not in record.getMessage() and "token=[redacted]" in record.getMessage()


def test_percent_encoded_parameter_names_are_redacted() -> None:
    """Starlette decodes `%74oken` to `token`, so the app accepts it: the log must hide it too."""
    assert redact("/api/voice/ws?%74oken=eyJ.abc") == "/api/voice/ws?%74oken=[redacted]"
    assert (
        redact("/api/voice/ws?x=1&%54%4F%4B%45%4E=eyJ.abc&y=2")
        == "/api/voice/ws?x=1&%54%4F%4B%45%4E=[redacted]&y=2"
    )
    assert redact("/x?api%5Fkey=hv-secret") == "/x?api%5Fkey=[redacted]"
    assert redact("/x?%74okens=3&q=%74oken") == "/x?%74okens=3&q=%74oken"
