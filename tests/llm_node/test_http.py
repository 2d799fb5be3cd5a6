"""Raw HTTP against a real node: NDJSON framing, final fields, options, format, template, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.llm_node import SMALL_MODEL

FINAL_FIELDS = (
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
STORY = "Write a long story about a dragon who learns to cook."


def ndjson(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [line for line in r.iter_lines()]
    assert all(lines), "no blank lines between NDJSON objects"
    return [json.loads(line) for line in lines]


def test_chat_stream_framing_and_final_chunk(http: httpx.Client) -> None:
    chunks = ndjson(
        http,
        "/api/chat",
        {
            "model": SMALL_MODEL,
            "options": {"num_predict": 8},
            "messages": [{"role": "user", "content": "Hello!"}],
        },
    )
    *pieces, final = chunks
    assert pieces, "tokens arrive as separate lines"
    for c in pieces:
        assert c["done"] is False and c["model"] == SMALL_MODEL
        assert c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str)
        assert str(c["created_at"]).endswith("Z")
        assert not set(FINAL_FIELDS) & set(c)
    assert final["done"] is True and final["message"] == {"role": "assistant", "content": ""}
    for field in FINAL_FIELDS:
        assert field in final, field
    for field in FINAL_FIELDS[1:]:
        assert isinstance(final[field], int) and final[field] >= 0, field  # nanoseconds, counts
    assert final["eval_count"] == len(pieces) or final["done_reason"] == "stop"
    assert final["total_duration"] >= final["prompt_eval_duration"] + final["eval_duration"]


def test_generate_not_streamed_is_one_json_object(http: httpx.Client) -> None:
    r = http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": "Hi", "stream": False, "options": {"num_predict": 4}},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["done"] is True and body["response"] and body["eval_count"] <= 4
    assert (
        isinstance(body["context"], list)
        and len(body["context"]) == body["prompt_eval_count"] + body["eval_count"]
    )


def test_num_predict_is_honoured(http: httpx.Client) -> None:
    body = http.post(
        "/api/generate",
        json={
            "model": SMALL_MODEL,
            "prompt": STORY,
            "stream": False,
            "options": {"num_predict": 5, "temperature": 0},
        },
    ).json()
    assert body["eval_count"] == 5 and body["done_reason"] == "length"


def test_stop_sequence_cuts_the_answer(http: httpx.Client) -> None:
    opts = {"num_predict": 40, "temperature": 0}
    full = http.post(
        "/api/generate", json={"model": SMALL_MODEL, "prompt": STORY, "stream": False, "options": opts}
    ).json()["response"]
    words = full.split()
    assert len(words) > 6, full
    stop = words[4]
    cut = ndjson(
        http, "/api/generate", {"model": SMALL_MODEL, "prompt": STORY, "options": {**opts, "stop": [stop]}}
    )
    text = "".join(str(c["response"]) for c in cut)
    assert text == full[: full.index(stop)]
    assert stop not in text and cut[-1]["done_reason"] == "stop"


def test_seed_makes_sampling_repeatable(http: httpx.Client) -> None:
    def sample(seed: int) -> str:
        return str(
            http.post(
                "/api/generate",
                json={
                    "model": SMALL_MODEL,
                    "prompt": STORY,
                    "stream": False,
                    "options": {"seed": seed, "temperature": 1.0, "num_predict": 24},
                },
            ).json()["response"]
        )

    first = sample(42)
    assert sample(42) == first
    assert len({first, sample(1), sample(2), sample(3)}) > 1, "different seeds should not all agree"


def test_format_json_yields_json(http: httpx.Client) -> None:
    body = http.post(
        "/api/chat",
        json={
            "model": SMALL_MODEL,
            "stream": False,
            "format": "json",
            "options": {"temperature": 0, "num_predict": 120},
            "messages": [{"role": "user", "content": "Give a JSON object with a person's name and age."}],
        },
    ).json()
    parsed = json.loads(body["message"]["content"])
    assert isinstance(parsed, dict | list)


def test_format_schema_is_followed(http: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    body = http.post(
        "/api/chat",
        json={
            "model": SMALL_MODEL,
            "stream": False,
            "format": schema,
            "options": {"temperature": 0, "num_predict": 60},
            "messages": [{"role": "user", "content": "How old is Bob? He is 30."}],
        },
    ).json()
    assert isinstance(json.loads(body["message"]["content"])["age"], int)


def test_chat_uses_the_gguf_template(http: httpx.Client) -> None:
    """A chat is the raw prompt rendered with the GGUF's ChatML template (and its default system line)."""
    rendered = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    opts = {"num_predict": 1, "temperature": 0}
    templated = http.post(
        "/api/generate", json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": opts}
    ).json()
    raw = http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": rendered, "raw": True, "stream": False, "options": opts},
    ).json()
    n = templated["prompt_eval_count"]
    assert n == raw["prompt_eval_count"] > 20
    assert templated["context"][:n] == raw["context"][:n]


@pytest.mark.parametrize(
    ("path", "content", "message"),
    [
        ("/api/chat", b"{not json", "invalid JSON"),
        ("/api/chat", b"", "missing request body"),
        ("/api/generate", b'{"prompt": "x"}', "model is required"),
        ("/api/chat", b'{"model": "smollm2:135m", "messages": "hi"}', "messages"),
        (
            "/api/chat",
            b'{"model": "smollm2:135m", "messages": [], "options": {"num_predict": "many"}}',
            "num_predict",
        ),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "keep_alive": "5 parsecs"}',
            "invalid duration",
        ),
        ("/api/generate", b'{"model": "smollm2:135m", "prompt": "x", "format": "xml"}', "invalid format"),
        (
            "/api/generate",
            b'{"model": "smollm2:135m", "prompt": "x", "format": {"type": "nonsense"}}',
            "format",
        ),
        ("/api/show", b"{}", "model is required"),
    ],
)
def test_bad_requests_get_400_with_error(http: httpx.Client, path: str, content: bytes, message: str) -> None:
    r = http.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    assert http.get("/").text == "Ollama is running"  # still serving


def test_unknown_model_and_path_get_404(http: httpx.Client) -> None:
    for path, body in (
        ("/api/chat", {"model": "ghost:1b", "messages": [{"role": "user", "content": "x"}]}),
        ("/api/generate", {"model": "ghost:1b", "prompt": "x"}),
        ("/api/show", {"model": "ghost:1b"}),
    ):
        r = http.post(path, json=body)
        assert r.status_code == 404
        assert r.json() == {"error": 'model "ghost:1b" not found, try pulling it first'}
    missing = http.get("/api/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()


def test_root_version_head_and_health(http: httpx.Client) -> None:
    assert http.head("/").status_code == 200
    assert http.get("/api/version").json()["version"].count(".") == 2
    assert http.get("/health/live").json() == {"status": "ok"}
    ready = http.get("/health/ready")
    assert ready.status_code == 200 and SMALL_MODEL in ready.json()["models"]
    assert "harvis_llm_node_requests_total" in http.get("/metrics").text
