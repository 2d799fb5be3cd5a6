"""Wyoming benchmark: `harvis wyoming` against wyoming-faster-whisper and wyoming-piper.

Same machine, same run, same models given as local paths (nothing downloads): Whisper tiny.en
(CTranslate2, int8, beam 1, 1 thread) and Piper en_US-joe-medium. Rounds alternate which server
goes first. Measured on the client, with the `wyoming` package's own client as Home Assistant:
  stt_live   audio streamed at its real pace (1024-sample chunks, 16 kHz PCM16, as a satellite
             sends them), audio-stop → transcript.
  stt_burst  the same audio sent as fast as possible, audio-stop → transcript.
  tts_first  synthesize (two sentences) → first audio-chunk; tts_total → audio-stop.
wyoming-piper has no thread option (onnxruntime then uses every core), so Harvis's Piper runs
with as many threads here (HARVIS_SPEECH__TTS_THREADS = the core count).

Command (from the repo root; the reference servers in their own venv):
  python3 -m venv /tmp/bench-wyoming
  /tmp/bench-wyoming/bin/pip install wyoming-faster-whisper==3.8.1 wyoming-piper==2.5.2
  .venv/bin/python benchmarks/wyoming_servers.py --venv /tmp/bench-wyoming --runs 20
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe
from wyoming.tts import Synthesize

from harvis.config import Settings
from harvis.models import catalog

QUESTION = "What is the weather like in the kitchen this evening?"
SPEECH = "The lights in the kitchen are off. The front door is locked for the night."
CHUNK = 1024  # samples of 16 kHz PCM16 per audio-chunk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p95": round(pct(values, 0.95), 1), "n": len(values)}


def question_pcm(tmp: Path) -> bytes:
    """The question spoken by espeak-ng, as 16 kHz mono PCM16 (what Home Assistant sends)."""
    src, dst = tmp / "q.wav", tmp / "q16.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(src), QUESTION], check=True)
    subprocess.run(["sox", str(src), "-r", "16000", "-c", "1", "-b", "16", str(dst)], check=True)
    with wave.open(str(dst), "rb") as w:
        return w.readframes(w.getnframes())


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def ready(port: int, proc: subprocess.Popen[bytes], log: Path, within: float = 600) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {tail(log)}")
        try:
            async with AsyncTcpClient("127.0.0.1", port) as c:
                await c.write_event(Describe().event())
                event = await asyncio.wait_for(c.read_event(), 30)
                if event is not None and event.type == "info":
                    return
        except (OSError, TimeoutError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"no server on {port}: {tail(log)}")


async def transcribe(port: int, pcm: bytes, *, live: bool) -> tuple[float, str]:
    async with AsyncTcpClient("127.0.0.1", port) as c:
        await c.write_event(Transcribe(language="en").event())
        await c.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        start = time.perf_counter()
        for i in range(0, len(pcm), CHUNK * 2):
            await c.write_event(
                AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i : i + CHUNK * 2]).event()
            )
            if live:  # as a microphone delivers it
                await asyncio.sleep(max(0.0, start + (i // 2 + CHUNK) / 16000 - time.perf_counter()))
        await c.write_event(AudioStop().event())
        stopped = time.perf_counter()
        while True:
            event = await asyncio.wait_for(c.read_event(), 120)
            assert event is not None and event.type != "error", event
            if event.type == "transcript":
                return (time.perf_counter() - stopped) * 1000.0, str(event.data["text"])


async def synthesize(port: int) -> tuple[float, float, int]:
    async with AsyncTcpClient("127.0.0.1", port) as c:
        start = time.perf_counter()
        await c.write_event(Synthesize(text=SPEECH).event())
        first, samples = None, 0
        while True:
            event = await asyncio.wait_for(c.read_event(), 120)
            assert event is not None and event.type != "error", event
            if event.type == "audio-chunk":
                first = first or time.perf_counter()
                samples += len(event.payload or b"") // 2
            elif event.type == "audio-stop":
                assert first is not None
                return (first - start) * 1000.0, (time.perf_counter() - start) * 1000.0, samples


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


async def bench(venv: Path, runs: int) -> dict[str, Any]:
    models = Settings().resolved_models_dir
    whisper_dir = catalog.resolve("whisper-tiny.en", models)
    piper_onnx = catalog.resolve("piper-joe", models)
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-wyoming-"))
    pcm = question_pcm(tmp)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    ports = {"harvis": free_port(), "faster-whisper": free_port(), "piper": free_port()}
    harvis_env = {
        **env,
        "HARVIS_DATA_DIR": str(tmp / "harvis"),
        "HARVIS_SPEECH__PRELOAD": "true",
        "HARVIS_SPEECH__STT_THREADS": "1",
        "HARVIS_SPEECH__TTS_THREADS": str(cores),
        "HARVIS_NODE__THREADS": "1",
    }
    procs = {
        "harvis": start(
            [sys.executable, "-m", "harvis.cli", "wyoming", "--uri", f"tcp://127.0.0.1:{ports['harvis']}"],
            tmp / "harvis.log",
            harvis_env,
        ),
        "faster-whisper": start(
            [str(venv / "bin" / "wyoming-faster-whisper"), "--uri", f"tcp://127.0.0.1:{ports['faster-whisper']}",
             "--model", str(whisper_dir), "--data-dir", str(tmp / "fw"), "--local-files-only",
             "--cpu-threads", "1", "--beam-size", "1", "--language", "en", "--compute-type", "int8"],
            tmp / "fw.log",
            env,
        ),
        "piper": start(
            [str(venv / "bin" / "wyoming-piper"), "--uri", f"tcp://127.0.0.1:{ports['piper']}",
             "--voice", str(piper_onnx), "--data-dir", str(tmp / "piper")],
            tmp / "piper.log",
            env,
        ),
    }  # fmt: skip
    try:
        for name, proc in procs.items():
            await ready(ports[name], proc, tmp / f"{name}.log")
        for port in ports.values():  # warm-up: first loads, first calls
            if port != ports["piper"]:
                await transcribe(port, pcm, live=False)
            if port != ports["faster-whisper"]:
                await synthesize(port)
        out: dict[str, dict[str, list[float]]] = {
            k: {"harvis": [], "reference": []} for k in ("stt_live", "stt_burst", "tts_first", "tts_total")
        }
        texts: dict[str, str] = {}
        for r in range(runs):
            pair = [("harvis", ports["harvis"]), ("reference", ports["faster-whisper"])]
            for who, port in pair if r % 2 == 0 else pair[::-1]:
                for mode in ("live", "burst"):
                    ms, text = await transcribe(port, pcm, live=mode == "live")
                    out[f"stt_{mode}"][who].append(ms)
                    texts[who] = text
            pair = [("harvis", ports["harvis"]), ("reference", ports["piper"])]
            for who, port in pair if r % 2 == 0 else pair[::-1]:
                first, total, _ = await synthesize(port)
                out["tts_first"][who].append(first)
                out["tts_total"][who].append(total)
        result = {k: {who: summary(v) for who, v in per.items()} for k, per in out.items()}
        result["transcripts"] = texts  # type: ignore[assignment]
        result["setup"] = {"runs": runs, "cores": cores, "audio_s": round(len(pcm) / 32000, 2)}  # type: ignore[assignment]
        return result
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict[str, Any]) -> None:
    print(f"setup: {r['setup']}")
    print(f"transcripts: {r['transcripts']}")
    print("| measure | Harvis p50 / p95 ms | reference p50 / p95 ms | ratio p50 (Harvis / reference) |")
    print("|---|---|---|---|")
    names = {"stt_live": "wyoming-faster-whisper", "stt_burst": "wyoming-faster-whisper"}
    for key in ("stt_live", "stt_burst", "tts_first", "tts_total"):
        h, ref = r[key]["harvis"], r[key]["reference"]
        who = names.get(key, "wyoming-piper")
        ratio = h["p50"] / ref["p50"] if ref["p50"] else float("nan")
        print(f"| {key} (vs {who}) | {h['p50']} / {h['p95']} | {ref['p50']} / {ref['p95']} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv", type=Path, required=True, help="venv with wyoming-faster-whisper and wyoming-piper"
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(bench(args.venv, args.runs))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
