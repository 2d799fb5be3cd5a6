"""Typed assertions on the manifests: selectors, GPUs, references, node pinning per topology."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import ConfigMap

from harvis.llm.router_config import parse_config
from tests.support.k8s_manifests import (
    MANIFESTS,
    NAMESPACE,
    Doc,
    all_docs,
    containers,
    gpu_count,
    load_file,
    pod_spec,
    service_file,
)

DOCS = all_docs()
# lightkube's models make every field Optional; these tests index what the manifests must have,
# and a missing field fails the test anyway, so they are typed Any.
OBJS: list[tuple[Doc, Any]] = [(d, d.obj()) for d in DOCS]
CONFIGMAPS: dict[str, Any] = {d.name: o for d, o in OBJS if isinstance(o, ConfigMap)}
WORKLOADS: list[tuple[Doc, Any]] = [(d, o) for d, o in OBJS if d.kind in ("Deployment", "StatefulSet")]
SECRETS_ALLOWED = {"harvis-ai-secrets", "harvis-ai-postgres"}


def _pod(o: Any) -> Any:
    assert o.spec is not None and o.spec.template.spec is not None
    return o.spec.template.spec


def _all_containers(spec: Any) -> list[Any]:
    return [*(spec.initContainers or []), *spec.containers]


def _workload(file: str, kind: type[Any] = Deployment) -> Any:
    found = [d.obj() for d in load_file(service_file(file)) if d.kind == kind.__name__]
    assert len(found) == 1, f"{file}: expected one {kind.__name__}, found {len(found)}"
    return found[0]


def test_namespaced_objects_live_in_ai_agents() -> None:
    cluster_scoped = {"Namespace", "StorageClass", "PersistentVolume"}
    for doc, o in OBJS:
        if doc.kind not in cluster_scoped:
            assert o.metadata.namespace == NAMESPACE, doc.where


def test_no_secret_objects_or_secret_values_in_the_repo() -> None:
    assert not [d.where for d in DOCS if d.kind == "Secret"]
    pattern = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY)", re.I)
    for name, cm in CONFIGMAPS.items():
        leaked = [k for k in (cm.data or {}) if pattern.search(k)]
        assert not leaked, f"ConfigMap {name} carries secret-looking keys {leaked}"


@pytest.mark.parametrize("doc,obj", WORKLOADS, ids=[d.where for d, _ in WORKLOADS])
def test_selector_matches_template_labels(doc: Doc, obj: Deployment | StatefulSet) -> None:
    assert obj.spec is not None and obj.spec.selector.matchLabels
    labels = obj.spec.template.metadata.labels if obj.spec.template.metadata else None
    assert labels, f"{doc.where}: template has no labels"
    for k, v in obj.spec.selector.matchLabels.items():
        assert labels.get(k) == v, f"{doc.where}: selector {k}={v} not on the pod template"


@pytest.mark.parametrize("doc,obj", WORKLOADS, ids=[d.where for d, _ in WORKLOADS])
def test_gpu_requests_equal_limits(doc: Doc, obj: Deployment | StatefulSet) -> None:
    for c in containers(pod_spec(doc.raw) or {}):
        requested, limited = gpu_count(c, "requests"), gpu_count(c, "limits")
        # Extended resources cannot be overcommitted: a request without the same limit is rejected.
        assert requested == limited, f"{doc.where} {c['name']}: GPU request {requested} != limit {limited}"


def test_every_gpu_workload_tolerates_the_gpu_taint_and_is_pinned_by_role() -> None:
    for doc, obj in WORKLOADS:
        spec = _pod(obj)
        if not any(gpu_count(c) for c in containers(pod_spec(doc.raw) or {})):
            continue
        assert spec.nodeSelector and "harvis.ai/role" in spec.nodeSelector, doc.where
        assert any(t.key == "nvidia.com/gpu" for t in spec.tolerations or []), doc.where


def test_no_hostname_pinning_anywhere() -> None:
    for doc, obj in WORKLOADS:
        assert "kubernetes.io/hostname" not in (_pod(obj).nodeSelector or {}), doc.where
        affinity = _pod(obj).affinity
        node_aff = affinity.nodeAffinity if affinity else None
        assert node_aff is None, f"{doc.where}: pin by nodeSelector on harvis.ai/role, not node affinity"


@pytest.mark.parametrize(
    "file,kind,role",
    [
        ("ollama-workstation.yaml", Deployment, "ollama"),
        ("backend-workstation.yaml", Deployment, "backend"),
        ("merged-ollama-backend.yaml", Deployment, "edge"),
        ("ollama-scaleout.yaml", StatefulSet, "ollama"),
        ("backend-scaleout.yaml", Deployment, "backend"),
    ],
)
def test_node_pinning_per_topology(file: str, kind: type[Any], role: str) -> None:
    assert _pod(_workload(file, kind)).nodeSelector == {"harvis.ai/role": role}


def test_single_gpu_deployments_never_surge() -> None:
    # A surge pod would wait forever for a second GPU and the rollout would hang.
    for doc, obj in WORKLOADS:
        uses_gpu = any(gpu_count(c) for c in containers(pod_spec(doc.raw) or {}))
        if doc.kind != "Deployment" or not uses_gpu:
            continue
        strategy = obj.spec.strategy if obj.spec else None
        assert strategy is not None, doc.where
        if strategy.type != "Recreate":
            surge = strategy.rollingUpdate.maxSurge if strategy.rollingUpdate else None
            assert str(surge) == "0", doc.where


def test_referenced_config_maps_and_keys_exist() -> None:
    for doc, obj in WORKLOADS:
        spec = _pod(obj)
        for c in _all_containers(spec):
            for src in c.envFrom or []:
                if src.configMapRef:
                    name = src.configMapRef.name
                    assert name in CONFIGMAPS, f"{doc.where} {c.name}: {name}"
                if src.secretRef:
                    assert src.secretRef.name in SECRETS_ALLOWED, doc.where
            for env in c.env or []:
                ref = env.valueFrom.configMapKeyRef if env.valueFrom else None
                if ref:
                    assert ref.key in (CONFIGMAPS[ref.name].data or {}), f"{doc.where}: {ref.name}/{ref.key}"
                sref = env.valueFrom.secretKeyRef if env.valueFrom else None
                if sref:
                    assert sref.name in SECRETS_ALLOWED, f"{doc.where}: unknown Secret {sref.name}"
        for vol in spec.volumes or []:
            if vol.configMap:
                assert vol.configMap.name in CONFIGMAPS, f"{doc.where}: volume {vol.name}"


def test_volumes_mounted_exist_and_claims_are_declared_with_the_workload() -> None:
    for doc, obj in WORKLOADS:
        spec = _pod(obj)
        file_claims = {d.name for d in load_file(doc.path) if d.kind == "PersistentVolumeClaim"}
        claim_templates = obj.spec.volumeClaimTemplates if doc.kind == "StatefulSet" else None
        templates = {t.metadata.name for t in claim_templates or []}
        volumes = {v.name for v in spec.volumes or []} | templates
        for c in _all_containers(spec):
            for m in c.volumeMounts or []:
                assert m.name in volumes, f"{doc.where} {c.name}: mounts unknown volume {m.name}"
        for v in spec.volumes or []:
            if v.persistentVolumeClaim:
                assert v.persistentVolumeClaim.claimName in file_claims, f"{doc.where}: {v.name}"


def test_claims_have_access_modes_and_quoted_sizes() -> None:
    for doc, o in OBJS:
        if doc.kind == "PersistentVolumeClaim":
            assert o.spec and o.spec.accessModes, doc.where
            size = doc.raw["spec"]["resources"]["requests"]["storage"]
            assert isinstance(size, str), f"{doc.where}: quote the size"


def test_every_service_selects_some_pod_and_names_a_real_port() -> None:
    pods = [(_pod(o), (o.spec.template.metadata.labels or {})) for _, o in WORKLOADS]
    for doc, o in OBJS:
        if doc.kind != "Service":
            continue
        selector = o.spec.selector or {}
        matches = [spec for spec, labels in pods if all(labels.get(k) == v for k, v in selector.items())]
        assert selector and matches, f"{doc.where}: selects no pod template"
        for port in o.spec.ports or []:
            assert port.protocol == "TCP", f"{doc.where}: set protocol TCP (1.20 server-side apply)"
            named = {p.name for spec in matches for c in spec.containers for p in c.ports or []}
            assert port.targetPort in named, f"{doc.where}: targetPort {port.targetPort} not a container port"


def test_seed_ollama_urls_and_services() -> None:
    assert CONFIGMAPS["harvis-ai-backend-config"].data["OLLAMA_URL"] == "http://localhost:11434"
    ws = CONFIGMAPS["harvis-ai-backend-workstation-config"].data
    assert ws["OLLAMA_URL"] == "http://harvis-ai-ollama-workstation:11434"
    services = {d.name: o for d, o in OBJS if d.kind == "Service"}
    assert [p.port for p in services["harvis-ai-ollama-workstation"].spec.ports] == [11434]
    headless = services["harvis-ai-ollama-scaleout"]
    assert headless.spec.clusterIP == "None"
    scale = CONFIGMAPS["harvis-ai-backend-scaleout-config"].data
    assert scale["HARVIS_LLM__DISCOVER_DNS"].startswith("harvis-ai-ollama-scaleout.ai-agents.")


@pytest.mark.parametrize(
    "topology,env_cm",
    [("edge", "harvis-ai-backend-config"), ("workstation", "harvis-ai-backend-workstation-config")],
)
def test_router_config_parses_and_points_at_ollama_url(topology: str, env_cm: str) -> None:
    text = CONFIGMAPS[f"harvis-ai-llm-{topology}-config"].data["llm.yaml"]
    config = parse_config(yaml.safe_load(text), env={})  # no secrets needed to start
    ollama_url = CONFIGMAPS[env_cm].data["OLLAMA_URL"]
    assert {d.api_base for d in config.deployments if d.provider == "ollama"} == {ollama_url}
    assert CONFIGMAPS[env_cm].data["HARVIS_LLM_CONFIG"].startswith("/etc/harvis/")


def test_edge_pod_fits_the_time_sliced_gpu() -> None:
    merged = _workload("merged-ollama-backend.yaml")
    gpus = [int((c.resources.limits or {}).get("nvidia.com/gpu", 0)) for c in _pod(merged).containers]
    assert gpus == [1, 1], "Ollama and the backend each ask for one (time-sliced) GPU"
    config = yaml.safe_load((MANIFESTS / "gpu" / "time-slicing.yaml").read_text())
    res = config["sharing"]["timeSlicing"]["resources"]
    replicas = sum(r["replicas"] for r in res if r["name"] == "nvidia.com/gpu")
    assert replicas >= sum(gpus)
    assert config["version"] == "v1"


def test_backend_probes_match_the_health_api() -> None:
    for file in ("backend-workstation.yaml", "merged-ollama-backend.yaml", "backend-scaleout.yaml"):
        backend = next(c for c in _pod(_workload(file)).containers if c.name == "backend")
        assert backend.readinessProbe.httpGet.path == "/health/live", file
        assert backend.livenessProbe.httpGet.path == "/health/live", file
        assert backend.startupProbe.exec.command == ["python", "-m", "harvis.doctor.probe", "speech"], file
        assert backend.args[:1] == ["serve"], file


def test_no_native_sidecars_or_unquoted_gpu_quantities_for_old_servers() -> None:
    for doc in DOCS:
        spec = pod_spec(doc.raw) or {}
        for c in spec.get("initContainers") or []:
            assert "restartPolicy" not in c, f"{doc.where}: native sidecars need Kubernetes 1.28+"
        for c in containers(spec):
            for section in ("requests", "limits"):
                for k, v in ((c.get("resources") or {}).get(section) or {}).items():
                    assert isinstance(v, str), f"{doc.where} {c['name']}: quote {section}.{k}"


def test_images_are_pinned() -> None:
    for doc in DOCS:
        for c in containers(pod_spec(doc.raw) or {}):
            image = c["image"]
            assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], f"{doc.where}: {image}"
            if not image.startswith("harvis/"):
                assert "@sha256:" in image, f"{doc.where}: third-party image {image} without a digest"


def test_models_the_backends_ask_for_are_the_ones_ollama_pulls() -> None:
    pulled = set(CONFIGMAPS["harvis-ai-ollama-config"].data["OLLAMA_PULL_MODELS"].split())
    for topology in ("edge", "workstation"):
        config = parse_config(
            yaml.safe_load(CONFIGMAPS[f"harvis-ai-llm-{topology}-config"].data["llm.yaml"]), env={}
        )
        named = [d for d in config.deployments if d.provider == "ollama" and not d.wildcard]
        assert {d.upstream_model for d in named} <= pulled, topology
        # The wildcard: whatever users pull into that Ollama is served too, under its own name.
        assert [d.model_name for d in config.deployments if d.wildcard] == ["*"], topology
        default = CONFIGMAPS[f"harvis-ai-backend{'' if topology == 'edge' else '-workstation'}-config"]
        assert default.data["HARVIS_LLM__DEFAULT_MODEL"] in config.groups, topology
    # Without a router file the default model is an Ollama name, exactly as pulled.
    assert CONFIGMAPS["harvis-ai-backend-scaleout-config"].data["HARVIS_LLM__DEFAULT_MODEL"] in pulled


def test_scaleout_bootstrap_url_is_a_pod_of_the_headless_service() -> None:
    data = CONFIGMAPS["harvis-ai-backend-scaleout-config"].data
    sts = _workload("ollama-scaleout.yaml", StatefulSet)
    host = data["OLLAMA_URL"].split("//", 1)[1].split(":", 1)[0]
    assert host == f"{sts.metadata.name}-0.{sts.spec.serviceName}"
    assert data["HARVIS_LLM__DISCOVER_DNS"].split(".")[0] == sts.spec.serviceName
