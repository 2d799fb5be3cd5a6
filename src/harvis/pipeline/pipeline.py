"""The pipeline: turns for every front end (text chat, voice upload, the realtime socket and
the protocol adapters), over one set of engines, one filler cache and one warmer.

Built once in the app's lifespan and closed there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from harvis.config import Settings
from harvis.llm.types import ChatRequest
from harvis.pipeline.answer import AnswerStages
from harvis.pipeline.filler import FillerCache, Warmer
from harvis.pipeline.ports import LLMPort, SpeechPort, TurnRecorder
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.tts import VoiceRef
from harvis.tools.toolbox import Toolbox


class Pipeline:
    def __init__(
        self, *, llm: LLMPort, speech: SpeechPort, settings: Settings, toolbox: Toolbox | None = None
    ) -> None:
        self.llm, self.speech, self.toolbox = llm, speech, toolbox
        self.tool_settings = settings.tools
        self.settings = settings.pipeline
        self.keep_alive = settings.llm.voice_keep_alive
        self.fillers = FillerCache(speech)
        self.warmer = Warmer(llm, settings.llm.voice_keep_alive)
        self._warming: set[asyncio.Task[Any]] = set()

    def text_options(
        self,
        *,
        model: str,
        llm_options: dict[str, Any] | None = None,
        user_id: str | None = None,
        timezone: str | None = None,
    ) -> TurnOptions:
        return TurnOptions(
            model=model, speak=False, llm_options=dict(llm_options or {}), user_id=user_id, timezone=timezone
        )

    def voice_options(
        self,
        *,
        model: str,
        voice: VoiceRef | None = None,
        language: str | None = None,
        user_id: str | None = None,
        timezone: str | None = None,
    ) -> TurnOptions:
        s = self.settings
        return TurnOptions(
            model=model,
            voice=voice,
            language=language,
            user_id=user_id,
            timezone=timezone,
            keep_alive=self.keep_alive,  # a voice turn pins its model: the next one pays no load
            system_prompt=s.system_prompt,
            llm_options={
                "num_predict": s.max_answer_tokens,
                "temperature": s.temperature,
                **({"seed": s.seed} if s.seed is not None else {}),
            },
        )

    def turn(
        self,
        recorder: TurnRecorder,
        options: TurnOptions,
        *,
        on_end: Callable[[Turn], None] | None = None,
        started_at: float | None = None,
        decode_ms: float | None = None,
        adopt: Callable[[ChatRequest], AnswerStages | None] | None = None,
    ) -> Turn:
        return Turn(
            llm=self.llm,
            recorder=recorder,
            settings=self.settings,
            options=options,
            speech=self.speech if options.speak else None,
            fillers=self.fillers,
            on_end=on_end,
            started_at=time.perf_counter() if started_at is None else started_at,
            timings=None if decode_ms is None else {"decode_ms": decode_ms},
            toolbox=self.toolbox,
            tool_settings=self.tool_settings,
            adopt=adopt,
        )

    def warm(self, model: str) -> None:
        """A cold model and the TTS engine load while the user still talks (or the upload is
        heard). Failures show up in the turn itself and in /api/models/speech."""
        self.warmer.warm(model)
        task = asyncio.create_task(self.speech.ensure_tts())
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    def _warmed(self, task: asyncio.Task[Any]) -> None:
        self._warming.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as forgotten

    async def close(self) -> None:
        for task in self._warming:
            task.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        await self.warmer.close()
