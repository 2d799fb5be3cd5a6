"""/v1/realtime end to end with the official `openai` SDK's realtime client against a real
backend: a spoken question answered with audio whose transcript is the answer (and the saved
message), server VAD ending the turn, response.cancel and conversation.item.truncate stopping
the answer and saving it as heard, a wrong key refused, beta clients served beta names."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from websockets.exceptions import InvalidStatus

from harvis.speech.audio import decode
from harvis.speech.stt import WhisperEngine
from tests.protocols.conftest import Backend
from tests.protocols.wyoming_client import call, to_wav
from tests.support.speech import api_key, cer
from tests.support.voice_e2e import transcribe_wavs, whisper

pytestmark = pytest.mark.slow
TIMEOUT = 240.0


@pytest.fixture(scope="module")
def key(alice: httpx.Client) -> str:
    return api_key(alice, "realtime-tests")


@pytest.fixture(scope="module")
def stt() -> WhisperEngine:
    return whisper()


def realtime(backend: Backend, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=backend.url + "/v1", max_retries=0)


def pcm24_chunks(wav: bytes, *, silence_s: float = 0.0, chunk_ms: int = 100) -> list[str]:
    """A WAV as base64 PCM16 at 24 kHz, in pieces as a client streams its microphone."""
    samples = decode(wav, max_seconds=60, sample_rate=24000).samples
    samples = np.concatenate([samples, np.zeros(int(silence_s * 24000), np.float32)])
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    step = 24000 * 2 * chunk_ms // 1000
    return [base64.b64encode(pcm[i : i + step]).decode() for i in range(0, len(pcm), step)]


async def events_until(conn: Any, kind: str, seen: list[Any], within: float = TIMEOUT) -> Any:
    async with asyncio.timeout(within):
        async for event in conn:
            seen.append(event)
            assert event.type != "error", event
            if event.type == kind:
                return event
    raise AssertionError(f"the connection ended before {kind}")


def audio_of(seen: list[Any]) -> bytes:
    return b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta")


async def last_answer(alice: httpx.Client) -> dict[str, Any]:
    """The newest chat's last message, once it is no longer streaming (bounded poll)."""
    deadline = time.monotonic() + 60
    while True:
        newest = (await call(alice.get, "/api/sessions")).json()[0]
        last = dict((await call(alice.get, f"/api/sessions/{newest['id']}/messages")).json()[-1])
        if last["status"] != "streaming" or time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.2)


MANUAL = {
    "type": "realtime",
    "instructions": "You are a helpful voice assistant. Answer in one short sentence.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "turn_detection": None,
            "transcription": {"model": "whisper-1"},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
    },
}


async def test_a_spoken_question_is_answered_with_audio(
    backend: Backend, key: str, alice: httpx.Client, sky_question: bytes, stt: WhisperEngine
) -> None:
    seen: list[Any] = []
    async with realtime(backend, key).realtime.connect(model="gpt-realtime") as conn:
        created = await events_until(conn, "session.created", seen)
        assert created.session.model == "smollm2:135m"  # the router's default stands in, and says so
        await conn.session.update(session=MANUAL)  # type: ignore[arg-type]
        updated = await events_until(conn, "session.updated", seen)
        assert updated.session.audio.input.turn_detection is None
        for chunk in pcm24_chunks(sky_question):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        committed = await events_until(conn, "input_audio_buffer.committed", seen)
        await conn.response.create()
        heard = await events_until(conn, "conversation.item.input_audio_transcription.completed", seen)
        assert heard.item_id == committed.item_id and "sky" in heard.transcript.lower()
        done = await events_until(conn, "response.done", seen)
    assert done.response.status == "completed" and done.response.usage.output_tokens > 0
    transcript = next(e for e in seen if e.type == "response.output_audio_transcript.done").transcript
    deltas = "".join(e.delta for e in seen if e.type == "response.output_audio_transcript.delta")
    assert transcript and deltas == transcript
    audio = audio_of(seen)
    assert len(audio) > 24000  # more than half a second of speech
    spoken = transcribe_wavs(stt, [to_wav(audio, 24000)])
    assert cer(transcript, spoken) <= 0.2, (transcript, spoken)
    saved = await last_answer(alice)
    assert saved["status"] == "complete" and saved["kind"] == "voice" and saved["content"] == transcript


async def test_server_vad_ends_the_turn(backend: Backend, key: str, sky_question: bytes) -> None:
    seen: list[Any] = []
    async with realtime(backend, key).realtime.connect(model="smollm2:135m") as conn:
        vad = {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500, "prefix_padding_ms": 300}
        session = {
            "type": "realtime",
            "audio": {"input": {"turn_detection": vad, "transcription": {"model": "x"}}},
        }
        await conn.session.update(session=session)  # type: ignore[arg-type]
        await events_until(conn, "session.updated", seen)
        for chunk in pcm24_chunks(sky_question, silence_s=1.5):
            await conn.input_audio_buffer.append(audio=chunk)
        started = await events_until(conn, "input_audio_buffer.speech_started", seen)
        stopped = await events_until(conn, "input_audio_buffer.speech_stopped", seen)
        assert started.item_id == stopped.item_id and started.audio_start_ms < stopped.audio_end_ms
        heard = await events_until(conn, "conversation.item.input_audio_transcription.completed", seen)
        assert "sky" in heard.transcript.lower()
        done = await events_until(conn, "response.done", seen)  # answered without response.create
    assert done.response.status == "completed" and audio_of(seen)


async def test_cancel_and_truncate_stop_the_answer_and_save_it_as_heard(
    backend: Backend, key: str, alice: httpx.Client, story_question: bytes
) -> None:
    seen: list[Any] = []
    async with realtime(backend, key).realtime.connect(model="smollm2:135m") as conn:
        await conn.session.update(session=MANUAL)  # type: ignore[arg-type]
        await events_until(conn, "session.updated", seen)
        story = "Tell me a long story about a brave dragon."
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": story}]}
        )
        await conn.response.create(response={"instructions": "Tell long, detailed stories."})
        await events_until(conn, "response.output_audio.delta", seen)
        await conn.response.cancel()
        done = await events_until(conn, "response.done", seen)
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        cancelled = await last_answer(alice)
        said = "".join(e.delta for e in seen if e.type == "response.output_audio_transcript.delta")
        assert cancelled["status"] == "interrupted" and cancelled["content"] == said

        # The next answer plays for about a second before the listener talks over it.
        seen.clear()
        for chunk in pcm24_chunks(story_question):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        await conn.response.create(response={"instructions": "Tell long, detailed stories."})
        await events_until(conn, "response.output_audio.delta", seen)
        while len(audio_of(seen)) < 2 * 24000:  # a second of audio has reached the listener
            await events_until(conn, "response.output_audio.delta", seen)
        item_id = next(e for e in seen if e.type == "response.output_audio.delta").item_id
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=600)
        truncated = await events_until(conn, "conversation.item.truncated", seen)
        assert truncated.audio_end_ms == 600 and truncated.item_id == item_id
        if not any(e.type == "response.done" for e in seen):  # still speaking: the truncate stopped it
            done = await events_until(conn, "response.done", seen)
            assert done.response.status == "cancelled"
    saved = await last_answer(alice)
    sent = "".join(e.delta for e in seen if e.type == "response.output_audio_transcript.delta")
    assert saved["status"] == "interrupted"
    assert sent.startswith(saved["content"]) and len(saved["content"]) < len(sent), (saved["content"], sent)


async def test_a_wrong_key_is_refused(backend: Backend) -> None:
    for bad in ("hk_not-a-real-key", "x"):
        with pytest.raises(InvalidStatus) as refused:
            async with realtime(backend, bad).realtime.connect(model="gpt-realtime"):
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert json.loads(response.body)["error"]["code"] == "invalid_api_key"


async def test_beta_clients_get_beta_names(backend: Backend, key: str) -> None:
    beta = {"OpenAI-Beta": "realtime=v1"}
    async with realtime(backend, key).realtime.connect(model="smollm2:135m", extra_headers=beta) as conn:
        names: list[str] = []

        async def until(kind: str) -> dict[str, Any]:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    event = json.loads(await conn.recv_bytes())
                    names.append(event["type"])
                    if event["type"] == kind:
                        return dict(event)

        assert (await until("session.created"))["session"]["input_audio_format"] == "pcm16"
        text_only = {"modalities": ["text"], "turn_detection": None}
        await conn.send({"type": "session.update", "session": text_only})  # type: ignore[arg-type]
        await until("session.updated")
        hello = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}
        await conn.send({"type": "conversation.item.create", "item": hello})  # type: ignore[arg-type]
        await conn.send({"type": "response.create"})  # type: ignore[arg-type]
        done = await until("response.done")
        await conn.send({"type": "response.bogus"})  # type: ignore[arg-type]
        error = await until("error")
    assert done["response"]["status"] == "completed"
    assert "response.text.delta" in names and "conversation.item.created" in names
    assert "response.output_text.delta" not in names and "conversation.item.done" not in names
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["code"] == "unknown_event"


async def test_browsers_authenticate_with_the_subprotocol_not_cookies(
    backend: Backend, key: str, alice: httpx.Client
) -> None:
    from websockets.asyncio.client import connect

    url = backend.url.replace("http://", "ws://") + "/v1/realtime?model=smollm2:135m"
    protocols = ["realtime", f"openai-insecure-api-key.{key}", "openai-beta.realtime-v1"]
    async with connect(url, subprotocols=protocols) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "realtime"
        created = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert created["type"] == "session.created" and created["session"]["input_audio_format"] == "pcm16"
    cookie = f"harvis_session={alice.cookies['harvis_session']}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers={"Cookie": cookie}):
            pass
    assert refused.value.response.status_code == 401  # a signed-in browser's cookie is not enough
