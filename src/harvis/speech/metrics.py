"""Prometheus series for speech (default registry: they appear on /metrics with the rest)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16)
_MODEL = ["model", "kind"]

STT_SECONDS = Histogram(
    "harvis_speech_stt_seconds", "Time to transcribe one request", ["model"], buckets=_LATENCY
)
STT_AUDIO_SECONDS = Counter(
    "harvis_speech_stt_audio_seconds_total", "Seconds of audio transcribed", ["model"]
)
TTS_SENTENCE_SECONDS = Histogram(
    "harvis_speech_tts_sentence_seconds",
    "Time to synthesize one sentence",
    ["engine", "mode"],
    buckets=_LATENCY,
)
TTS_AUDIO_SECONDS = Counter("harvis_speech_tts_audio_seconds_total", "Seconds of speech made", ["engine"])
MODEL_LOADS = Counter("harvis_speech_model_loads_total", "Model loads by result", [*_MODEL, "result"])
MODEL_READY = Gauge("harvis_speech_model_ready", "1 when the model is loaded and resident", _MODEL)
MODEL_LOAD_SECONDS = Gauge("harvis_speech_model_load_seconds", "How long the last load took", _MODEL)
MODEL_MEMORY_BYTES = Gauge("harvis_speech_model_memory_bytes", "Process memory the load added", _MODEL)
