"""How the Wyoming server is asked to run: its URI, loopback by default, zeroconf only on a
network address, and the CLI's one-line errors."""

from __future__ import annotations

import subprocess

import pytest

from harvis.cli import build_parser
from harvis.config import Settings
from harvis.errors import BadInput
from harvis.wyoming.server import check_announcement, is_loopback, parse_uri
from tests.support.processes import HARVIS


def test_uris_and_the_loopback_default() -> None:
    assert Settings().wyoming.uri == "tcp://127.0.0.1:10300" and not Settings().wyoming.enabled
    assert parse_uri("tcp://127.0.0.1:10300") == ("127.0.0.1", 10300)
    assert parse_uri("tcp://[::1]:1") == ("::1", 1)
    for bad in ("unix:///tmp/x", "tcp://host", "http://127.0.0.1:80", "tcp://:99", "tcp://h:notaport"):
        with pytest.raises(BadInput):
            parse_uri(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_serve_takes_a_wyoming_option() -> None:
    parser, _ = build_parser("serve")
    assert parser.parse_args(["serve"]).wyoming is None
    assert parser.parse_args(["serve", "--wyoming"]).wyoming == ""
    assert parser.parse_args(["serve", "--wyoming", "tcp://127.0.0.1:1"]).wyoming == "tcp://127.0.0.1:1"


def test_the_cli_refuses_bad_settings_in_one_line(tmp_path: object) -> None:
    bad = subprocess.run(
        [*HARVIS, "wyoming", "--uri", "udp://x:1"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "harvis wyoming: the Wyoming URI must be tcp://HOST:PORT, not 'udp://x:1'"
    ]


def test_zeroconf_only_announces_a_network_address() -> None:
    check_announcement("0.0.0.0", "harvis")
    check_announcement("127.0.0.1", "")  # off: nothing to check
    with pytest.raises(BadInput) as refused:
        check_announcement("127.0.0.1", "harvis")
    assert refused.value.code == "zeroconf_on_loopback"
    run = subprocess.run([*HARVIS, "wyoming", "--zeroconf"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.startswith("harvis wyoming: zeroconf announces")
