"""A running backend: its own readiness (/health/ready) and its speech models' state."""

from __future__ import annotations

from typing import Any

import httpx

from harvis.doctor.context import Context
from harvis.doctor.result import Check

FIXES = {
    "database": "the backend cannot reach its database: check DATABASE_URL and the database server",
    "llm": "the backend cannot reach any LLM node: check OLLAMA_URL inside the backend, e.g.\n"
    "kubectl exec -n ai-agents deploy/harvis-ai-backend-workstation -- "
    "curl -s http://harvis-ai-ollama-workstation:11434/api/tags",
}


def _speech_checks(models: list[dict[str, Any]]) -> list[Check]:
    if not models:
        return [Check.ok("backend speech", "no speech models reported (speech not enabled)")]
    states = ", ".join(_describe(m) for m in models)
    failed = [m for m in models if m.get("state") == "failed"]
    if failed:
        reasons = "; ".join(f"{m.get('name')}: {m.get('reason') or 'no reason given'}" for m in failed)
        return [
            Check.fail(
                "backend speech",
                f"{states} ({reasons})",
                "harvis models fetch <name> into HARVIS_MODELS_DIR (the init container does this "
                "in Kubernetes), then restart the backend",
                models=models,
            )
        ]
    cold = [m for m in models if m.get("state") != "ready"]
    if cold:
        return [
            Check.warn(
                "backend speech",
                states,
                "models load on first use unless "
                "HARVIS_SPEECH__PRELOAD=true; the first voice turn pays the load",
                models=models,
            )
        ]
    return [Check.ok("backend speech", states, models=models)]


def _describe(model: dict[str, Any]) -> str:
    """`whisper-large-v3-turbo=ready (cuda, ctranslate2-cuda, 1630 MB, /models/…)`."""
    text = f"{model.get('name')}={model.get('state')}"
    where = [str(model[k]) for k in ("device", "provider") if model.get(k)]
    if model.get("memory_mb") is not None:
        where.append(f"{model['memory_mb']:.0f} MB")
    if model.get("path"):
        where.append(str(model["path"]))
    if model.get("fallback"):
        where.append(f"FALLBACK: {model['fallback']}")
    return f"{text} ({', '.join(where)})" if where else text


async def run(ctx: Context) -> list[Check]:
    if not ctx.backend_url:
        return [Check.skip("backend", "no --backend-url given")]
    url = ctx.backend_url.rstrip("/")
    headers = {"Authorization": f"Bearer {ctx.token}"} if ctx.token else {}
    async with httpx.AsyncClient(base_url=url, timeout=ctx.timeout_s + 2, headers=headers) as client:
        try:
            response = await client.get("/health/ready")
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return [
                Check.fail(
                    "backend",
                    f"{url}/health/ready: {exc!r}",
                    f"is harvis serve running? curl -v {url}/health/live",
                )
            ]
        checks = body.get("checks") or {}
        results = [
            Check.ok("backend", f"{url}: ready")
            if response.status_code == 200
            else Check.fail(
                "backend", f"{url}: not ready (HTTP {response.status_code})", "see the failing parts below"
            )
        ]
        for part in ("database", "llm"):
            info = checks.get(part) or {}
            detail = str(info.get("detail") or "")
            results.append(
                Check.ok(f"backend {part}", detail or "ok")
                if info.get("ok")
                else Check.fail(f"backend {part}", detail or "not ok", FIXES[part])
            )
        models = (checks.get("speech") or {}).get("models") or []
        if ctx.token:
            try:
                r = await client.get("/api/models/speech")
                if r.status_code == 200:
                    models = r.json()
            except (httpx.HTTPError, ValueError):
                pass  # /health/ready's list is good enough
        return results + _speech_checks(list(models))
