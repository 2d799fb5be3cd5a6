"""No dead air: a short spoken filler when the LLM is slow, and warming a cold model early."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from harvis.pipeline.events import Filler
from harvis.pipeline.ports import LLMPort, SpeechPort
from harvis.pipeline.wav import pcm16, wav_file

log = logging.getLogger(__name__)


async def speak_filler(speech: SpeechPort, text: str, voice: Any) -> Filler | None:
    """The filler as one WAV; None when synthesis fails (a filler is never worth an error)."""
    try:
        parts, rate = [], 0
        async for chunk in speech.synthesize(text, voice=voice):
            parts.append(pcm16(chunk.pcm))
            rate = chunk.sample_rate
    except Exception:
        log.warning("filler synthesis failed", exc_info=True)
        return None
    return Filler(text, rate, wav_file(parts, rate)) if parts else None


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
    """Fire-and-forget warm-ups, at most one in flight per model; tasks are kept referenced."""

    def __init__(self, llm: LLMPort, keep_alive: str) -> None:
        self.llm, self.keep_alive = llm, keep_alive
        self._inflight: dict[str, asyncio.Task[bool]] = {}

    def warm(self, model: str) -> asyncio.Task[bool]:
        task = self._inflight.get(model)
        if task is None or task.done():
            task = asyncio.create_task(warm_if_cold(self.llm, model, self.keep_alive))
            self._inflight[model] = task
        return task

    async def close(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
