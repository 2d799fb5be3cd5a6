"""Tool calls and reasoning out of generated text, and capabilities told from the GGUF."""

from __future__ import annotations

import pytest

from harvis.llm.node.chatout import Shaper
from harvis.llm.node.gguf_meta import GGUFInfo
from harvis.llm.node.messages import parse_messages, parse_tools
from harvis.llm.node.tools import ToolCallScanner, capabilities
from harvis.llm.types import BadRequest

CALL = '{"name": "get_time", "arguments": {"zone": "UTC"}}'


def scan(*chunks: str) -> tuple[str, list[dict[str, object]]]:
    scanner = ToolCallScanner()
    parts = [scanner.feed(c) for c in chunks] + [scanner.flush()]
    return "".join(p.content for p in parts), [c for p in parts for c in p.tool_calls]


def test_tagged_calls_split_across_chunks() -> None:
    text, calls = scan("Let me check. <tool", "_call>\n" + CALL[:10], CALL[10:] + "\n</tool_", "call>")
    assert text == "Let me check. "
    assert calls == [{"function": {"index": 0, "name": "get_time", "arguments": {"zone": "UTC"}}}]


def test_bare_and_fenced_json_calls() -> None:
    assert scan(CALL)[1][0]["function"]["name"] == "get_time"  # type: ignore[index]
    assert scan("``", "`json\n" + CALL + "\n```")[1][0]["function"]["arguments"] == {"zone": "UTC"}  # type: ignore[index]


@pytest.mark.parametrize(
    "chunks",
    [
        ("Plain ", "text."),
        ('{"a": 1}',),
        ("<tool_call>{not json}</tool_call>",),
        ("<tool_call>" + CALL[:-2],),
    ],
)
def test_what_is_not_a_call_stays_text(chunks: tuple[str, ...]) -> None:
    text, calls = scan(*chunks)
    assert calls == [] and text == "".join(chunks)


def test_thinking_is_split_and_dropped_on_request() -> None:
    keep = Shaper(tools=False, thinking=True, keep_thinking=True)
    parts = [keep.feed("<think>hmm"), keep.feed("</think>Yes."), keep.flush()]
    assert "".join(p.thinking for p in parts) == "hmm" and "".join(p.content for p in parts) == "Yes."
    drop = Shaper(tools=False, thinking=True, keep_thinking=False)
    parts = [drop.feed("<think>hmm</think>Yes."), drop.flush()]
    assert "".join(p.thinking for p in parts) == "" and "".join(p.content for p in parts) == "Yes."


def test_capabilities_follow_the_template() -> None:
    def info(template: str, arch: str = "qwen2", **extra: object) -> GGUFInfo:
        return GGUFInfo(metadata={"general.architecture": arch, "tokenizer.chat_template": template, **extra})

    assert capabilities(info("{{ messages }}")) == ["completion"]
    assert capabilities(info("{% if tools %}<tool_call>{% endif %}")) == ["completion", "tools"]
    assert capabilities(info("{% if tools %}{% endif %}<think>")) == ["completion", "tools", "thinking"]
    assert capabilities(info("", arch="bert", **{"bert.pooling_type": 1})) == ["embedding"]


@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "function"}],
        [{"type": "retrieval", "function": {"name": "x"}}],
        [{"type": "function", "function": {"name": ""}}],
        [{"type": "function", "function": {"name": "x", "parameters": "object"}}],
        {"name": "x"},
    ],
)
def test_malformed_tools_are_400(tools: object) -> None:
    with pytest.raises(BadRequest, match="tool"):
        parse_tools(tools)


def test_tool_messages_keep_calls_and_results() -> None:
    messages, images = parse_messages(
        [
            {"role": "user", "content": "time?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "t", "arguments": "{}"}}],
            },
            {"role": "tool", "content": "12:00", "tool_name": "t"},
        ]
    )
    assert not images and messages[1]["tool_calls"][0]["function"] == {"name": "t", "arguments": {}}
    assert messages[2] == {"role": "tool", "content": "12:00", "tool_name": "t", "name": "t"}
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_messages(
            [{"role": "assistant", "tool_calls": [{"function": {"name": "t", "arguments": "{x"}}]}]
        )


def test_upstream_tool_calls_in_pieces_and_broken_arguments() -> None:
    from harvis.llm.ollama_client import OllamaClient
    from harvis.llm.openai_client import OpenAIClient, openai_messages
    from harvis.llm.types import ToolCall, UpstreamError

    client = OpenAIClient("http://127.0.0.1:9", "k")
    pieces = {0: {"id": "c1", "name": "get_time", "args": '{"zone": "UTC"}'}}
    assert client._finished_calls(pieces) == (ToolCall("get_time", {"zone": "UTC"}, "c1"),)
    # Broken arguments are the model's mistake: kept as a call the tool loop answers, not raised.
    broken = client._finished_calls({0: {"id": "c1", "name": "get_time", "args": '{"zone": '}})
    assert broken == (ToolCall("get_time", {}, "c1", invalid_arguments='{"zone": '),)
    ollama = OllamaClient("http://127.0.0.1:9")
    assert ollama._tool_calls([{"function": {"name": "t", "arguments": "[1]"}}]) == (
        ToolCall("t", {}, "", invalid_arguments="[1]"),
    )
    with pytest.raises(UpstreamError, match="without a name"):
        client._finished_calls({0: {"id": "c1", "name": "", "args": "{}"}})
    with pytest.raises(UpstreamError, match="malformed tool call"):
        ollama._tool_calls([{"function": {"arguments": {}}}])
    history = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "t", "arguments": {"a": 1}}}],
        },
        {"role": "tool", "content": "ok", "tool_name": "t"},
    ]
    sent = openai_messages(history)
    call_id = sent[0]["tool_calls"][0]["id"]
    assert sent[0]["tool_calls"][0]["function"] == {"name": "t", "arguments": '{"a": 1}'}
    assert sent[1] == {"role": "tool", "content": "ok", "tool_call_id": call_id}
