"""Startup probe for the backend container: exit 0 once every speech model is warm.

Used as `python -m harvis.doctor.probe speech` in the Kubernetes manifests. It reads the
backend's own /health/ready (whatever its status code: an Ollama outage makes that 503 but
must not stop the backend from starting) and looks only at the speech models.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

from harvis.config import Settings


def speech_warm(body: dict[str, Any], preload: bool) -> tuple[bool, str]:
    speech = (body.get("checks") or {}).get("speech")
    if speech is None:
        return False, "no speech section in /health/ready"
    models = speech.get("models") or []
    states = {str(m.get("name")): str(m.get("state")) for m in models}
    waiting = {n: s for n, s in states.items() if s != "ready" and not (s == "unloaded" and not preload)}
    if waiting:
        return False, "not warm: " + ", ".join(f"{n}={s}" for n, s in waiting.items())
    return True, "warm: " + (", ".join(states) or "no speech models")


def fetch(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:  # 503 still carries the JSON report
        return dict(json.load(exc))


def main(argv: list[str]) -> int:
    if argv[:1] != ["speech"]:
        print("usage: python -m harvis.doctor.probe speech [URL]", file=sys.stderr)
        return 2

    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000/health/ready"
    try:
        body = fetch(url, timeout=5.0)
    except (OSError, ValueError) as exc:
        print(f"backend not answering: {exc}")
        return 1
    ok, text = speech_warm(body, Settings().speech.preload)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
