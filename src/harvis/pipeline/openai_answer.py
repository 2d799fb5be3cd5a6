"""One OpenAI Realtime response: a Turn of the pipeline, told as Realtime events.

The pending user items' words (transcribed when they were committed) begin the turn; its
spoken clauses go out as `response.output_audio.delta` at 24 kHz with the clause's text as
`response.output_audio_transcript.delta` (so the transcript is what the audio says), text
answers as `response.output_text.delta`; `response.done` carries the status and the usage.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from harvis.errors import BadInput, HarvisError
from harvis.pipeline import events as ev
from harvis.pipeline import openai_wire as wire
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import pcm16, resample
from harvis.speech.tts import VoiceRef

if TYPE_CHECKING:
    from harvis.pipeline.openai_realtime import OpenAIRealtimeSession

log = logging.getLogger(__name__)
DELTA_S = 0.2  # seconds of audio per output delta
STATUS = {"complete": "completed", "interrupted": "cancelled", "stopped": "cancelled", "error": "failed"}


@dataclass
class Item:
    id: str
    role: str
    text: str = ""
    ready: asyncio.Task[str] | None = None  # a user item's transcription
    turn: Turn | None = None  # an assistant item's turn
    audio_ms: int = 0  # an assistant item's audio handed out


@dataclass
class Response:
    id: str
    item: Item
    audio: bool
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None
    transcript: list[str] = field(default_factory=list)


def audio_pieces(event: ev.AudioOut) -> list[bytes]:
    """A spoken clause (a WAV at the engine's rate) as 24 kHz PCM16 pieces for output deltas."""
    samples = np.frombuffer(event.wav[44:], dtype="<i2").astype(np.float32) / 32768.0
    pcm = pcm16(resample(samples, event.sample_rate, wire.RATE))
    step = int(wire.RATE * DELTA_S) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def response_options(pipeline: Pipeline, config: wire.SessionConfig, voice: VoiceRef | None) -> TurnOptions:
    options = pipeline.voice_options(model=config.model, voice=voice)
    llm_options = dict(options.llm_options)
    if config.max_output_tokens:
        llm_options["num_predict"] = config.max_output_tokens
    return dataclasses.replace(
        options,
        speak=config.audio_out,
        system_prompt=config.instructions or options.system_prompt,
        llm_options=llm_options,
    )


def _object(r: Response, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "realtime.response",
        "status": status,
        "output_modalities": ["audio"] if r.audio else ["text"],
        "conversation_id": None,
        "output": [],
        **extra,
    }


async def run_response(
    s: OpenAIRealtimeSession, r: Response, config: wire.SessionConfig, voice: VoiceRef | None, auto: bool
) -> None:
    items, s.unanswered = s.unanswered, []
    texts = [await i.ready if i.ready is not None else i.text for i in items]
    text = "\n".join(t for t in texts if t.strip())
    if not text:
        if not auto:  # a response to noise (server VAD) is simply not made
            await s.error(BadInput("there are no new user words to answer", code="no_user_input"))
        return
    turn = s.pipeline.turn(
        s.recorder_for(s.chat_id), response_options(s.pipeline, config, voice), on_end=s._on_end
    )
    r.item.turn = turn
    await s.emit({"type": "response.created", "response": _object(r, "in_progress")})
    try:
        started = await turn.begin(text)
    except Exception:
        log.exception("realtime: could not save the user's words")
        unsaved = HarvisError("the conversation could not be saved; try again", code="storage_failed")
        await s.error(unsaved)
        await _done(s, r, "failed", None, unsaved)
        return
    s.chat_id = started.session_id
    previous = next(reversed(s.items), None)
    base = {"response_id": r.id, "item_id": r.item.id, "output_index": 0}
    await s.emit(
        {
            "type": "response.output_item.added",
            "response_id": r.id,
            "output_index": 0,
            "item": _item(r, "in_progress"),
        }
    )
    await s._add(r.item, _item(r, "in_progress"), previous)
    part = {"type": "audio", "transcript": ""} if r.audio else {"type": "text", "text": ""}
    await s.emit({"type": "response.content_part.added", **base, "content_index": 0, "part": part})
    done: ev.Done | None = None
    failure: ev.Error | None = None
    async for event in turn.answer():
        if isinstance(event, ev.Token) and not r.audio:
            r.transcript.append(event.text)
            await s.emit(
                {"type": "response.output_text.delta", **base, "content_index": 0, "delta": event.text}
            )
        elif isinstance(event, ev.AudioOut) and r.audio:
            for piece in await asyncio.to_thread(audio_pieces, event):
                delta = base64.b64encode(piece).decode("ascii")
                await s.emit(
                    {"type": "response.output_audio.delta", **base, "content_index": 0, "delta": delta}
                )
                r.item.audio_ms += len(piece) * 1000 // (2 * wire.RATE)
            said = event.text if not r.transcript else " " + event.text
            r.transcript.append(said)
            await s.emit(
                {"type": "response.output_audio_transcript.delta", **base, "content_index": 0, "delta": said}
            )
        elif isinstance(event, ev.Error):
            failure = event
            await s.emit(wire.error_event(event.code, event.message, status=500))
        elif isinstance(event, ev.Done):
            done = event
    status = STATUS.get(turn.status, "failed")
    await _finish(s, r, base, status, done, failure)


def _item(r: Response, status: str) -> dict[str, Any]:
    return wire.assistant_item(r.item.id, audio=r.audio, text="".join(r.transcript), status=status)


async def _finish(
    s: OpenAIRealtimeSession,
    r: Response,
    base: dict[str, Any],
    status: str,
    done: ev.Done | None,
    failure: ev.Error | None,
) -> None:
    said = "".join(r.transcript)
    r.item.text = said
    if r.audio:
        await s.emit({"type": "response.output_audio.done", **base, "content_index": 0})
        await s.emit(
            {"type": "response.output_audio_transcript.done", **base, "content_index": 0, "transcript": said}
        )
        part = {"type": "audio", "transcript": said}
    else:
        await s.emit({"type": "response.output_text.done", **base, "content_index": 0, "text": said})
        part = {"type": "text", "text": said}
    await s.emit({"type": "response.content_part.done", **base, "content_index": 0, "part": part})
    item = _item(r, "completed" if status == "completed" else "incomplete")
    await s.emit({"type": "response.output_item.done", "response_id": r.id, "output_index": 0, "item": item})
    await s.emit({"type": "conversation.item.done", "item": item})
    error = HarvisError(failure.message, code=failure.code) if failure is not None else None
    await _done(s, r, status, done, error, output=[item])


async def _done(
    s: OpenAIRealtimeSession,
    r: Response,
    status: str,
    done: ev.Done | None,
    error: HarvisError | None,
    output: list[dict[str, Any]] | None = None,
) -> None:
    details: dict[str, Any] | None = None
    if status == "cancelled":
        details = {"type": "cancelled", "reason": r.cancel_reason or "client_cancelled"}
    elif status == "failed":
        details = {"type": "failed", "error": {"type": "server_error", "code": error.code if error else None}}
    used = done.usage if done is not None else {}
    usage = wire.usage(int(used.get("prompt_tokens", 0)), int(used.get("completion_tokens", 0)))
    response = _object(r, status, status_details=details, output=output or [], usage=usage)
    await s.emit({"type": "response.done", "response": response})
