"""Sign-in floods against a real `harvis serve`: each password check costs an argon2 hash, so
failures are limited per account and address, per address whatever the usernames, per account
whatever the addresses; the hashing runs a few at a time and the rest are refused at once.
An X-Forwarded-For from a client the backend does not trust (by default: anyone, loopback
included) never gives it a fresh limit. Clients take distinct 127.0.0.0/8 source addresses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.backend import DEFAULT_PASSWORD, signup, start_backend
from tests.support.processes import Proc, free_port

pytestmark = pytest.mark.slow
PAIR, PER_ADDRESS, PER_ACCOUNT = 3, 6, 6


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    data_dir = tmp_path_factory.mktemp("login-flood")
    env = {
        "OLLAMA_URL": f"http://127.0.0.1:{free_port()}",  # no model needed to sign in
        "HARVIS_AUTH__LOGIN_ATTEMPTS_PER_MINUTE": str(PAIR),
        "HARVIS_AUTH__LOGIN_FAILURES_PER_ADDRESS_PER_MINUTE": str(PER_ADDRESS),
        "HARVIS_AUTH__LOGIN_FAILURES_PER_ACCOUNT_PER_MINUTE": str(PER_ACCOUNT),
        "HARVIS_AUTH__PASSWORD_HASH_CONCURRENCY": "1",
        "HARVIS_AUTH__PASSWORD_HASH_QUEUE": "1",
        "HARVIS_AUTH__ALLOW_SIGNUP": "true",
    }
    proc = start_backend(data_dir, env=env)
    try:
        for name in ("owner", "target", "target2", "bystander"):
            signup(proc.url, name)
        yield proc
    finally:
        proc.stop()


def login(
    backend: Proc, source: str, username: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=60) as c:
        return c.post(
            backend.url + "/api/auth/login",
            headers=headers or {},
            json={"username": username, "password": password},
        )


def test_forwarded_for_from_loopback_does_not_reset_the_limit(backend: Proc) -> None:
    statuses = [
        login(backend, "127.0.0.1", "target", "wrong-password", {"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(PAIR + 1)
    ]
    assert [r.status_code for r in statuses] == [401] * PAIR + [429], [r.text for r in statuses]
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_rotating_usernames_from_one_address_is_limited(backend: Proc) -> None:
    codes = [
        login(backend, "127.0.0.5", f"nobody{n}", "wrong-password").status_code
        for n in range(PER_ADDRESS + 2)
    ]
    assert codes[:PER_ADDRESS] == [401] * PER_ADDRESS and codes[-1] == 429, codes
    assert login(backend, "127.0.0.5", "bystander", DEFAULT_PASSWORD).status_code == 429
    assert login(backend, "127.0.0.6", "bystander", DEFAULT_PASSWORD).status_code == 200


def test_rotating_addresses_against_one_account_is_limited(backend: Proc) -> None:
    codes = [
        login(backend, f"127.0.0.{10 + n}", "target2", "wrong-password").status_code
        for n in range(PER_ACCOUNT + 2)
    ]
    assert codes[:PER_ACCOUNT] == [401] * PER_ACCOUNT and codes[-1] == 429, codes
    assert login(backend, "127.0.0.30", "target2", DEFAULT_PASSWORD).status_code == 429
    assert login(backend, "127.0.0.31", "bystander", DEFAULT_PASSWORD).status_code == 200


def test_password_hashing_runs_a_few_at_a_time(backend: Proc) -> None:
    n = 16
    start = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        start.wait(timeout=30)
        return login(backend, f"127.0.1.{i + 1}", f"flood{i}", "wrong-password")

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(one, range(n)))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {401, 429}, codes
    busy = [r for r in answers if r.status_code == 429]
    assert busy, f"{n} simultaneous sign-ins all hashed at once: {codes}"
    assert all(r.json()["error"]["code"] == "login_busy" for r in busy)
    assert login(backend, "127.0.0.40", "bystander", DEFAULT_PASSWORD).status_code == 200
