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
