"""The realtime recognizer: pieces heard in order in the background, a bounded backlog."""

from __future__ import annotations

import asyncio

import numpy as np

from harvis.errors import HarvisError
from harvis.pipeline.hearing import Heard, Piece, Recognizer
from harvis.speech.audio import Audio
from tests.support.voice import StandInSpeech


def piece(seconds: float) -> Piece:
    return Piece(Audio(np.zeros(int(seconds * 16000), np.float32), 16000), False, 0.0)


async def test_pieces_are_heard_in_order_and_a_flood_is_refused_not_buffered() -> None:
    speech = StandInSpeech()
    speech.heard = ["one", "two"]
    speech.stt_gate = asyncio.Event()
    heard: list[str] = []
    errors: list[HarvisError] = []

    async def on_heard(h: Heard) -> None:
        heard.append(h.text)

    async def on_error(e: HarvisError) -> None:
        errors.append(e)

    r = Recognizer(speech, on_heard=on_heard, on_error=on_error, max_backlog_s=1.0)
    assert r.put(piece(0.6)) and r.busy
    assert r.put(piece(0.6)) is False  # 1.2 s would wait: more than the backlog allows
    for _ in range(1000):  # bounded: until the first piece is being heard (held)
        if "stt" in speech.calls:
            break
        await asyncio.sleep(0.005)
    assert r.put(piece(0.6))  # the first left the queue: room again
    speech.stt_gate.set()
    await r.drain()
    assert heard == ["one", "two"] and errors == [] and not r.busy
