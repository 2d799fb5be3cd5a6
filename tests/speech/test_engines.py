"""The real engines in-process: VAD, Whisper STT, Piper TTS, through SpeechService."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harvis.config import SpeechSettings
from harvis.speech.audio import STT_RATE, Audio, decode, to_rate
from harvis.speech.service import SpeechService
from harvis.speech.voices import VoiceLibrary
from tests.support.speech import espeak_wav, sox, wer


async def speak(speech: SpeechService, text: str, **kw: object) -> Audio:
    chunks = [c async for c in speech.synthesize(text, **kw)]
    return Audio(np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate)


async def test_vad_trims_leading_and_trailing_silence(speech: SpeechService, tmp_path: Path) -> None:
    clip = espeak_wav("This sentence sits between two long silences.", tmp_path / "c.wav")
    padded = sox(clip, tmp_path / "p.wav", "pad", "2.0", "2.0")
    original = decode(clip.read_bytes(), max_seconds=30)
    audio = decode(padded.read_bytes(), max_seconds=30)
    trimmed = await speech.vad_trim(audio)
    assert abs(audio.duration_s - original.duration_s - 4.0) < 0.1
    assert original.duration_s - 0.5 < trimmed.duration_s < original.duration_s + 0.6


async def test_vad_finds_no_speech_in_silence_and_noise(speech: SpeechService) -> None:
    rng = np.random.default_rng(0)
    silence = Audio(np.zeros(STT_RATE * 2, np.float32), STT_RATE)
    hum = Audio((0.01 * rng.standard_normal(STT_RATE * 2)).astype(np.float32), STT_RATE)
    assert (await speech.vad_trim(silence)).empty
    assert (await speech.vad_trim(hum)).empty


async def test_tts_to_stt_round_trip_in_process(speech: SpeechService) -> None:
    text = "The weather is sunny and warm today. Please turn off the lights in the kitchen."
    audio = await speak(speech, text)
    heard = await speech.transcribe(to_rate(audio, STT_RATE))
    assert wer(text, heard.text) <= 0.1, heard.text
    assert heard.language == "en" and len(heard.segments) >= 1


async def test_word_timestamps(speech: SpeechService) -> None:
    audio = to_rate(await speak(speech, "My favorite color is blue."), STT_RATE)
    heard = await speech.transcribe(audio, word_timestamps=True)
    words = [w.word.strip(" .,!?").lower() for w in heard.words]
    assert wer("my favorite color is blue", " ".join(words)) <= 0.2, words
    assert " ".join(words) == " ".join(w.strip(".,!?") for w in heard.text.lower().split())
    starts = [w.start for w in heard.words]
    assert starts == sorted(starts), starts
    assert all(w.start <= w.end for w in heard.words)
    assert heard.words[-1].end <= audio.duration_s + 0.5, (heard.words[-1], audio.duration_s)


async def test_espeak_speech_is_understood(speech: SpeechService, tmp_path: Path) -> None:
    clip = espeak_wav("Please turn off the lights in the kitchen.", tmp_path / "c.wav", speed=140)
    heard = await speech.transcribe(decode(clip.read_bytes(), max_seconds=30))
    assert wer("Please turn off the lights in the kitchen.", heard.text) <= 0.3, heard.text


async def test_tts_yields_one_chunk_per_sentence(speech: SpeechService) -> None:
    text = "First sentence here. Second one follows! Is this the third?"
    chunks = [c async for c in speech.synthesize(text)]
    assert [c.text for c in chunks] == ["First sentence here.", "Second one follows!", "Is this the third?"]
    assert all(c.sample_rate == 22_050 and c.pcm.dtype == np.float32 and c.duration_s > 0.3 for c in chunks)
    assert all(float(np.abs(c.pcm).max()) <= 1.0 for c in chunks)


async def test_a_consumer_that_stops_stops_synthesis(speech: SpeechService) -> None:
    stream = speech.synthesize("One. Two. Three. Four.")
    first = await anext(stream)
    await stream.aclose()  # what a barge-in does
    assert first.text == "One."
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_speed_changes_duration(speech: SpeechService) -> None:
    # Piper's durations carry noise, and its length scale does not stretch everything (2× speed
    # gives ~0.65× the length): compare the ends of the range, which are far apart.
    slow = await speak(speech, "We will meet at the station at noon.", speed=0.5)
    normal = await speak(speech, "We will meet at the station at noon.")
    fast = await speak(speech, "We will meet at the station at noon.", speed=2.0)
    assert fast.duration_s < normal.duration_s < slow.duration_s
    assert fast.duration_s < 0.55 * slow.duration_s


async def test_a_clause_is_spoken_as_given_in_one_engine_call(speech: SpeechService) -> None:
    """The pipeline's chunker keeps "Dr. Smith" in one clause; speaking it must not re-split it."""
    engine = await speech.ensure_tts()
    calls: list[str] = []
    real = engine.synthesize

    def counted(text: str, **kw: object) -> np.ndarray:
        calls.append(text)
        return real(text, **kw)  # type: ignore[arg-type]

    engine.synthesize = counted  # type: ignore[method-assign]
    try:
        chunk = await speech.speak("You should ask Dr. Smith about it, he knows.")
    finally:
        engine.synthesize = real  # type: ignore[method-assign]
    assert calls == ["You should ask Dr. Smith about it, he knows."]
    assert chunk is not None and chunk.duration_s > 1.0


def test_builtin_voice_names(speech: SpeechService, tmp_path: Path) -> None:
    library = VoiceLibrary(speech, SpeechSettings(), data_dir=tmp_path)
    assert library.builtin("nova") == speech.builtin_voice  # OpenAI's names map to the built-in voice
    assert library.builtin("") == speech.builtin_voice and library.builtin("JOE") == speech.builtin_voice
    assert library.builtin("no-such-voice") is None
