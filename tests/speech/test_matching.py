"""Voice matching (WORLD + speaker embedding): closer to the reference, still intelligible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harvis.speech import matching
from harvis.speech.audio import STT_RATE, Audio, decode, to_rate, wav_bytes
from harvis.speech.service import SpeechService
from harvis.speech.tts import VoiceRef
from tests.support.speech import espeak_wav, sox, wer

REFERENCE_TEXT = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "A journey of a thousand miles begins with a single step."
)
HELD_OUT = "Tomorrow will be sunny with a light breeze in the afternoon."


async def speak(speech: SpeechService, text: str, voice: VoiceRef | None = None) -> Audio:
    chunks = [c async for c in speech.synthesize(text, voice=voice)]
    return Audio(np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate)


async def other_speaker(speech: SpeechService, kind: str, workdir: Path) -> Audio:
    """A reference speaker unlike the built-in voice, on different words than the test sentence."""
    if kind == "shifted":  # the built-in voice made higher and with a shorter vocal tract by sox
        plain = await speak(speech, REFERENCE_TEXT)
        src = workdir / "plain.wav"
        src.write_bytes(wav_bytes(plain.samples, plain.sample_rate))
        path = sox(src, workdir / "shifted.wav", "pitch", "400")
    else:  # espeak-ng's female variant, high pitch
        path = espeak_wav(REFERENCE_TEXT, workdir / "espeak.wav", voice="en-us+f3", pitch=70)
    return decode(path.read_bytes(), max_seconds=60)


@pytest.mark.parametrize(("kind", "margin"), [("shifted", 0.3), ("espeak", 0.1)])
async def test_matched_voice_is_closer_and_still_intelligible(
    speech: SpeechService, tmp_path: Path, kind: str, margin: float
) -> None:
    reference = await other_speaker(speech, kind, tmp_path)
    encoder = await speech.speaker.get()
    probe = await speak(speech, "I can help you with that. Let me think about it for a moment.")
    params = matching.fit(reference.samples, probe.samples, probe.sample_rate, encoder)
    assert params.similarity_matched > params.similarity_plain
    assert params.target_f0[0] > params.source_f0[0]  # both references are higher than Joe

    voice = VoiceRef(id="v", name="matched", mode="match", engine="piper", speaker_data=params.to_json())
    plain = to_rate(await speak(speech, HELD_OUT), STT_RATE)
    matched = to_rate(await speak(speech, HELD_OUT, voice), STT_RATE)
    target = encoder.embed(reference.samples)
    sim_plain = matching.cosine(encoder.embed(plain.samples), target)
    sim_matched = matching.cosine(encoder.embed(matched.samples), target)
    assert sim_matched > sim_plain + margin, (sim_plain, sim_matched)

    heard = await speech.transcribe(matched)
    assert wer(HELD_OUT, heard.text) <= 0.2, heard.text


def test_match_params_round_trip_json() -> None:
    params = matching.MatchParams(
        alpha=1.15, source_f0=(4.8, 0.2), target_f0=(5.3, 0.25), similarity_plain=0.2, similarity_matched=0.7
    )
    assert matching.MatchParams.from_json(params.to_json()) == params
