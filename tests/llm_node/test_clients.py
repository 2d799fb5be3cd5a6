"""The official `ollama` and `openai` clients against a real `harvis llm-node`: tools (with
Qwen2.5-Coder-1.5B, whose template renders them), embeddings, JSON schema, capabilities, and
the clear 400s for what a model cannot do."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest

from tests.support.llm_node import SMALL_MODEL, TOOL_MODEL, llm_node, tool_models_dir
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
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
SYSTEM = (  # without the last clause the 1.5B model tends to repeat its call instead of answering
    "You are a weather assistant. Use get_weather to look up weather. After you receive the tool's "
    "response, never call a tool again; tell the user the result in plain English."
)
GREEDY: dict[str, Any] = {"temperature": 0, "num_predict": 64, "seed": 1}


@pytest.fixture(scope="module")
def node() -> Iterator[Proc]:
    with llm_node(extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())}) as proc:
        yield proc


@pytest.fixture
def olla(node: Proc) -> ollama.Client:
    return ollama.Client(host=node.url, timeout=300)


@pytest.fixture
def oai(node: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{node.url}/v1", api_key="unused", timeout=300, max_retries=0)


def _paris(call: Any) -> None:
    assert call.function.name == "get_weather"
    args = call.function.arguments
    args = json.loads(args) if isinstance(args, str) else args
    assert args == {"city": "Paris"}


def test_ollama_chat_with_tools_and_a_tool_result(olla: ollama.Client) -> None:
    first = olla.chat(model=TOOL_MODEL, messages=ASK, tools=[WEATHER], options=GREEDY)
    calls = first.message.tool_calls or []
    assert len(calls) == 1, first.message
    _paris(calls[0])
    assert "get_weather" not in (first.message.content or "")  # the call is not left in the text
    history = [
        {"role": "system", "content": SYSTEM},
        *ASK,
        {"role": "assistant", "content": "", "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "content": "Sunny, 23 degrees Celsius", "tool_name": "get_weather"},
    ]
    answer = olla.chat(model=TOOL_MODEL, messages=history, tools=[WEATHER], options=GREEDY)
    assert not answer.message.tool_calls and "23" in (answer.message.content or ""), answer.message


def test_ollama_chat_with_tools_streaming(olla: ollama.Client) -> None:
    parts = list(olla.chat(model=TOOL_MODEL, messages=ASK, tools=[WEATHER], options=GREEDY, stream=True))
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert len(calls) == 1 and parts[-1].done
    _paris(calls[0])
    assert "get_weather" not in "".join(p.message.content or "" for p in parts)


def test_ollama_show_capabilities_and_refusals(olla: ollama.Client) -> None:
    assert olla.show(TOOL_MODEL).capabilities == ["completion", "tools"]
    assert olla.show(SMALL_MODEL).capabilities == ["completion"]
    refused = [
        ({"tools": [WEATHER]}, "does not support tools"),
        ({"think": True}, "does not support thinking"),
        ({"messages": [{"role": "user", "content": "what is this?", "images": ["aGVsbG8="]}]}, "images"),
    ]
    for extra, message in refused:
        with pytest.raises(ollama.ResponseError) as info:
            olla.chat(**{"model": SMALL_MODEL, "messages": ASK, **extra})  # type: ignore[arg-type]
        assert info.value.status_code == 400 and message in info.value.error


def test_ollama_embed(olla: ollama.Client) -> None:
    got = olla.embed(model=SMALL_MODEL, input=["The cat sat on the mat.", "Stocks fell sharply today."])
    a, b = got.embeddings
    assert len(a) == len(b) == 576 and a != b  # SmolLM2-135M's hidden size, mean-pooled
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-4)  # /api/embed normalizes
    again = olla.embed(model=SMALL_MODEL, input="The cat sat on the mat.").embeddings[0]
    assert all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a, again, strict=True))
    old = olla.embeddings(model=SMALL_MODEL, prompt="The cat sat on the mat.").embedding
    norm = math.sqrt(sum(x * x for x in old))
    assert all(math.isclose(x / norm, y, abs_tol=1e-4) for x, y in zip(old, a, strict=True))


def test_openai_chat_streaming_usage_and_models(oai: openai.OpenAI) -> None:
    ids = {m.id for m in oai.models.list().data}
    assert {SMALL_MODEL, TOOL_MODEL} <= ids and oai.models.retrieve(SMALL_MODEL).id == SMALL_MODEL
    say = [{"role": "user", "content": "Say hello."}]
    whole = oai.chat.completions.create(model=SMALL_MODEL, messages=say, max_tokens=8, temperature=0, seed=3)  # type: ignore[arg-type]
    assert whole.choices[0].message.content and whole.usage and whole.usage.completion_tokens <= 8
    chunks = list(
        oai.chat.completions.create(
            model=SMALL_MODEL,
            messages=say,  # type: ignore[arg-type]
            max_tokens=8,
            temperature=0,
            seed=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    )
    done = oai.completions.create(model=SMALL_MODEL, prompt="The sky is", max_tokens=4, temperature=0)
    assert done.choices[0].text and done.choices[0].finish_reason in ("stop", "length")


def test_openai_tools_both_ways(oai: openai.OpenAI) -> None:
    kw: dict[str, Any] = {
        "model": TOOL_MODEL,
        "messages": ASK,
        "tools": [WEATHER],
        "max_tokens": 64,
        "temperature": 0,
    }
    whole = oai.chat.completions.create(**kw)
    assert whole.choices[0].finish_reason == "tool_calls"
    (call,) = whole.choices[0].message.tool_calls or []
    _paris(call)
    chunks = list(oai.chat.completions.create(**kw, stream=True))
    streamed = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert len(streamed) == 1 and chunks[-1].choices[0].finish_reason == "tool_calls"
    _paris(streamed[0])


def test_openai_json_schema_and_embeddings(oai: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    got = oai.chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "Describe a person."}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    person = json.loads(got.choices[0].message.content or "")
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    emb = oai.embeddings.create(model=SMALL_MODEL, input=["hello world", "the cat"])  # base64 on the wire
    assert [d.index for d in emb.data] == [0, 1] and len(emb.data[0].embedding) == 576
    plain = oai.embeddings.create(model=SMALL_MODEL, input="hello world", encoding_format="float")
    assert all(
        math.isclose(x, y, abs_tol=1e-5)
        for x, y in zip(plain.data[0].embedding, emb.data[0].embedding, strict=True)
    )


def test_openai_errors_in_openai_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oai.chat.completions.create(model="nope:1b", messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["message"] == 'model "nope:1b" not found, try pulling it first'  # type: ignore[index]
    image = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
    ]
    with pytest.raises(openai.BadRequestError, match="does not support images"):
        oai.chat.completions.create(model=SMALL_MODEL, messages=[{"role": "user", "content": image}])  # type: ignore[list-item,misc]
    with pytest.raises(openai.BadRequestError, match="invalid tool at index 0"):
        oai.chat.completions.create(model=TOOL_MODEL, messages=ASK, tools=[{"type": "function"}])  # type: ignore[arg-type,list-item]
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("nope:1b")
