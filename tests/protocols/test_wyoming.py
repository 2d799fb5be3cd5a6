"""The Wyoming server end to end, through the `wyoming` package's own client as Home Assistant
drives it: describe, speech to text (also streamed), text to speech (also streamed text in,
audio out clause by clause), a two-turn conversation through `handle`, voices (shared ones
listed, private ones never), and bad input answered with `error` while the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from harvis.speech.stt import WhisperEngine
from tests.protocols.conftest import Backend
from tests.protocols.wyoming_client import (
    call,
    client,
    next_event,
    read_until,
    send_audio,
    silence,
    stop_audio,
    to_wav,
    wav_pcm,
)
from tests.support.speech import sox, wer
from tests.support.voice_e2e import spoken_wav, transcribe_wavs, whisper

pytestmark = pytest.mark.slow
CONSENT = "I am the person in this recording, or I have their permission to use their voice here."


@pytest.fixture(scope="module")
def stt() -> WhisperEngine:
    return whisper()


async def describe(port: int) -> Info:
    async with client(port) as c:
        await c.write_event(Describe().event())
        return Info.from_event(await read_until(c, "info", []))


def pcm_of(events: list[Event]) -> bytes:
    return b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")


async def test_describe_lists_asr_tts_and_handle(backend: Backend) -> None:
    found = await describe(backend.wyoming_port)
    (asr,) = found.asr
    assert asr.supports_transcript_streaming and asr.installed
    assert [(m.name, m.languages, m.installed) for m in asr.models] == [("whisper-tiny.en", ["en"], True)]
    (tts,) = found.tts
    assert tts.supports_synthesize_streaming
    assert [(v.name, v.languages) for v in tts.voices] == [("joe", ["en_US"])]
    (handle,) = found.handle
    assert handle.supports_handled_streaming
    assert [m.name for m in handle.models] == ["smollm2:135m"]


async def test_speech_is_transcribed_while_it_streams_in(backend: Backend, question_dir: Path) -> None:
    first = spoken_wav("The weather is sunny and warm today.", question_dir / "w1.wav")
    second = spoken_wav("Please turn off the lights in the kitchen.", question_dir / "w2.wav")
    pcm1, rate, width, channels = wav_pcm(first)  # espeak-ng's own 22.05 kHz: the server converts
    pcm2 = wav_pcm(second)[0]
    seen: list[Event] = []
    async with client(backend.wyoming_port) as c:
        await c.write_event(Transcribe(language="en").event())
        await send_audio(c, pcm1 + silence(1.0, rate, width, channels) + pcm2, rate, width, channels)
        # The first sentence is transcribed before the audio has even stopped.
        await read_until(c, "transcript-start", seen)
        chunk = await read_until(c, "transcript-chunk", seen)
        assert wer("The weather is sunny and warm today.", chunk.data["text"]) <= 0.2, chunk.data
        await stop_audio(c)
        transcript = Transcript.from_event(await read_until(c, "transcript", seen))
        await read_until(c, "transcript-stop", seen)
    chunks = "".join(e.data["text"] for e in seen if e.type == "transcript-chunk")
    assert chunks == transcript.text
    expected = "The weather is sunny and warm today. Please turn off the lights in the kitchen."
    assert wer(expected, transcript.text) <= 0.2, transcript.text


async def test_a_short_command_gets_one_transcript(backend: Backend, sky_question: bytes) -> None:
    pcm, rate, width, channels = wav_pcm(sky_question)
    seen: list[Event] = []
    async with client(backend.wyoming_port) as c:  # as an older Home Assistant: reads `transcript`
        await c.write_event(Transcribe().event())
        await send_audio(c, silence(0.5, rate, width, channels) + pcm, rate, width, channels)
        await stop_audio(c)
        transcript = Transcript.from_event(await read_until(c, "transcript", seen))
    assert "sky" in transcript.text.lower() and "clear" in transcript.text.lower(), transcript.text


async def test_text_is_spoken(backend: Backend, stt: WhisperEngine) -> None:
    text = "The weather is sunny and warm today. Please turn off the lights in the kitchen."
    seen: list[Event] = []
    async with client(backend.wyoming_port) as c:
        await c.write_event(Synthesize(text=text).event())
        start = await read_until(c, "audio-start", seen)
        await read_until(c, "audio-stop", seen)
    assert (start.data["rate"], start.data["width"], start.data["channels"]) == (22050, 2, 1)
    assert [e.type for e in seen].count("audio-start") == 1
    heard = transcribe_wavs(stt, [to_wav(pcm_of(seen), 22050)])
    assert wer(text, heard) <= 0.25, heard


async def test_streamed_text_is_spoken_clause_by_clause(backend: Backend, stt: WhisperEngine) -> None:
    first = "The kitchen lights are now switched off for the night. "
    rest = "The front door is locked, and the heating will start at six in the morning."
    seen: list[Event] = []
    async with client(backend.wyoming_port) as c:
        await c.write_event(SynthesizeStart().event())
        for word in first.split(" "):
            await c.write_event(SynthesizeChunk(text=word + " ").event())
        await c.write_event(SynthesizeChunk(text=rest.split(" ")[0] + " ").event())
        # The first clause is spoken while the text is still arriving.
        await read_until(c, "audio-stop", seen)
        for word in rest.split(" ")[1:]:
            await c.write_event(SynthesizeChunk(text=word + " ").event())
        await c.write_event(Synthesize(text=first + rest).event())  # for older servers: ignored
        await c.write_event(SynthesizeStop().event())
        await read_until(c, "synthesize-stopped", seen)
    starts = [e for e in seen if e.type == "audio-start"]
    assert len(starts) >= 2, [e.type for e in seen]
    assert [e.type for e in seen].count("audio-stop") == len(starts)
    heard = transcribe_wavs(stt, [to_wav(pcm_of(seen), 22050)])
    assert wer(first + rest, heard) <= 0.25, heard


async def test_a_conversation_keeps_its_turns(backend: Backend, alice: httpx.Client) -> None:
    async def ask(text: str, conversation_id: str) -> tuple[Handled, list[Event]]:
        seen: list[Event] = []
        async with client(backend.wyoming_port) as c:
            context = {"conversation_id": conversation_id, "device_id": "kitchen"}
            await c.write_event(Transcript(text=text, context=context, language="en").event())
            handled = Handled.from_event(await read_until(c, "handled", seen))
            await read_until(c, "handled-stop", seen)
        assert (
            seen[0].type == "handled-start" and seen[0].data["context"]["conversation_id"] == conversation_id
        )
        assert handled.context == {"conversation_id": conversation_id}
        chunks = "".join(e.data["text"] for e in seen if e.type == "handled-chunk")
        assert handled.text and chunks.strip() == handled.text
        return handled, seen

    before = {s["id"] for s in (await call(alice.get, "/api/sessions")).json()}
    first, _ = await ask("My name is Ada. Say hello to me.", "01HA-conversation-1")
    second, _ = await ask("What is my name?", "01HA-conversation-1")
    other, _ = await ask("What is two plus two?", "01HA-conversation-2")
    new = [s for s in (await call(alice.get, "/api/sessions")).json() if s["id"] not in before]
    assert len(new) == 2, new  # one chat per Home Assistant conversation
    by_title = {s["title"]: s["id"] for s in new}
    first_chat = by_title["My name is Ada. Say hello to me."]
    messages = (await call(alice.get, f"/api/sessions/{first_chat}/messages")).json()
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert [m["content"] for m in messages] == [
        "My name is Ada. Say hello to me.",
        first.text,
        "What is my name?",
        second.text,
    ]
    other_chat = by_title["What is two plus two?"]
    others = (await call(alice.get, f"/api/sessions/{other_chat}/messages")).json()
    assert [m["content"] for m in others] == ["What is two plus two?", other.text]


def reference_clip(alice: httpx.Client, tmp_path: Path, pitch: str) -> bytes:
    """Eight seconds of a speaker unlike the built-in voice: Piper speech shifted by sox."""
    text = (
        "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
        "A journey of a thousand miles begins with a single step."
    )
    r = alice.post("/v1/audio/speech", json={"input": text, "voice": "alloy", "response_format": "wav"})
    assert r.status_code == 200, r.text
    (tmp_path / "plain.wav").write_bytes(r.content)
    fixed = sox(tmp_path / "plain.wav", tmp_path / "fixed.wav")
    return sox(fixed, tmp_path / f"ref{pitch}.ogg", "pitch", pitch).read_bytes()


def upload_voice(user: httpx.Client, clip: bytes, name: str) -> str:
    r = user.post("/api/voices", files={"audio": ("ref.ogg", clip)}, data={"name": name, "consent": CONSENT})
    assert r.status_code == 201, r.text
    assert r.json()["shared"] is False
    return str(r.json()["id"])


async def test_only_shared_voices_are_offered(
    backend: Backend, alice: httpx.Client, bob: httpx.Client, tmp_path: Path, stt: WhisperEngine
) -> None:
    alice_voice = upload_voice(alice, reference_clip(alice, tmp_path, "400"), "Alice")
    bob_voice = upload_voice(bob, reference_clip(alice, tmp_path, "-300"), "Bob")
    assert [v.name for v in (await describe(backend.wyoming_port)).tts[0].voices] == ["joe"]

    r = await call(bob.patch, f"/api/voices/{bob_voice}", json={"shared": True})  # not an admin
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await call(alice.patch, f"/api/voices/{bob_voice}", json={"shared": True})  # not hers
    assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found"
    r = await call(alice.patch, f"/api/voices/{alice_voice}", json={"shared": "maybe"})
    assert r.status_code == 422
    r = await call(alice.patch, f"/api/voices/{alice_voice}", json={"shared": True})
    assert r.status_code == 200 and r.json()["shared"] is True

    voices = (await describe(backend.wyoming_port)).tts[0].voices
    assert [(v.name, v.description) for v in voices] == [
        ("joe", voices[0].description),
        (alice_voice, "Alice (shared)"),
    ]
    assert bob_voice not in json.dumps([v.to_dict() for v in voices])

    text = "The garden gate is closed."
    seen: list[Event] = []
    async with client(backend.wyoming_port) as c:
        await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=bob_voice)).event())
        refused = await next_event(c)
        assert refused.type == "error" and refused.data["code"] == "voice_not_found", refused.data
        await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=alice_voice)).event())
        await read_until(c, "audio-stop", seen)
    assert wer(text, transcribe_wavs(stt, [to_wav(pcm_of(seen), 22050)])) <= 0.25

    r = await call(alice.patch, f"/api/voices/{alice_voice}", json={"shared": False})
    assert r.json()["shared"] is False
    assert [v.name for v in (await describe(backend.wyoming_port)).tts[0].voices] == ["joe"]


async def raw_event(reader: asyncio.StreamReader) -> tuple[str, dict[str, object]]:
    header = json.loads(await asyncio.wait_for(reader.readline(), 60))
    data = dict(header.get("data") or {})
    if header.get("data_length"):
        data.update(json.loads(await reader.readexactly(header["data_length"])))
    if header.get("payload_length"):
        await reader.readexactly(header["payload_length"])
    return str(header["type"]), data


async def raw_error(reader: asyncio.StreamReader) -> dict[str, object]:
    kind, data = await raw_event(reader)
    assert kind == "error", (kind, data)
    return data


async def test_bad_input_gets_an_error_and_the_server_keeps_serving(backend: Backend) -> None:
    port = backend.wyoming_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"this is not json\n")
        assert (await raw_error(reader))["code"] == "bad_event"
        writer.write(b'{"data": {}}\n')  # no type
        assert (await raw_error(reader))["code"] == "bad_event"
        big = 200 * 1024  # over the payload limit of 64 KiB: read past, not kept
        writer.write(json.dumps({"type": "audio-chunk", "payload_length": big}).encode() + b"\n" + bytes(big))
        assert (await raw_error(reader))["code"] == "too_large"
        writer.write(b'{"type": "synthesize", "data": {"voice": {}}}\n')  # no text
        assert (await raw_error(reader))["code"] == "bad_event"
        writer.write(json.dumps({"type": "synthesize", "data": {"text": "word " * 500}}).encode() + b"\n")
        assert (await raw_error(reader))["code"] == "too_large"
        writer.write(b'{"type": "audio-stop"}\n')
        assert (await raw_error(reader))["code"] == "no_audio"
        writer.write(b'{"type": "describe"}\n')  # the same connection still answers
        assert (await raw_event(reader))[0] == "info"
        writer.write(b"x" * (70 * 1024))  # a header past 64 KiB: the stream is lost, the connection closed
        await writer.drain()
        assert (await raw_error(reader))["code"] == "too_large"
        assert await asyncio.wait_for(reader.read(), 60) == b""
    finally:
        writer.close()

    seen: list[Event] = []
    async with client(port) as c:  # audio over the limit (20 s here), then a request that works
        await c.write_event(Transcribe(language="de").event())
        await send_audio(c, silence(0.1, 16000, 2, 1), 16000, 2, 1)
        refused = await next_event(c)
        assert refused.type == "error" and refused.data["code"] == "unsupported_language", refused.data
        await c.write_event(Transcribe(language="en").event())
        await send_audio(c, silence(21, 16000, 2, 1), 16000, 2, 1)
        refused = await next_event(c)
        assert refused.type == "error" and refused.data["code"] == "too_large", refused.data
        await stop_audio(c)
        await c.write_event(Synthesize(text="Still here.").event())
        await read_until(c, "audio-stop", seen)
    assert len(pcm_of(seen)) > 22050  # more than half a second of speech
    assert (await describe(port)).asr
