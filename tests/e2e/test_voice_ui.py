"""The voice panel in real headless Chromium, with its fake microphone playing an espeak-ng
WAV of a spoken question: the transcript appears in the chat and the reply audio plays.
Hands-free mode goes over the realtime socket (server-side end-of-turn detection);
push-to-talk posts a recorded WebM/Opus clip to /api/voice/turn."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.e2e.conftest import VIEWPORT
from tests.e2e.ui import ANSWER_TIMEOUT_MS, answers, log_in, questions, wait_final
from tests.support.browser import PageProblems, launched_chromium
from tests.support.processes import Proc
from tests.support.voice_e2e import spoken_wav

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("voice-ui") / "question.wav"
    spoken_wav("What color is the sky on a clear day?", path)
    return path


@pytest.fixture(scope="module")
def mic_browser(question_wav: Path) -> Iterator[Browser]:
    # %noloop: the question plays once per capture, then silence (the end of the turn)
    fake_mic = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={question_wav}%noloop",
    ]
    with launched_chromium(fake_mic) as browser:
        yield browser


@pytest.fixture
def mic_page(mic_browser: Browser, backend: Proc, account: tuple[str, str]) -> Iterator[Page]:
    problems = PageProblems()
    context = mic_browser.new_context(viewport=VIEWPORT, permissions=["microphone"])  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    page = context.new_page()
    problems.watch(page)
    try:
        log_in(page, backend.url, *account)
        expect(page.get_by_role("region", name="Voice")).to_be_visible()
        yield page
    finally:
        context.close()
    assert problems.script_errors() == [], "the page raised errors"
    assert problems.failed_assets() == [], "static files failed to load"


def wav_ms(path: Path) -> int:
    with wave.open(io.BytesIO(path.read_bytes())) as w:
        return int(w.getnframes() * 1000 / w.getframerate())


def expect_spoken_exchange(page: Page) -> None:
    question = questions(page).first
    expect(question).to_contain_text("sky", ignore_case=True, timeout=ANSWER_TIMEOUT_MS)
    answer = answers(page).first
    assert wait_final(answer) == "complete"
    assert answer.locator(".message-body").inner_text().strip()
    # reply audio played to its end (the player counts clips whose `ended` fired)
    page.wait_for_function(
        "() => Number(document.getElementById('voice-panel').dataset.played || 0) >= 1",
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_hands_free_question_is_heard_and_answered_aloud(mic_page: Page) -> None:
    mic_page.get_by_label("Hands-free").check()
    expect_spoken_exchange(mic_page)
    assert mic_page.locator("#voice-panel").get_attribute("data-state") in ("listening", "speaking")
    mic_page.get_by_label("Hands-free").uncheck()
    expect(mic_page.locator("#voice-panel")).to_have_attribute("data-state", "idle")


def test_push_to_talk_click_to_start_and_click_to_send(mic_page: Page, question_wav: Path) -> None:
    mic = mic_page.get_by_role("button", name="Talk")
    mic.click()
    expect(mic_page.locator("#voice-panel")).to_have_attribute("data-state", "listening")
    # keep recording until the fake microphone has played the whole question
    mic_page.wait_for_function(
        "ms => Number(document.getElementById('voice-panel').dataset.recordedMs || 0) >= ms",
        arg=wav_ms(question_wav) + 600,
        timeout=60_000,
    )
    mic.click()
    expect_spoken_exchange(mic_page)
    # the exchange is saved as voice messages: it is still there after a reload
    mic_page.reload()
    expect(questions(mic_page).first).to_contain_text("sky", ignore_case=True)
    expect(answers(mic_page).first.get_by_text("voice")).to_be_visible()


def test_the_stop_control_silences_the_spoken_answer(mic_page: Page, question_wav: Path) -> None:
    panel = mic_page.locator("#voice-panel")
    mic = mic_page.get_by_role("button", name="Talk")
    mic.click()
    mic_page.wait_for_function(
        "ms => Number(document.getElementById('voice-panel').dataset.recordedMs || 0) >= ms",
        arg=wav_ms(question_wav) + 600,
        timeout=60_000,
    )
    mic.click()
    expect(panel).to_have_attribute("data-state", "speaking", timeout=ANSWER_TIMEOUT_MS)
    mic_page.get_by_role("button", name="Stop voice answer").click()
    expect(panel).to_have_attribute("data-state", "idle")
    answer = answers(mic_page).first
    mic_page.wait_for_function(
        "el => el.dataset.status !== 'streaming'", arg=answer.element_handle(), timeout=ANSWER_TIMEOUT_MS
    )
    # interrupted when it was still being made, complete when only its playback was left
    assert answer.get_attribute("data-status") in ("complete", "interrupted")
    assert panel.get_attribute("data-state") == "idle"
    assert panel.get_attribute("data-played") is None  # the clip playing was cut, nothing after it


def _tone_wav_b64(seconds: float, rate: int = 22050) -> str:
    import base64
    import math
    import struct

    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(n))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return base64.b64encode(buf.getvalue()).decode()


def test_player_plays_clips_in_order_and_stop_drops_the_queue(page: Page, backend: Proc) -> None:
    page.goto(backend.url + "/")
    result = page.evaluate(
        """async ([short, long]) => {
          const { Player } = await import("/js/voice-playback.js");
          const states = [];
          const player = new Player((playing) => states.push(playing));
          const order = [];
          player.onPlayed = (n) => order.push(n);
          for (let i = 0; i < 3; i++) player.enqueue(short);
          await player.chain;
          const starts = [...player.sources].map((s) => s.buffer.duration);
          for (let i = 0; i < 500 && player.playing; i++) await new Promise((r) => setTimeout(r, 20));
          const stopper = new Player(() => {});
          for (let i = 0; i < 3; i++) stopper.enqueue(long);
          stopper.stop();  // before the clips are even decoded
          await stopper.chain;
          return { played: player.played, order, states, scheduled: starts.length,
                   stopperPlaying: stopper.playing, stopperPlayed: stopper.played };
        }""",
        [_tone_wav_b64(0.15), _tone_wav_b64(2.0)],
    )
    assert result["played"] == 3 and result["order"] == [1, 2, 3]
    assert result["states"] == [True, False]  # one continuous playback, then silence
    assert result["scheduled"] == 3  # all queued back to back, not one after another ends
    assert result["stopperPlaying"] is False and result["stopperPlayed"] == 0


def test_capture_worklet_turns_48_khz_into_16_khz_pcm16_frames(page: Page, backend: Proc) -> None:
    page.goto(backend.url + "/")
    result = page.evaluate(
        """async () => {
          const ctx = new OfflineAudioContext(1, 48000, 48000);
          await ctx.audioWorklet.addModule("/js/pcm-worklet.js");
          const osc = new OscillatorNode(ctx, { frequency: 440 });
          const node = new AudioWorkletNode(ctx, "pcm16-capture");
          const frames = [];
          node.port.onmessage = (e) => frames.push(new Int16Array(e.data));
          osc.connect(node).connect(ctx.destination);
          osc.start();
          await ctx.startRendering();
          for (let i = 0; i < 50 && frames.length < 10; i++) await new Promise((r) => setTimeout(r, 20));
          const all = frames.flatMap((f) => Array.from(f));
          let crossings = 0;
          for (let i = 1; i < all.length; i++) if ((all[i - 1] < 0) !== (all[i] < 0)) crossings++;
          const sizes = [...new Set(frames.map((f) => f.length))];
          return { frames: frames.length, sizes, samples: all.length, crossings,
                   peak: Math.max(...all.map(Math.abs)) };
        }"""
    )
    assert result["sizes"] == [1600]  # 100 ms frames at 16 kHz
    assert 9 <= result["frames"] <= 10  # one second of audio, the last partial frame held back
    assert abs(result["crossings"] - 2 * 440 * result["samples"] / 16000) <= 10  # still a 440 Hz tone
    assert result["peak"] > 30000  # full scale sine → near full-scale PCM16


def test_player_reports_how_far_the_answer_played(page: Page, backend: Proc) -> None:
    """What the browser reports on barge-in (saved as heard): the clause playing and the
    seconds into it, read from the audio clock; fillers do not count as clauses."""
    page.goto(backend.url + "/")
    result = page.evaluate(
        """async ([short, long]) => {
          const { Player } = await import("/js/voice-playback.js");
          const player = new Player(() => {});
          const before = player.position();
          player.enqueue(short, null);  // a filler
          player.enqueue(short, 0);
          player.enqueue(long, 1);
          await player.chain;
          const second = player.clauses.find((c) => c.index === 1);
          // wait on the audio clock until the second clause has played 0.3 s
          for (let i = 0; i < 500 && player.ctx.currentTime < second.start + 0.3; i++)
            await new Promise((r) => setTimeout(r, 20));
          const position = player.position();
          player.stop();
          return { before, position, clauses: player.clauses.map((c) => c.index),
                   duration: second.duration };
        }""",
        [_tone_wav_b64(0.15), _tone_wav_b64(2.0)],
    )
    assert result["before"] is None
    assert result["clauses"] == [0, 1]
    position = result["position"]
    assert position["index"] == 1 and 0.3 <= position["offset_s"] < result["duration"], result


def test_stopping_a_hands_free_answer_saves_it_as_heard(mic_page: Page) -> None:
    """The stop control during playback: the page reports how far it played (clause and
    offset) and the answer is saved, and shown, cut to that."""
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda p: sent.append(json.loads(p)) if isinstance(p, str) else None)
        ws.on("framereceived", lambda p: received.append(json.loads(p)) if isinstance(p, str) else None)

    mic_page.on("websocket", watch)
    panel = mic_page.locator("#voice-panel")
    mic_page.get_by_label("Hands-free").check()
    expect(panel).to_have_attribute("data-state", "speaking", timeout=ANSWER_TIMEOUT_MS)
    mic_page.get_by_role("button", name="Stop voice answer").click()
    for _ in range(600):  # bounded: the server's reply to the report
        if any(m["type"] == "truncated" for m in received):
            break
        mic_page.wait_for_timeout(50)
    played = [m for m in sent if m.get("type") == "played"]
    assert played and played[0]["index"] >= 0 and played[0]["offset_s"] >= 0, sent
    truncated = next(m for m in received if m["type"] == "truncated")
    assert truncated["message_id"] == played[0]["message_id"]
    spoken = " ".join(m["text"] for m in received if m["type"] == "audio")
    assert len(truncated["text"]) < len(spoken), (truncated, spoken)
    answer = answers(mic_page).first
    expect(answer).to_have_attribute("data-status", "interrupted")
    if truncated["text"]:
        expect(answer.locator(".message-body")).to_have_text(truncated["text"])
    saved = mic_page.evaluate(
        """async (id) => {
          const sessions = await (await fetch("/api/sessions")).json();
          const messages = await (await fetch(`/api/sessions/${sessions[0].id}/messages`)).json();
          return messages.find((m) => m.id === id);
        }""",
        truncated["message_id"],
    )
    assert saved["status"] == "interrupted" and saved["content"] == truncated["text"]
    mic_page.get_by_label("Hands-free").uncheck()
