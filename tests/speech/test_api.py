"""Speech over HTTP against a real `harvis serve` process: the official `openai` client with an
API key, the voice library with two users, and bad uploads that must never break the server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from harvis.speech.audio import decode, wav_bytes
from tests.support.backend import login, signup, start_backend
from tests.support.processes import Proc, free_port
from tests.support.speech import SENTENCES, api_key, espeak_wav, sox, wer

CONSENT = "I am the person in this recording, or I have their permission to use their voice here."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("backend")
    env = {
        "OLLAMA_URL": f"http://127.0.0.1:{free_port()}",  # no LLM needed: nothing listens there
        "HARVIS_AUTH__ALLOW_SIGNUP": "true",
        "HARVIS_SPEECH__MAX_UPLOAD_MB": "2",
        "HARVIS_SPEECH__VOICE_MAX_MB": "3",  # each upload route has its own limit
        "HARVIS_SPEECH__MAX_AUDIO_S": "20",
    }
    proc: Proc = start_backend(data_dir, env=env)
    try:
        signup(proc.url, "alice")
        signup(proc.url, "bob")
        alice, bob = login(proc.url, "alice"), login(proc.url, "bob")
        key = api_key(alice)
        oa = openai.OpenAI(base_url=f"{proc.url}/v1", api_key=key, timeout=120, max_retries=0)
        yield {
            "url": proc.url,
            "data_dir": data_dir,
            "alice": alice,
            "bob": bob,
            "openai": oa,
            "key": key,
            "proc": proc,
        }
        alice.close()
        bob.close()
    finally:
        proc.stop()


def transcribe(oa: openai.OpenAI, data: bytes, name: str = "a.wav") -> str:
    return oa.audio.transcriptions.create(model="whisper-1", file=(name, data, "audio/wav")).text


def test_ten_concurrent_first_requests_load_once(server: dict[str, Any], tmp_path: Path) -> None:
    # First in this module, on a fresh server: nothing is loaded yet.
    alice: httpx.Client = server["alice"]
    before = {m["name"]: m for m in alice.get("/api/models/speech").json()}
    assert before["whisper-tiny.en"]["state"] == before["piper-joe"]["state"] == "unloaded", before
    clip = espeak_wav("Hello.", tmp_path / "hello.wav").read_bytes()
    headers = {"Authorization": f"Bearer {server['key']}"}

    def one(i: int) -> int:  # even: a transcription, odd: speech; all 20 at once
        with httpx.Client(base_url=server["url"], headers=headers, timeout=180) as c:
            if i % 2 == 0:
                files, form = {"file": ("h.wav", clip)}, {"model": "whisper-1"}
                return c.post("/v1/audio/transcriptions", files=files, data=form).status_code
            body = {"input": f"Request {i}.", "voice": "alloy", "response_format": "wav"}
            return c.post("/v1/audio/speech", json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(one, range(20))) == [200] * 20
    after = {m["name"]: m for m in alice.get("/api/models/speech").json()}
    assert after["whisper-tiny.en"]["load_count"] == 1 and after["whisper-tiny.en"]["state"] == "ready"
    assert after["piper-joe"]["load_count"] == 1 and after["piper-joe"]["state"] == "ready"


def test_round_trip_with_the_openai_client(server: dict[str, Any]) -> None:
    oa: openai.OpenAI = server["openai"]
    heard = []
    for i, sentence in enumerate(SENTENCES):
        voice = ("alloy", "echo", "nova", "joe", "shimmer")[i]
        speech = oa.audio.speech.create(model="tts-1", voice=voice, input=sentence, response_format="wav")
        heard.append(transcribe(oa, speech.content))
    total = wer(" ".join(SENTENCES), " ".join(heard))
    assert total <= 0.10, list(zip(SENTENCES, heard, strict=True))


def test_speech_streams_sentence_by_sentence(server: dict[str, Any]) -> None:
    oa: openai.OpenAI = server["openai"]
    text = "This is the first sentence. Here comes the second one. And a third to finish."
    with oa.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format="pcm"
    ) as response:
        assert response.headers.get("content-length") is None  # streamed, length unknown up front
        assert response.headers["content-type"].startswith("audio/pcm")
        pieces = list(response.iter_bytes())
    data = b"".join(pieces)
    samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768
    assert len(samples) / 24_000 > 3.0  # 24 kHz PCM, as OpenAI's `pcm`
    heard = transcribe(oa, wav_bytes(samples, 24_000))
    assert wer(text, heard) <= 0.15, heard


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
def test_compressed_speech_formats(server: dict[str, Any], fmt: str) -> None:
    oa: openai.OpenAI = server["openai"]
    speech = oa.audio.speech.create(
        model="tts-1", voice="onyx", input="My favorite color is blue.", response_format=fmt
    )  # type: ignore[arg-type]
    audio = decode(speech.content, max_seconds=30)
    assert 1.0 < audio.duration_s < 4.0


def test_transcription_response_formats(server: dict[str, Any], tmp_path: Path) -> None:
    oa: openai.OpenAI = server["openai"]
    wav = oa.audio.speech.create(
        model="tts-1", voice="alloy", input="We will meet at the station at noon.", response_format="wav"
    ).content
    file = ("noon.wav", wav, "audio/wav")
    text = oa.audio.transcriptions.create(model="whisper-1", file=file, response_format="text")
    assert isinstance(text, str) and wer("We will meet at the station at noon.", text) <= 0.15
    verbose = oa.audio.transcriptions.create(
        model="whisper-1",
        file=file,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
    )
    assert verbose.language == "en" and verbose.duration > 1.5 and verbose.segments
    assert verbose.words and [w.word.lower().strip(".") for w in verbose.words][-1] == "noon"
    srt = oa.audio.transcriptions.create(model="whisper-1", file=file, response_format="srt")
    assert str(srt).startswith("1\n00:00:00,000 --> ")
    vtt = oa.audio.transcriptions.create(model="whisper-1", file=file, response_format="vtt")
    assert str(vtt).startswith("WEBVTT\n\n")


def bad_uploads(tmp_path: Path) -> list[tuple[str, bytes, int, str]]:
    clip = espeak_wav("Corrupt me please, I am a test clip.", tmp_path / "c.wav")
    long_clip = sox(clip, tmp_path / "long.wav", "repeat", "12")  # well over the 20 s limit
    good = clip.read_bytes()
    rng = np.random.default_rng(7)
    return [
        ("empty.wav", b"", 400, "empty_audio"),
        ("notes.txt", b"this is a text file, not audio\n" * 50, 400, "invalid_audio"),
        ("noise.bin", rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes(), 400, "invalid_audio"),
        ("cut.wav", good[:44], 400, "empty_audio"),  # a header and no samples
        ("long.wav", long_clip.read_bytes(), 400, "audio_too_long"),
        ("big.wav", good[:44] + bytes(2_200_000), 413, ""),  # over the 2 MB upload limit
    ]


def test_bad_uploads_get_4xx_and_the_server_goes_on(server: dict[str, Any], tmp_path: Path) -> None:
    key = server["key"]
    with httpx.Client(base_url=server["url"], headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for name, data, status, code in bad_uploads(tmp_path):
            r = c.post("/v1/audio/transcriptions", files={"file": (name, data)}, data={"model": "whisper-1"})
            assert r.status_code == status, (name, r.status_code, r.text)
            error = r.json()["error"]
            assert error["message"] and (not code or error["code"] == code), (name, error)
            assert c.get("/health/live").status_code == 200
        good = espeak_wav("Still working fine.", tmp_path / "ok.wav").read_bytes()
        r = c.post("/v1/audio/transcriptions", files={"file": ("ok.wav", good)}, data={"model": "whisper-1"})
        assert r.status_code == 200 and "working" in r.json()["text"].lower()
    assert server["proc"].popen.poll() is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "tts-1", "input": "", "voice": "alloy"}, 422),
        ({"model": "tts-1", "input": "...!!", "voice": "alloy"}, 400),
        ({"model": "tts-1", "input": "Hi.", "voice": "no-such-voice"}, 404),
        ({"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": 9}, 422),
        ({"model": "tts-1", "input": "Hi.", "voice": "alloy", "response_format": "m4a"}, 422),
        ({"model": "tts-1", "input": "x" * 5000, "voice": "alloy"}, 422),
    ],
)
def test_bad_speech_requests(server: dict[str, Any], body: dict[str, Any], status: int) -> None:
    r = httpx.post(
        f"{server['url']}/v1/audio/speech",
        json=body,
        headers={"Authorization": f"Bearer {server['key']}"},
        timeout=60,
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_audio_endpoints_need_auth(server: dict[str, Any]) -> None:
    url = server["url"]
    assert httpx.post(f"{url}/v1/audio/speech", json={"input": "Hi.", "voice": "alloy"}).status_code == 401
    assert httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", b"x")}).status_code == 401
    assert httpx.get(f"{url}/api/voices").status_code == 401
    assert httpx.get(f"{url}/api/models/speech").status_code == 401


def reference_clip(server: dict[str, Any], tmp_path: Path) -> bytes:
    """Eight seconds of a speaker unlike the built-in voice: Piper speech raised by sox."""
    oa: openai.OpenAI = server["openai"]
    text = (
        "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
        "A journey of a thousand miles begins with a single step."
    )
    src = tmp_path / "plain.wav"
    speech = oa.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="wav")
    src.write_bytes(speech.content)
    fixed = sox(src, tmp_path / "fixed.wav")  # a WAV with its real length in the header
    return sox(fixed, tmp_path / "ref.ogg", "pitch", "400").read_bytes()


def test_voice_library(server: dict[str, Any], tmp_path: Path) -> None:
    alice: httpx.Client = server["alice"]
    bob: httpx.Client = server["bob"]
    clip = reference_clip(server, tmp_path)
    listing = alice.get("/api/voices").json()
    assert listing["mode"] == "match" and listing["consent_text"] == CONSENT and listing["builtin"]

    def upload(
        client: httpx.Client, data: bytes, consent: str = CONSENT, name: str = "Alice"
    ) -> httpx.Response:
        return client.post(
            "/api/voices",
            files={"audio": ("../../evil name.ogg", data)},
            data={"name": name, "consent": consent},
        )

    assert upload(alice, clip, consent="yes").json()["error"]["code"] == "consent_required"
    short = sox(espeak_wav("Too short.", tmp_path / "s.wav"), tmp_path / "s2.wav", "pad", "0", "3")
    r = upload(alice, short.read_bytes())
    assert r.status_code == 400 and r.json()["error"]["code"] == "audio_too_short", r.text
    assert upload(alice, b"not audio at all" * 100).status_code == 400
    assert upload(alice, bytes(3_500_000)).status_code == 413
    whispered = espeak_wav(
        "The quick brown fox jumps over the lazy dog. She sells sea shells by the shore.",
        tmp_path / "w.wav",
        voice="en-us+whisper",
    )
    r = upload(alice, whispered.read_bytes())  # speech, but no voiced pitch to match
    assert r.status_code == 400 and r.json()["error"]["code"] == "unusable_reference", r.text
    too_long = sox(whispered, tmp_path / "long.flac", "repeat", "16")
    r = upload(alice, too_long.read_bytes())
    assert r.status_code == 400 and "at most 60 s" in r.json()["error"]["message"], r.text
    assert upload(alice, clip, name="   ").status_code == 400

    r = upload(alice, clip)
    assert r.status_code == 201, r.text
    voice = r.json()
    assert voice["mode"] == "match" and voice["engine"] == "piper" and 7 < voice["duration_s"] < 12
    assert voice["created_at"].endswith(("Z", "+00:00")) and len(voice["id"]) == 32
    assert voice["similarity"]["matched"] > voice["similarity"]["plain"]
    stored = list((server["data_dir"] / "voices").rglob("*.wav"))
    assert [p.name for p in stored] == [f"{voice['id']}.wav"]  # the server's name, not the upload's

    assert [v["id"] for v in alice.get("/api/voices").json()["voices"]] == [voice["id"]]
    assert bob.get("/api/voices").json()["voices"] == []
    assert bob.delete(f"/api/voices/{voice['id']}").status_code == 404
    r = bob.post("/v1/audio/speech", json={"input": "Hello.", "voice": voice["id"], "response_format": "wav"})
    assert r.status_code == 404

    text = "The weather is sunny and warm today. Please turn off the lights in the kitchen."
    r = alice.post("/v1/audio/speech", json={"input": text, "voice": voice["id"], "response_format": "wav"})
    assert r.status_code == 200
    heard = transcribe(server["openai"], r.content)
    assert wer(text, heard) <= 0.2, heard

    assert alice.delete(f"/api/voices/{voice['id']}").status_code == 204
    assert alice.delete(f"/api/voices/{voice['id']}").status_code == 404
    assert not list((server["data_dir"] / "voices").rglob("*.wav"))


def test_speech_models_are_resident(server: dict[str, Any]) -> None:
    # Runs after the tests above: many requests, and still one load per model.
    models = {m["name"]: m for m in server["alice"].get("/api/models/speech").json()}
    assert models["whisper-tiny.en"]["state"] == "ready" and models["piper-joe"]["state"] == "ready"
    assert all(m["load_count"] <= 1 for m in models.values()), models
    assert all(m["kind"] in ("stt", "tts", "vad", "speaker") for m in models.values())
    ready = httpx.get(f"{server['url']}/health/ready").json()
    assert ready["checks"]["speech"]["ok"] is True
    metrics = httpx.get(f"{server['url']}/metrics").text
    assert 'harvis_speech_model_ready{kind="stt",model="whisper-tiny.en"} 1.0' in metrics
    assert 'harvis_speech_tts_sentence_seconds_count{engine="piper",mode="match"}' in metrics
    assert "harvis_speech_stt_seconds_bucket" in metrics


def test_reference_clips_without_speech_are_refused(server: dict[str, Any]) -> None:
    rng = np.random.default_rng(5)
    silence = np.zeros(8 * 16_000, np.float32)
    noise = (0.3 * rng.standard_normal(8 * 16_000)).astype(np.float32)
    for not_speech in (silence, noise):  # 8 s each, no speech in either
        files = {"audio": ("clip.wav", wav_bytes(not_speech, 16_000))}
        r = server["alice"].post("/api/voices", files=files, data={"name": "Nobody", "consent": CONSENT})
        assert r.status_code == 400 and r.json()["error"]["code"] == "audio_too_short", r.text
        assert "s of speech" in r.json()["error"]["message"]
