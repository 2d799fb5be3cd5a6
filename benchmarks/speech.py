"""Speech benchmark: load time and memory per engine, STT real-time factor and latency per
utterance, TTS real-time factor and time to first chunk, all through SpeechService, with the
bare engine calls measured in the same run as the baseline (Harvis's overhead = ratio).

    .venv/bin/python benchmarks/speech.py --repeats 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harvis.config import Settings, SpeechSettings
from harvis.speech import matching
from harvis.speech.audio import STT_RATE, Audio, to_rate
from harvis.speech.service import SpeechService
from harvis.speech.tts import VoiceRef
from harvis.speech.voices import VoiceLibrary

UTTERANCES = {
    "short": "Turn on the lights.",
    "medium": "The weather is sunny and warm today, with a light breeze in the afternoon.",
    "long": (
        "We will meet at the station at noon, then walk to the museum together. "
        "After lunch we can visit the old harbour and take the ferry back before dark."
    ),
}
ANSWER = (
    "Sure, I can help with that. The station is two streets to the north. "
    "Walk past the bakery and turn left at the bridge. You will see it on your right."
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p95": pct(values, 0.95), "n": len(values)}


async def bench(repeats: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="harvis-bench-"))
    settings = Settings(data_dir=data_dir, speech=SpeechSettings(stt_threads=1))
    svc = SpeechService.from_settings(settings)
    voices = VoiceLibrary(svc, settings.speech, data_dir=data_dir)  # the probe clip a match is fitted to
    out: dict[str, Any] = {"load": {}}
    for resident in svc.residents:  # sequential: each RSS delta is that model's own
        await resident.get()
        out["load"][resident.name] = {"load_s": resident.load_s, "memory_mb": resident.memory_mb}

    # --- STT: speech made by the TTS, so the words are known
    stt = await svc.stt.get()
    out["stt"] = {}
    for name, text in UTTERANCES.items():
        chunks = [c async for c in svc.synthesize(text)]
        audio = to_rate(Audio(np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate), STT_RATE)
        harvis, bare, cpu = [], [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            await svc.transcribe(audio)
            harvis.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            segments, _ = stt._model.transcribe(
                audio.samples, language="en", beam_size=1, condition_on_previous_text=False
            )
            list(segments)
            bare.append(time.perf_counter() - t0)
        out["stt"][name] = {
            "audio_s": audio.duration_s,
            "latency_s": summary(harvis),
            "rtf": statistics.median(harvis) / audio.duration_s,
            "cpu_s": summary(cpu),
            "cpu_rtf": statistics.median(cpu) / audio.duration_s,
            "bare_latency_s": summary(bare),
            "overhead_ratio": statistics.median(harvis) / statistics.median(bare),
        }

    # --- TTS: first chunk vs whole answer; bare = Piper on the whole text at once
    engine = await svc.ensure_tts()
    plain = svc.builtin_voice
    first, total, audio_s, bare_total, cpu = [], [], 0.0, [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        async for chunk in svc.synthesize(ANSWER, voice=plain):
            if n == 0:
                first.append(time.perf_counter() - t0)
            n += len(chunk.pcm)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        audio_s = n / engine.sample_rate
        t0 = time.perf_counter()
        engine.synthesize(ANSWER, voice=plain)
        bare_total.append(time.perf_counter() - t0)
    out["tts"] = {
        "audio_s": audio_s,
        "first_chunk_s": summary(first),
        "total_s": summary(total),
        "rtf": statistics.median(total) / audio_s,
        "cpu_rtf": statistics.median(cpu) / audio_s,
        "bare_total_s": summary(bare_total),
        "first_chunk_vs_bare_total": statistics.median(first) / statistics.median(bare_total),
    }

    # --- matched voice: the WORLD re-synthesis on top of Piper
    ref_chunks = [c async for c in svc.synthesize(UTTERANCES["long"])]
    ref_pcm = np.concatenate([c.pcm for c in ref_chunks])
    ref = to_rate(Audio(ref_pcm, ref_chunks[0].sample_rate), STT_RATE)
    encoder = await svc.speaker.get()
    t0 = time.perf_counter()
    probe, rate = await voices._probe_audio()
    params = matching.fit(ref.samples, probe, rate, encoder)
    fit_s = time.perf_counter() - t0
    matched = VoiceRef(id="bench", name="bench", mode="match", engine="piper", speaker_data=params.to_json())
    m_first, m_total, m_cpu = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        got_first = False
        async for _chunk in svc.synthesize(ANSWER, voice=matched):
            if not got_first:
                m_first.append(time.perf_counter() - t0)
                got_first = True
        m_total.append(time.perf_counter() - t0)
        m_cpu.append(time.process_time() - c0)
    out["tts_matched"] = {
        "fit_s": fit_s,
        "first_chunk_s": summary(m_first),
        "total_s": summary(m_total),
        "rtf": statistics.median(m_total) / audio_s,
        "cpu_rtf": statistics.median(m_cpu) / audio_s,
        "total_vs_plain": statistics.median(m_total) / statistics.median(total),
    }
    await svc.close()
    return out


def report(r: dict[str, Any]) -> None:
    print("load (sequential, process RSS delta)")
    for name, v in r["load"].items():
        print(f"  {name:<22} {v['load_s']:6.2f} s  {v['memory_mb']:7.1f} MB")
    print("STT (faster-whisper tiny.en int8, 1 thread; latency p50/p95; overhead = Harvis / bare engine)")
    for name, v in r["stt"].items():
        lat = v["latency_s"]
        print(
            f"  {name:<7} {v['audio_s']:5.1f} s audio  latency {lat['p50']:.3f}/{lat['p95']:.3f} s  "
            f"RTF {v['rtf']:.3f} (CPU {v['cpu_rtf']:.3f})  overhead x{v['overhead_ratio']:.3f}"
        )
    t = r["tts"]
    print(f"TTS Piper joe ({t['audio_s']:.1f} s of speech, 4 sentences)")
    print(
        f"  first chunk {t['first_chunk_s']['p50']:.3f}/{t['first_chunk_s']['p95']:.3f} s  "
        f"total {t['total_s']['p50']:.3f} s  RTF {t['rtf']:.3f} (CPU {t['cpu_rtf']:.3f})  "
        f"first chunk / bare whole-text {t['first_chunk_vs_bare_total']:.2f}"
    )
    m = r["tts_matched"]
    print(
        f"TTS matched voice (WORLD): fit {m['fit_s']:.2f} s once per voice; first chunk "
        f"{m['first_chunk_s']['p50']:.3f} s  RTF {m['rtf']:.3f} (CPU {m['cpu_rtf']:.3f})  "
        f"total vs plain x{m['total_vs_plain']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(bench(args.repeats))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
