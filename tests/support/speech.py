"""Speech test helpers: test audio made at run time (espeak-ng, sox, PyAV) and word error rate."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SENTENCES = (
    "The weather is sunny and warm today.",
    "Please turn off the lights in the kitchen.",
    "My favorite color is blue.",
    "We will meet at the station at noon.",
    "She reads a book every evening.",
)


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: install it (scripts/system-deps.sh installs espeak-ng and sox)"
    return path


def espeak_wav(text: str, path: Path, *, voice: str = "en-us", pitch: int = 50, speed: int = 160) -> Path:
    args = [need("espeak-ng"), "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text]
    subprocess.run(args, check=True, capture_output=True)
    return path


def sox(src: Path, dst: Path, *effects: str) -> Path:
    subprocess.run([need("sox"), str(src), str(dst), *effects], check=True, capture_output=True)
    return dst


def encode_av(samples: np.ndarray, rate: int, container: str, codec: str) -> bytes:
    """Encode mono float32 audio into a container in memory (e.g. webm/libopus as browsers send)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=48_000 if codec == "libopus" else rate)
        stream.layout = "mono"
        pcm = samples.astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def _distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two sequences."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference length."""
    ref = _words(reference)
    return _distance(ref, _words(hypothesis)) / max(1, len(ref))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate over letters and digits alone: a short answer spoken and heard back
    ("clear color is always blue" / "clear colors always blue") is judged by its sounds, not
    by where Whisper put the word breaks (two word errors of five)."""
    ref = "".join(_words(reference))
    return _distance(ref, "".join(_words(hypothesis))) / max(1, len(ref))


def api_key(client: httpx.Client, name: str = "speech-tests") -> str:
    r = client.post("/api/keys", json={"name": name})
    assert r.status_code == 201, f"create API key: {r.status_code} {r.text}"
    return str(r.json()["key"])
