"""Transcript output formats of OpenAI's transcription API: verbose_json, srt, vtt."""

from __future__ import annotations

from typing import Any

from harvis.speech.stt import Transcript


def verbose_json(t: Transcript, *, words: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task": "transcribe",
        "language": t.language or "",
        "duration": round(t.duration_s, 3),
        "text": t.text,
        "segments": [
            {
                "id": s.id,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": 0.0,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for s in t.segments
        ],
    }
    if words:
        out["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)} for w in t.words
        ]
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(t.segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(t: Transcript) -> str:
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in t.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)
