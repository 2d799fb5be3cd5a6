"""The chat page in real headless Chromium against a real `harvis serve` + embedded LLM node."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.ui import (
    WATCH_STREAMING_JS,
    answer_text,
    answers,
    ask,
    log_in,
    questions,
    wait_final,
    wait_some_text,
)
from tests.support.browser import colour_distance, image_stats
from tests.support.processes import Proc

XSS = '<img src=x onerror="window.__xss = 1"> and <script>window.__xss = 2</script> **<b>bold?</b>**'


def test_ask_see_the_answer_stream_in_and_find_it_again_after_reload(
    page: Page, backend: Proc, account: tuple[str, str], chromium: Browser, artifacts: Path
) -> None:
    log_in(page, backend.url, *account)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("smollm2:135m")
    expect(page.get_by_role("checkbox", name="Allow sign-up")).to_have_count(0)  # not an admin
    page.evaluate(WATCH_STREAMING_JS)

    answer = ask(page, "What is the capital of France? Answer in two sentences.")
    assert wait_final(answer) == "complete"
    text = answer_text(answer)
    assert text, "the answer is empty"
    lengths = page.evaluate("window.__answerLengths")
    assert len(lengths) >= 3, f"the answer did not appear piece by piece: lengths seen {lengths}"
    assert lengths == sorted(lengths), "the streamed text shrank while streaming"

    # The new conversation is in the sidebar, titled from the question, and in the URL.
    session = page.get_by_role("navigation", name="Conversations").get_by_role(
        "button", name=re.compile(r"^What is the capital of France")
    )
    expect(session).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/s/\w+$"))

    page.reload()
    expect(questions(page)).to_have_count(1)
    expect(questions(page).first).to_contain_text("What is the capital of France?")
    expect(answers(page)).to_have_count(1)
    assert answer_text(answers(page).first) == text
    expect(answers(page).first).to_have_attribute("data-status", "complete")

    check_screenshot(page, chromium, artifacts)


def check_screenshot(page: Page, chromium: Browser, artifacts: Path) -> None:
    """Save the main screen and check that its parts really rendered (not a golden image)."""
    path = artifacts / "main-screen.png"
    png = page.screenshot(path=str(path))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for name, locator in {
        "sidebar": page.get_by_role("navigation", name="Conversations"),
        "messages": page.get_by_role("log", name="Messages"),
        "answer": answers(page).first.locator(".message-body"),
    }.items():
        box = locator.bounding_box()
        assert box is not None, f"{name} is not on screen"
        x, y = box["x"], box["y"]
        boxes[name] = (x, y, min(box["width"], 1280 - x), min(box["height"], 800 - y))
    stats = image_stats(chromium, png, boxes)
    assert (stats["width"], stats["height"]) == (1280, 800)
    assert path.stat().st_size > 10_000
    assert stats["whole"]["distinct"] > 100, "the screen is nearly blank"

    def css_colour(selector: str) -> list[int]:
        rgb = page.eval_on_selector(selector, "el => getComputedStyle(el).backgroundColor")
        return [int(v) for v in re.findall(r"\d+", rgb)[:3]]

    # Each part shows its own background, and text on it (many anti-aliased shades).
    sidebar, messages, answer = stats["sidebar"], stats["messages"], stats["answer"]
    assert colour_distance(sidebar["mode"], css_colour("#sidebar")) < 3, sidebar
    assert colour_distance(messages["mode"], css_colour("#messages")) < 3, messages
    assert colour_distance(answer["mode"], css_colour("article.message-assistant .message-body")) < 3, answer
    assert colour_distance(sidebar["mode"], messages["mode"]) > 8, "sidebar and chat look the same"
    assert sidebar["distinct"] > 20, "no text in the sidebar"
    assert answer["distinct"] > 20, "no text in the answer"
    assert 0.3 < answer["mode_share"] < 0.98, "the answer box is blank or all text"


def test_html_in_a_message_is_shown_as_text_never_run(
    page: Page, backend: Proc, account: tuple[str, str]
) -> None:
    log_in(page, backend.url, *account)
    answer = ask(page, XSS)
    wait_some_text(answer)  # the answer may echo the HTML too
    # Some of the answer is enough here: stop it if it is still going (stop has its own test).
    page.evaluate("() => { const stop = document.getElementById('stop'); if (!stop.hidden) stop.click(); }")
    assert wait_final(answer) in ("complete", "stopped")

    log = page.get_by_role("log", name="Messages")
    for view in (page, None):
        if view is None:
            page.reload()
            expect(questions(page)).to_have_count(1)
        expect(questions(page).first.locator(".message-body")).to_have_text(XSS)
        assert log.locator("img, script, b, iframe, object").count() == 0
        assert page.evaluate("window.__xss") is None


def test_stop_button_stops_a_long_answer_and_it_stays_stopped(
    page: Page, backend: Proc, account: tuple[str, str]
) -> None:
    log_in(page, backend.url, *account)
    answer = ask(page, "Write a very long, detailed essay about the history of computing, in ten sections.")
    wait_some_text(answer)
    page.get_by_role("button", name="Stop").click()
    assert wait_final(answer) == "stopped"
    expect(answer).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    partial = answer_text(answer)

    # The server saves the stop once it sees the connection close: poll the API for it.
    session_id = page.url.rsplit("/", 1)[-1]
    saved = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        saved = page.request.get(f"{backend.url}/api/sessions/{session_id}/messages").json()[-1]
        if saved["status"] != "streaming":
            break
        page.wait_for_timeout(200)
    assert saved["status"] == "stopped", saved
    # The server may have generated a little more before it noticed; never less.
    assert partial.split()[0] in saved["content"], (partial, saved["content"])

    page.reload()
    reloaded = answers(page).first
    expect(reloaded).to_have_attribute("data-status", "stopped")
    expect(reloaded).to_contain_text("Stopped")


def test_rename_and_delete_a_session(page: Page, backend: Proc, account: tuple[str, str]) -> None:
    log_in(page, backend.url, *account)
    # No answer is needed to manage sessions: make one through the API as this user.
    created = page.request.post(f"{backend.url}/api/sessions", data={"title": "Say hi."})
    assert created.status == 201, created.text()
    page.reload()
    sidebar = page.get_by_role("navigation", name="Conversations")
    sidebar.get_by_role("button", name="Say hi.", exact=True).click()
    expect(page.get_by_role("heading", name="Say hi.")).to_be_visible()

    sidebar.get_by_role("button", name="Rename Say hi.").click()
    title = sidebar.get_by_role("textbox", name="Session title")
    title.fill("Greetings")
    title.press("Enter")
    expect(sidebar.get_by_role("button", name="Greetings", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Greetings")).to_be_visible()
    page.reload()
    expect(sidebar.get_by_role("button", name="Greetings", exact=True)).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    sidebar.get_by_role("button", name="Delete Greetings").click()
    expect(sidebar.get_by_role("button", name="Greetings", exact=True)).to_have_count(0)
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(sidebar.get_by_text("No conversations yet.")).to_be_visible()


def test_on_a_phone_the_sidebar_slides_over_the_chat(
    page: Page, backend: Proc, account: tuple[str, str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 740})
    log_in(page, backend.url, *account)
    created = page.request.post(f"{backend.url}/api/sessions", data={"title": "On the go"})
    assert created.status == 201, created.text()
    page.reload()
    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar).not_to_be_in_viewport()
    toggle = page.get_by_role("button", name="Show conversations")
    toggle.click()
    expect(sidebar).to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    sidebar.get_by_role("button", name="On the go", exact=True).click()
    expect(page.get_by_role("heading", name="On the go")).to_be_visible()
    expect(sidebar).not_to_be_in_viewport()
    toggle.click()
    expect(sidebar).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    # Nothing sticks out sideways at phone width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
