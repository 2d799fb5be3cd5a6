"""The LLM router: one entry point for every chat, over every node and cloud fallback.

Choice: the node that has the model loaded, then the least busy (deployment.choose).
Failures before the first token are retried on another deployment (num_retries), then on
the configured fallback groups; after the first token the stream ends with StreamBroken,
so no text is ever sent twice. Deployments that keep failing cool down and come back by
themselves; when every deployment is busy a request waits up to queue_wait_s for a free one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from harvis.config import LLMSettings, Settings
from harvis.llm import router_status, watch
from harvis.llm.deployment import Deployment, choose
from harvis.llm.ollama_client import OllamaClient
from harvis.llm.public import public
from harvis.llm.reasoning import ThinkSplitter
from harvis.llm.registry import Registry
from harvis.llm.router_config import RouterConfig, RouterConfigError, load_config
from harvis.llm.router_metrics import ATTEMPTS, COOLDOWNS, IN_FLIGHT, QUEUE_TIMEOUTS, REQUESTS
from harvis.llm.types import (
    BadRequest,
    ChatRequest,
    Delta,
    LLMError,
    ModelInfo,
    ModelNotFound,
    NoCapacity,
    StreamBroken,
    StreamEnd,
    Unavailable,
)

__all__ = ["Router", "RouterConfigError"]
log = logging.getLogger(__name__)
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
CHECK_TIMEOUT_S = 3.0
# Errors that say "not here" or "busy", not "broken": they move on without a cooldown.
_NOT_FAILURES = (ModelNotFound, NoCapacity)


class Router:
    def __init__(
        self, llm: LLMSettings, config: RouterConfig | None = None, *, ollama_url: str | None = None
    ) -> None:
        self._llm = llm
        self._config = config
        self._registry = Registry(llm, config)
        # With DNS discovery the headless Service's records are the nodes; adding OLLAMA_URL too
        # would count one Ollama pod twice (once by its Service name, once by its address).
        if config is None and not llm.discover_dns:
            self._registry.add_discovered(ollama_url or DEFAULT_OLLAMA_URL, "ollama_url")
        self._fallbacks = config.fallbacks if config else {}
        self.num_retries = _pick(config and config.num_retries, llm.num_retries)
        self.cooldown_s = _pick(config and config.cooldown_s, llm.cooldown_s)
        self.allowed_fails = max(1, _pick(config and config.allowed_fails, llm.allowed_fails))
        self._first_byte_default = _pick(config and config.timeout_s, llm.first_byte_timeout_s)
        groups = config.groups if config else []
        self.default_model = llm.default_model if not groups or llm.default_model in groups else groups[0]
        self._waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        """Raises RouterConfigError (naming the bad entry) when HARVIS_LLM_CONFIG is unusable."""
        ollama_url = (settings.ollama_url or DEFAULT_OLLAMA_URL).rstrip("/")
        config = None
        if settings.llm_config:
            config = load_config(settings.llm_config, default_api_base=ollama_url)
        return cls(settings.llm, config, ollama_url=ollama_url)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """First probe (bounded), then background probes and DNS discovery."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CHECK_TIMEOUT_S + 1):
                if self._llm.discover_dns:
                    await watch.discover(self._registry, self._llm)
                await watch.probe_all(self._registry)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S + 1):
                await watch.announce(self._registry)
        except TimeoutError:
            log.warning("Ollama did not answer the start-up check within %gs", CHECK_TIMEOUT_S + 1)
        self._spawn(watch.watch(self._registry, self._llm))

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        nodes = [*self._registry.nodes.values(), *self._registry.retired]
        await asyncio.gather(*(n.client.aclose() for n in nodes), return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- chat --------------------------------------------------------------------------------

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[Delta | StreamEnd, None]:
        """Delta(content, reasoning) …, then one StreamEnd. Raises LLMError subclasses."""
        started = time.monotonic()
        self._known(request.model)
        chain = [request.model, *self._fallbacks.get(request.model, [])]
        last_error: LLMError | None = None
        attempts = 0
        for position, group in enumerate(chain):
            fallback = position > 0
            tried: set[str] = set()
            for _ in range(self.num_retries + 1):
                try:
                    dep = await self._acquire(group, tried)
                except _Exhausted:
                    break  # keep the error of the last real attempt
                except LLMError as exc:
                    last_error = exc
                    break
                tried.add(dep.id)
                attempts += 1
                try:
                    attempt = self._attempt(dep, request, fallback, started, attempts)
                    async with contextlib.aclosing(attempt):
                        async for item in attempt:
                            yield item
                    return
                except _Retry as retry:
                    last_error = retry.error
        if last_error is None:
            last_error = Unavailable(f"no deployment of {request.model!r} could be used")
        REQUESTS.labels(request.model, last_error.code, "false").inc()
        raise public(last_error)

    def _known(self, model: str) -> None:
        if model not in self._registry.groups:
            disabled = self._registry.disabled_reason(model)
            if disabled:
                REQUESTS.labels(model, Unavailable.code, "false").inc()
                raise Unavailable(disabled)
            REQUESTS.labels("unknown", ModelNotFound.code, "false").inc()  # no user text in labels
            raise ModelNotFound(f"model {model!r} is not served here")

    async def embed(self, model: str, inputs: list[str]) -> tuple[list[list[float]], int, str]:
        """Vectors for `inputs` from one deployment of `model` (retried like a chat, no fallbacks:
        another model's vectors would not be comparable). Returns (vectors, tokens, served_by)."""
        self._known(model)
        tried: set[str] = set()
        last: LLMError = Unavailable(f"no deployment of {model!r} could be used")
        for _ in range(self.num_retries + 1):
            try:
                dep = await self._acquire(model, tried)
            except _Exhausted:
                break
            tried.add(dep.id)
            try:
                vectors, tokens = await dep.node.client.embed(dep.config.upstream_model, inputs)
            except LLMError as exc:
                self._on_error(dep, exc, False, "false")
                if isinstance(exc, BadRequest):
                    raise
                last = exc
                continue
            finally:
                self._release(dep)
            dep.record_success()
            return vectors, tokens, dep.id
        raise last

    async def _attempt(
        self, dep: Deployment, request: ChatRequest, fallback: bool, started: float, attempts: int
    ) -> AsyncGenerator[Delta | StreamEnd, None]:
        """One try on one deployment; raises _Retry while nothing has reached the caller."""
        cfg = dep.config
        fb = "true" if fallback else "false"
        splitter = ThinkSplitter()
        sent = False
        ttft: float | None = None
        final = None
        stream = dep.node.client.stream_chat(
            cfg.upstream_model,
            request.messages,
            options=request.options,
            keep_alive=_pick(request.keep_alive, _pick(cfg.keep_alive, self._llm.keep_alive)),
            format=request.format,
            first_byte_timeout_s=cfg.first_byte_timeout_s or self._first_byte_default,
            tools=request.tools or None,
            think=request.think,
        )
        try:
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    content, reasoning = splitter.feed(chunk.content) if chunk.content else ("", "")
                    if chunk.done:
                        tail = splitter.flush()
                        content, reasoning = content + tail[0], reasoning + tail[1]
                    reasoning = chunk.thinking + reasoning
                    if content or reasoning or chunk.tool_calls:
                        if not sent:
                            sent, ttft = True, time.monotonic() - started
                        yield Delta(content, reasoning, chunk.tool_calls)
                    if chunk.done:
                        final = chunk
        except LLMError as exc:
            self._release(dep)
            self._on_error(dep, exc, sent, fb)
            if sent:
                REQUESTS.labels(request.model, StreamBroken.code, fb).inc()
                raise public(StreamBroken(f"{dep.id}: stream broke after it started: {exc.message}")) from exc
            if isinstance(exc, BadRequest):
                REQUESTS.labels(request.model, exc.code, fb).inc()
                raise public(exc) from None
            raise _Retry(exc) from exc
        except BaseException:
            self._release(dep)  # the caller went away (aclose, cancel): nothing to count
            raise
        self._release(dep)
        dep.record_success()
        ATTEMPTS.labels(dep.id, "ok", fb).inc()
        REQUESTS.labels(request.model, "ok", fb).inc()
        assert final is not None  # the client only ends a stream normally after done
        yield StreamEnd(
            served_by=dep.id,
            model=cfg.model_name,
            fallback=fallback,
            fallback_from=request.model if fallback else None,
            done_reason=final.done_reason or "stop",
            prompt_tokens=final.prompt_tokens,
            completion_tokens=final.completion_tokens,
            ttft_s=ttft,
            total_s=time.monotonic() - started,
            attempts=attempts,
        )

    def _on_error(self, dep: Deployment, exc: LLMError, sent: bool, fb: str) -> None:
        if isinstance(exc, BadRequest):
            ATTEMPTS.labels(dep.id, "bad_request", fb).inc()
            return
        if isinstance(exc, _NOT_FAILURES) and not sent:
            outcome = "not_found" if isinstance(exc, ModelNotFound) else "busy"
            ATTEMPTS.labels(dep.id, outcome, fb).inc()
            log.info("%s: %s; trying elsewhere", dep.id, exc.message)
            return
        ATTEMPTS.labels(dep.id, "broken" if sent else "retried", fb).inc()
        log.warning("%s failed%s: %s", dep.id, " mid-stream" if sent else "", exc.message)
        if isinstance(exc, Unavailable):
            dep.node.healthy = False  # refused to connect: prefer other nodes until a probe says otherwise
        if len(self._registry.groups.get(dep.config.model_name, ())) < 2:
            return  # as LiteLLM does: never cool down the only deployment a group has
        if dep.record_failure(self.allowed_fails, self.cooldown_s):
            COOLDOWNS.labels(dep.id).inc()
            log.warning("%s cools down for %gs", dep.id, self.cooldown_s)

    # -- capacity ------------------------------------------------------------------------------

    async def _acquire(self, group: str, tried: set[str]) -> Deployment:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            pick = choose(self._registry.groups.get(group, []), tried, time.monotonic())
            dep = pick.deployment
            if dep is not None:
                dep.in_flight += 1
                dep.node.in_flight += 1
                IN_FLIGHT.labels(dep.id).set(dep.in_flight)
                return dep
            if not pick.all_busy:
                if pick.retry_after:
                    raise Unavailable(
                        f"every deployment of {group!r} is cooling down",
                        retry_after=round(pick.retry_after, 1),
                    )
                if tried:
                    raise _Exhausted
                raise Unavailable(f"no deployment of {group!r} is known")
            deadline = deadline or loop.time() + self._llm.queue_wait_s
            remaining = deadline - loop.time()
            if remaining <= 0:
                QUEUE_TIMEOUTS.labels(group).inc()
                raise NoCapacity(
                    f"every deployment of {group!r} is busy", retry_after=_busy_retry_after(self._llm)
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _release(self, dep: Deployment) -> None:
        dep.in_flight -= 1
        dep.node.in_flight -= 1
        IN_FLIGHT.labels(dep.id).set(dep.in_flight)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- information ---------------------------------------------------------------------------

    def node_down(self, url: str, detail: str) -> None:
        """From whoever runs the node (the embedded node's supervisor): it is gone, now."""
        if (node := self._registry.nodes.get(url.rstrip("/"))) is not None:
            node.healthy, node.detail, node.loaded = False, detail, set()

    async def refresh(self) -> None:
        await watch.probe_all(self._registry)

    async def list_models(self) -> list[ModelInfo]:
        now = time.monotonic()
        return [
            ModelInfo(
                name=dep.config.model_name,
                deployment=dep.id,
                node=dep.node.url,
                provider=dep.node.provider,
                loaded=dep.loaded(),
                healthy=dep.node.healthy and not dep.cooling(now),
            )
            for dep in self._registry.deployments()
        ]

    def status(self) -> dict[str, Any]:
        return router_status.status(self._registry, self.default_model, self._fallbacks)

    async def warm(self, model: str, keep_alive: str | int | None) -> None:
        """Ask the best node for `model` to load it. The load runs to its end even if the
        caller stops waiting: a cancelled load would be wasted work on the node."""
        if model not in self._registry.groups:
            raise ModelNotFound(f"model {model!r} is not served here")
        pick = choose(self._registry.groups[model], set(), time.monotonic())
        dep = pick.deployment
        if dep is None:
            raise Unavailable(f"no deployment of {model!r} can be warmed now")
        client = dep.node.client
        if not isinstance(client, OllamaClient):
            return  # cloud models need no loading
        task = self._spawn(client.load(dep.config.upstream_model, _pick(keep_alive, self._llm.keep_alive)))
        await asyncio.shield(task)
        dep.node.mark_loaded(dep.config.upstream_model)

    async def check(self) -> dict[str, Any]:
        """For /health/ready: which nodes answer now (bounded time)."""
        return await router_status.check(self._registry, self.default_model, CHECK_TIMEOUT_S)


class _Exhausted(Exception):
    """Internal: every deployment of the group has been tried."""


class _Retry(Exception):
    """Internal: this attempt failed before its first token; try the next deployment."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(error.message)
        self.error = error


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def _busy_retry_after(llm: LLMSettings) -> float:
    return max(1.0, round(llm.queue_wait_s / 2, 1))
