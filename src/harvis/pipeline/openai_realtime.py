"""An OpenAI Realtime session (the logic of /v1/realtime, without the socket).

Client events come in as dicts, server events go out through `send`. The conversation is a
Harvis chat: each response is a Turn of the pipeline (the user's words saved first, the answer
streamed as clauses are spoken, saved as the listener got it), so barge-in and
`response.cancel` stop the LLM, and `conversation.item.truncate` saves the answer as heard
(`Turn.truncate`). Input audio: openai_input.py; wire shapes: openai_wire.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from harvis.errors import BadInput, HarvisError, NotFound
from harvis.pipeline import openai_wire as wire
from harvis.pipeline.endpointing import RATE
from harvis.pipeline.openai_answer import Item, Response, run_response
from harvis.pipeline.openai_input import MIN_COMMIT_MS, Committed, InputBuffer, SpeechStarted, WindowProbs
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.ports import TurnRecorder
from harvis.pipeline.turn import Turn
from harvis.speech.audio import Audio
from harvis.speech.stream_audio import StreamResampler, pcm_to_float
from harvis.speech.tts import VoiceRef

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
ResolveVoice = Callable[[str], Awaitable[VoiceRef]]
MAX_APPEND_BYTES = 15 * 1024 * 1024  # decoded audio in one append, as OpenAI allows
MAX_ITEMS = 500  # conversation items remembered for truncate (the chat itself is in the store)


class OpenAIRealtimeSession:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        recorder_for: Callable[[str | None], TurnRecorder],
        send: Send,
        vad: Callable[[], WindowProbs],
        resolve_voice: ResolveVoice,
        config: wire.SessionConfig,
        beta: bool = False,
        on_end: Callable[[Turn], None] | None = None,
    ) -> None:
        self.pipeline, self.recorder_for, self._send = pipeline, recorder_for, send
        self.resolve_voice, self.config, self.beta, self._on_end = resolve_voice, config, beta, on_end
        self.id = wire.new_id("sess")
        s = pipeline.settings
        self.input = InputBuffer(vad=vad, max_s=s.max_utterance_s, start_ms=s.speech_start_ms)
        self.input.configure(config.turn_detection)
        self.voice: VoiceRef | None = None
        self.items: OrderedDict[str, Item] = OrderedDict()
        self.unanswered: list[Item] = []
        self.response: Response | None = None
        self.chat_id: str | None = None
        self._next_item = wire.new_id("item")  # the id speech_started announces for the commit
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- out
    async def emit(self, event: dict[str, Any]) -> None:
        name = event["type"]
        if self.beta:
            if name in wire.GA_ONLY:
                return
            name = wire.BETA_NAMES.get(name, name)
        await self._send({**event, "type": name, "event_id": wire.new_id("event")})

    async def error(self, exc: HarvisError, event_id: str | None = None) -> None:
        await self.emit(wire.error_event(exc.code, exc.message, status=exc.status, event_id=event_id))

    async def open(self) -> None:
        self.voice = await self.resolve_voice(self.config.voice)
        await self.emit(
            {"type": "session.created", "session": wire.render(self.config, self.id, beta=self.beta)}
        )

    # ---- in
    async def handle(self, message: Any) -> None:
        event_id = message.get("event_id") if isinstance(message, dict) else None
        try:
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise BadInput('a client event is a JSON object with a "type"', code="invalid_event")
            await self._dispatch(message["type"], message)
        except HarvisError as exc:
            await self.error(exc, event_id if isinstance(event_id, str) else None)
        except (KeyError, TypeError, ValueError) as exc:
            bad = BadInput(
                f"{message.get('type')}: a field is missing or malformed ({exc})", code="invalid_event"
            )
            await self.error(bad, event_id if isinstance(event_id, str) else None)

    async def _dispatch(self, kind: str, m: dict[str, Any]) -> None:
        if kind in ("session.update", "transcription_session.update"):
            await self._update(m["session"])
        elif kind == "input_audio_buffer.append":
            await self._append(m["audio"])
        elif kind == "input_audio_buffer.commit":
            await self._commit(self.input.commit())
        elif kind == "input_audio_buffer.clear":
            self.input.clear()
            await self.emit({"type": "input_audio_buffer.cleared"})
        elif kind == "conversation.item.create":
            await self._create_item(m["item"])
        elif kind == "response.create":
            await self._start_response(m.get("response") or {}, auto=False)
        elif kind == "response.cancel":
            await self._cancel("client_cancelled", required=True)
        elif kind == "conversation.item.truncate":
            await self._truncate(str(m["item_id"]), int(m.get("content_index", 0)), int(m["audio_end_ms"]))
        elif kind == "output_audio_buffer.clear":
            await self._cancel("client_cancelled", required=False)
        else:
            raise BadInput(f"unknown client event {kind!r}", code="unknown_event")

    async def _update(self, session: Any) -> None:
        config = wire.apply_update(self.config, session)
        voice = await self.resolve_voice(config.voice) if config.voice != self.config.voice else self.voice
        if config.turn_detection != self.config.turn_detection:
            self.input.configure(config.turn_detection)
        self.config, self.voice = config, voice
        await self.emit({"type": "session.updated", "session": wire.render(config, self.id, beta=self.beta)})

    # ---- the user's side
    async def _append(self, audio: Any) -> None:
        for moment in await self.input.append(_b64(audio)):
            if isinstance(moment, SpeechStarted):
                await self.emit(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": moment.audio_start_ms,
                        "item_id": self._next_item,
                    }
                )
                self.pipeline.warm(self.config.model)  # a cold model loads while the user talks
                vad = self.config.turn_detection
                if vad is not None and vad.interrupt_response:
                    await self._cancel("turn_detected", required=False)
            else:
                stopped = {"audio_end_ms": moment.audio_end_ms, "item_id": self._next_item}
                await self.emit({"type": "input_audio_buffer.speech_stopped", **stopped})
                await self._commit(moment)
                vad = self.config.turn_detection
                if vad is not None and vad.create_response:
                    await self._start_response({}, auto=True)

    async def _commit(self, committed: Committed) -> None:
        item = Item(self._next_item, "user")
        self._next_item = wire.new_id("item")
        previous = next(reversed(self.items), None)
        await self.emit(
            {"type": "input_audio_buffer.committed", "item_id": item.id, "previous_item_id": previous}
        )
        await self._add(item, wire.user_item(item.id, transcript=None), previous)
        item.ready = self._spawn(self._hear(item, committed.audio, committed.trimmed))

    async def _create_item(self, spec: Any) -> None:
        if (
            not isinstance(spec, dict)
            or spec.get("type", "message") != "message"
            or spec.get("role") != "user"
        ):
            raise BadInput("only user messages can be added to the conversation", code="unsupported_item")
        parts = spec.get("content")
        if not isinstance(parts, list) or len(parts) != 1 or not isinstance(parts[0], dict):
            raise BadInput("a user message holds one content part", code="invalid_value")
        part, previous = parts[0], next(reversed(self.items), None)
        item = Item(str(spec.get("id") or wire.new_id("item"))[:64], "user")
        if part.get("type") == "input_text" and isinstance(part.get("text"), str):
            item.text = part["text"]
            await self._add(item, wire.user_item(item.id, text=item.text), previous)
            await self.emit(
                {"type": "conversation.item.done", "item": wire.user_item(item.id, text=item.text)}
            )
        elif part.get("type") == "input_audio":
            samples = await asyncio.to_thread(from_wire, _b64(part.get("audio")))
            if len(samples) * 1000 // RATE < MIN_COMMIT_MS:
                raise BadInput(f"the audio holds less than {MIN_COMMIT_MS} ms", code="invalid_value")
            await self._add(item, wire.user_item(item.id, transcript=None), previous)
            item.ready = self._spawn(self._hear(item, samples, False))
        else:
            raise BadInput("content parts are input_text (text) or input_audio (audio)", code="invalid_value")

    async def _add(self, item: Item, wire_item: dict[str, Any], previous: str | None) -> None:
        self.items[item.id] = item
        while len(self.items) > MAX_ITEMS:
            self.items.popitem(last=False)
        if item.role == "user":
            self.unanswered.append(item)
        await self.emit({"type": "conversation.item.added", "item": wire_item, "previous_item_id": previous})

    async def _hear(self, item: Item, samples: np.ndarray, trimmed: bool) -> str:
        speech = self.pipeline.speech
        try:
            audio = Audio(samples, RATE)
            heard = await speech.transcribe(audio if trimmed else await speech.vad_trim(audio))
            item.text = heard.text.strip()
        except Exception as exc:
            log.exception("realtime: transcription failed")
            failed = {"type": "transcription_failed", "code": "stt_failed", "message": str(exc)[:200]}
            if self.config.transcription is not None:
                await self.emit(
                    {
                        "type": "conversation.item.input_audio_transcription.failed",
                        "item_id": item.id,
                        "content_index": 0,
                        "error": failed,
                    }
                )
            return ""
        if self.config.transcription is not None:
            await self.emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item.id,
                    "content_index": 0,
                    "transcript": item.text,
                    "usage": {"type": "duration", "seconds": round(len(samples) / RATE, 3)},
                }
            )
        await self.emit(
            {"type": "conversation.item.done", "item": wire.user_item(item.id, transcript=item.text)}
        )
        return item.text

    # ---- the assistant's side
    async def _start_response(self, params: dict[str, Any], *, auto: bool) -> None:
        current = self.response
        if current is not None and current.cancel_reason is not None and current.task is not None:
            await asyncio.gather(current.task, return_exceptions=True)  # being stopped: let it end
        if self.response is not None:
            raise BadInput(
                "a response is already in progress", code="conversation_already_has_active_response"
            )
        if not self.unanswered and not auto:
            raise BadInput("there are no new user words to answer", code="no_user_input")
        config = wire.apply_update(self.config, {k: v for k, v in params.items() if k != "voice"})
        voice = await self.resolve_voice(str(params["voice"])) if params.get("voice") else self.voice
        response = Response(
            wire.new_id("resp"), Item(wire.new_id("item"), "assistant"), audio=config.audio_out
        )
        self.response = response
        response.task = self._spawn(self._respond(response, config, voice, auto))

    async def _respond(
        self, r: Response, config: wire.SessionConfig, voice: VoiceRef | None, auto: bool
    ) -> None:
        try:
            await run_response(self, r, config, voice, auto)
        finally:
            if self.response is r:
                self.response = None

    async def _cancel(self, reason: str, *, required: bool) -> None:
        r = self.response
        if r is None or r.item.turn is None:
            if required:
                raise BadInput(
                    "there is no response in progress to cancel", code="response_cancel_not_active"
                )
            return
        r.cancel_reason = r.cancel_reason or reason
        r.item.turn.cancel()

    async def _truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        item = self.items.get(item_id)
        if item is None or item.turn is None:
            raise NotFound(f"no assistant item {item_id!r} in this conversation", code="item_not_found")
        if not 0 <= audio_end_ms <= item.audio_ms:
            raise BadInput(
                f"audio_end_ms must be within the item's {item.audio_ms} ms of audio", code="invalid_value"
            )
        r = self.response
        if r is not None and r.item is item:
            r.cancel_reason = r.cancel_reason or "client_cancelled"
        item.text = await item.turn.truncate(audio_end_ms / 1000.0)
        await self.emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    # ---- lifetime
    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        if self.response is not None and self.response.item.turn is not None:
            self.response.item.turn.cancel()
        for task in list(self._tasks):
            if task is not (self.response.task if self.response else None):
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _b64(audio: Any) -> bytes:
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise BadInput("audio must be base64 of PCM16 at 24 kHz", code="invalid_audio") from None
    if len(pcm) > MAX_APPEND_BYTES:
        raise BadInput(f"one piece of audio holds at most {MAX_APPEND_BYTES} bytes", code="invalid_audio")
    return pcm


def from_wire(pcm: bytes) -> np.ndarray:
    """A whole piece of 24 kHz PCM16 at the 16 kHz Harvis hears at."""
    resampler = StreamResampler(wire.RATE, RATE)
    samples = resampler.push(pcm_to_float(pcm, width=2, channels=1))
    return np.concatenate([samples, resampler.flush()])
