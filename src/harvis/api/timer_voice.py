"""Timers announced on the realtime voice socket: each of the user's timers as it goes off is
sent as a `timer` event at once (shown), then spoken in the session's voice as `timer_audio`
(a WAV clip the client plays after what it is playing, as it plays a filler)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging

from harvis.errors import HarvisError
from harvis.pipeline import events as ev
from harvis.pipeline.ports import SpeechPort
from harvis.pipeline.realtime import RealtimeSession, Send
from harvis.speech.audio import wav_bytes
from harvis.tools.timer_clock import TimerHub

log = logging.getLogger(__name__)


async def announce(
    hub: TimerHub, user_id: str, session: RealtimeSession, speech: SpeechPort, send: Send
) -> None:
    try:
        async with hub.subscribe(user_id, "voice") as queue:
            while True:
                event = await queue.get()
                if event is None:  # the server is stopping
                    return
                await send({"type": "timer", **event.payload()})
                voice = session.options.voice if session.options is not None else None
                try:
                    chunk = await speech.speak(event.say, voice=voice)
                except Exception:
                    log.warning("timers: the announcement could not be spoken", exc_info=True)
                    chunk = None
                if chunk is None:  # shown, not spoken: say so rather than stay silent
                    message = "the timer's announcement could not be spoken"
                    await send(ev.to_ws(ev.Error("announcement_unspoken", message)))
                    continue
                await send(
                    {
                        "type": "timer_audio",
                        "id": event.id,
                        "text": event.say,
                        "sample_rate": chunk.sample_rate,
                        "format": "wav",
                        "data": base64.b64encode(wav_bytes(chunk.pcm, chunk.sample_rate)).decode("ascii"),
                    }
                )
    except HarvisError as exc:  # too many sockets of this user: this one is not told of timers
        await send(ev.to_ws(ev.Error(exc.code, exc.message)))


def start(
    hub: TimerHub, user_id: str, session: RealtimeSession, speech: SpeechPort, send: Send
) -> asyncio.Task[None]:
    return asyncio.create_task(announce(hub, user_id, session, speech, send), name="timer-announcer")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # the socket may be gone mid-send
        await task
