"""The voice socket's announcer, alone: a fired timer is sent at once, then its spoken clip; a
voice that fails is said to have failed (the timer is still shown). The real speech and socket
are in tests/voice/test_voice_timers.py; here the stand-in speech of the pipeline tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from harvis.api import timer_voice
from harvis.tools.timer_clock import TimerEvent, TimerHub
from tests.support.voice import StandInSpeech

AT = datetime(2026, 12, 2, 14, 3, tzinfo=UTC)


async def _announced(speech: StandInSpeech, count: int) -> list[dict[str, Any]]:
    hub, sent, got = TimerHub(), list[dict[str, Any]](), asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) == count:
            got.set()

    session: Any = SimpleNamespace(options=None)  # before "start": the engine's own voice
    hub.publish(TimerEvent("t1", "u1", "timer", "tea", AT, AT, None, "The tea timer is done."))
    task = timer_voice.start(hub, "u1", session, speech, send)
    async with asyncio.timeout(10):
        await got.wait()
    await timer_voice.stop(task)
    return sent


async def test_shown_then_spoken() -> None:
    speech = StandInSpeech()
    shown, spoken = await _announced(speech, 2)
    assert shown["type"] == "timer" and shown["id"] == "t1" and shown["say"] == "The tea timer is done."
    assert spoken["type"] == "timer_audio" and spoken["id"] == "t1" and spoken["format"] == "wav"
    assert speech.spoken == ["The tea timer is done."]


async def test_a_voice_that_fails_is_told() -> None:
    shown, error = await _announced(StandInSpeech(fail_tts=True), 2)
    assert shown["type"] == "timer"
    assert error["type"] == "error" and error["code"] == "announcement_unspoken"
