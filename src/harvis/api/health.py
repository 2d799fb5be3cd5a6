"""Liveness and readiness. Ready = the database answers and at least one LLM node does;
the JSON says which part is not ready and why."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi.responses import JSONResponse

from harvis.api.deps import ServicesDep
from harvis.api.routing import api_router
from harvis.api.services import Services

router = api_router(tags=["health"])
log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def check_database(svc: Services) -> dict[str, Any]:
    try:
        await asyncio.wait_for(svc.db.ping(), CHECK_TIMEOUT_S)
        return {"ok": True, "detail": svc.db.safe_url.split("://", 1)[0]}
    except Exception as exc:
        return {"ok": False, "detail": f"database unreachable: {type(exc).__name__}: {exc}"[:300]}


async def check_llm(svc: Services) -> dict[str, Any]:
    if svc.router is None:
        return {"ok": False, "detail": "the router is still starting", "nodes": []}
    try:
        report = await asyncio.wait_for(svc.router.check(), CHECK_TIMEOUT_S)
    except Exception as exc:
        return {"ok": False, "detail": f"LLM check failed: {type(exc).__name__}: {exc}"[:300], "nodes": []}
    report = dict(report) if isinstance(report, dict) else {"nodes": report}
    nodes = report.get("nodes") or report.get("deployments") or []
    ok = report.get("ok")
    if ok is None:
        ok = any(bool(n.get("ok", n.get("healthy"))) for n in nodes if isinstance(n, dict))
    detail = report.get("detail") or ("reachable" if ok else "no LLM node reachable")
    if svc.embedded_node is not None:
        embedded = svc.embedded_node.status()
        report["embedded_node"] = embedded
        if embedded["state"] != "running":
            ok, detail = False, f"the embedded LLM node is {embedded['state']}"
    return {**report, "ok": bool(ok), "detail": detail, "nodes": nodes}


def check_speech(svc: Services) -> dict[str, Any]:
    if svc.speech is None:
        return {"ok": True, "models": [], "detail": "speech is still starting"}
    models = svc.speech.status()
    failed = [m.get("name") for m in models if m.get("state") == "failed"]
    return {
        "ok": not failed,
        "models": models,
        "detail": f"failed: {', '.join(map(str, failed))}" if failed else "ok",
    }


@router.get("/health/ready")
async def ready(svc: ServicesDep) -> JSONResponse:
    database, llm = await asyncio.gather(check_database(svc), check_llm(svc))
    checks = {"database": database, "llm": llm, "speech": check_speech(svc)}
    # Speech loads lazily and can recover; a failed speech model degrades, it does not unready.
    ok = database["ok"] and llm["ok"]
    status = "ok" if ok and checks["speech"]["ok"] else "degraded"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)
