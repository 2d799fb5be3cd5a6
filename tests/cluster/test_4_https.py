"""The microphone over the network: the frontend serves HTTPS from the TLS Secret (a certificate
this test made), and real Chromium, from outside the cluster, gets the microphone on the HTTPS
origin (a voice turn with its fake microphone goes all the way to Ollama's pod and back), and no
microphone on the plain-HTTP origin of the same name."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.cluster.conftest import TLS_HOST
from tests.e2e.ui import ANSWER_TIMEOUT_MS, answers, log_in, questions, wait_final
from tests.support.backend import DEFAULT_PASSWORD
from tests.support.browser import PageProblems, launched_chromium
from tests.support.real_cluster import NODE_2, RealCluster
from tests.support.voice_e2e import spoken_wav

# A real cluster: its start, image imports and rollouts take minutes on 2 shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SECURE = (
    "() => ({secure: window.isSecureContext,"
    " mic: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)})"
)


def spki_hash(crt: Path) -> str:
    """What --ignore-certificate-errors-spki-list wants: base64(sha256(SubjectPublicKeyInfo))."""
    pub = subprocess.run(
        ["openssl", "x509", "-in", str(crt), "-noout", "-pubkey"], capture_output=True, check=True
    )
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=pub.stdout, capture_output=True, check=True
    )
    return base64.b64encode(hashlib.sha256(der.stdout).digest()).decode()


@pytest.fixture(scope="module")
def origins(cluster: RealCluster, ui: str) -> Iterator[tuple[str, str]]:
    # Node 2's NodePorts this time: kube-proxy forwards to the frontend pods wherever they run.
    ip = cluster.node_ip(NODE_2)
    with cluster.relay(f"{ip}:30443") as tls, cluster.relay(f"{ip}:30080") as plain:
        yield f"https://{TLS_HOST}:{tls.split(':')[1]}", f"http://{TLS_HOST}:{plain.split(':')[1]}"


@pytest.fixture(scope="module")
def browser(frontend: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    wav = tmp_path_factory.mktemp("mic") / "question.wav"
    spoken_wav("What color is the sky on a clear day?", wav)
    args = [
        f"--host-resolver-rules=MAP {TLS_HOST} 127.0.0.1",
        # Trust exactly the test's certificate, as a user trusts their own CA's.
        f"--ignore-certificate-errors-spki-list={spki_hash(frontend['crt'])}",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
    ]
    with launched_chromium(args) as b:
        yield b


def test_https_origin_gets_the_microphone_and_a_voice_turn_works(
    browser: Browser, origins: tuple[str, str]
) -> None:
    https, _ = origins
    # The SPKI allow-list above is honoured only with a user-data-dir, which Playwright does not
    # take in launch(): the context accepts the test's own certificate instead.
    context = browser.new_context(permissions=["microphone"], ignore_https_errors=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    try:
        log_in(page, https, "alice", DEFAULT_PASSWORD)
        assert page.evaluate("location.protocol") == "https:"
        assert page.evaluate(SECURE) == {"secure": True, "mic": True}
        mic = page.get_by_role("button", name="Talk")
        mic.click()
        expect(page.locator("#voice-panel")).to_have_attribute("data-state", "listening")
        page.wait_for_function(
            "() => Number(document.getElementById('voice-panel').dataset.recordedMs || 0) >= 3500",
            timeout=60_000,
        )
        mic.click()
        expect(questions(page).first).to_contain_text("sky", ignore_case=True, timeout=ANSWER_TIMEOUT_MS)
        assert wait_final(answers(page).first) == "complete"
        page.wait_for_function(
            "() => Number(document.getElementById('voice-panel').dataset.played || 0) >= 1",
            timeout=ANSWER_TIMEOUT_MS,
        )
    finally:
        context.close()
    assert problems.script_errors() == [], "the page raised errors"


def test_plain_http_origin_gets_no_microphone(browser: Browser, origins: tuple[str, str]) -> None:
    _, http = origins
    page = browser.new_page()
    try:
        page.goto(http + "/")
        assert page.evaluate(SECURE) == {"secure": False, "mic": False}
    finally:
        page.close()
