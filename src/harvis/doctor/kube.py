"""The guide's troubleshooting section, when kubectl can reach the cluster: pods on the expected
nodes, why pending pods are pending (and what to do), Ollama Service endpoints, backend logs."""

from __future__ import annotations

import asyncio
from typing import Any

from harvis.doctor.context import Context
from harvis.doctor.kubectl import Kubectl, KubectlError
from harvis.doctor.pending import explain_pending
from harvis.doctor.result import Check

ROLE = "harvis.ai/role"
OLLAMA_SERVICES = ("harvis-ai-ollama-workstation", "harvis-ai-ollama-scaleout")
BACKENDS = {  # deployment -> container holding the backend
    "harvis-ai-backend-workstation": "backend",
    "harvis-ai-merged-ollama-backend": "backend",
    "harvis-ai-backend-scaleout": "backend",
}
BAD_WORDS = ("error", "refused", "timed out", "timeout", "unreachable", "failed", "cannot")


def _ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def _waiting_reasons(pod: dict[str, Any]) -> list[str]:
    status = pod["status"]
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    found = []
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting")
        if waiting:
            found.append(f"{s['name']}: {waiting.get('reason')} {waiting.get('message') or ''}".strip())
    return found


async def check_pods(k: Kubectl, ns: str) -> list[Check]:
    pods = [p for p in await k.items("pods") if not p["metadata"].get("deletionTimestamp")]
    try:
        nodes = {n["metadata"]["name"]: n for n in await k.items("nodes", namespaced=False)}
    except KubectlError:
        nodes = {}
    if not pods:
        return [
            Check.warn(
                "pods",
                f"no pods in namespace {ns}",
                "kubectl apply -f k8s-manifests/base/configmaps.yaml, then the services/ files",
            )
        ]
    results: list[Check] = []
    placed: list[str] = []
    for pod in pods:
        name, spec, phase = pod["metadata"]["name"], pod["spec"], pod["status"].get("phase")
        node = spec.get("nodeName")
        if not node:
            results.append(await explain_pending(k, pod, nodes))
            continue
        want = (spec.get("nodeSelector") or {}).get(ROLE)
        has = nodes.get(node, {}).get("metadata", {}).get("labels", {}).get(ROLE)
        if want and nodes and has != want:
            results.append(
                Check.fail(
                    f"pod {name}",
                    f"on {node} whose {ROLE}={has}, expected {want}",
                    f"kubectl label node {node} {ROLE}={want} --overwrite\n"
                    f"(or move the pod: kubectl delete pod {name} -n {ns})",
                )
            )
        elif phase == "Running" and _ready(pod):
            placed.append(f"{name} on {node}" + (f" ({ROLE}={want})" if want else ""))
        else:
            reasons = _waiting_reasons(pod) or [f"phase {phase}, not ready"]
            results.append(
                Check.warn(
                    f"pod {name}",
                    f"on {node}: {'; '.join(reasons)}",
                    f"kubectl describe pod {name} -n {ns}; kubectl logs {name} -n {ns} "
                    "--all-containers\nCreateContainerConfigError usually means the Secret "
                    "is missing: k8s-manifests/base/secret.example.md",
                )
            )
    if placed:
        results.insert(0, Check.ok("pods", "; ".join(placed)))
    return results


async def check_endpoints(k: Kubectl, ns: str) -> list[Check]:
    services = {s["metadata"]["name"] for s in await k.items("services")}
    results = []
    for svc in OLLAMA_SERVICES:
        if svc not in services:
            continue
        ep = await k.json("get", "endpoints", svc)
        ready = [a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
        not_ready = [a["ip"] for s in ep.get("subsets") or [] for a in s.get("notReadyAddresses") or []]
        if ready:
            results.append(Check.ok(f"endpoints {svc}", ", ".join(ready)))
        else:
            results.append(
                Check.fail(
                    f"endpoints {svc}",
                    "no ready Ollama pod behind the Service"
                    + (f" (not ready: {', '.join(not_ready)})" if not_ready else ""),
                    f"kubectl get pods -n {ns} -o wide | grep ollama; "
                    f"kubectl describe pod -n {ns} -l app={svc}",
                )
            )
    return results


async def check_logs(k: Kubectl, ns: str) -> list[Check]:
    deployments = {d["metadata"]["name"] for d in await k.items("deployments")}
    results = []
    for name, container in BACKENDS.items():
        if name not in deployments:
            continue
        try:
            text = await k.text("logs", f"deploy/{name}", "-c", container, "--tail=400")
        except KubectlError as exc:
            results.append(
                Check.warn(
                    f"logs {name}",
                    f"cannot read logs: {exc}",
                    f"kubectl logs -n {ns} deploy/{name} -c {container}",
                )
            )
            continue
        lines = [line for line in text.splitlines() if "ollama" in line.lower()]
        bad = [line for line in lines if any(w in line.lower() for w in BAD_WORDS)]
        if bad:
            results.append(
                Check.warn(
                    f"logs {name}",
                    f"{len(bad)} Ollama problems, last: {bad[-1][-200:]}",
                    f"kubectl logs -n {ns} deploy/{name} -c {container} | grep -i ollama",
                    lines=bad[-5:],
                )
            )
        else:
            results.append(Check.ok(f"logs {name}", f"{len(lines)} lines about Ollama, no errors"))
    return results


async def run(ctx: Context) -> list[Check]:
    k = Kubectl(ctx.namespace, ctx.kube_context, timeout_s=max(ctx.timeout_s, 5.0))
    if k.path is None:
        return [Check.skip("kubernetes", "kubectl not installed")]
    try:
        await k.json("get", "namespace", ctx.namespace, namespaced=False)
    except KubectlError as exc:
        return [Check.skip("kubernetes", f"kubectl cannot reach the namespace: {str(exc)[:160]}")]
    parts = await asyncio.gather(
        check_pods(k, ctx.namespace),
        check_endpoints(k, ctx.namespace),
        check_logs(k, ctx.namespace),
        return_exceptions=True,
    )
    results: list[Check] = []
    for part in parts:
        if isinstance(part, KubectlError):
            results.append(Check.warn("kubernetes", f"kubectl failed: {str(part)[:200]}"))
        elif isinstance(part, BaseException):
            raise part
        else:
            results.extend(part)
    return results
