"""One real `harvis serve` process for the hostile-input and secret-leak tests: known secrets
in its environment (signing key, cloud API key, a database password), debug logging, and its
own TMPDIR and HOME so that every file it writes can be found afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.processes import Proc, free_port
from tests.support.reliability import router_config
from tests.support.store import fresh_postgres_database


@dataclass
class Hardened:
    proc: Proc
    data_dir: Path
    tmp_dir: Path
    home_dir: Path
    token: str
    secrets: dict[str, str]  # name -> value that must never appear in a log line


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    root = tmp_path_factory.mktemp("hardened")
    data_dir, tmp_dir, home_dir = root / "data", root / "tmp", root / "home"
    for d in (data_dir, tmp_dir, home_dir):
        d.mkdir()
    known = {
        "HARVIS_SECRET_KEY": "signing-" + secrets.token_hex(24),
        "OPENAI_API_KEY": "sk-test" + secrets.token_hex(24),
        "database password": "dbpw" + secrets.token_hex(12),
    }
    dead = f"http://127.0.0.1:{free_port()}"
    cloud = {
        "model_name": "cloud-model",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"{dead}/v1",
            "api_key": "os.environ/OPENAI_API_KEY",
        },
    }
    config = router_config(root / "router.yaml", [("smollm2:135m", dead)], extra=[cloud])
    with fresh_postgres_database() as url:
        # The shared server trusts local connections, so any password is accepted: the point
        # is that the one in DATABASE_URL never reaches a log line or an answer.
        url = url.replace("postgres@", f"postgres:{known['database password']}@", 1)
        env = {
            "HARVIS_SECRET_KEY": known["HARVIS_SECRET_KEY"],
            "OPENAI_API_KEY": known["OPENAI_API_KEY"],
            "DATABASE_URL": url,
            "HARVIS_LLM_CONFIG": str(config),
            "HARVIS_LOG_LEVEL": "debug",
            "HARVIS_FORWARDED_ALLOW_IPS": "127.0.0.1",  # the nginx of test_behind_nginx
            "TMPDIR": str(tmp_dir),
            "HOME": str(home_dir),
            "HARVIS_SPEECH__MAX_UPLOAD_MB": "4",
            "HARVIS_SPEECH__MAX_AUDIO_S": "30",
            "HARVIS_SPEECH__VOICE_MAX_MB": "2",
        }
        proc = start_backend(data_dir, env=env, log_path=root / "backend.log")
        try:
            signup(proc.url, "owner")
            client = login(proc.url, "owner")
            token = token_of(client)
            client.close()
            yield Hardened(proc, data_dir, tmp_dir, home_dir, token, known)
        finally:
            proc.stop()
