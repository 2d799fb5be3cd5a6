"""What a person does on the Harvis page, in Playwright terms (roles and labels only)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

# An answer can take a while on 2 shared cores with a cold model.
ANSWER_TIMEOUT_MS = 180_000
FINAL_STATUSES = ("complete", "stopped", "error")

# Records, while an answer streams, how long its text is after each DOM change: proof that
# it appeared piece by piece rather than all at once.
WATCH_STREAMING_JS = """() => {
  window.__answerLengths = [];
  const log = document.getElementById("messages");
  new MutationObserver(() => {
    const answers = log.querySelectorAll("article.message-assistant");
    const last = answers[answers.length - 1];
    if (!last || last.dataset.status !== "streaming") return;
    const body = last.querySelector(".message-body");
    if (body.querySelector(".typing")) return; // the "Thinking…" note, not answer text
    const n = body.textContent.length;
    const seen = window.__answerLengths;
    if (n > 0 && seen[seen.length - 1] !== n) seen.push(n);
  }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def answers(page: Page) -> Locator:
    return page.get_by_role("log", name="Messages").get_by_role("article", name="Harvis's answer")


def questions(page: Page) -> Locator:
    return page.get_by_role("log", name="Messages").get_by_role("article", name="Your message")


def ask(page: Page, text: str) -> Locator:
    """Type `text`, send it, and return the answer's article (still streaming)."""
    before = answers(page).count()
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    answer = answers(page).nth(before)
    expect(answer).to_be_visible()
    return answer


def wait_final(answer: Locator, timeout_ms: int = ANSWER_TIMEOUT_MS) -> str:
    """Wait until the answer has ended one way or another; return its status."""
    final = ", ".join(f'[data-status="{s}"]' for s in FINAL_STATUSES)
    answer.page.wait_for_function(
        "([el, sel]) => el.matches(sel)", arg=[answer.element_handle(), final], timeout=timeout_ms
    )
    status = answer.get_attribute("data-status")
    assert status is not None
    return status


def wait_some_text(answer: Locator, timeout_ms: int = ANSWER_TIMEOUT_MS) -> None:
    """Wait until the first tokens of the answer are on screen (not the "Thinking…" note)."""
    answer.page.wait_for_function(
        """el => {
          const body = el.querySelector(".message-body");
          return body.textContent.trim().length > 0 && !body.querySelector(".typing");
        }""",
        arg=answer.element_handle(),
        timeout=timeout_ms,
    )


def answer_text(answer: Locator) -> str:
    return answer.locator(".message-body").inner_text().strip()


def unnamed_controls(page: Page, *, skip: str = "#voice-panel") -> list[str]:
    """Visible controls a screen reader could not name (no label, text or aria-label),
    outside `skip` (the voice panel has its own tests)."""
    result: list[str] = page.evaluate(
        """(skip) => [...document.querySelectorAll("button, input, select, textarea, a[href]")]
          .filter((el) => el.offsetParent !== null && !el.closest(skip))
          .filter((el) => {
            const label = el.getAttribute("aria-label") || el.title || el.textContent.trim()
              || [...(el.labels || [])].map((l) => l.textContent.trim()).join("");
            return !label;
          })
          .map((el) => el.outerHTML.slice(0, 120))""",
        skip,
    )
    return result
