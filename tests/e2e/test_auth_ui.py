"""First sign-up, closed sign-up, log-out, and a plain error when the LLM is down.

Runs on its own backend whose OLLAMA_URL points at a port where nothing listens: a fresh
database (so the first account can be made through the page) and an LLM that is down.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Response, expect

from tests.e2e.ui import answers, ask, unnamed_controls, wait_final
from tests.support.backend import running_backend
from tests.support.processes import Proc, free_port


@pytest.fixture(scope="module")
def llm_down_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    dead = f"http://127.0.0.1:{free_port()}"
    with running_backend(tmp_path_factory.mktemp("e2e-llm-down"), env={"OLLAMA_URL": dead}) as proc:
        yield proc


def is_settings_saved(response: Response) -> bool:
    return response.url.endswith("/api/admin/settings") and response.request.method == "PATCH"


def test_first_account_is_admin_then_sign_up_closes_and_llm_down_is_said_plainly(
    page: Page, llm_down_backend: Proc
) -> None:
    url = llm_down_backend.url
    page.goto(url + "/")
    expect(page.get_by_role("heading", name="Harvis")).to_be_visible()
    signup_tab = page.get_by_role("tab", name="Create account")
    expect(signup_tab).to_be_visible()
    signup_tab.click()
    assert unnamed_controls(page) == []
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("a-long-admin-password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_text("root (admin)")).to_be_visible()
    assert unnamed_controls(page) == []

    # The LLM is down: the answer fails and the page says so in words, with no stack trace.
    answer = ask(page, "Hello?")
    assert wait_final(answer) == "error"
    banner = page.get_by_role("alert").filter(has_text="language model")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("not reachable")
    expect(answer).to_contain_text("Failed")
    assert "Traceback" not in page.content()
    page.get_by_role("button", name="Dismiss message").click()
    expect(banner).to_be_hidden()

    # The question was kept; after a reload it is still there with the failed answer.
    page.reload()
    expect(answers(page)).to_have_count(1)
    expect(answers(page).first).to_have_attribute("data-status", "error")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_text("Sign-up is closed")).to_be_visible()
    expect(page.get_by_role("tab", name="Create account")).to_be_hidden()

    # A wrong password is said plainly; the right one gets back in.
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    page.get_by_label("Password").fill("a-long-admin-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar.get_by_role("button", name="Hello?", exact=True)).to_be_visible()

    # The admin opens sign-up from the header; the log-in screen then offers it.
    allow = page.get_by_role("checkbox", name="Allow sign-up")
    expect(allow).not_to_be_checked()
    with page.expect_response(is_settings_saved):
        allow.check()
    expect(allow).to_be_enabled()
    page.reload()
    expect(page.get_by_role("checkbox", name="Allow sign-up")).to_be_checked()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()
    expect(page.get_by_text("Sign-up is closed")).to_be_hidden()
