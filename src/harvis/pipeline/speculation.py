"""An answer started before the user's turn is certain (the realtime low-latency path).

When the user pauses, what they said so far is already transcribed: the answer to it starts
at once — generated, cut and spoken into the stages' queue, which nobody reads yet. Nothing of
it is sent and nothing is saved. If the user goes on talking it is dropped. If the turn ends
with exactly these words, the turn saves them first (as every turn does), then adopts this
answer instead of starting its own, provided its request is the very one the turn would send
(the same history: no other answer was saved meanwhile); otherwise it is dropped and the turn
starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol, runtime_checkable

from harvis.llm.types import ChatRequest
from harvis.pipeline.answer import AnswerStages
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.turn import TurnOptions, request_for
from harvis.tools.base import ToolContext

log = logging.getLogger(__name__)


@runtime_checkable
class HistoryPeek(Protocol):
    async def history(self, text: str) -> list[dict[str, Any]]:
        """The history `begin(text)` would return, saving nothing."""
        ...


class Speculation:
    def __init__(
        self,
        pipeline: Pipeline,
        options: TurnOptions,
        text: str,
        history: list[dict[str, Any]],
        session_id: str | None = None,
    ):
        self.text = text
        self.outcome = "running"  # running → adopted | dropped | mismatch
        self.stages = AnswerStages(
            llm=pipeline.llm,
            speech=pipeline.speech if options.speak else None,
            fillers=pipeline.fillers,
            settings=pipeline.settings,
            voice=options.voice,
            fallback_from=options.model,
            timings={},
            t0=time.perf_counter(),
            clock=time.perf_counter,
            # The tools the committed turn would offer (the same answer), but none runs before
            # the turn adopts it (commit_tools).
            toolbox=pipeline.toolbox if options.tools and options.user_id else None,
            tool_settings=pipeline.tool_settings,
            tools_gate=asyncio.Event(),
        )
        if options.user_id:
            self.stages.tool_context = ToolContext(
                user_id=options.user_id, session_id=session_id, timezone=options.timezone
            )
        self.request = request_for(options, history)
        self.stages.start(self.request)

    def adopt(self, request: ChatRequest) -> AnswerStages | None:
        """The committed turn's request: the running answer if it is the same one."""
        if self.outcome != "running":
            return None
        if request != self.request:
            log.info("speculation: the committed request differs (history changed); answering afresh")
            self.drop("mismatch")
            return None
        self.outcome = "adopted"
        return self.stages

    def drop(self, outcome: str = "dropped") -> None:
        """Stop it: nothing of it was sent or saved."""
        if self.outcome == "running":
            self.outcome = outcome
            self.stages.cancel()
