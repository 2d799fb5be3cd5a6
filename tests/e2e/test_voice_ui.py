"""The voice panel in real headless Chromium, with its fake microphone playing an espeak-ng
WAV of a spoken question: the transcript appears in the chat and the reply audio plays.
Hands-free mode goes over the realtime socket (server-side end-of-turn detection);
push-to-talk posts a recorded WebM/Opus clip to /api/voice/turn."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

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
    fake_mic = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={question_wav}%noloop"]
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
    page.wait_for_function("() => Number(document.getElementById('voice-panel').dataset.played || 0) >= 1",
                           timeout=ANSWER_TIMEOUT_MS)


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
        arg=wav_ms(question_wav) + 600, timeout=60_000)
    mic.click()
    expect_spoken_exchange(mic_page)
    # the exchange is saved as voice messages: it is still there after a reload
    mic_page.reload()
    expect(questions(mic_page).first).to_contain_text("sky", ignore_case=True)
    expect(answers(mic_page).first.get_by_text("voice")).to_be_visible()
