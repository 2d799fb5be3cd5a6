"""Why a pod is Pending, in the scheduler's words, and the fix for each known reason."""

from __future__ import annotations

from typing import Any

from harvis.doctor.kubectl import Kubectl, KubectlError
from harvis.doctor.result import Check

ROLE = "harvis.ai/role"


def scheduler_message(pod: dict[str, Any]) -> str:
    for cond in pod["status"].get("conditions") or []:
        if cond["type"] == "PodScheduled" and cond["status"] == "False":
            return str(cond.get("message") or cond.get("reason") or "")
    return ""


async def _last_event(k: Kubectl, name: str) -> str:
    try:
        events = await k.items("events", f"--field-selector=involvedObject.name={name}")
    except KubectlError:
        return ""
    failed = [e for e in events if e.get("reason") == "FailedScheduling"]
    return str(failed[-1].get("message", "")) if failed else ""


def _role_fix(want: str | None, nodes: dict[str, Any]) -> str:
    roles = {n: (d["metadata"].get("labels") or {}).get(ROLE) for n, d in nodes.items()}
    have = ", ".join(f"{n}={r or '(none)'}" for n, r in roles.items()) or "(cannot list nodes)"
    return (
        f"no node carries {ROLE}={want}; nodes now: {have}\n"
        f"kubectl label node <NODE> {ROLE}={want} --overwrite   (kubectl get nodes -L {ROLE})"
    )


async def _volume_fix(k: Kubectl, pod: dict[str, Any]) -> str:
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"].get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]
    lines = []
    for claim in claims:
        try:
            pvc = await k.json("get", "pvc", claim)
            volume = pvc["spec"].get("volumeName")
            if not volume:
                continue
            pv = await k.json("get", "pv", volume, namespaced=False)
        except KubectlError:
            continue
        terms = ((pv["spec"].get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
        pinned = "; ".join(
            f"{e['key']} {e['operator']} {e.get('values')}"
            for t in terms
            for e in t.get("matchExpressions") or []
        )
        lines.append(f"claim {claim} is bound to volume {volume}, which is pinned to: {pinned or 'nothing'}")
    want = (pod["spec"].get("nodeSelector") or {}).get(ROLE)
    lines.append(
        f"the pod needs a node with {ROLE}={want}: recreate the volume on that node "
        f"(pin local volumes by {ROLE}, not by hostname; base/volumes.example.yaml), or label the "
        "volume's node with that role"
    )
    return "\n".join(lines)


async def _claim_fix(k: Kubectl, pod: dict[str, Any]) -> str:
    lines = []
    try:
        volumes = await k.items("pv", namespaced=False)
        released = [pv for pv in volumes if pv["status"].get("phase") == "Released"]
    except KubectlError:
        released = []
    for pv in released:
        ref = pv["spec"].get("claimRef") or {}
        pv_name = pv["metadata"]["name"]
        lines.append(
            f"volume {pv_name} is Released (its claim {ref.get('name')} was deleted); to reuse "
            f'its data: kubectl patch pv {pv_name} -p \'{{"spec":{{"claimRef":null}}}}\''
        )
    lines.append(
        f"kubectl get pvc -n {k.namespace}; create the PersistentVolumes "
        "(k8s-manifests/base/volumes.example.yaml) or use a storage class with a provisioner"
    )
    return "\n".join(lines)


async def explain_pending(k: Kubectl, pod: dict[str, Any], nodes: dict[str, Any]) -> Check:
    name = pod["metadata"]["name"]
    message = scheduler_message(pod) or await _last_event(k, name) or "not scheduled yet (no reason given)"
    want = (pod["spec"].get("nodeSelector") or {}).get(ROLE)
    fixes = []
    lower = message.lower()
    selector_miss = "didn't match node selector" in lower or "didn't match pod's node affinity" in lower
    role_taken = any((n["metadata"].get("labels") or {}).get(ROLE) == want for n in nodes.values())
    # Other roles' nodes always "didn't match"; it is the problem only when no node has the role.
    if selector_miss and want and not role_taken:
        fixes.append(_role_fix(want, nodes))
    if "volume node affinity conflict" in lower:
        fixes.append(await _volume_fix(k, pod))
    if "insufficient nvidia.com/gpu" in lower:
        fixes.append(
            "every GPU on the matching nodes is taken: kubectl describe nodes | grep nvidia\n"
            "one GPU per node: keep replicas at 1 (strategy Recreate), scale other GPU pods down,\n"
            "or for the edge pod enable time-slicing (k8s-manifests/gpu/time-slicing.yaml)"
        )
    if "persistentvolumeclaim" in lower or "persistent volumes to bind" in lower:
        fixes.append(await _claim_fix(k, pod))
    if not fixes:
        fixes.append(f"kubectl describe pod {name} -n {k.namespace}")
    return Check.fail(f"pod {name}", f"Pending: {message}", "\n".join(fixes), reason=message)
