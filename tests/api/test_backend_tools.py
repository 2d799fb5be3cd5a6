"""The backend's /v1 with the official `openai` client, over a real node: tool calls go to
the model and back (streaming and not), json_schema reaches Ollama's `format` as the schema,
and an image gets a 400 instead of being dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import openai
import pytest

from tests.support.backend import login, signup, start_backend
from tests.support.llm_node import SMALL_MODEL, TOOL_MODEL, start_llm_node, tool_models_dir
from tests.support.processes import Proc

pytestmark = pytest.mark.slow
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SYSTEM = (  # without the last clause the 1.5B model tends to repeat its call instead of answering
    "You are a weather assistant. Use get_weather to look up weather. After you receive the tool's "
    "response, never call a tool again; tell the user the result in plain English."
)
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    node = start_llm_node(extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())})
    backend: Proc | None = None
    try:
        backend = start_backend(tmp_path_factory.mktemp("backend"), env={"OLLAMA_URL": node.url})
        signup(backend.url, "alice")
        with closing(login(backend.url, "alice")) as alice:
            key = alice.post("/api/keys", json={"name": "sdk"}).json()["key"]
        yield openai.OpenAI(base_url=f"{backend.url}/v1", api_key=key, max_retries=0, timeout=300)
    finally:
        if backend is not None:
            backend.stop()
        node.stop()


def _call(client: openai.OpenAI, stream: bool) -> Any:
    kw: dict[str, Any] = {"model": TOOL_MODEL, "tools": [WEATHER], "max_tokens": 64, "temperature": 0}
    if not stream:
        reply = client.chat.completions.create(messages=ASK, **kw)
        assert reply.choices[0].finish_reason == "tool_calls", reply
        (call,) = reply.choices[0].message.tool_calls or []
        return call
    chunks = list(client.chat.completions.create(messages=ASK, stream=True, **kw))
    calls = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    return calls[0]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, stream: bool) -> None:
    call = _call(client, stream)
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    history: list[Any] = [
        {"role": "system", "content": SYSTEM},
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call.id, "type": "function", "function": call.function.model_dump()}],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 23 degrees Celsius"},
    ]
    kw: dict[str, Any] = {"model": TOOL_MODEL, "tools": [WEATHER], "max_tokens": 48, "temperature": 0}
    if stream:
        chunks = list(client.chat.completions.create(messages=history, stream=True, **kw))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(messages=history, **kw).choices[0].message.content or ""
    assert "23" in text, text


def test_json_schema_reaches_the_model_as_a_schema(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    reply = client.chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "How old is the oldest tree?"}],
        max_tokens=30,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    answer = json.loads(reply.choices[0].message.content or "")
    assert set(answer) == {"age"} and isinstance(answer["age"], int)  # the schema, not plain JSON mode


def test_bad_input_is_a_400(client: openai.OpenAI) -> None:
    image = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
    ]
    with pytest.raises(openai.BadRequestError, match="image"):
        client.chat.completions.create(model=SMALL_MODEL, messages=[{"role": "user", "content": image}])  # type: ignore[list-item,misc]
    with pytest.raises(openai.BadRequestError, match="does not support tools"):
        client.chat.completions.create(model=SMALL_MODEL, messages=ASK, tools=[WEATHER])  # type: ignore[arg-type,list-item]
    bad_args = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{oops"}}
    with pytest.raises(openai.BadRequestError, match="JSON object arguments"):
        client.chat.completions.create(
            model=TOOL_MODEL,
            messages=[*ASK, {"role": "assistant", "tool_calls": [bad_args]}],  # type: ignore[list-item]
        )


def test_embeddings_are_routed_to_the_node(client: openai.OpenAI) -> None:
    got = client.embeddings.create(model=SMALL_MODEL, input=["hello world", "the cat"])  # base64 on the wire
    assert [d.index for d in got.data] == [0, 1] and len(got.data[0].embedding) == 576
    assert got.usage.prompt_tokens > 0
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="x")
