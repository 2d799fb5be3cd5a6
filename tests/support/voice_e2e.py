"""Helpers for end-to-end voice tests: spoken questions from espeak-ng, the voice API's SSE
and WebSocket events, and transcribing answers back with the real STT."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from harvis.config import Settings
from harvis.models import catalog
from harvis.speech.audio import Audio, decode
from harvis.speech.stt import WhisperEngine


def spoken_wav(text: str, path: Path, *, speed: int = 150) -> bytes:
    """A WAV of `text` spoken by espeak-ng (made at test time; nothing is committed)."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is missing: install it (make setup-test / scripts/system-deps.sh)"
    subprocess.run([exe, "-s", str(speed), "-w", str(path), text], check=True, timeout=60)
    data = path.read_bytes()
    assert len(data) > 10_000, f"espeak-ng wrote an unexpectedly small WAV ({len(data)} bytes)"
    return data


def spoken_samples(text: str, path: Path, *, speed: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng as 16 kHz float32 samples, without the silence around it."""
    samples = decode(spoken_wav(text, path, speed=speed), max_seconds=600).samples
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def pcm16_frames(wav: bytes, *, frame_ms: int = 100, silence_s: float = 0.0) -> list[bytes]:
    """The WAV as 16 kHz mono PCM16 frames, as a browser's AudioWorklet would send, then silence."""
    return samples_frames(decode(wav, max_seconds=60).samples, frame_ms=frame_ms, silence_s=silence_s)


def samples_frames(samples: np.ndarray, *, frame_ms: int = 100, silence_s: float = 0.0) -> list[bytes]:
    """16 kHz float32 samples as PCM16 frames, then `silence_s` of silence."""
    samples = np.concatenate([samples, np.zeros(int(silence_s * 16000), np.float32)])
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    step = 16000 * 2 * frame_ms // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    name = "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line[5:])


def wav_of(event: dict[str, Any]) -> bytes:
    assert event["format"] == "wav"
    return base64.b64decode(event["data"])


def whisper() -> WhisperEngine:
    path = catalog.resolve("whisper-tiny.en", Settings().resolved_models_dir)
    return WhisperEngine(path, threads=1).load()


def transcribe_wavs(stt: WhisperEngine, wavs: list[bytes]) -> str:
    parts = [decode(w, max_seconds=300).samples for w in wavs]
    return stt.transcribe(Audio(np.concatenate(parts), 16000)).text


def keywords(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4}


def overlap(said: str, heard: str) -> float:
    """Share of the said text's keywords that were heard (tiny.en mishears a few words)."""
    want = keywords(said)
    return len(want & keywords(heard)) / len(want) if want else 0.0
