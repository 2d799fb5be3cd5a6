"""A peer for voice_latency.py: the same utterances, streamed in real time into a Pipecat
pipeline of the same models, end of speech → first answer audio, stage by stage.

Pipecat 1.14 (its own venv, `make pipecat-venv`) as its documentation wires a local voice bot:
an input transport the benchmark drives (100 ms frames of 16 kHz PCM16, paced in real time,
as voice_latency.py's client sends them) → WhisperSTTService (faster-whisper, Whisper tiny.en
from Harvis's own model files; HF_HUB_OFFLINE=1) → the user aggregator with Silero VAD and
Pipecat's default turn stop (its bundled Smart Turn v3 model) → OpenAILLMService against a real
`harvis llm-node` /v1 serving Qwen2.5-Coder-1.5B (2 threads) → PiperTTSService in process
(Piper's joe voice from Harvis's files: it downloads nothing when the file is there) → a sink.
Each utterance starts a new chat (Harvis's voice system prompt, temperature 0.3, 60 tokens).

Measured from the moment the frame holding the last voiced sample is pushed: the first time a
pipeline observer sees each stage's frame (VAD stop, turn end = UserStoppedSpeakingFrame,
transcript, first LLM token, first sentence to TTS, first TTS audio) and the first TTS audio
frame reaching the sink. A false cut-off: the turn ended before the last voiced sample.

Two processes: this file under Harvis's venv makes the clips (voice_latency.py's helpers),
finds the model files and starts the node, then runs itself under .venv-pipecat (`--worker`),
which imports Pipecat and nothing of Harvis.

Command (repo root; needs espeak-ng, the bundled models and `make pipecat-venv`):
  PYTHONPATH=src .venv/bin/python benchmarks/pipecat_peer.py --json /tmp/pipecat_peer.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RATE, FRAME_MS = 16000, 100
REPO = Path(__file__).resolve().parents[1]
PIPECAT_PYTHON = REPO / ".venv-pipecat" / "bin" / "python"
# The worker's stage names, mapped in the table onto voice_latency.py's trace names.
STAGES = {
    "vad_stop": "VAD stop (Silero)",
    "turn_end": "end-of-turn decision",
    "stt_done": "STT done",
    "llm_first_token": "LLM first token",
    "tts_first_text": "first sentence to TTS",
    "tts_first_audio": "TTS first audio",
}
HARVIS_STAGES = {
    "turn_end": "eos_turn_end_ms",
    "stt_done": "eos_stt_done_ms",
    "llm_first_token": "eos_llm_first_token_ms",
    "tts_first_text": "eos_first_clause_ms",
    "tts_first_audio": "eos_tts_first_audio_ms",
}


# ---------------------------------------------------------------- the worker (.venv-pipecat)


async def run_worker(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import (
        Frame,
        InputAudioRawFrame,
        LLMFullResponseEndFrame,
        LLMTextFrame,
        StartFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        TTSStartedFrame,
        TTSStoppedFrame,
        UserStoppedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.observers.base_observer import BaseObserver, FramePushed
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.piper.tts import PiperTTSService
    from pipecat.services.whisper.stt import WhisperSTTService
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_transport import TransportParams
    from pipecat.workers.runner import WorkerRunner

    kinds: dict[str, type[Frame]] = {
        "vad_stop": VADUserStoppedSpeakingFrame,
        "turn_end": UserStoppedSpeakingFrame,
        "stt_done": TranscriptionFrame,
        "llm_first_token": LLMTextFrame,
        "tts_first_text": TTSStartedFrame,
        "tts_first_audio": TTSAudioRawFrame,
    }

    class Turn:
        """What one utterance's frames did, in perf_counter seconds."""

        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.voice: float | None = None  # the frame with the last voiced sample pushed
            self.seen: dict[str, float] = {}
            self.turn_ends: list[float] = []
            self.heard: list[str] = []
            self.first_audio_out: float | None = None
            self.answered = asyncio.Event()  # the answer's end seen after the speech
            self.quiet = asyncio.Event()  # the TTS's stop: its audio is all out

    turn = Turn()

    class Stamps(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            now, frame = time.perf_counter(), data.frame
            if isinstance(frame, UserStoppedSpeakingFrame) and data.first_push:
                turn.turn_ends.append(now)
            if isinstance(frame, TranscriptionFrame) and data.first_push:
                turn.heard.append(frame.text.strip())
            if turn.voice is None:
                return
            for name, kind in kinds.items():
                if isinstance(frame, kind) and name not in turn.seen:
                    turn.seen[name] = now

    class FeedInput(BaseInputTransport):
        """An input transport whose audio the benchmark pushes."""

        def __init__(self) -> None:
            super().__init__(TransportParams(audio_in_enabled=True, audio_in_sample_rate=RATE))
            self.ready = asyncio.Event()

        async def start(self, frame: StartFrame) -> None:
            await super().start(frame)
            await self.set_transport_ready(frame)
            self.ready.set()

    class Sink(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if turn.voice is not None:
                if isinstance(frame, TTSAudioRawFrame) and turn.first_audio_out is None:
                    turn.first_audio_out = time.perf_counter()
                if isinstance(frame, LLMFullResponseEndFrame):
                    turn.answered.set()
                if isinstance(frame, TTSStoppedFrame):  # Piper's comes before the LLM's end
                    turn.quiet.set()
            await self.push_frame(frame, direction)

    system = [{"role": "system", "content": spec["system_prompt"]}]
    context = LLMContext(messages=list(system))
    aggregators = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    source = FeedInput()
    stt = WhisperSTTService(device="cpu", settings=WhisperSTTService.Settings(model=spec["whisper"]))
    llm = OpenAILLMService(
        api_key="unused",  # the node asks for none
        base_url=spec["llm_url"],
        settings=OpenAILLMService.Settings(
            model=spec["model"], temperature=0.3, max_completion_tokens=spec["max_tokens"]
        ),
    )
    tts = PiperTTSService(
        download_dir=Path(spec["piper_dir"]), settings=PiperTTSService.Settings(voice=spec["voice"])
    )
    pipeline = Pipeline([source, stt, aggregators.user(), llm, tts, Sink(), aggregators.assistant()])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE),
        observers=[Stamps()],
        idle_timeout_secs=None,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    async with asyncio.timeout(300):
        await source.ready.wait()

    clips = np.load(spec["clips"])
    step = RATE * 2 * FRAME_MS // 1000
    results = []
    for index in range(int(clips["count"])):
        data, speech_end = clips[f"pcm{index}"].tobytes(), int(clips[f"end{index}"])
        context.set_messages(list(system))  # a new chat for each utterance, as the peer does
        turn = Turn()
        start = time.perf_counter()
        for i in range(0, len(data), step):
            frame = InputAudioRawFrame(audio=data[i : i + step], sample_rate=RATE, num_channels=1)
            await source.push_audio_frame(frame)
            if i + step >= speech_end and turn.voice is None:
                turn.voice = time.perf_counter()
            await asyncio.sleep(max(0.0, start + (i + step) / (RATE * 2) - time.perf_counter()))
        # Then silence, as a live microphone goes on sending, until the answer's audio is all
        # out: Smart Turn counts silence in audio frames, so without them a turn it judged
        # unfinished waits for the 5 s user_turn_stop_timeout instead of its 3 s stop_secs.
        silence, sent, outcome = bytes(step), len(data), "ok"
        while not (turn.answered.is_set() and turn.quiet.is_set()):
            if sent - len(data) > 60 * RATE * 2:
                outcome = "timeout"
                break
            await source.push_audio_frame(InputAudioRawFrame(silence, RATE, 1))
            sent += step
            await asyncio.sleep(max(0.0, start + sent / (RATE * 2) - time.perf_counter()))
        voice = turn.voice or start
        results.append(
            {
                "index": index,
                "outcome": outcome,
                "client_ms": _ms(turn.first_audio_out, voice),
                "false_cut": any(turn.started < t < voice for t in turn.turn_ends),
                "heard": turn.heard,
                "timings": {name: _ms(t, voice) for name, t in turn.seen.items()},
            }
        )
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    await worker.cancel()
    async with asyncio.timeout(60):
        await running
    return results


def _ms(t: float | None, since: float) -> float | None:
    return None if t is None else round((t - since) * 1000.0, 1)


# ---------------------------------------------------------------- the driver (Harvis's venv)


def table(runs: list[dict[str, Any]]) -> str:
    from voice_latency import summary

    ok = [r for r in runs if not r["false_cut"] and r["outcome"] == "ok"]
    rows = ["| stage, ms after end of speech (p50 / p95) | Pipecat | (voice_latency.py trace name) |"]
    rows.append("|---|---|---|")
    client = [r["client_ms"] for r in ok if r["client_ms"] is not None]
    first = "**last voiced sample pushed → first TTS audio at the sink**"
    rows.append(f"| {first} | **{summary(client)}** | client |")
    for name, label in STAGES.items():
        values = [r["timings"][name] for r in ok if r["timings"].get(name) is not None]
        rows.append(f"| {label} | {summary(values)} | {HARVIS_STAGES.get(name, '–')} |")
    cuts = sum(r["false_cut"] for r in runs)
    rows.append(f"| false cut-offs (all) | {cuts} / {len(runs)} | |")
    failed = sum(r["outcome"] != "ok" for r in runs)
    rows.append(f"\nturns measured {len(ok)}; timed out {failed}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="passes over the utterances")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances (a smoke run)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the spec, in .venv-pipecat
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker.read_text())
        Path(spec["out"]).write_text(json.dumps(asyncio.run(run_worker(spec))))
        return
    sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
    from tests.support.llm_node import TOOL_MODEL, start_llm_node, tool_models_dir
    from voice_latency import UTTERANCES, pcm, speak

    from harvis.config import PipelineSettings, Settings
    from harvis.models import catalog

    if not PIPECAT_PYTHON.exists():
        sys.exit(f"{PIPECAT_PYTHON} is missing: run `make pipecat-venv` first")
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipecat-"))
    texts = UTTERANCES[: args.limit or None]
    clips = [pcm(speak(text, tmp)) for text in texts]
    order = [clips[0]] + clips * args.rounds  # the first is a warm-up (model loads), left out
    arrays: dict[str, Any] = {"count": np.array(len(order))}
    for i, (data, end) in enumerate(order):
        arrays[f"pcm{i}"], arrays[f"end{i}"] = np.frombuffer(data, "<i2"), np.array(end)
    np.savez(tmp / "clips.npz", **arrays)
    models_dir = Settings().resolved_models_dir
    piper = catalog.resolve("piper-joe", models_dir)  # en_US-joe-medium.onnx, its .json beside it
    node = start_llm_node(threads=2, extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())})
    try:
        spec = {
            "clips": str(tmp / "clips.npz"),
            "out": str(tmp / "out.json"),
            "whisper": str(catalog.resolve("whisper-tiny.en", models_dir)),
            "piper_dir": str(piper.parent),
            "voice": piper.name.removesuffix(".onnx"),
            "llm_url": f"{node.url}/v1",
            "model": TOOL_MODEL,
            "max_tokens": 60,
            "system_prompt": PipelineSettings().system_prompt,
        }
        (tmp / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
        cmd = [str(PIPECAT_PYTHON), __file__, "--worker", str(tmp / "spec.json")]
        subprocess.run(cmd, env=env, check=True, timeout=3600)
    finally:
        node.stop()
    runs = json.loads((tmp / "out.json").read_text())[1:]
    for run in runs:
        run["text"] = texts[(run["index"] - 1) % len(texts)]
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
