"""Router configuration in LiteLLM's `model_list` YAML shape.

Users paste their LiteLLM files, so keys that do not matter to Harvis are accepted and
ignored; what matters is checked, and a bad entry fails at start with its index and
model_name in the message. Secrets are never in the file: `api_key: os.environ/VAR`; an
entry whose variable is unset is kept but disabled, with that reason, so one missing cloud key
never stops the backend. `model_name: "*"` (or a prefix like "ollama/*") with `model: ollama/*`
is LiteLLM's wildcard: every model the node lists, each as its own group.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

PROVIDERS = {"ollama": "ollama", "ollama_chat": "ollama", "openai": "openai"}
ENV_PREFIX = "os.environ/"


class RouterConfigError(ValueError):
    """The router config cannot be used; the message names the offending entry."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    api_base: str | None = None
    api_key: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_parallel_requests: int | None = None
    keep_alive: str | int | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_name: str
    litellm_params: _Params
    model_info: dict[str, Any] | None = None


class _Settings(BaseModel):
    """The keys we read from the top level, `router_settings` or `litellm_settings`."""

    model_config = ConfigDict(extra="allow")

    num_retries: int | None = None
    cooldown_time: float | None = None
    allowed_fails: int | None = None
    timeout: float | None = None
    request_timeout: float | None = None
    fallbacks: list[dict[str, list[str]]] | None = None


@dataclass(frozen=True)
class DeploymentConfig:
    index: int  # position in model_list (-1 for deployments found at run time)
    model_name: str  # the group callers ask for
    provider: str  # "ollama" | "openai"
    upstream_model: str  # the name the upstream server knows
    api_base: str
    api_key: str | None = None
    first_byte_timeout_s: float | None = None
    max_parallel: int | None = None
    keep_alive: str | int | None = None
    rpm: int | None = None
    wildcard: bool = False  # model_name is a pattern with one "*": the node's listed models fill it
    disabled: str = ""  # why this deployment cannot be used (an unset os.environ/ variable)

    @property
    def id(self) -> str:
        return f"{self.model_name}@{self.api_base}"

    def group_for(self, upstream: str) -> str:
        """The group a listed model gets from a wildcard entry ("ollama/*" + "qwen" -> "ollama/qwen")."""
        return self.model_name.replace("*", upstream, 1)


@dataclass(frozen=True)
class RouterConfig:
    deployments: list[DeploymentConfig]
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    num_retries: int | None = None
    cooldown_s: float | None = None
    allowed_fails: int | None = None
    timeout_s: float | None = None

    @property
    def groups(self) -> list[str]:
        """The groups named in the file that can serve (wildcards fill theirs at run time)."""
        return list(
            dict.fromkeys(d.model_name for d in self.deployments if not d.wildcard and not d.disabled)
        )

    @property
    def disabled(self) -> list[DeploymentConfig]:
        return [d for d in self.deployments if d.disabled]


def _entry_name(index: int, raw: Any) -> str:
    name = raw.get("model_name") if isinstance(raw, Mapping) else None
    return f"model_list[{index}]" + (f" (model_name {name!r})" if name else "")


class _Unset(Exception):
    def __init__(self, var: str) -> None:
        super().__init__(f"environment variable {var} is not set")


def _resolve_env(value: str | None, env: Mapping[str, str]) -> str | None:
    if value is None or not value.startswith(ENV_PREFIX):
        return value
    var = value[len(ENV_PREFIX) :]
    if not env.get(var):
        raise _Unset(var)
    return env[var]


def _wildcard(where: str, model_name: str, provider: str, upstream: str) -> bool:
    if "*" not in model_name and upstream != "*":
        return False
    if model_name.count("*") != 1 or upstream != "*":
        raise RouterConfigError(
            f"{where}: a wildcard needs one '*' in model_name and litellm_params.model PROVIDER/* "
            f"(got model_name {model_name!r}, model {provider}/{upstream})"
        )
    if provider != "ollama":
        raise RouterConfigError(f"{where}: wildcards list an Ollama node's models; use ollama/*")
    return True


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _deployment(index: int, raw: Any, default_api_base: str, env: Mapping[str, str]) -> DeploymentConfig:
    where = _entry_name(index, raw)
    if not isinstance(raw, Mapping):
        raise RouterConfigError(f"{where}: expected a mapping with model_name and litellm_params")
    try:
        entry = _Entry.model_validate(raw)
    except ValidationError as exc:
        raise RouterConfigError(f"{where}: {_validation_text(exc)}") from None
    params = entry.litellm_params
    provider_name, sep, upstream = params.model.partition("/")
    if not sep or not upstream:
        raise RouterConfigError(f"{where}: litellm_params.model {params.model!r} must be PROVIDER/NAME")
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        known = ", ".join(f"{p}/" for p in PROVIDERS)
        raise RouterConfigError(f"{where}: unknown provider {provider_name!r} (Harvis speaks {known})")
    wildcard = _wildcard(where, entry.model_name, provider, upstream)
    disabled = ""
    try:
        api_base = _resolve_env(params.api_base, env)
    except _Unset as exc:  # never contacted: the deployment is disabled
        disabled, api_base = str(exc), f"unset://{params.api_base}"
    try:
        api_key = _resolve_env(params.api_key, env)
    except _Unset as exc:
        disabled, api_key = disabled or str(exc), None
    if not api_base:
        api_base = default_api_base if provider == "ollama" else "https://api.openai.com/v1"
    if not disabled and not api_base.startswith(("http://", "https://")):
        raise RouterConfigError(f"{where}: api_base {api_base!r} must start with http:// or https://")
    if params.max_parallel_requests is not None and params.max_parallel_requests < 1:
        raise RouterConfigError(f"{where}: max_parallel_requests must be at least 1")
    return DeploymentConfig(
        index=index,
        model_name=entry.model_name,
        provider=provider,
        upstream_model=upstream,
        api_base=api_base.rstrip("/"),
        api_key=api_key,
        first_byte_timeout_s=params.stream_timeout or params.timeout,
        max_parallel=params.max_parallel_requests,
        keep_alive=params.keep_alive,
        rpm=params.rpm,
        wildcard=wildcard,
        disabled=disabled,
    )


def _settings(data: Mapping[str, Any]) -> _Settings:
    merged: dict[str, Any] = {}
    for section in ("litellm_settings", "router_settings"):
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise RouterConfigError(f"{section}: expected a mapping")
        merged.update(value)
    for key in _Settings.model_fields:
        if key in data:
            merged[key] = data[key]
    try:
        return _Settings.model_validate(merged)
    except ValidationError as exc:
        raise RouterConfigError(f"router settings: {_validation_text(exc)}") from None


def parse_config(
    data: Any, *, default_api_base: str = "http://127.0.0.1:11434", env: Mapping[str, str] | None = None
) -> RouterConfig:
    """Check a loaded YAML document and turn it into a RouterConfig."""
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise RouterConfigError("the router config must be a mapping with a model_list")
    model_list = data.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        raise RouterConfigError("model_list: expected a non-empty list of deployments")
    deployments = [_deployment(i, raw, default_api_base, env) for i, raw in enumerate(model_list)]
    seen: dict[str, int] = {}
    for dep in deployments:
        if dep.id in seen:
            raise RouterConfigError(
                f"model_list[{dep.index}] (model_name {dep.model_name!r}): same model_name and api_base "
                f"as model_list[{seen[dep.id]}]"
            )
        seen[dep.id] = dep.index
    settings = _settings(data)
    groups = {d.model_name for d in deployments if not d.wildcard}
    patterns = [d.model_name for d in deployments if d.wildcard]
    fallbacks: dict[str, list[str]] = {}
    for i, rule in enumerate(settings.fallbacks or []):
        for source, targets in rule.items():
            for name in (source, *targets):
                if name not in groups and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
                    raise RouterConfigError(
                        f"fallbacks[{i}] ({source!r}): {name!r} is not a model_name in model_list"
                    )
            fallbacks.setdefault(source, []).extend(t for t in targets if t != source)
    return RouterConfig(
        deployments=deployments,
        fallbacks=fallbacks,
        num_retries=settings.num_retries,
        cooldown_s=settings.cooldown_time,
        allowed_fails=settings.allowed_fails,
        timeout_s=settings.timeout or settings.request_timeout,
    )


def load_config(
    path: Path, *, default_api_base: str = "http://127.0.0.1:11434", env: Mapping[str, str] | None = None
) -> RouterConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RouterConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RouterConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(data, default_api_base=default_api_base, env=env)
    except RouterConfigError as exc:
        raise RouterConfigError(f"{path}: {exc}") from None
