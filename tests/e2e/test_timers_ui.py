"""Timers in the page (real Chromium, real backend): one that goes off is announced on screen,
the others are listed with a countdown and can be cancelled there."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.ui import log_in
from tests.support.processes import Proc

SET = """async (body) => {
  const r = await fetch("/api/timers", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify(body)});
  return [r.status, await r.json()];
}"""


def test_a_timer_is_announced_and_another_listed_and_cancelled(
    page: Page, backend: Proc, account: tuple[str, str]
) -> None:
    log_in(page, backend.url, *account)
    timers = page.locator("#timers")
    expect(timers).to_be_hidden()  # nothing to show yet: no empty strip
    # As the model's tools would for this user (the page's own session cookie).
    status, pasta = page.evaluate(SET, {"seconds": 600, "label": "pasta"})
    assert status == 201, pasta
    status, tea = page.evaluate(SET, {"seconds": 2, "label": "tea"})
    assert status == 201, tea

    alert = page.get_by_role("alert").filter(has=page.locator(".timer-alert-text"))
    expect(alert).to_be_visible()
    expect(alert.locator(".timer-alert-text")).to_have_text("The tea timer is done.")
    listed = page.get_by_role("list", name="Active timers").get_by_role("listitem")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("pasta")
    expect(listed.first.locator(".timer-left")).to_have_text(re.compile(r"^(10:00|9:\d\d)$"))  # counting down

    expect(timers).to_be_visible()
    page.get_by_role("button", name="Cancel timer pasta").click()
    expect(listed).to_have_count(0)
    page.get_by_role("button", name="Dismiss timer").click()
    expect(alert).to_be_hidden()
    expect(timers).to_be_hidden()
    r = page.request.get(backend.url + "/api/timers")
    assert [(t["text"], t["status"]) for t in r.json()["timers"]] == [("tea", "fired")]
