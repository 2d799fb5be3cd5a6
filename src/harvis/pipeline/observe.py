"""Voice turn figures for /metrics: each stage's time, time to first audio, outcomes, barge-ins.

The turn stamps its stage boundaries (VoiceTurn.timings); the same numbers reach the `done`
event, the saved message and these series.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "harvis_voice_stage_seconds",
    "Time per voice turn stage (decode, vad, stt, llm_ttft, first_audio, total)",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
TURNS = Counter(
    "harvis_voice_turns_total", "Voice turns by channel (turn | ws) and final status", ["channel", "status"]
)
BARGE_INS = Counter("harvis_voice_barge_ins_total", "Answers stopped by the user (speech or cancel)", ["how"])


def observe_turn(channel: str, status: str, timings: dict[str, float | None]) -> None:
    TURNS.labels(channel, status).inc()
    for key, value in timings.items():
        if value is not None and key.endswith("_ms"):
            STAGE_SECONDS.labels(key[:-3]).observe(value / 1000.0)
