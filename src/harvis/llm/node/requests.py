"""Validate /api/chat and /api/generate bodies into a Job, with Ollama's 400 messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from harvis.llm.node.durations import InvalidDuration, keep_alive_seconds
from harvis.llm.node.messages import parse_messages, parse_tools
from harvis.llm.types import BadRequest

_FLOAT_OPTIONS = (
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
_INT_OPTIONS = ("top_k", "seed", "num_predict", "num_ctx", "repeat_last_n")
# A chat longer than this is refused (400), not shortened: building its prompt would hold the
# one generation slot for everyone. The backend's own APIs take at most as many.
MAX_MESSAGES = 1000
MAX_PROMPT_CHARS = 1024 * 1024  # checked before tokenizing; tokens are capped in the runtime


@dataclass(frozen=True)
class Sampling:
    """Ollama's option defaults (not llama.cpp's), so answers match a real Ollama."""

    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None  # None or negative = random
    num_predict: int = -1  # -1 = until the model stops or the context is full
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    kind: Literal["chat", "generate"]
    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    raw_prompt: str | None = None  # generate with raw=true: no chat template
    sampling: Sampling = Sampling()
    num_ctx: int | None = None
    format: str | dict[str, Any] | None = None  # "json" or a JSON schema
    keep_alive_s: float | None = None  # None = forever
    stream: bool = True
    tools: list[dict[str, Any]] = field(default_factory=list)  # rendered by the chat template
    think: bool | None = None  # None = the model's default
    images: bool = False  # some message carries images (refused: no model here has vision)

    @property
    def load_only(self) -> bool:
        """Ollama's "load or unload" request: no messages (chat) or an empty prompt (generate)."""
        return not self.messages and not self.raw_prompt


def _expect(body: dict[str, Any], key: str, kind: type | tuple[type, ...], name: str) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise BadRequest(f'invalid value for "{key}": expected {name}')
    return value


def parse_options(options: Any) -> tuple[Sampling, int | None]:
    if options is None:
        return Sampling(), None
    if not isinstance(options, dict):
        raise BadRequest('invalid value for "options": expected an object')
    values: dict[str, Any] = {}
    for key in _FLOAT_OPTIONS:
        v = options.get(key)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BadRequest(f'option "{key}" must be of type float')
            values[key] = float(v)
    for key in _INT_OPTIONS:
        v = options.get(key)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
                raise BadRequest(f'option "{key}" must be of type integer')
            values[key] = int(v)
    stop = options.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise BadRequest('option "stop" must be a list of strings')
        values["stop"] = tuple(stop)
    num_ctx = values.pop("num_ctx", None)
    if num_ctx is not None and num_ctx < 1:
        raise BadRequest('option "num_ctx" must be positive')
    values.pop("repeat_last_n", None)  # fixed per loaded model (llama.cpp sets it at load)
    seed = values.get("seed")
    if seed is not None and seed < 0:
        values["seed"] = None
    return Sampling(**values), num_ctx


def _parse_format(value: Any) -> str | dict[str, Any] | None:
    if value is None or value == "":
        return None
    if value == "json" or isinstance(value, dict):
        return value
    raise BadRequest(f'invalid format: {value!r}; expected "json" or a JSON schema')


def _check_messages(messages: list[dict[str, Any]]) -> None:
    if len(messages) > MAX_MESSAGES:
        raise BadRequest(f"too many messages: {len(messages)}; at most {MAX_MESSAGES}")
    _check_length(sum(len(m["content"]) for m in messages))


def _check_length(chars: int) -> None:
    if chars > MAX_PROMPT_CHARS:
        raise BadRequest(f"the prompt is too long: {chars} characters; at most {MAX_PROMPT_CHARS}")


def parse_job(kind: Literal["chat", "generate"], body: Any, default_keep_alive: float | None) -> Job:
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    model = _expect(body, "model", str, "a string")
    if not model:
        raise BadRequest("model is required")
    stream = _expect(body, "stream", bool, "a boolean")
    think = body.get("think")
    if isinstance(think, str) and think in ("high", "medium", "low"):  # gpt-oss levels: think
        think = True
    if think is not None and not isinstance(think, bool):
        raise BadRequest('invalid value for "think": expected a boolean or "high", "medium", "low"')
    sampling, num_ctx = parse_options(body.get("options"))
    try:
        keep_alive = keep_alive_seconds(body.get("keep_alive"), default_keep_alive)
    except InvalidDuration as exc:
        raise BadRequest(str(exc)) from None
    common: dict[str, Any] = dict(
        model=model,
        sampling=sampling,
        num_ctx=num_ctx,
        keep_alive_s=keep_alive,
        format=_parse_format(body.get("format")),
        stream=True if stream is None else stream,
        think=think,
    )
    if kind == "chat":
        messages, images = parse_messages(body.get("messages"))
        _check_messages(messages)
        return Job(
            kind="chat", messages=messages, tools=parse_tools(body.get("tools")), images=images, **common
        )
    common["images"] = bool(body.get("images"))
    prompt = _expect(body, "prompt", str, "a string") or ""
    system = _expect(body, "system", str, "a string") or ""
    _check_length(len(prompt) + len(system))
    if _expect(body, "raw", bool, "a boolean"):
        return Job(kind="generate", raw_prompt=prompt, **common)
    messages = ([{"role": "system", "content": system}] if system else []) + (
        [{"role": "user", "content": prompt}] if prompt else []
    )
    return Job(kind="generate", messages=messages if prompt else [], **common)
