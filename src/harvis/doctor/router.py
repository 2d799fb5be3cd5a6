"""The router file (HARVIS_LLM_CONFIG): does it parse, and what will the router do with it."""

from __future__ import annotations

from harvis.doctor.context import Context
from harvis.doctor.result import Check


async def run(ctx: Context) -> list[Check]:
    path = ctx.settings.llm_config
    discovery = ctx.settings.llm.discover_dns
    every = ctx.settings.llm.discover_interval_s
    extra = f"; DNS discovery of {discovery} every {every:g}s" if discovery else ""
    if path is None:
        target = ctx.settings.ollama_url or "the embedded LLM node"
        return [Check.ok("router", f"no router file: every model goes to {target}{extra}")]
    config, error = ctx.router_config()
    if config is None:
        return [
            Check.fail(
                "router",
                f"{path}: {error}",
                "fix the entry named above (LiteLLM model_list shape; api_key: os.environ/VAR "
                "needs VAR set, in Kubernetes from the Secret harvis-ai-secrets)",
            )
        ]
    groups: dict[str, list[str]] = {}
    for dep in config.deployments:
        if not dep.disabled:
            groups.setdefault(dep.model_name, []).append(f"{dep.provider}:{dep.api_base}")
    shown = "; ".join(f"{g} -> {', '.join(d)}" for g, d in groups.items())
    fallbacks = ", ".join(f"{k} -> {'/'.join(v)}" for k, v in config.fallbacks.items()) or "none"
    text = f"{path}: {shown}; fallbacks: {fallbacks}; retries {config.num_retries}{extra}"
    checks = [Check.ok("router", text, groups=groups, fallbacks=config.fallbacks)]
    for dep in config.disabled:
        checks.append(
            Check.warn(
                "router",
                f"model_list[{dep.index}] (model_name {dep.model_name!r}) is disabled: {dep.disabled}",
                "set the variable (in Kubernetes from the Secret harvis-ai-secrets) and restart",
            )
        )
    return checks
