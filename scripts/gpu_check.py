"""Measure Harvis's speech engines on one device and print one table (scripts/gpu-check.sh runs it).

Chatterbox runs with the random-weights test checkpoint (tests/support/chatterbox_checkpoint.py):
the compute per speech token and per second of audio is the real model's, the words are not, and
each clause is about `--speech-tokens` tokens long (25 per second of audio). Whisper and Piper run
on the models the packages carry. An engine that cannot run on the device says why in the table.

    python scripts/gpu_check.py --device cuda [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

ANSWER = ("The sky looks blue on a clear day.", "Sunlight scatters off the air, and blue scatters most.")
Row = dict[str, Any]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _speak_answer(engine: Any, voice: Any, *, sync: bool) -> tuple[float, float, float]:
    """Speak ANSWER clause by clause, as a voice turn does: (first audio s, total s, audio s).
    `sync` waits for the GPU after each clause (torch runs asynchronously on CUDA)."""
    t0, first, audio_s = time.perf_counter(), 0.0, 0.0
    for clause in ANSWER:
        pcm = engine.synthesize(clause, voice=voice)
        if sync:
            _sync(engine.device)
        first = first or time.perf_counter() - t0
        audio_s += len(pcm) / engine.sample_rate
    return first, time.perf_counter() - t0, audio_s


def chatterbox(device: str, work: Path, speech_tokens: int) -> Row:
    from tests.support.chatterbox_checkpoint import make, reference_clip

    from harvis.speech.chatterbox_tts import ChatterboxEngine
    from harvis.speech.tts import VoiceRef

    ckpt, made_s = _timed(lambda: make(work / "chatterbox", speech_tokens=speech_tokens, device=device))
    engine, load_s = _timed(lambda: ChatterboxEngine(ckpt, device=device).load())
    voice = VoiceRef("v", "v", "clone", "chatterbox", reference=reference_clip(work / "ref.wav", 8.0))
    _, prepare_s = _timed(lambda: engine.synthesize("Warm up.", voice=voice))  # conditionals + first run
    first, total, audio_s = _speak_answer(engine, voice, sync=True)
    info = engine.runtime()
    return {
        "engine": "chatterbox",
        "device": info["device"],
        "provider": info["provider"],
        "first_audio_s": first,
        "rtf": total / audio_s if audio_s else None,
        "audio_s": audio_s,
        "load_s": load_s,
        "memory_mb": info.get("memory_mb"),
        "note": f"random weights, {speech_tokens} tokens/clause; warm-up+voice {prepare_s:.1f} s; "
        f"checkpoint made in {made_s:.0f} s",
    }


def whisper(device: str, work: Path) -> Row:
    from harvis.models.catalog import resolve
    from harvis.speech.audio import STT_RATE, Audio
    from harvis.speech.stt import WhisperEngine

    model = resolve("whisper-tiny.en", work / "models")
    engine, load_s = _timed(lambda: WhisperEngine(model, device=device).load())
    rng = np.random.default_rng(0)
    audio = Audio((0.01 * rng.standard_normal(10 * STT_RATE)).astype(np.float32), STT_RATE)
    engine.transcribe(audio)  # warm-up
    _, took = _timed(lambda: engine.transcribe(audio))
    info = engine.runtime()
    return {
        "engine": "faster-whisper tiny.en",
        "device": info["device"],
        "provider": f"{info['provider']} {info['compute_type']}",
        "first_audio_s": None,
        "rtf": took / audio.duration_s,
        "audio_s": audio.duration_s,
        "load_s": load_s,
        "memory_mb": None,
        "note": "10 s of noise (a full 30 s window of decoding work)",
    }


def piper(device: str, work: Path) -> Row:
    from harvis.models.catalog import resolve
    from harvis.speech.piper_tts import PiperEngine
    from harvis.speech.tts import VoiceRef

    engine, load_s = _timed(lambda: PiperEngine(resolve("piper-joe", work / "models"), device=device).load())
    voice = VoiceRef("joe", "joe", "builtin", "piper")
    engine.synthesize("Warm up.", voice=voice)
    first, total, audio_s = _speak_answer(engine, voice, sync=False)
    info = engine.runtime()
    return {
        "engine": "piper joe",
        "device": info["device"],
        "provider": info["provider"],
        "first_audio_s": first,
        "rtf": total / audio_s,
        "audio_s": audio_s,
        "load_s": load_s,
        "memory_mb": None,
        "note": "",
    }


# Why a package may be absent on a GPU machine that only has torch and a 64 MiB carry.
MISSING = {
    "whisper": "faster-whisper's CTranslate2 and PyAV wheels (~75 MB) do not fit the carry; "
    "CTranslate2 4.8's CUDA build also needs CUDA 12's libcublas.so.12",
    "piper": "onnxruntime-gpu (256 MB) and the Piper voice (63 MB) do not fit the carry",
}


def run(name: str, fn: Callable[[], Row]) -> Row:
    try:
        return fn()
    except Exception as exc:  # one engine that cannot run here must not hide the others
        why = f"{exc}" + (f" ({MISSING[name]})" if isinstance(exc, ImportError) and name in MISSING else "")
        return {"engine": name, "device": "-", "provider": "-", "note": f"not measured: {why}"[:300]}


def table(rows: list[Row]) -> str:
    def num(v: Any, fmt: str, unit: str = "") -> str:
        return "-" if v is None else format(v, fmt) + unit

    lines = [
        f"{'engine':<24}{'device':<7}{'provider':<24}{'first audio':>12}{'RTF':>8}{'load':>8}{'MB':>8}  note",
    ]
    for r in rows:
        lines.append(
            f"{r['engine']:<24}{r['device']:<7}{r['provider']:<24}"
            f"{num(r.get('first_audio_s'), '.2f', ' s'):>12}"
            f"{num(r.get('rtf'), '.3f'):>8}{num(r.get('load_s'), '.1f'):>8}"
            f"{num(r.get('memory_mb'), '.0f'):>8}"
            f"  {r.get('note', '')}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--only", default="chatterbox,whisper,piper")
    parser.add_argument("--speech-tokens", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    wanted = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="harvis-gpu-check-") as tmp:
        work = Path(tmp)
        engines: dict[str, Callable[[], Row]] = {
            "chatterbox": lambda: chatterbox(args.device, work, args.speech_tokens),
            "whisper": lambda: whisper(args.device, work),
            "piper": lambda: piper(args.device, work),
        }
        rows = [run(name, fn) for name, fn in engines.items() if name in wanted]
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"device": args.device, "rows": rows}, indent=1))
    return 0 if any(r["device"] != "-" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
