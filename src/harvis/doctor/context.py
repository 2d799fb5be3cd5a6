"""What every check needs: the settings, where the backend is, and how to reach the cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harvis.config import Settings
from harvis.llm.router_config import RouterConfig, RouterConfigError, load_config


@dataclass
class Context:
    settings: Settings
    backend_url: str | None = None
    token: str | None = None  # a Harvis API key or login token, for the backend's /api/… checks
    namespace: str = "ai-agents"
    kube_context: str | None = None
    timeout_s: float = 5.0
    _router: tuple[RouterConfig | None, str] | None = field(default=None, repr=False)

    def router_config(self) -> tuple[RouterConfig | None, str]:
        """The parsed router file (or None) and, if it failed to parse, why."""
        if self._router is None:
            path = self.settings.llm_config
            if path is None:
                self._router = (None, "")
            else:
                try:
                    self._router = (load_config(path, default_api_base=self.default_ollama_url()), "")
                except RouterConfigError as exc:
                    self._router = (None, str(exc))
        return self._router

    def default_ollama_url(self) -> str:
        return (self.settings.ollama_url or "http://127.0.0.1:11434").rstrip("/")

    def ollama_targets(self) -> dict[str, list[str]]:
        """Ollama base URL -> the models configured on it (router file, else OLLAMA_URL + default)."""
        config, _ = self.router_config()
        targets: dict[str, list[str]] = {}
        if config is not None:
            for dep in config.deployments:
                if dep.provider == "ollama" and not dep.disabled:
                    models = targets.setdefault(dep.api_base, [])
                    if not dep.wildcard:  # a wildcard serves whatever the node lists
                        models.append(dep.upstream_model)
        elif self.settings.ollama_url:
            targets[self.default_ollama_url()] = [self.settings.llm.default_model]
        return targets

    def hostnames(self) -> list[str]:
        """Every service name Harvis will look up, in a stable order."""
        names: list[str] = []
        urls = list(self.ollama_targets())
        config, _ = self.router_config()
        if config is not None:
            urls += [d.api_base for d in config.deployments if d.provider != "ollama" and not d.disabled]
        if self.settings.database_url:
            urls.append(self.settings.database_url)
        for url in urls:
            host = urlsplit(url).hostname
            if host and host not in names:
                names.append(host)
        if self.settings.llm.discover_dns and self.settings.llm.discover_dns not in names:
            names.append(self.settings.llm.discover_dns)
        return names
