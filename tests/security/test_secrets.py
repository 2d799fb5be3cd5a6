"""No secret in any manifest, ConfigMap, Dockerfile or log line.

Manifests: Secrets are never committed (only documented), ConfigMaps and plain `env: value:`
entries carry nothing secret-looking, and the embedded router files read keys from the
environment. Logs: a real backend with known secrets and debug logging is used the way
people use it (sign-in, wrong password, API key, WebSocket with ?token=, cloud model, log
out), and none of the values appears in its log."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from websockets.sync.client import connect

from tests.security.conftest import Hardened
from tests.support.processes import REPO

SECRETISH_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|APIKEY|PRIVATE|CREDENTIAL)", re.I)
SECRET_VALUE = [
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style keys
    re.compile(r"hv-[A-Za-z0-9_-]{20,}"),  # Harvis API keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}"),  # a JWT
]
USERINFO_PASSWORD = re.compile(r"[a-z+]+://[^/:@\s]+:[^@\s$]+@")  # scheme://user:password@ ($VAR allowed)
DEPLOY_DIRS = [REPO / "k8s-manifests", REPO / "deploy"]


def deploy_files() -> Iterator[Path]:
    for root in DEPLOY_DIRS:
        yield from (p for p in root.rglob("*") if p.is_file())


def objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in deploy_files():
        if path.suffix in (".yaml", ".yml"):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict):
                    yield path, doc


def env_entries(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or spec
    for key in ("containers", "initContainers"):
        for container in template.get(key) or []:
            yield from container.get("env") or []


def test_deploy_files_hold_no_secret_values() -> None:
    files = list(deploy_files())
    assert any(p.suffix == ".yaml" for p in files), "no manifests found"
    for path in files:
        text = path.read_text(errors="replace")
        for pattern in SECRET_VALUE:
            assert not pattern.search(text), f"{path}: {pattern.search(text)}"


def test_no_committed_secret_objects_and_configmaps_hold_no_secrets() -> None:
    seen = {"ConfigMap": 0}
    for path, doc in objects():
        kind = doc.get("kind")
        if kind == "Secret":
            values = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
            assert not any(values.values()), f"{path}: a Secret with values is committed"
        if kind == "ConfigMap":
            seen["ConfigMap"] += 1
            for key, value in (doc.get("data") or {}).items():
                value = str(value)
                assert not (SECRETISH_NAME.search(key) and value.strip()), f"{path}: ConfigMap key {key}"
                assert not USERINFO_PASSWORD.search(value), f"{path}: {key} holds a URL with a password"
                for api_key in re.findall(r"api_key:\s*(\S+)", value):
                    assert api_key.startswith("os.environ/"), f"{path}: {key} has a literal api_key"
        for entry in env_entries(doc):
            if SECRETISH_NAME.search(entry.get("name", "")) or entry.get("name") == "DATABASE_URL":
                assert "value" not in entry, f"{path}: env {entry['name']} has a literal value"
                assert "secretKeyRef" in (entry.get("valueFrom") or {}), f"{path}: env {entry['name']}"
    assert seen["ConfigMap"] > 0, "no ConfigMap found: the scan looked in the wrong place"


def test_dockerfiles_bake_in_no_secrets() -> None:
    for path in (REPO / "deploy").rglob("Dockerfile*"):
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(ENV|ARG)\s+(.*)", line)
            if m and SECRETISH_NAME.search(m.group(2).split("=")[0]):
                assert "=" not in m.group(2) or m.group(2).rstrip().endswith("="), f"{path}: {line}"


def test_no_secret_reaches_a_log_line(hardened: Hardened) -> None:
    url = hardened.proc.url
    owner = {"Authorization": f"Bearer {hardened.token}"}
    password = "pw-" + secrets.token_hex(12)
    assert (
        httpx.patch(f"{url}/api/admin/settings", json={"allow_signup": True}, headers=owner).status_code
        == 200
    )
    assert (
        httpx.post(f"{url}/api/auth/signup", json={"username": "leaky", "password": password}).status_code
        == 201
    )
    wrong = "wrong-" + secrets.token_hex(8)
    assert (
        httpx.post(f"{url}/api/auth/login", json={"username": "leaky", "password": wrong}).status_code == 401
    )
    with httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/api/auth/login", json={"username": "leaky", "password": password})
        assert r.status_code == 200
        token = r.json()["access_token"]
        key = client.post("/api/keys", json={"name": "log-test"}).json()["key"]
        with_key = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/models", headers=with_key).status_code == 200
        r = client.post(
            "/v1/chat/completions",
            headers=with_key,
            json={"model": "cloud-model", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code >= 400  # the cloud address is dead; the key was still sent along
        assert hardened.secrets["OPENAI_API_KEY"] not in r.text
        with client.stream("POST", "/api/chat", json={"message": "hello", "model": "cloud-model"}) as s:
            body = s.read().decode()
        assert "event: error" in body and hardened.secrets["OPENAI_API_KEY"] not in body
        ws_url = url.replace("http://", "ws://") + f"/api/voice/ws?token={token}"
        with connect(ws_url, open_timeout=30) as ws:
            ws.send(json.dumps({"type": "cancel"}))
        ready = client.get("/health/ready").text
        assert hardened.secrets["database password"] not in ready
        assert client.post("/api/auth/logout").status_code == 204

    log = hardened.proc.log()
    assert "leaky" in log or "/api/auth/login" in log, "the log is empty: nothing was checked"
    leaks = {
        name: value
        for name, value in {
            **hardened.secrets,
            "password": password,
            "wrong password": wrong,
            "session token": token,
            "API key": key,
        }.items()
        if value in log
    }
    assert not leaks, f"secrets in the log: {sorted(leaks)}"
