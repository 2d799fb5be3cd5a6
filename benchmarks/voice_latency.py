"""End of speech → first answer audio over the realtime socket (/api/voice/ws), stage by
stage, for the low-latency path and the path before it, in the same run.

Two `harvis serve` backends (Qwen2.5-Coder-1.5B, the catalog default, through the embedded
node; Whisper tiny.en; Piper; filler off), one with `HARVIS_PIPELINE__LOW_LATENCY=false`.
Each utterance (espeak-ng; some with a mid-sentence pause spliced in, as people pause to
think) is streamed in real time, 100 ms frames, then silence, into a new chat on each backend
in turn (the order alternates). Measured two ways:

- on the client: the moment the frame holding the last voiced sample was sent → the first
  `audio` event received;
- on the server: the turn's `done` timings (the trace, ms after the arrival of the last voiced
  audio): end-of-turn decision, STT done, LLM first token, first clause cut, TTS first audio,
  first audio sent.

A false cut-off: the server ended the turn (`speech_ended`) before the client had sent the
utterance's last voiced sample. Once the first audio arrives the client sends `cancel` (the
answer's length is not what is measured) and waits for `done`.

Command (repo root; needs espeak-ng and the bundled models):
  PYTHONPATH=src .venv/bin/python benchmarks/voice_latency.py --json /tmp/voice_latency.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from harvis.speech.audio import decode

RATE, FRAME_MS = 16000, 100
# "|" marks a spliced-in pause mid-sentence (where a speaker stops to think).
UTTERANCES = [
    "What color is the sky on a clear day?",
    "How many legs does a spider have?",
    "What is the capital of France?",
    "Tell me a fun fact about the moon.",
    "What is two plus two?",
    "Can you recommend a good book?",
    "What is the tallest mountain on Earth?",
    "How do I boil an egg?",
    "Why do cats purr?",
    "What time zone is London in?",
    "Can you tell me | what the weather is usually like in spring?",
    "I would like to know | how far away the sun is.",
    "What is the name of | the largest ocean?",
    "Could you explain | why leaves change color in autumn?",
    "How long does it take | to fly from Paris to Rome?",
    "Which planet is | closest to the sun?",
    "What do you call | a baby kangaroo?",
    "Tell me the best way | to learn to cook.",
    "How many days | are there in a leap year?",
    "Give me a word that | rhymes with orange.",
]
PAUSE_S = 0.55  # the spliced pause: under the old 700 ms wait, over the detector's short one
LEAD_S, TAIL_S = 0.4, 2.5
STAGES = [
    "eos_turn_end_ms",
    "eos_stt_done_ms",
    "eos_llm_first_token_ms",
    "eos_first_clause_ms",
    "eos_tts_first_audio_ms",
    "eos_first_audio_sent_ms",
]


def speak(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng's float32 16 kHz speech of `text`, a pause of PAUSE_S at each "|"."""
    parts = []
    for i, fragment in enumerate(text.split("|")):
        wav = tmp / f"part{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), fragment.strip()], check=True)
        samples = decode(wav.read_bytes(), max_seconds=60, sample_rate=RATE).samples
        voiced = np.flatnonzero(np.abs(samples) > 0.01)
        parts.append(samples[voiced[0] : voiced[-1] + 1])
        parts.append(np.zeros(int(PAUSE_S * RATE), np.float32))
    return np.concatenate(parts[:-1])


def pcm(speech: np.ndarray) -> tuple[bytes, int]:
    """Lead silence, speech, tail silence as PCM16; and the byte offset just past the last
    voiced sample."""
    lead, tail = np.zeros(int(LEAD_S * RATE), np.float32), np.zeros(int(TAIL_S * RATE), np.float32)
    data = (np.clip(np.concatenate([lead, speech, tail]), -1, 1) * 32767).astype("<i2").tobytes()
    return data, (len(lead) + len(speech)) * 2


async def one_turn(url: str, token: str, data: bytes, speech_end: int) -> dict[str, Any]:
    step = RATE * 2 * FRAME_MS // 1000
    async with connect(
        url.replace("http://", "ws://") + f"/api/voice/ws?token={token}", max_size=2**24
    ) as ws:
        await ws.recv()  # ready
        await ws.send(json.dumps({"type": "start"}))
        sent_last_voice: list[float] = []
        events: list[tuple[float, dict[str, Any]]] = []

        async def sender() -> None:
            start = time.perf_counter()
            for i in range(0, len(data), step):
                await ws.send(data[i : i + step])
                if i + step >= speech_end and not sent_last_voice:
                    sent_last_voice.append(time.perf_counter())
                await asyncio.sleep(max(0.0, start + (i + step) / (RATE * 2) - time.perf_counter()))

        task = asyncio.create_task(sender())
        first_audio = None
        async with asyncio.timeout(180):
            async for message in ws:
                event = json.loads(message)
                events.append((time.perf_counter(), event))
                if event["type"] == "error":  # recorded, and left out of the figures
                    break
                if event["type"] == "audio" and first_audio is None:
                    first_audio = time.perf_counter()
                    await ws.send(json.dumps({"type": "cancel"}))
                if event["type"] == "done":
                    break
        await task
        voice = sent_last_voice[0]
        errors = [e for _, e in events if e["type"] == "error"]
        if errors:
            return {"error": errors[0], "false_cut": False, "client_ms": None, "timings": {}}
        ended = [t for t, e in events if e["type"] == "speech_ended"]
        done = next(e for _, e in events if e["type"] == "done")
        return {
            "client_ms": round((first_audio - voice) * 1000.0, 1) if first_audio else None,
            "false_cut": bool(ended and ended[0] < voice),
            "partials": sum(1 for _, e in events if e["type"] == "partial"),
            "partial_before_eos": any(t < voice for t, e in events if e["type"] == "partial"),
            "heard": [e["text"] for _, e in events if e["type"] == "heard"],
            "timings": done["timings"],
        }


def summary(values: list[float]) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(values):.0f} / {p95:.0f}"


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    rows = ["| stage (ms after end of speech) | " + " | ".join(f"{k} p50 / p95" for k in results) + " |"]
    rows.append("|---|" + "---|" * len(results))
    for stage in ["client_ms", *STAGES]:
        cells = []
        for runs in results.values():
            ok = [r for r in runs if not r["false_cut"] and "error" not in r]
            vals = [r["client_ms"] if stage == "client_ms" else r["timings"].get(stage) for r in ok]
            cells.append(summary([v for v in vals if v is not None]))
        rows.append(f"| {stage} | " + " | ".join(cells) + " |")
    paused = [i for i, u in enumerate(UTTERANCES) if "|" in u]
    for label, pick in (("false cut-offs (paused utterances)", paused), ("false cut-offs (all)", None)):
        cells = []
        for runs in results.values():
            chosen = [r for i, r in enumerate(runs) if pick is None or i % len(UTTERANCES) in pick]
            cells.append(f"{sum(r['false_cut'] for r in chosen)} / {len(chosen)}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, runs in results.items():
        spec = [r["timings"].get("speculation") for r in runs]
        errors = sum("error" in r for r in runs)
        rows.append(
            f"\n{name}: speculation outcomes {dict((s, spec.count(s)) for s in set(spec))}; errors {errors}"
        )
    return "\n".join(rows)


async def bench(
    backends: dict[str, tuple[str, str]], clips: list[tuple[bytes, int]], rounds: int
) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
    for url, token in backends.values():  # warm-up: first loads, first prompt
        await one_turn(url, token, *clips[0])
    for r in range(rounds):
        for i, clip in enumerate(clips):
            names = list(backends) if (r * len(clips) + i) % 2 == 0 else list(reversed(backends))
            for name in names:
                results[name].append(await one_turn(*backends[name], *clip))
                print(name, i, json.dumps(results[name][-1]), flush=True)
    return results


def detector(tmp: Path) -> dict[str, Any]:
    """The turn detector's rule on Whisper's own transcripts (resident tiny.en, in process):
    of the words before a mid-sentence pause, how many look finished (the short wait would end
    the turn there, a false cut-off, if the transcript came in time); of whole questions, how
    many get the short wait."""
    from tests.support.voice_e2e import whisper

    from harvis.pipeline.turn_detector import looks_finished
    from harvis.speech.audio import Audio

    stt = whisper()
    fragments = [u.split("|")[0] for u in UTTERANCES if "|" in u]
    wholes = [u.replace("|", "") for u in UTTERANCES]
    out: dict[str, Any] = {}
    for name, texts in (("before_pause", fragments), ("whole", wholes)):
        heard = [stt.transcribe(Audio(speak(t, tmp), RATE)).text for t in texts]
        out[name] = {"finished": sum(looks_finished(h) for h in heard), "n": len(heard), "heard": heard}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="passes over the utterances")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances (a smoke run)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--detector", action="store_true", help="the turn detector alone, on transcripts")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.support.backend import login, signup, start_backend  # the tests' own launcher
    from tests.support.llm_node import TOOL_MODEL, tool_models_dir

    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    if args.detector:
        print(json.dumps(detector(tmp), indent=2))
        return
    clips = [pcm(speak(text, tmp)) for text in UTTERANCES[: args.limit or None]]
    common = {
        "HARVIS_MODELS_DIR": str(tool_models_dir()),
        "HARVIS_LLM__DEFAULT_MODEL": TOOL_MODEL,
        "HARVIS_NODE__THREADS": "2",
        "HARVIS_SPEECH__STT_THREADS": "2",
        "HARVIS_SPEECH__PRELOAD": "true",
        "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
        "HARVIS_PIPELINE__MAX_ANSWER_TOKENS": "60",
    }
    paths = {"new": "true", "old": "false"}
    with contextlib.ExitStack() as stack:
        backends = {}
        for name, flag in paths.items():
            env = {**common, "HARVIS_PIPELINE__LOW_LATENCY": flag}
            proc = start_backend(tmp / name, env=env, timeout=600)
            stack.callback(proc.stop)
            signup(proc.url, "bench")
            backends[name] = (proc.url, login(proc.url, "bench").cookies["harvis_session"])
        results = asyncio.run(bench(backends, clips, args.rounds))
    shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
