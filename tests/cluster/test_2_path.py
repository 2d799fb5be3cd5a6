"""The whole path through the cluster, from outside it: nginx frontend (NodePort on a node) →
backend Service → backend pod → Ollama pod; a chat answer and a spoken voice turn; users and
messages in PostgreSQL (postgres.yaml) surviving the backend pod's deletion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.helpers import chat
from tests.support.backend import iter_events, login
from tests.support.processes import wait_until
from tests.support.real_cluster import NODE_2, RealCluster
from tests.support.voice_e2e import spoken_wav, wav_of

# A real cluster: its start, image imports and rollouts take minutes on 2 shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_ui_comes_through_nginx(ui: str) -> None:
    r = httpx.get(ui + "/", timeout=30)
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert "default-src 'self'" in r.headers["content-security-policy"]  # nginx's own headers
    assert httpx.get(ui + "/health/live", timeout=30).status_code == 200  # proxied to the backend


def test_chat_and_voice_turn_from_outside(cluster: RealCluster, ui: str, tmp_path: Path) -> None:
    client = login(ui, "alice", timeout=300)
    text, done = chat(client, "Say hello in one short sentence.")
    assert text.strip(), done
    # The answer came from the Ollama pod (the stand-in serves llama3.2:3b, the router's model).
    assert "harvis-ai-ollama-workstation" in str(done.get("served_by", "")), done
    wav = spoken_wav("What is the capital of France?", tmp_path / "q.wav")
    events: list[tuple[str, dict]] = []
    with client.stream("POST", "/api/voice/turn", files={"audio": ("q.wav", wav, "audio/wav")}) as r:
        assert r.status_code == 200, r.read()
        events = list(iter_events(r))
    names = [n for n, _ in events]
    assert "error" not in names, events
    transcript = " ".join(d.get("text", "") for n, d in events if n == "transcript").lower()
    assert "capital" in transcript or "france" in transcript, transcript
    audio = [wav_of(d) for n, d in events if n == "audio"]
    assert audio and sum(len(a) for a in audio) > 10_000, names


def test_postgres_keeps_everything_when_the_backend_pod_is_deleted(cluster: RealCluster, ui: str) -> None:
    client = login(ui, "alice", timeout=300)
    _, first = chat(client, "Remember the word pineapple.")
    session_id = first["session_id"]
    before = client.get(f"/api/sessions/{session_id}/messages").json()
    assert len(before) >= 2
    (old,) = cluster.pods("harvis-ai-backend-workstation")
    cluster.kubectl("delete", "pod", "-n", "ai-agents", old["metadata"]["name"], "--wait=true", timeout=180)
    # The Deployment replaces it; the probes let traffic in only once the speech models are loaded.
    new = wait_until(
        lambda: [
            p
            for p in cluster.pods("harvis-ai-backend-workstation")
            if p["metadata"]["uid"] != old["metadata"]["uid"]
        ],
        timeout=120,
        what="a replacement backend pod",
        every=1.0,
    )
    assert new[0]["spec"]["nodeName"] == NODE_2
    cluster.rollout("deploy/harvis-ai-backend-workstation")
    # The Service's endpoints follow the new pod a moment after it is Ready (kube-proxy), and nginx
    # answers 502 until then: wait for the backend's own answer, bounded, and say what came instead.
    answers: list[tuple[int, str]] = []

    def ready_checks() -> Any:
        r = httpx.get(f"{ui}/health/ready", timeout=30)
        answers.append((r.status_code, r.text[:300]))
        return r.json().get("checks") if r.status_code == 200 else None

    try:
        checks = wait_until(ready_checks, timeout=60, what="/health/ready through nginx", every=1.0)
    except AssertionError:
        raise AssertionError(f"/health/ready never answered 200 after the rollout: {answers[-1]}") from None
    speech = checks["speech"]["models"]
    assert {m["state"] for m in speech} == {"ready"}, speech
    # Same user, same session, every message: they live in PostgreSQL, not in the pod.
    again = login(ui, "alice", timeout=300)
    after = again.get(f"/api/sessions/{session_id}/messages").json()
    assert [m["content"] for m in after] == [m["content"] for m in before]
    models = again.get("/api/models/speech").json()
    paths = {m["name"]: m["path"] for m in models}
    assert paths["whisper-tiny.en"] == "/models/whisper-tiny.en/model", paths


def test_the_emptydir_fallback_is_one_command_and_fills_itself(cluster: RealCluster, ui: str) -> None:
    patch = "k8s-manifests/patches/{}-model-cache.yaml"
    line = "kubectl patch deploy/harvis-ai-backend-workstation -n ai-agents --patch-file {}"
    cluster.guide(line.format(patch.format("emptydir")))
    try:
        cluster.rollout("deploy/harvis-ai-backend-workstation")
        (pod,) = cluster.pods("harvis-ai-backend-workstation")
        (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "ml-models-cache"]
        assert volume == {"name": "ml-models-cache", "emptyDir": {"sizeLimit": "50Gi"}}, volume
        name = pod["metadata"]["name"]
        fetched = cluster.kubectl("logs", "-n", "ai-agents", name, "-c", "fetch-models").stdout
        assert "whisper-tiny.en: copied" in fetched and "piper-joe: copied" in fetched, fetched
        logs = cluster.kubectl("logs", "-n", "ai-agents", name, "-c", "backend").stdout
        assert "from /models/whisper-tiny.en/model" in logs, logs
        client = login(ui, "alice", timeout=300)
        assert chat(client, "Say ok.")[0].strip()
    finally:
        cluster.guide(line.format(patch.format("nfs")))
        cluster.rollout("deploy/harvis-ai-backend-workstation")
    (pod,) = cluster.pods("harvis-ai-backend-workstation")
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "ml-models-cache"]
    assert volume["persistentVolumeClaim"]["claimName"] == "nfs-ml-models-cache", volume
