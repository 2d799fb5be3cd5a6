"""Keeps credentials out of log lines: browsers can only pass a WebSocket's token in the
URL (?token=…), and uvicorn logs URLs."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote

_SECRET_NAMES = {"token", "access_token", "api_key", "key"}
# Any query parameter; its name is compared once percent-decoded, so ?%74oken= is caught too.
_PARAM = re.compile(r"([?&])([^=&\s\"'?#]{1,100})=([^&\s\"'#]+)")


def _hide(match: re.Match[str]) -> str:
    name = unquote(unquote(match.group(2))).strip().lower()  # twice: %2574oken as well
    if name in _SECRET_NAMES:
        return f"{match.group(1)}{match.group(2)}=[redacted]"
    return match.group(0)


def redact(text: str) -> str:
    return _PARAM.sub(_hide, text)


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging setup, with the redaction on both of its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactFilter}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    return config
