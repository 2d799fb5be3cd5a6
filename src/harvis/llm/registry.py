"""Which deployments exist right now: from the config file, from OLLAMA_URL, or from DNS.

Nodes found at run time (OLLAMA_URL without a config file, DNS discovery) serve every model
their `/api/tags` lists, each as a group of the same name; the default model is always
offered there so that a request made before the first probe still has somewhere to go.
A wildcard entry of the config file does the same for its node, naming groups by its pattern.
Disabled entries (an unset os.environ/ variable) are kept aside with their reason.
"""

from __future__ import annotations

import dataclasses

from harvis.config import LLMSettings
from harvis.llm.deployment import Deployment, Node
from harvis.llm.ollama_client import OllamaClient
from harvis.llm.openai_client import OpenAIClient
from harvis.llm.router_config import DeploymentConfig, RouterConfig


class Registry:
    def __init__(self, llm: LLMSettings, config: RouterConfig | None) -> None:
        self._llm = llm
        self._config = config
        self.nodes: dict[str, Node] = {}
        self.groups: dict[str, list[Deployment]] = {}
        self.retired: list[Node] = []  # removed nodes whose clients close once idle
        self.disabled: list[DeploymentConfig] = []
        for dep in config.deployments if config else []:
            if dep.disabled:
                self.disabled.append(dep)
                continue
            node = self._node(dep.api_base, dep.provider, dep.api_key, source="config")
            if dep.wildcard:
                node.wildcards.append(dep)
            else:
                self._add(dep, node)
        for node in list(self.nodes.values()):
            if node.wildcards:
                self.sync_models(node, set())

    def disabled_report(self) -> list[dict[str, str]]:
        """Config entries that cannot serve, and why (shown in /health/ready and `harvis doctor`)."""
        return [
            {"model": d.model_name, "entry": f"model_list[{d.index}]", "reason": d.disabled}
            for d in self.disabled
        ]

    def disabled_reason(self, group: str) -> str | None:
        """Why a group named in the config serves nothing, when all its entries are disabled."""
        reasons = [d.disabled for d in self.disabled if d.model_name == group]
        if not reasons or self.groups.get(group):
            return None
        return f"model {group!r} is disabled: {reasons[0]}"

    def _node(self, url: str, provider: str, api_key: str | None, *, source: str) -> Node:
        node = self.nodes.get(url)
        if node is not None:
            return node
        llm = self._llm
        client: OllamaClient | OpenAIClient
        if provider == "ollama":
            client = OllamaClient(
                url,
                connect_timeout_s=llm.connect_timeout_s,
                first_byte_timeout_s=llm.first_byte_timeout_s,
                chunk_timeout_s=llm.chunk_timeout_s,
            )
        else:
            client = OpenAIClient(
                url,
                api_key,
                connect_timeout_s=llm.connect_timeout_s,
                first_byte_timeout_s=llm.first_byte_timeout_s,
                chunk_timeout_s=llm.chunk_timeout_s,
            )
        node = Node(url=url, provider=provider, client=client, source=source)
        self.nodes[url] = node
        return node

    def _add(self, config: DeploymentConfig, node: Node) -> Deployment:
        max_parallel = config.max_parallel or self._llm.max_parallel_per_deployment
        dep = Deployment(config=config, node=node, max_parallel=max_parallel)
        self.groups.setdefault(config.model_name, []).append(dep)
        return dep

    def deployments(self) -> list[Deployment]:
        return [dep for deps in self.groups.values() for dep in deps]

    def add_discovered(self, url: str, source: str) -> Node:
        """A node whose models come from its /api/tags (source "ollama_url" or "dns")."""
        url = url.rstrip("/")
        known = url in self.nodes
        node = self._node(url, "ollama", None, source=source)
        if not known:
            self.sync_models(node, set())
        return node

    def sync_models(self, node: Node, names: set[str]) -> None:
        """Make the node's run-time deployments match the models it lists (plus the default
        model); deployments named in the config file are never touched."""
        node.models = set(names)
        templates = node.wildcards or [DeploymentConfig(-1, "*", "ollama", "*", node.url, wildcard=True)]
        wanted: dict[str, DeploymentConfig] = {}
        for name in sorted({*names, self._llm.default_model}):
            for template in templates:
                group = template.group_for(name)
                wanted[group] = dataclasses.replace(
                    template, index=-1, model_name=group, upstream_model=name, wildcard=False
                )
        mine = [d for d in self.deployments() if d.node is node]
        fixed = {d.config.model_name for d in mine if d.config.index >= 0}
        have = {d.config.model_name for d in mine if d.config.index < 0}
        for group in wanted.keys() - have - fixed:
            self._add(wanted[group], node)
        for group in have - wanted.keys():
            self._drop(group, node)

    def _drop(self, group: str, node: Node) -> None:
        deps = [d for d in self.groups.get(group, []) if d.node is not node]
        if deps:
            self.groups[group] = deps
        else:
            self.groups.pop(group, None)

    def remove_discovered(self, url: str) -> None:
        node = self.nodes.get(url)
        if node is None or node.source != "dns":
            return
        for group in list(self.groups):
            self._drop(group, node)
        del self.nodes[url]
        self.retired.append(node)  # streams in flight keep using its client until they end
