"""Embeddings: Ollama's /api/embed and /api/embeddings, OpenAI's /v1/embeddings.

The model's own GGUF is loaded a second time in llama.cpp's embedding mode (mean pooling
for decoder models, the file's pooling for encoder models), as Ollama does for any model.
That context is kept per model and used through the same one-at-a-time line as generation.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
import time
from typing import Any

from fastapi import APIRouter, Request

from harvis.llm.node.bodies import read_json
from harvis.llm.node.jobs import NodeState
from harvis.llm.node.registry import ModelFile
from harvis.llm.types import BadRequest

router = APIRouter()
_EMBED_CTX = 2048


class Embedder:
    def __init__(self, model: ModelFile, threads: int) -> None:
        import llama_cpp

        encoder = f"{model.info.architecture}.pooling_type" in model.info.metadata
        self.n_ctx = min(_EMBED_CTX, model.info.context_length or _EMBED_CTX)
        self._llama = llama_cpp.Llama(
            model_path=str(model.path),
            embedding=True,
            n_ctx=self.n_ctx,
            n_batch=self.n_ctx,
            n_ubatch=self.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
            if encoder
            else llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            verbose=False,
        )

    def embed(self, texts: list[str], truncate: bool) -> tuple[list[list[float]], int]:
        longest = max(len(self._llama.tokenize(t.encode("utf-8"), add_bos=True)) for t in texts)
        if longest > self.n_ctx and not truncate:
            raise BadRequest("input length exceeds maximum context length")
        vectors, count = self._llama.embed(texts, normalize=False, truncate=True, return_count=True)
        return [list(map(float, v)) for v in vectors], int(count)


def _normalize(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


async def _embed(
    request: Request, name: Any, texts: list[str], truncate: bool
) -> tuple[list[list[float]], int, dict[str, int]]:
    state: NodeState = request.app.state.node
    if not isinstance(name, str) or not name:
        raise BadRequest("model is required")
    started = time.perf_counter_ns()
    model = await asyncio.to_thread(state.registry.get, name)
    embedders: dict[str, Embedder] = request.app.state.__dict__.setdefault("embedders", {})
    load_ns = 0
    async with state.gate.admit():
        embedder = embedders.get(model.name)
        if embedder is None:
            t0 = time.perf_counter_ns()
            embedder = await asyncio.to_thread(Embedder, model, request.app.state.threads)
            embedders[model.name] = embedder
            load_ns = time.perf_counter_ns() - t0
        vectors, count = await asyncio.to_thread(embedder.embed, texts, truncate)
    timing = {"total_duration": time.perf_counter_ns() - started, "load_duration": load_ns}
    return vectors, count, timing


def _inputs(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f'invalid value for "{key}": expected a string or a non-empty array of strings')


def _dimensions(vectors: list[list[float]], dims: Any) -> list[list[float]]:
    if dims is None:
        return vectors
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise BadRequest('"dimensions" must be a positive integer')
    return [_normalize(v[:dims]) for v in vectors]


def _encode(vector: list[float]) -> str:
    """OpenAI's base64 form (what its Python client asks for): little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@router.post("/api/embed")
async def embed(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    texts = _inputs(body.get("input"), "input")
    vectors, count, timing = await _embed(
        request, body.get("model"), texts, body.get("truncate", True) is not False
    )
    vectors = _dimensions([_normalize(v) for v in vectors], body.get("dimensions"))
    return {"model": body["model"], "embeddings": vectors, **timing, "prompt_eval_count": count}


@router.post("/api/embeddings")
async def embeddings(request: Request) -> dict[str, Any]:
    """The older endpoint: one prompt, one vector, not normalized (as Ollama answers it)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise BadRequest('invalid value for "prompt": expected a string')
    vectors, _, _ = await _embed(request, body.get("model"), [prompt], True)
    return {"embedding": vectors[0]}


@router.post("/v1/embeddings")
async def openai_embeddings(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequest('"encoding_format" must be "float" or "base64"')
    texts = _inputs(body.get("input"), "input")
    vectors, count, _ = await _embed(request, body.get("model"), texts, True)
    vectors = _dimensions([_normalize(v) for v in vectors], body.get("dimensions"))
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": _encode(v) if encoding == "base64" else v, "index": i}
            for i, v in enumerate(vectors)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": count, "total_tokens": count},
    }
