"""One loaded GGUF model in llama.cpp: prompt building and a cancellable token loop.

Everything here blocks; callers run it in a worker thread. llama.cpp is imported on first
load so that `harvis llm-node` starts (and answers /health) quickly.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvis.llm.node.requests import Job
from harvis.llm.node.textstream import PieceDecoder, StopScanner
from harvis.llm.types import BadRequest

MAX_PROMPT_TOKENS = 65_536  # far past any context here: a bigger prompt is a mistake or an attack
_SHORTEN_ROUNDS = 4  # re-checks of the estimate; each drops at least what was still too much


@dataclass
class GenStats:
    done_reason: str = "stop"  # stop | length | cancelled
    prompt_eval_count: int = 0
    prompt_eval_ns: int = 0
    eval_count: int = 0
    eval_ns: int = 0
    tokens: list[int] = field(default_factory=list)  # prompt + answer (Ollama's "context")


class LlamaRuntime:
    def __init__(self, path: Path, n_ctx: int, threads: int, chat_template: str) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.n_ctx = n_ctx
        self.renders = 0  # chat-template renders so far (/metrics: prompt shortening stays one pass)
        self._lib = llama_cpp
        self._llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        model = self._llama._model
        self._eos_text = model.token_get_text(self._llama.token_eos()) if self._llama.token_eos() >= 0 else ""
        bos_text = model.token_get_text(self._llama.token_bos()) if self._llama.token_bos() >= 0 else ""
        # The GGUF's own template (Jinja, as Hugging Face renders it), never a guessed format.
        self._formatter = (
            Jinja2ChatFormatter(template=chat_template, eos_token=self._eos_text, bos_token=bos_text)
            if chat_template
            else None
        )

    def close(self) -> None:
        self._llama.close()

    # -- prompts --------------------------------------------------------------------------
    def _render(self, messages: list[dict[str, Any]], job: Job | None = None) -> str:
        self.renders += 1
        if self._formatter is None:  # a base model without a template: plain transcript
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        extra: dict[str, Any] = {}
        if job is not None and job.tools:
            extra["tools"] = job.tools
        if job is not None and job.think is not None:
            extra["enable_thinking"] = job.think  # what thinking templates (Qwen3…) read
        try:
            return str(self._formatter(messages=messages, **extra).prompt)  # type: ignore[arg-type]
        except Exception as exc:  # the template's raise_exception(), e.g. roles out of order
            raise BadRequest(f"the model's chat template rejected the messages: {exc}") from None

    def _tokenize(self, text: str, add_bos: bool) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _capped(self, tokens: list[int]) -> list[int]:
        if len(tokens) > MAX_PROMPT_TOKENS:
            raise BadRequest(f"the prompt is {len(tokens)} tokens long; at most {MAX_PROMPT_TOKENS}")
        return tokens

    def prompt_tokens(self, job: Job) -> list[int]:
        """Tokens for the job, shortened to leave room for the answer as Ollama does:
        drop the oldest non-system messages first, then cut from the front.

        One pass: each message's cost is counted once and the oldest are dropped by that
        count, so a long chat costs a few renders, never one per dropped message."""
        budget = self.n_ctx - _reserve(job.sampling.num_predict, self.n_ctx)
        if job.raw_prompt is not None:
            return self._capped(self._tokenize(job.raw_prompt, add_bos=True))[-budget:]
        messages = list(job.messages)
        tokens = self._capped(self._tokenize(self._render(messages, job), add_bos=False))
        if len(tokens) <= budget:
            return tokens
        droppable = [i for i, m in enumerate(messages[:-1]) if m["role"] != "system"]
        if not droppable:
            return tokens[-budget:]
        kept = [m for i, m in enumerate(messages) if i not in set(droppable)]
        floor = len(self._tokenize(self._render(kept, job), add_bos=False))  # with every droppable gone
        content = [len(self._tokenize(messages[i]["content"], add_bos=False)) for i in droppable]
        # What the template adds around each message (an even share: checked by the render below).
        framing = max(0.0, (len(tokens) - floor - sum(content)) / len(droppable))
        dropped, cut = 0, 0.0
        for _ in range(_SHORTEN_ROUNDS):
            excess = len(tokens) - budget
            while cut < excess and dropped < len(droppable):
                cut += content[dropped] + framing
                dropped += 1
            gone = set(droppable[:dropped])
            rest = [m for i, m in enumerate(messages) if i not in gone]
            tokens = self._tokenize(self._render(rest, job), False)
            if len(tokens) <= budget or dropped == len(droppable):
                break
            cut = 0.0  # the next round drops by what is still too much, measured
        return tokens[-budget:]

    def _grammar(self, fmt: str | dict[str, Any] | None) -> Any:
        if fmt is None:
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        if fmt == "json":
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)

    # -- generation -----------------------------------------------------------------------
    def generate(
        self, job: Job, tokens: list[int], cancel: threading.Event, emit: Callable[[str], None]
    ) -> GenStats:
        """Run the token loop, calling ``emit`` with each safe text piece.

        Checks ``cancel`` before every token, so a disconnected client stops the loop
        within one token's time.
        """
        s = job.sampling
        llama = self._llama
        llama.set_seed(s.seed if s.seed is not None else random.getrandbits(32))
        max_new = self.n_ctx - len(tokens)
        if s.num_predict >= 0:
            max_new = min(max_new, s.num_predict)
        stats = GenStats(prompt_eval_count=len(tokens), tokens=list(tokens), done_reason="length")
        start = time.perf_counter_ns()
        first: int | None = None
        if max_new <= 0:
            stats.prompt_eval_ns = 0
            return stats
        self._prime(tokens)
        decoder, scanner = PieceDecoder(), StopScanner(list(s.stop))
        hit_stop = False
        vocab = llama._model.vocab
        gen = llama.generate(
            tokens,
            top_k=s.top_k,
            top_p=s.top_p,
            min_p=s.min_p,
            typical_p=s.typical_p,
            temp=s.temperature,
            repeat_penalty=s.repeat_penalty,
            frequency_penalty=s.frequency_penalty,
            presence_penalty=s.presence_penalty,
            grammar=self._grammar(job.format),
        )
        try:
            for token in gen:
                if first is None:
                    first = time.perf_counter_ns()
                if cancel.is_set():
                    stats.done_reason = "cancelled"
                    break
                if self._lib.llama_vocab_is_eog(vocab, token):
                    stats.done_reason = "stop"
                    break
                stats.eval_count += 1
                stats.tokens.append(token)
                text, stopped = scanner.feed(decoder.feed(llama.detokenize([token])))
                if text:
                    emit(text)
                if stopped:
                    stats.done_reason, hit_stop = "stop", True
                    break
                if stats.eval_count >= max_new:
                    break
        finally:
            gen.close()
        if not hit_stop and stats.done_reason != "cancelled":
            # The answer ended: text held back as a possible stop prefix was not one.
            text, stopped = scanner.feed(decoder.flush())
            tail = text if stopped else text + scanner.flush()
            if tail:
                emit(tail)
        end = time.perf_counter_ns()
        stats.prompt_eval_ns = (first or end) - start
        stats.eval_ns = end - (first or end)
        return stats

    def _prime(self, tokens: list[int]) -> None:
        """Evaluate all prompt tokens but the last, reusing the cached prefix.

        The first answer token is then always sampled from a one-token decode, whatever
        the cache held before: a batch decode and a one-token decode differ in the last
        float bits, enough to change a greedy or seeded answer between identical requests.
        """
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        keep = 0
        for have, want in zip(cached, tokens[:-1], strict=False):
            if have != want:
                break
            keep += 1
        llama.n_tokens = keep  # eval() drops the KV cells beyond this point first
        if len(tokens) - 1 > keep:
            llama.eval(tokens[keep:-1])


def _reserve(num_predict: int, n_ctx: int) -> int:
    """Room kept for the answer when a prompt must be shortened."""
    if 0 < num_predict < n_ctx // 2:
        return num_predict
    return max(1, n_ctx // 4)
