"""How useful each bundled LLM is to talk to, and how fast it talks, through a real `harvis llm-node`.

A fixed quiz of 20 voice-assistant questions (facts, short arithmetic, follow-ups that need the
previous turn, requests for a list, instructions to be brief, an answer-then-facts instruction),
each scored automatically by a keyword, regex or number check: no human judgement. Every model
gets the voice pipeline's own system prompt (PipelineSettings.system_prompt) and its answer
budget (max_answer_tokens); greedy sampling with a fixed seed, so a run is repeatable. A
follow-up keeps the model's own earlier answer in the conversation, as a voice session does.

Speed, in the same run and node:
- quiz TTFT p50/p95: request sent -> first answer text, over the quiz questions (the system
  prompt's prefix stays evaluated in the node between questions, as between voice turns);
- generation tok/s p50: the node's eval_count / eval_duration over the quiz answers;
- cold prompt eval and generation at 1 and 2 llama.cpp threads (`--speed-threads`): a prompt of
  about 200 tokens that shares no prefix with the previous one (so nothing is reused), 64
  answer tokens, `--speed-runs` times per thread count.

    .venv/bin/python benchmarks/quality.py                       # every catalogue LLM installed
    .venv/bin/python benchmarks/quality.py --models qwen2.5-coder:1.5b --answers
    .venv/bin/python benchmarks/quality.py --extra gemma3:270m=/tmp/gemma-3-270m-q4_k_m.gguf
    .venv/bin/python benchmarks/quality.py --demo               # the default's answers, third-party client

The load average before and after is printed: on a shared machine speed figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harvis.config import LLMSettings, PipelineSettings, Settings
from harvis.models import catalog

# -- scoring --------------------------------------------------------------------------------

_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


def numbers_in(text: str) -> set[float]:
    """Every number written in digits ("1,500", "2.5") or in English words ("one hundred and fifty")."""
    found = {float(m.replace(",", "")) for m in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", text)}
    words = re.findall(r"[a-z]+", text.lower().replace("-", " "))
    total = current = 0
    in_number = after_scale = False
    for word in [*words, "."]:
        if word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
            in_number, after_scale = True, False
        elif word in _SCALES and in_number:
            if _SCALES[word] == 100:
                current *= 100
            else:
                total += current * _SCALES[word]
                current = 0
            after_scale = True
        elif word == "and" and after_scale:  # "one hundred and fifty", not "eight and two"
            continue
        elif in_number:
            found.add(float(total + current))
            total = current = 0
            in_number = after_scale = False
    return found


def words_of(text: str) -> list[str]:
    return re.findall(r"[\w'’-]+", text)


def sentences_of(text: str) -> list[str]:
    """Sentences or list items with at least three words."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text.strip())
    return [p for p in parts if len(words_of(p)) >= 3]


_MARKDOWN = re.compile(r"\*\*|`|^\s*#|^\s*[-*•]\s|^\s*\d+[.)]\s", re.MULTILINE)


def spoken_style(text: str) -> bool:
    """No markdown, bullets or numbered lines: what a text-to-speech voice can read as it is."""
    return not _MARKDOWN.search(text)


def about_itself(text: str) -> bool:
    """Talks about the assistant when nobody asked ("Harvis, a voice assistant, has three colours")."""
    return bool(re.search(r"\bharvis\b|\bvoice assistant\b", text, re.IGNORECASE))


Check = Callable[[str], bool]


def has(*patterns: str) -> Check:
    return lambda a: all(re.search(p, a, re.IGNORECASE) for p in patterns)


def has_exactly(pattern: str) -> Check:
    """Case-sensitive: "Au", not the "au" in "because"."""
    return lambda a: bool(re.search(pattern, a))


def number(n: float) -> Check:
    return lambda a: n in numbers_in(a)


def at_least(k: int, names: tuple[str, ...]) -> Check:
    return lambda a: sum(bool(re.search(rf"\b{n}", a, re.IGNORECASE)) for n in names) >= k


def both(*checks: Check) -> Check:
    return lambda a: all(c(a) for c in checks)


def max_words(n: int) -> Check:
    return lambda a: 0 < len(words_of(a)) <= n


def sentence_count(lo: int, hi: int = 99) -> Check:
    return lambda a: lo <= len(sentences_of(a)) <= hi


@dataclass(frozen=True)
class Question:
    kind: str  # fact | arithmetic | follow-up | list | brief | structure
    turns: tuple[str, ...]  # user turns; only the answer to the last one is scored
    check: Check
    expects: str  # what the check looks for, for the report


FRUITS = (
    "apple", "banana", "orange", "grape", "strawberr", "mango", "pear", "peach", "cherr", "pineapple",
    "kiwi", "lemon", "lime", "plum", "watermelon", "melon", "blueberr", "raspberr", "apricot", "papaya",
    "coconut", "fig", "pomegranate", "avocado", "grapefruit",
)  # fmt: skip

QUIZ: tuple[Question, ...] = (
    Question("fact", ("What is the capital of France?",), has(r"\bparis\b"), "Paris"),
    Question("fact", ("Who wrote Romeo and Juliet?",), has(r"shakespeare"), "Shakespeare"),
    Question("fact", ("What is the largest planet in our solar system?",), has(r"jupiter"), "Jupiter"),
    Question("fact", ("What is the chemical symbol for gold?",), has_exactly(r"\bAu\b"), "Au"),
    Question("fact", ("Which ocean is the largest on Earth?",), has(r"pacific"), "Pacific"),
    Question("fact", ("Who painted the Mona Lisa?",), has(r"leonardo|da vinci"), "Leonardo da Vinci"),
    Question("fact", ("How many legs does a spider have?",), number(8), "8"),
    Question("fact", ("At what temperature in Celsius does water boil at sea level?",), number(100), "100"),
    Question("arithmetic", ("What is 17 plus 25?",), number(42), "42"),
    Question("arithmetic", ("What is 12 times 11?",), number(132), "132"),
    Question("arithmetic", ("If I have 10 apples and eat 3 of them, how many are left?",), number(7), "7"),
    Question("arithmetic", ("How many minutes are there in two and a half hours?",), number(150), "150"),
    Question(
        "follow-up",
        ("My name is Sam and my favourite colour is green.", "What is my favourite colour?"),
        has(r"\bgreen\b"),
        "green",
    ),
    Question(
        "follow-up",
        ("What is the capital of Italy?", "How do you say thank you in the language they speak there?"),
        has(r"grazie"),
        "grazie",
    ),
    Question("follow-up", ("What is 6 times 7?", "Now add 8 to that."), number(50), "50"),
    Question(
        "list",
        ("Name three primary colours.",),
        has(r"\bred\b", r"\bblue\b", r"\byellow\b|\bgreen\b"),
        "red, blue, yellow (or green)",
    ),
    Question("list", ("List four different fruits.",), at_least(4, FRUITS), "4 fruits"),
    Question(
        "brief",
        ("In one word: what colour is the sky on a clear day?",),
        both(has(r"\bblue\b"), max_words(3)),
        "blue, ≤3 words",
    ),
    Question(
        "brief",
        ("In one short sentence, what is photosynthesis?",),
        both(has(r"light|sun"), max_words(30), sentence_count(1, 1)),
        "light/sun, 1 sentence ≤30 words",
    ),
    Question(
        "structure",
        ("Tell me about the Moon. Answer in one sentence, then give two facts.",),
        both(has(r"\bmoon\b"), sentence_count(3)),
        "≥3 sentences about the Moon",
    ),
)
assert len(QUIZ) == 20


# -- the node -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llm_node(threads: int, extra: str, log: Path) -> Iterator[str]:
    """A real `harvis llm-node` process; yields its URL and stops it by PID."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "HARVIS_NODE__EXTRA_MODELS": extra,
    }
    cmd = [sys.executable, "-m", "harvis.cli", "llm-node", "--port", str(port), "--threads", str(threads)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llm-node exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(url + "/api/version", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"llm-node did not answer at {url}")
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@dataclass
class Reply:
    text: str
    ttft_s: float
    final: dict[str, Any]

    @property
    def gen_tps(self) -> float:
        ns = self.final.get("eval_duration") or 0
        return self.final.get("eval_count", 0) / (ns / 1e9) if ns else 0.0

    @property
    def prompt_tps(self) -> float:
        ns = self.final.get("prompt_eval_duration") or 0
        return self.final.get("prompt_eval_count", 0) / (ns / 1e9) if ns else 0.0


def chat(
    client: httpx.Client, url: str, model: str, messages: list[dict[str, str]], options: dict[str, Any]
) -> Reply:
    body = {"model": model, "messages": messages, "options": options, "keep_alive": "10m"}
    start = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    final: dict[str, Any] = {}
    with client.stream("POST", url + "/api/chat", json=body) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{model}: HTTP {r.status_code} {r.read().decode(errors='replace')}")
        for line in r.iter_lines():
            if not line:
                continue
            obj = json.loads(line)
            if "error" in obj:
                raise RuntimeError(f"{model}: {obj['error']}")
            piece = obj.get("message", {}).get("content", "")
            if piece and not first:
                first = time.perf_counter()
            parts.append(piece)
            if obj.get("done"):
                final = obj
    return Reply("".join(parts), (first or time.perf_counter()) - start, final)


def unload(client: httpx.Client, url: str, model: str) -> None:
    client.post(url + "/api/chat", json={"model": model, "messages": [], "keep_alive": 0})


# -- runs -----------------------------------------------------------------------------------


@dataclass
class Answer:
    question: Question
    text: str
    ok: bool
    spoken: bool
    itself: bool
    reply: Reply


@dataclass
class ModelResult:
    model: str
    answers: list[Answer] = field(default_factory=list)
    speed: dict[int, dict[str, float]] = field(default_factory=dict)  # threads -> figures

    @property
    def score(self) -> int:
        return sum(a.ok for a in self.answers)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def quiz_options(pipeline: PipelineSettings) -> dict[str, Any]:
    return {"temperature": 0, "seed": 1, "num_predict": pipeline.max_answer_tokens}


def run_quiz(client: httpx.Client, url: str, model: str, pipeline: PipelineSettings) -> list[Answer]:
    system = [{"role": "system", "content": pipeline.system_prompt}] if pipeline.system_prompt else []
    options = quiz_options(pipeline)
    chat(client, url, model, [*system, {"role": "user", "content": "Hello."}], options)  # load, warm up
    answers = []
    for q in QUIZ:
        messages = list(system)
        for turn in q.turns:
            messages.append({"role": "user", "content": turn})
            reply = chat(client, url, model, messages, options)
            messages.append({"role": "assistant", "content": reply.text})
        text = reply.text.strip()
        answers.append(Answer(q, text, q.check(text), spoken_style(text), about_itself(text), reply))
    return answers


# About 160 spoken words a minute at ~1.3 tokens a word: what a voice must out-generate.
SPEECH_TOKENS_PER_S = 3.5

PASSAGE = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a small oil "
    "lamp and a notebook in which he wrote down the weather, the ships he saw and the birds that "
    "rested on the railing. Over thirty years the notebook grew into a shelf of volumes, and the "
    "village school borrowed them to teach children about the sea, the seasons and patience. When "
    "the light was finally automated, the keeper stayed on as the guide for visitors, telling the "
    "stories behind each entry and pointing out the storms that had nearly taken the tower. "
)


def run_speed(client: httpx.Client, url: str, models: list[str], runs: int) -> dict[str, dict[str, float]]:
    """Cold prompt eval (no shared prefix) and generation, `runs` rounds; medians per model.

    Every round asks every model in turn (the order alternates), so a change in the machine's
    load during the run falls on all of them alike."""
    for model in models:  # load them all first: a load is not a prompt eval
        chat(client, url, model, [{"role": "user", "content": "Hello."}], {"num_predict": 4})
    samples: dict[str, list[Reply]] = {m: [] for m in models}
    for i in range(runs):
        for model in models if i % 2 == 0 else reversed(models):
            nonce = uuid.uuid4().hex  # first in the prompt: the node can reuse nothing
            messages = [
                {"role": "system", "content": f"Request {nonce}. You are a helpful assistant."},
                {"role": "user", "content": PASSAGE + "Retell this story in your own words."},
            ]
            options = {"temperature": 0, "seed": 1, "num_predict": 64}
            samples[model].append(chat(client, url, model, messages, options))
    return {
        model: {
            "prompt_tokens": statistics.median(r.final.get("prompt_eval_count", 0) for r in replies),
            "prompt_tps_p50": statistics.median(r.prompt_tps for r in replies),
            "gen_tps_p50": statistics.median(r.gen_tps for r in replies),
            "cold_ttft_ms_p50": 1000 * statistics.median(r.ttft_s for r in replies),
        }
        for model, replies in samples.items()
    }


DEMO = ("What is the capital of France?", "Answer in one sentence, then give two facts about the Moon.")


def run_demo(url: str, model: str, pipeline: PipelineSettings, samples: int) -> None:
    """Issue 16's two questions as a third-party client sends them: the official `ollama` client,
    the node's default sampling (Ollama's: temperature 0.8, a random seed), `samples` times each,
    without a system prompt (a chat client, Harvis's text chat) and with the voice pipeline's."""
    import ollama

    client = ollama.Client(host=url)
    print(f"\n{model} through the official `ollama` Python client at {url}")
    for question in DEMO:
        for label, system in (("no system prompt", []), ("voice system prompt", [pipeline.system_prompt])):
            messages = [{"role": "system", "content": p} for p in system]
            messages.append({"role": "user", "content": question})
            print(f"\n> {question}  ({label})")
            for _ in range(samples):
                reply = client.chat(model=model, messages=messages)
                print(f"- {' '.join((reply.message.content or '').split())}")
    try:
        from openai import OpenAI

        oa = OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        answer = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": DEMO[0]}])
        print(f"\nopenai client at {url}/v1: {answer.choices[0].message.content}")
    except Exception as exc:  # the node may not serve /v1 (yet): say so, do not hide it
        print(f"\nopenai client at {url}/v1: not served ({type(exc).__name__}: {exc})")


def installed_llms(models_dir: Path) -> list[str]:
    names = []
    for entry in catalog.CATALOG.values():
        if entry.kind != "llm":
            continue
        try:
            catalog.resolve(entry.name, models_dir)
        except catalog.ModelMissing:
            continue
        names.append(entry.name)
    return names


def print_tables(results: list[ModelResult], threads: int) -> None:
    if all(r.answers for r in results):
        print_quiz_table(results, threads)
    if any(r.speed for r in results):
        base = results[0]
        print(
            f"\n| model | threads | cold prompt tok/s p50 (tokens) | gen tok/s p50 | × speech | "
            f"cold TTFT p50 (ms) | prompt, gen vs {base.model} |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in results:
            for t, s in sorted(r.speed.items()):
                b = base.speed[t]
                print(
                    f"| {r.model} | {t} | {s['prompt_tps_p50']:.0f} ({s['prompt_tokens']:.0f}) | "
                    f"{s['gen_tps_p50']:.1f} | {s['gen_tps_p50'] / SPEECH_TOKENS_PER_S:.1f}× | "
                    f"{s['cold_ttft_ms_p50']:.0f} | {s['prompt_tps_p50'] / b['prompt_tps_p50']:.2f}×, "
                    f"{s['gen_tps_p50'] / b['gen_tps_p50']:.2f}× |"
                )
        print(f"(× speech: generation speed over speaking speed, taken as {SPEECH_TOKENS_PER_S} tokens/s)")


def print_quiz_table(results: list[ModelResult], threads: int) -> None:
    kinds = list(dict.fromkeys(q.kind for q in QUIZ))
    print(f"\n| model | score /20 | {' | '.join(kinds)} | spoken style /20 | about itself | gen tok/s p50 "
          f"| TTFT p50 / p95 (ms) | words p50 |")  # fmt: skip
    print("|---" * (7 + len(kinds)) + "|")
    for r in results:
        per_kind = [
            f"{sum(a.ok for a in r.answers if a.question.kind == k)}/{sum(q.kind == k for q in QUIZ)}"
            for k in kinds
        ]
        ttft = [1000 * a.reply.ttft_s for a in r.answers]
        gen = [a.reply.gen_tps for a in r.answers if a.reply.final.get("eval_count", 0) >= 8]
        words = [len(words_of(a.text)) for a in r.answers]
        figures = [
            f"**{r.score}**",
            *per_kind,
            str(sum(a.spoken for a in r.answers)),
            str(sum(a.itself for a in r.answers)),
            f"{statistics.median(gen) if gen else 0:.1f}",
            f"{pct(ttft, 0.5):.0f} / {pct(ttft, 0.95):.0f}",
            f"{statistics.median(words):.0f}",
        ]
        print(f"| {r.model} | {' | '.join(figures)} |")
    print(
        f"(quiz on {threads} llama.cpp thread(s); TTFT = request -> first answer text; about itself ="
        " answers that talk about the assistant, which no question asks for)"
    )


def print_answers(results: list[ModelResult]) -> None:
    for r in results:
        print(f"\n### {r.model}: {r.score}/20\n")
        for i, a in enumerate(r.answers, 1):
            flat = " ".join(a.text.split())
            mark = "✓" if a.ok else "✗"
            print(f"{i:2}. {mark} [{a.question.kind}; wants {a.question.expects}] "
                  f"{a.question.turns[-1]} → {flat[:300]}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="", help="comma separated (default: every installed LLM)")
    parser.add_argument("--extra", default="", help="NAME=PATH.gguf,… models outside the catalogue")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads for the quiz (default 1)")
    parser.add_argument("--speed-threads", default="1,2", help="thread counts for the speed runs ('' = none)")
    parser.add_argument("--speed-runs", type=int, default=5)
    parser.add_argument("--no-quiz", action="store_true", help="only the speed runs")
    parser.add_argument("--demo-samples", type=int, default=3, help="answers per question in --demo")
    parser.add_argument("--answers", action="store_true", help="print every answer with its mark")
    parser.add_argument(
        "--demo", action="store_true", help="only the default's answers to issue 16's questions"
    )
    parser.add_argument("--system-prompt", default=None, help="try another system prompt than the pipeline's")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the node on the way out
    settings = Settings()
    pipeline = settings.pipeline
    if args.system_prompt is not None:
        pipeline = pipeline.model_copy(update={"system_prompt": args.system_prompt})
    logs = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    if args.demo:
        model = args.models or LLMSettings().default_model
        with llm_node(args.threads, args.extra, logs / "node.log") as url:
            run_demo(url, model, pipeline, args.demo_samples)
        return 0
    extra_names = [item.split("=", 1)[0] for item in args.extra.split(",") if "=" in item]
    models = [m for m in args.models.split(",") if m] or installed_llms(settings.resolved_models_dir)
    models += [n for n in extra_names if n not in models]
    load_before = os.getloadavg()
    print(f"models {', '.join(models)}; quiz threads {args.threads}; load {load_before}; logs {logs}")
    results = [ModelResult(m) for m in models]
    if not args.no_quiz:
        with (
            llm_node(args.threads, args.extra, logs / "node.log") as url,
            httpx.Client(timeout=900) as client,
        ):
            for r in results:
                r.answers = run_quiz(client, url, r.model, pipeline)
                unload(client, url, r.model)
                print(f"{r.model}: {r.score}/20", flush=True)
    for t in [int(x) for x in args.speed_threads.split(",") if x]:
        with llm_node(t, args.extra, logs / f"node-{t}.log") as url, httpx.Client(timeout=900) as client:
            speed = run_speed(client, url, [r.model for r in results], args.speed_runs)
            for r in results:
                r.speed[t] = speed[r.model]
                unload(client, url, r.model)
    print(f"load average before {load_before}, after {os.getloadavg()}")
    print_tables(results, args.threads)
    if args.answers:
        print_answers(results)
    if args.json:
        print(json.dumps([
            {"model": r.model, "score": r.score, "speed": r.speed,
             "answers": [{"q": a.question.turns, "ok": a.ok, "text": a.text,
                          "ttft_ms": 1000 * a.reply.ttft_s, "gen_tps": a.reply.gen_tps} for a in r.answers]}
            for r in results
        ], indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
