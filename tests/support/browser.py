"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for UI tests.

Never `playwright install`: the browser is the system one. Helpers here also read pixels
of a screenshot back through the browser's own PNG decoder (no imaging library needed).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    PlaywrightContextManager,
    Response,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, offline-friendly Chromium: nothing phones home or updates while tests run.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]


class _SharedPlaywright:
    """One Playwright driver per process, shared by every browser a test session opens:
    the sync API cannot nest a second `sync_playwright()` inside a running one."""

    def __init__(self) -> None:
        self.manager: PlaywrightContextManager | None = None
        self.instance: Playwright | None = None
        self.users = 0

    @contextmanager
    def use(self) -> Iterator[Playwright]:
        if self.instance is None:
            self.manager = sync_playwright()
            self.instance = self.manager.start()
        self.users += 1
        try:
            yield self.instance
        finally:
            self.users -= 1
            if self.users == 0 and self.manager is not None:
                self.manager.__exit__(None, None, None)
                self.manager = self.instance = None


_PLAYWRIGHT = _SharedPlaywright()


@contextmanager
def launched_chromium(extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """Debian's Chromium, headless; several may be open at once (e.g. one with a fake mic)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (scripts/system-deps.sh)")
    with _PLAYWRIGHT.use() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageProblems:
    """What went wrong on a page: script errors, CSP violations, static files that failed.

    Failed API calls are not problems by themselves (a 401 before log-in is how the page
    learns it must show the log-in screen); the browser logs those as "Failed to load
    resource", so such console lines are left out of `script_errors`.
    """

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.console_errors.append(msg.text)

        def on_response(response: Response) -> None:
            path = urlsplit(response.url).path
            if response.status >= 400 and not path.startswith(("/api/", "/v1/")):
                self.bad_responses.append(f"{response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("response", on_response)

    def script_errors(self) -> list[str]:
        console = [e for e in self.console_errors if not e.startswith("Failed to load resource")]
        return [*self.page_errors, *console]

    def csp_violations(self) -> list[str]:
        return [e for e in self.console_errors if "Content Security Policy" in e]

    def failed_assets(self) -> list[str]:
        return list(self.bad_responses)


_STATS_JS = """async ({data, regions}) => {
  const img = new Image();
  img.src = "data:image/png;base64," + data;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  const stats = (x, y, w, h) => {
    const d = ctx.getImageData(x, y, w, h).data;
    const counts = new Map();
    let r = 0, g = 0, b = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      r += d[i]; g += d[i + 1]; b += d[i + 2];
      const key = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    let mode = 0, best = -1;
    for (const [key, count] of counts) if (count > best) { mode = key; best = count; }
    return {
      mean: [r / n, g / n, b / n], distinct: counts.size,
      mode: [(mode >> 16) & 255, (mode >> 8) & 255, mode & 255], mode_share: best / n,
    };
  };
  const out = { width: canvas.width, height: canvas.height, whole: stats(0, 0, canvas.width, canvas.height) };
  for (const [name, [x, y, w, h]] of Object.entries(regions)) out[name] = stats(x, y, w, h);
  return out;
}"""


Box = tuple[float, float, float, float]  # x, y, width, height in CSS pixels


def image_stats(browser: Browser, png: bytes, regions: dict[str, Box]) -> dict[str, Any]:
    """Size of a PNG and, per region (x, y, w, h) and for the whole image: mean colour, most
    common colour (`mode`, with its share), number of distinct colours. Chromium decodes the
    PNG on a blank page (no CSP there)."""
    page = browser.new_page()
    try:
        data = base64.b64encode(png).decode()
        rounded = {k: [round(v) for v in box] for k, box in regions.items()}
        result: dict[str, Any] = page.evaluate(_STATS_JS, {"data": data, "regions": rounded})
        return result
    finally:
        page.close()


def colour_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5)
