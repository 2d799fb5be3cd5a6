"""The official `ollama` Python client against a real `harvis llm-node` (real model)."""

from __future__ import annotations

from datetime import UTC, datetime

import ollama
import pytest

from tests.support.llm_node import SMALL_MODEL
from tests.support.processes import Proc

GREEDY = {"temperature": 0, "num_predict": 12, "seed": 7}
ASK = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture
def client(node: Proc) -> ollama.Client:
    return ollama.Client(host=node.url, timeout=120)


def test_list_shows_the_bundled_model(client: ollama.Client) -> None:
    models = {m.model: m for m in client.list().models}
    m = models[SMALL_MODEL]
    assert m.size and m.size > 50_000_000
    assert m.digest and len(m.digest) == 64
    assert m.details and m.details.format == "gguf" and m.details.family == "llama"
    assert m.details.parameter_size == "135M" and m.details.quantization_level == "Q4_1"
    assert m.modified_at is not None and m.modified_at.tzinfo is not None


def test_show_describes_template_and_model_info(client: ollama.Client) -> None:
    info = client.show(SMALL_MODEL)
    assert info.template and "<|im_start|>" in info.template  # the GGUF's own chat template
    assert info.details and info.details.family == "llama"
    assert info.capabilities == ["completion"]
    assert info.modelinfo and info.modelinfo["general.architecture"] == "llama"
    assert info.modelinfo["general.parameter_count"] == 134_515_008
    assert info.modelfile and "FROM " in info.modelfile


def test_chat_non_streaming_and_streaming_agree(client: ollama.Client) -> None:
    # The first call evaluates the prompt, the second reuses the cached prefix: same answer.
    whole = client.chat(model=SMALL_MODEL, messages=ASK, options=GREEDY)
    assert whole.done and whole.message.role == "assistant"
    assert whole.message.content
    assert whole.eval_count and 0 < whole.eval_count <= 12
    assert whole.prompt_eval_count and whole.prompt_eval_count > 5
    assert whole.done_reason in ("stop", "length")
    parts = list(client.chat(model=SMALL_MODEL, messages=ASK, options=GREEDY, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert parts[-1].eval_count == whole.eval_count


def test_generate_both_ways(client: ollama.Client) -> None:
    whole = client.generate(model=SMALL_MODEL, prompt="Write one word: hello", options=GREEDY)
    assert whole.done and whole.response and whole.context
    parts = list(
        client.generate(model=SMALL_MODEL, prompt="Write one word: hello", options=GREEDY, stream=True)
    )
    assert "".join(p.response or "" for p in parts) == whole.response
    assert parts[-1].total_duration and parts[-1].eval_duration is not None


async def test_async_client_streams(node: Proc) -> None:
    client = ollama.AsyncClient(host=node.url, timeout=120)
    stream = await client.chat(model=SMALL_MODEL, messages=ASK, options=GREEDY, stream=True)
    pieces = [p async for p in stream]
    assert pieces[-1].done and len(pieces) > 1


def test_ps_lists_the_loaded_model(client: ollama.Client) -> None:
    client.generate(model=SMALL_MODEL, prompt="hi", options={"num_predict": 1}, keep_alive="10m")
    loaded = {m.model: m for m in client.ps().models}
    m = loaded[SMALL_MODEL]
    assert m.size and m.size > 98_000_000  # weights plus KV cache
    assert m.size_vram == 0
    assert m.expires_at and m.expires_at > datetime.now(UTC)


def test_errors_are_response_errors_with_ollama_codes(client: ollama.Client) -> None:
    for call in (
        lambda: client.chat(model="no-such-model", messages=ASK),
        lambda: client.generate(model="no-such-model", prompt="x"),
        lambda: client.show("no-such-model"),
    ):
        with pytest.raises(ollama.ResponseError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.error == 'model "no-such-model" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError) as bad:
        client.chat(model=SMALL_MODEL, messages=ASK, options={"temperature": "hot"})
    assert bad.value.status_code == 400 and "temperature" in bad.value.error
    with pytest.raises(ollama.ResponseError) as streamed:
        list(client.chat(model="no-such-model", messages=ASK, stream=True))
    assert streamed.value.status_code == 404
