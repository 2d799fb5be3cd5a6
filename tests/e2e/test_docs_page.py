"""/docs works in a real browser, offline, under the backend's own Content-Security-Policy:
Swagger UI's assets come from the backend itself (the swagger-ui-bundle package), the page has
no inline script, and it renders the Harvis schema with no CSP violation."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.backend import start_backend
from tests.support.browser import PageProblems, launched_chromium
from tests.support.processes import free_port


def test_docs_render_offline_under_the_csp(tmp_path: Path) -> None:
    proc = start_backend(tmp_path / "data", env={"OLLAMA_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        page_html = httpx.get(proc.url + "/docs", timeout=30)
        assert page_html.status_code == 200
        assert "script-src 'self'" in page_html.headers["content-security-policy"]
        assert "cdn" not in page_html.text.lower() and "http" not in page_html.text.replace("charset", "")
        with launched_chromium() as browser:
            page = browser.new_page()
            problems = PageProblems()
            page.on("request", lambda r: assert_same_origin(r.url, proc.url))
            problems.watch(page)
            page.goto(proc.url + "/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "Harvis" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector('[data-path="/api/chat"]', timeout=30_000)
            assert not problems.csp_violations(), problems.csp_violations()
            assert not problems.script_errors(), problems.script_errors()
            assert not problems.failed_assets(), problems.failed_assets()
            page.close()
    finally:
        proc.stop()


def assert_same_origin(url: str, origin: str) -> None:
    assert url.startswith((origin + "/", "data:")), f"/docs fetched {url}"
