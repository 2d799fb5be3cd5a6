"""Property-based fuzzing of the whole OpenAPI schema against a real backend process (on a
real PostgreSQL database, with a real LLM node): no input may produce a 5xx.

Bounded: HARVIS_FUZZ_EXAMPLES examples per operation (default 15). Requests that would make
the model generate get a small token cap, and speech input is cut short, so one example
cannot run for minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc
from tests.support.store import fresh_postgres_database

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("HARVIS_FUZZ_EXAMPLES", "15"))
GENERATION_CAP = 4
SPEECH_INPUT_CAP = 80


@pytest.fixture(scope="module")
def fuzz_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    node = start_llm_node(threads=1)
    try:
        with fresh_postgres_database() as database_url:
            data_dir: Path = tmp_path_factory.mktemp("fuzz")
            backend = start_backend(data_dir, env={"OLLAMA_URL": node.url, "DATABASE_URL": database_url})
            try:
                signup(backend.url, "fuzzer")
                with closing(login(backend.url, "fuzzer")) as client:
                    token = token_of(client)
                yield backend, token
            finally:
                backend.stop()
    finally:
        node.stop()


def _openapi() -> dict[str, Any]:
    """The schema the served app publishes: the same code builds it here, without a server,
    so the operations are known when pytest collects."""
    import tempfile

    from harvis.api.app import create_app
    from harvis.config import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="harvis-fuzz-schema-"))
    return create_app(Settings(data_dir=data_dir, secret_key="schema-only")).openapi()


# Logging out would revoke the token every later example uses; the timers' event stream stays
# open by design (it has no input to fuzz but the credential).
schema = (
    schemathesis.openapi.from_dict(_openapi())
    .exclude(path="/api/auth/logout")
    .exclude(path="/api/timers/events")
)


def cap_generation(path: str, body: Any) -> None:
    if not isinstance(body, dict):
        return
    if path == "/api/chat":
        options = body.get("options")
        if isinstance(options, dict) or options is None:
            body["options"] = {**(options or {}), "num_predict": GENERATION_CAP}
    elif path == "/v1/chat/completions":
        body.pop("max_completion_tokens", None)
        body["max_tokens"] = GENERATION_CAP
    elif path == "/v1/audio/speech" and isinstance(body.get("input"), str):
        body["input"] = body["input"][:SPEECH_INPUT_CAP]  # 4,096 characters take a minute to speak here


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_a_server_error(case: Any, fuzz_backend: tuple[Proc, str]) -> None:
    backend, token = fuzz_backend
    cap_generation(case.path, case.body)
    response = case.call(base_url=backend.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{backend.log()[-3000:]}"
    )
    # What the answer says must match the schema: status, content type, headers, body, Allow.
    # Not judged here: whether the server is exactly as strict as the schema about the request
    # (positive/negative data checks), which the routes' own tests cover.
    case.validate_response(response, excluded_checks=[positive_data_acceptance, negative_data_rejection])


def test_the_backend_survived_the_fuzzing(fuzz_backend: tuple[Proc, str]) -> None:
    backend, token = fuzz_backend
    assert backend.popen.poll() is None
    r = httpx.get(f"{backend.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200 and r.json()["username"] == "fuzzer"
