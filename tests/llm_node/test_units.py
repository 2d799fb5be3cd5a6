"""Pure parts of the node: durations, stop handling, UTF-8 pieces, the line, request checks, GGUF."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from harvis.config import NodeSettings
from harvis.llm.node.durations import InvalidDuration, keep_alive_seconds, parse_go_duration
from harvis.llm.node.gate import Gate
from harvis.llm.node.gguf_meta import NotGGUF, human_parameters, read_gguf
from harvis.llm.node.registry import ModelRegistry, normalize_name
from harvis.llm.node.requests import parse_job
from harvis.llm.node.textstream import PieceDecoder, StopScanner
from harvis.llm.types import BadRequest, ModelNotFound, NoCapacity
from harvis.models import catalog


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("1.5s", 1.5),
        ("0", 0.0),
        ("-1m", -60.0),
        ("2h45m10s", 9910.0),
        ("10", 10.0),
        ("+3s", 3.0),
        ("1us", 1e-6),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 m", "m", "5x", "1h-5m", "abc", "5m3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_go_duration(text)


def test_keep_alive_values() -> None:
    assert keep_alive_seconds(None, 300.0) == 300.0
    assert keep_alive_seconds(0, 300.0) == 0.0
    assert keep_alive_seconds(-1, 300.0) is None  # negative = forever
    assert keep_alive_seconds("-1m", 300.0) is None
    assert keep_alive_seconds(90, None) == 90.0
    assert keep_alive_seconds("1h", 300.0) == 3600.0
    for bad in (True, [1], {"a": 1}, "soon"):
        with pytest.raises(InvalidDuration):
            keep_alive_seconds(bad, 300.0)


def test_stop_scanner_holds_back_split_stop_sequences() -> None:
    scanner = StopScanner(["</end>", "STOP"])
    out: list[str] = []
    for piece in ["Hello ", "wor", "ld </", "en", "d> never"]:
        text, stopped = scanner.feed(piece)
        out.append(text)
        if stopped:
            break
    assert "".join(out) == "Hello world "
    assert stopped


def test_stop_scanner_releases_false_alarms() -> None:
    scanner = StopScanner(["STOP"])
    assert scanner.feed("ST") == ("", False)
    assert scanner.feed("ay") == ("STay", False)
    assert scanner.feed("S") == ("", False)
    assert scanner.flush() == "S"


def test_piece_decoder_joins_split_utf8() -> None:
    raw = "héllo ✓".encode()
    decoder = PieceDecoder()
    text = "".join(decoder.feed(raw[i : i + 1]) for i in range(len(raw))) + decoder.flush()
    assert text == "héllo ✓"
    half = PieceDecoder()
    assert half.feed("✓".encode()[:2]) == ""
    assert half.flush() == "\ufffd"


async def test_gate_admits_one_running_plus_queue_then_refuses() -> None:
    gate = Gate(max_queue=1)
    first = gate.admit()
    await first.__aenter__()
    second = gate.admit()  # waits in line
    with pytest.raises(NoCapacity) as info:
        gate.admit()
    assert info.value.status == 503 and info.value.retry_after
    waiter = asyncio.create_task(second.__aenter__())
    await asyncio.sleep(0)
    assert not waiter.done()
    await first.__aexit__(None, None, None)
    await asyncio.wait_for(waiter, 5)
    assert gate.waiting == 0
    third = gate.admit()  # the line is free again
    third.drop()
    assert gate.waiting == 0
    await second.__aexit__(None, None, None)


async def test_gate_cancelled_waiter_leaves_the_line() -> None:
    gate = Gate(max_queue=2)
    running = gate.admit()
    await running.__aenter__()
    waiting = gate.admit()
    task = asyncio.create_task(waiting.__aenter__())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.waiting == 0
    await running.__aexit__(None, None, None)


def test_parse_job_chat_and_generate() -> None:
    job = parse_job(
        "chat",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "options": {"temperature": 0, "seed": 3, "num_predict": 7, "stop": "x"},
            "keep_alive": "1m",
            "stream": False,
            "format": "json",
        },
        300.0,
    )
    assert job.sampling.temperature == 0.0 and job.sampling.seed == 3 and job.sampling.num_predict == 7
    assert job.sampling.stop == ("x",) and job.keep_alive_s == 60.0
    assert not job.stream and job.format == "json"
    gen = parse_job("generate", {"model": "m", "prompt": "p", "system": "s"}, 300.0)
    assert gen.messages == [{"role": "system", "content": "s"}, {"role": "user", "content": "p"}]
    assert gen.keep_alive_s == 300.0 and gen.stream and not gen.load_only
    assert parse_job("generate", {"model": "m", "keep_alive": 0}, 300.0).load_only
    assert parse_job("chat", {"model": "m", "messages": []}, 300.0).load_only
    raw = parse_job("generate", {"model": "m", "prompt": "<s>x", "raw": True}, 300.0)
    assert raw.raw_prompt == "<s>x" and not raw.messages


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"messages": []},
        {"model": ""},
        {"model": 3},
        {"model": "m", "stream": "yes"},
        {"model": "m", "options": {"temperature": "hot"}},
        {"model": "m", "options": {"top_k": 1.5}},
        {"model": "m", "options": {"stop": [1]}},
        {"model": "m", "options": []},
        {"model": "m", "messages": {"role": "user"}},
        {"model": "m", "messages": [{"content": "x"}]},
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "keep_alive": "soon"},
        {"model": "m", "format": "xml"},
        {"model": "m", "options": {"num_ctx": 0}},
        {"model": "m", "tools": [{"type": "function"}]},
        {"model": "m", "think": "very"},
    ],
)
def test_parse_job_rejects(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_job("chat", body, 300.0)


def test_names_follow_ollama() -> None:
    assert normalize_name("SmolLM2:135M") == "smollm2:135m"
    assert normalize_name("mine") == "mine:latest"
    assert normalize_name("user/mine") == "user/mine:latest"
    extra = NodeSettings(extra_models="a=/x/a.gguf, b:7b=/y/b.gguf").extra_models  # type: ignore[arg-type]
    assert extra == {"a": Path("/x/a.gguf"), "b:7b": Path("/y/b.gguf")}
    with pytest.raises(ValidationError, match="NAME=PATH"):
        NodeSettings(extra_models="just-a-path.gguf")  # type: ignore[arg-type]


def test_gguf_header_of_the_bundled_model() -> None:
    path = catalog.resolve("smollm2:135m", Path("/nonexistent"))
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert human_parameters(info.parameter_count) == "134.52M"
    assert "<|im_start|>" in info.chat_template
    assert info.context_length == 8192
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    # 30 layers x 3 KV heads x 64 dims x (K+V) x f16
    assert info.kv_cache_bytes(2048) == 2 * 2 * 2048 * 30 * 3 * 64


def test_not_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGML not really")
    with pytest.raises(NotGGUF):
        read_gguf(bad)


def test_registry_lists_catalogue_and_extra_models(tmp_path: Path) -> None:
    src = catalog.resolve("smollm2:135m", tmp_path)
    copy = tmp_path / "mine.gguf"
    copy.symlink_to(src)
    (tmp_path / "junk.gguf").write_bytes(b"nope")
    extra = {"mine": copy, "junk": tmp_path / "junk.gguf", "gone": tmp_path / "no.gguf"}
    registry = ModelRegistry(tmp_path, extra)
    names = [m.name for m in registry.list()]
    assert "smollm2:135m" in names and "mine:latest" in names
    assert "junk:latest" not in names and "gone:latest" not in names
    assert registry.get("MINE").name == "mine:latest"
    assert registry.get("smollm2:135m").digest == catalog.get("smollm2:135m").sha256
    with pytest.raises(ModelNotFound, match='model "nope" not found, try pulling it first'):
        registry.get("nope")
