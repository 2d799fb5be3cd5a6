"""OpenAI Realtime benchmark: end of speech → first audio delta on /v1/realtime, against Harvis's
own realtime voice socket (/api/voice/ws) as the baseline, in the same run on the same backend.

A spoken question (espeak-ng) is streamed at its real pace, then silence, as a microphone
would; both sockets end the turn with server VAD after the same silence (700 ms, the native
socket's `end_of_turn_ms`). Measured on the client, from the moment the last sample of speech
was sent to the first audio of the answer (`response.output_audio.delta` / the first `audio`
event). A fresh connection (a new chat) each round; rounds alternate which socket goes first.
The official `openai` SDK's realtime client drives /v1/realtime.

Command (from the repo root):
  .venv/bin/python benchmarks/realtime_latency.py --runs 10
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import base64
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
from websockets.asyncio.client import connect

from harvis.speech.audio import decode

QUESTION = "What color is the sky on a clear day?"
SILENCE_S = 1.5
FRAME_MS = 100


def pcm(wav: bytes, rate: int, silence_s: float) -> tuple[bytes, int]:
    """PCM16 at `rate`: the question then silence; and the byte offset where speech ends."""
    samples = decode(wav, max_seconds=60, sample_rate=rate).samples
    speech = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return speech + bytes(int(silence_s * rate) * 2), len(speech)


async def stream(send: Any, data: bytes, rate: int, speech_end: int) -> float:
    """Send `data` at its real pace; returns the perf_counter time the last speech byte went."""
    step = rate * 2 * FRAME_MS // 1000
    start, ended = time.perf_counter(), 0.0
    for i in range(0, len(data), step):
        await send(data[i : i + step])
        if i + step >= speech_end and not ended:
            ended = time.perf_counter()
        await asyncio.sleep(max(0.0, start + (i + step) / (rate * 2) - time.perf_counter()))
    return ended


async def openai_round(url: str, key: str, wav: bytes) -> float:
    data, speech_end = pcm(wav, 24000, SILENCE_S)
    client = openai.AsyncOpenAI(api_key=key, base_url=url + "/v1", max_retries=0)
    async with client.realtime.connect(model="smollm2:135m") as conn:
        vad = {"type": "server_vad", "silence_duration_ms": 700, "threshold": 0.5}
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": vad}}})  # type: ignore[typeddict-item]

        async def send(piece: bytes) -> None:
            await conn.input_audio_buffer.append(audio=base64.b64encode(piece).decode())

        sender = asyncio.create_task(stream(send, data, 24000, speech_end))
        first = None
        async with asyncio.timeout(300):
            async for event in conn:
                assert event.type != "error", event
                if event.type == "response.output_audio.delta" and first is None:
                    first = time.perf_counter()
                if event.type == "response.done":
                    break
        ended = await sender
        assert first is not None
        return (first - ended) * 1000.0


async def native_round(url: str, token: str, wav: bytes) -> float:
    data, speech_end = pcm(wav, 16000, SILENCE_S)
    ws_url = url.replace("http://", "ws://") + f"/api/voice/ws?token={token}"
    async with connect(ws_url, max_size=2**24) as ws:
        await ws.recv()  # ready
        await ws.send(json.dumps({"type": "start"}))
        sender = asyncio.create_task(stream(ws.send, data, 16000, speech_end))
        first = None
        async with asyncio.timeout(300):
            async for message in ws:
                event = json.loads(message)
                assert event["type"] != "error", event
                if event["type"] == "audio" and first is None:
                    first = time.perf_counter()
                if event["type"] == "done":
                    break
        ended = await sender
        assert first is not None
        return (first - ended) * 1000.0


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(values), 1), "p95": round(p95, 1), "n": len(values)}


async def bench(url: str, key: str, token: str, wav: bytes, runs: int) -> dict[str, Any]:
    await openai_round(url, key, wav)  # warm-up: first loads of every model
    await native_round(url, token, wav)
    out: dict[str, list[float]] = {"openai_realtime": [], "native_ws": []}
    for r in range(runs):
        order = ["openai_realtime", "native_ws"] if r % 2 == 0 else ["native_ws", "openai_realtime"]
        for who in order:
            ms = await (
                openai_round(url, key, wav) if who == "openai_realtime" else native_round(url, token, wav)
            )
            out[who].append(ms)
    return {k: summary(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.support.backend import login, running_backend, signup  # the tests' own launcher

    tmp = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    wav = tmp / "q.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), QUESTION], check=True)
    env = {"HARVIS_SPEECH__PRELOAD": "true", "HARVIS_PIPELINE__FILLER_AFTER_S": "-1"}
    try:
        with running_backend(tmp / "data", env=env, timeout=600) as proc:
            signup(proc.url, "bench")
            client: httpx.Client = login(proc.url, "bench")
            key = client.post("/api/keys", json={"name": "bench"}).json()["key"]
            token = client.cookies["harvis_session"]
            result = asyncio.run(bench(proc.url, key, token, wav.read_bytes(), args.runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| socket | end of speech → first audio p50 ms | p95 ms | n |")
    print("|---|---|---|---|")
    for who, s in result.items():
        print(f"| {who} | {s['p50']} | {s['p95']} | {s['n']} |")
    ratio = result["openai_realtime"]["p50"] / result["native_ws"]["p50"]
    print(f"ratio p50 (OpenAI Realtime / native socket): {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
