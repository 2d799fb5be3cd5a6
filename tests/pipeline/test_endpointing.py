"""End-of-turn detection on a live 16 kHz stream with the real Silero VAD."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harvis.pipeline.endpointing import RATE, Endpointer, Moment, SileroStream
from harvis.speech.audio import decode
from tests.support.voice_e2e import spoken_wav


def run(samples: np.ndarray, endpointer: Endpointer, frame: int = 1600) -> list[tuple[float, Moment]]:
    """Feed `samples` in 100 ms frames; the moments found, with the stream time they came at."""
    vad, out, fed = SileroStream(), [], 0
    for start in range(0, len(samples), frame):
        chunk = samples[start : start + frame]
        for window, prob in vad.windows(chunk):
            fed += len(window)
            if (moment := endpointer.push(window, prob)) is not None:
                out.append((fed / RATE, moment))
    return out


def test_speech_then_silence_gives_one_turn_holding_the_speech(tmp_path: Path) -> None:
    speech = decode(spoken_wav("What color is the sky on a clear day?", tmp_path / "q.wav"), max_seconds=30)
    lead, tail = np.zeros(RATE // 2, np.float32), np.zeros(RATE * 2, np.float32)
    samples = np.concatenate([lead, speech.samples, tail])
    moments = run(samples, Endpointer(end_ms=700))
    kinds = [m.kind for _, m in moments]
    assert kinds == ["speech_started", "turn_ended"], kinds
    started_at, ended_at = moments[0][0], moments[1][0]
    assert 0.5 <= started_at <= 1.0  # speech began after the half second of silence
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    spoken_until = float(loud[-1]) / RATE  # espeak's file ends with some silence of its own
    assert spoken_until + 0.5 <= ended_at <= spoken_until + 1.2, (spoken_until, ended_at)  # ~0.7 s later
    audio = moments[1][1].audio
    assert audio is not None
    assert abs(len(audio) / RATE - speech.duration_s) < 0.8  # the utterance, without the silences


def test_silence_and_a_click_are_not_speech() -> None:
    samples = np.zeros(RATE * 2, np.float32)
    samples[RATE] = 0.9  # one click
    assert run(samples, Endpointer()) == []


def test_an_endless_utterance_is_cut_at_the_maximum(tmp_path: Path) -> None:
    speech = decode(
        spoken_wav("one two three four five six seven eight nine ten", tmp_path / "n.wav"), max_seconds=30
    )
    moments = run(speech.samples, Endpointer(max_s=1.0))
    assert [m.kind for _, m in moments][:2] == ["speech_started", "turn_ended"]
    first_turn = moments[1][1].audio
    assert first_turn is not None and len(first_turn) / RATE <= 1.5
