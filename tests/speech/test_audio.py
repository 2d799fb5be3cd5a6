"""Decoding untrusted uploads, resampling and encoding (PyAV; test audio made by espeak-ng and sox)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harvis.speech.audio import AudioError, decode, resample, wav_bytes, wav_header
from harvis.speech.encode import StreamEncoder
from harvis.speech.formats import srt, vtt
from harvis.speech.stt import Segment, Transcript
from harvis.speech.tts import split_sentences
from tests.support.speech import encode_av, espeak_wav, sox


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return espeak_wav("Testing one two three, this is a short clip.", tmp_path_factory.mktemp("a") / "c.wav")


@pytest.mark.parametrize("suffix", [".wav", ".ogg", ".flac"])
def test_decodes_common_formats_to_16k_mono(clip: Path, tmp_path: Path, suffix: str) -> None:
    src = sox(clip, tmp_path / f"x{suffix}", "channels", "2", "rate", "44100")  # stereo 44.1 kHz in
    reference = decode(clip.read_bytes(), max_seconds=60)
    audio = decode(src.read_bytes(), max_seconds=60)
    assert audio.sample_rate == 16_000 and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration_s - reference.duration_s) < 0.15
    assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0


@pytest.mark.parametrize(
    ("container", "codec"), [("webm", "libopus"), ("mp3", "libmp3lame"), ("ogg", "libopus")]
)
def test_decodes_browser_and_compressed_audio(clip: Path, container: str, codec: str) -> None:
    reference = decode(clip.read_bytes(), max_seconds=60)
    data = encode_av(reference.samples, 16_000, container, codec)
    audio = decode(data, max_seconds=60)
    assert abs(audio.duration_s - reference.duration_s) < 0.1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_audio"),
        (b"hello, I am plain text and not audio at all\n" * 20, "invalid_audio"),
        (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "invalid_audio"),
        (wav_header(16_000, 0), "empty_audio"),
    ],
)
def test_bad_uploads_raise_clear_errors(data: bytes, code: str) -> None:
    with pytest.raises(AudioError) as info:
        decode(data, max_seconds=10)
    assert info.value.code == code and info.value.status < 500 and info.value.message


def test_corrupt_compressed_audio_is_an_audio_error(clip: Path, tmp_path: Path) -> None:
    mp3 = encode_av(decode(clip.read_bytes(), max_seconds=60).samples, 16_000, "mp3", "libmp3lame")
    broken = mp3[:200] + bytes(len(mp3) - 200)  # header kept, the frames zeroed
    with pytest.raises(AudioError) as info:
        decode(broken, max_seconds=10)
    assert info.value.code in ("invalid_audio", "empty_audio")


def test_too_long_audio_stops_early(clip: Path) -> None:
    with pytest.raises(AudioError) as info:
        decode(clip.read_bytes(), max_seconds=1.0)
    assert info.value.code == "audio_too_long" and "1 s" in info.value.message


def test_resample_keeps_duration_and_pitch() -> None:
    t = np.arange(22_050) / 22_050
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = resample(tone, 22_050, 16_000)
    assert abs(len(out) - 16_000) < 64
    spectrum = np.abs(np.fft.rfft(out[1000:15000]))
    peak_hz = np.argmax(spectrum) * 16_000 / len(out[1000:15000])
    assert abs(peak_hz - 440) < 5


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac"])
def test_stream_encoder_output_decodes_whole(fmt: str) -> None:
    t = np.arange(22_050) / 22_050
    tone = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    enc = StreamEncoder(fmt, 22_050)
    parts = [enc.start(), enc.feed(tone), enc.feed(tone), enc.end()]
    assert parts[1], "the first sentence must produce bytes before the stream ends"
    audio = decode(b"".join(parts), max_seconds=10)
    assert abs(audio.duration_s - 2.0) < 0.1


def test_pcm_is_openai_24k_s16le() -> None:
    tone = np.full(22_050, 0.25, np.float32)
    enc = StreamEncoder("pcm", 22_050)
    data = enc.start() + enc.feed(tone) + enc.end()
    assert abs(len(data) // 2 - 24_000) < 64
    assert abs(int(np.frombuffer(data, "<i2")[12_000]) - 8192) < 200


def test_wav_bytes_round_trip() -> None:
    samples = np.linspace(-0.5, 0.5, 16_000, dtype=np.float32)
    audio = decode(wav_bytes(samples, 16_000), max_seconds=5)
    assert np.allclose(audio.samples, samples, atol=1e-3)


def test_sentence_split() -> None:
    text = 'Hello there! How are you? I am "fine." Thanks…\nNew line here\n\n...'
    expected = ["Hello there!", "How are you?", 'I am "fine."', "Thanks…", "New line here"]
    assert split_sentences(text) == expected
    long = "word " * 200
    parts = split_sentences(long)
    assert len(parts) > 1 and all(len(p) <= 401 for p in parts)
    assert " ".join(parts).split() == long.split()


def test_subtitle_formats() -> None:
    t = Transcript(
        text="Hi. Bye.",
        language="en",
        duration_s=3725.5,
        segments=[
            Segment(id=0, start=0.0, end=1.25, text="Hi."),
            Segment(id=1, start=3723.5, end=3725.5, text="Bye."),
        ],
    )
    assert srt(t) == "1\n00:00:00,000 --> 00:00:01,250\nHi.\n\n2\n01:02:03,500 --> 01:02:05,500\nBye.\n"
    assert vtt(t).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHi.\n")
