"""No dead air: a short spoken filler when the LLM is slow, and warming a cold model early."""

from __future__ import annotations

import asyncio
import logging

from harvis.pipeline.events import Filler
from harvis.pipeline.ports import LLMPort, SpeechPort
from harvis.speech.audio import wav_bytes
from harvis.speech.tts import VoiceRef

log = logging.getLogger(__name__)
MAX_CACHED = 64  # fillers kept (one per voice and text)


class FillerCache:
    """The filler, synthesized once per voice and text, then handed out as is."""

    def __init__(self, speech: SpeechPort) -> None:
        self.speech = speech
        self._made: dict[tuple[str, str, str], Filler] = {}

    async def get(self, text: str, voice: VoiceRef | None) -> Filler | None:
        """None when synthesis fails (a filler is never worth an error)."""
        key = (voice.engine, voice.id, text) if voice else ("", "", text)
        if (filler := self._made.get(key)) is not None:
            return filler
        try:
            chunk = await self.speech.speak(text, voice=voice)
        except Exception:
            log.warning("filler synthesis failed", exc_info=True)
            return None
        if chunk is None:
            return None
        filler = Filler(text, chunk.sample_rate, wav_bytes(chunk.pcm, chunk.sample_rate), chunk.duration_s)
        if len(self._made) >= MAX_CACHED:  # bounded: voices come and go
            self._made.pop(next(iter(self._made)))
        self._made[key] = filler
        return filler


async def is_loaded(llm: LLMPort, model: str) -> bool | None:
    """Whether some node has the model in memory; None when the router cannot tell."""
    try:
        infos = await llm.list_models()
    except Exception:
        log.warning("could not list models to check %s", model, exc_info=True)
        return None
    mine = [m for m in infos if m.name == model]
    return any(m.loaded for m in mine) if mine else None


async def warm_if_cold(llm: LLMPort, model: str, keep_alive: str) -> bool:
    """Ask a node to load `model` when none has it loaded, so the load overlaps the user's
    speech or the STT. Returns True when a warm-up was sent."""
    if await is_loaded(llm, model) is not False:
        return False
    try:
        await llm.warm(model, keep_alive)
    except Exception as exc:
        # Expected while a node is down; the turn itself reports the outage to the user.
        log.warning("warming %s failed: %s", model, exc)
        return False
    return True


class Warmer:
    """Fire-and-forget warm-ups, at most one in flight per model and `max_inflight` in all;
    tasks are kept referenced until they end, then forgotten, so unique model names (even
    ones the request is then refused for) never pile up."""

    def __init__(self, llm: LLMPort, keep_alive: str, max_inflight: int = 16) -> None:
        self.llm, self.keep_alive, self.max_inflight = llm, keep_alive, max_inflight
        self._inflight: dict[str, asyncio.Task[bool]] = {}

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def warm(self, model: str) -> asyncio.Task[bool] | None:
        """The warm-up task for `model`, or None when too many are in flight already."""
        task = self._inflight.get(model)
        if task is not None:
            return task
        if len(self._inflight) >= self.max_inflight:
            return None
        task = asyncio.create_task(warm_if_cold(self.llm, model, self.keep_alive))
        self._inflight[model] = task
        task.add_done_callback(lambda t: self._forget(model, t))
        return task

    def _forget(self, model: str, task: asyncio.Task[bool]) -> None:
        if self._inflight.get(model) is task:
            del self._inflight[model]

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
