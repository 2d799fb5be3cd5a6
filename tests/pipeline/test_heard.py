"""Cutting a spoken answer where the listener stopped hearing it."""

from __future__ import annotations

import numpy as np

from harvis.config import PipelineSettings
from harvis.pipeline import events as ev
from harvis.pipeline.heard import heard_text, words_within
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio
from tests.support.voice import MemoryRecorder, ScriptedLLM, StandInSpeech, end, words

CLAUSES = [("The first clause is here.", 1.0), ("The second one follows it.", 2.0)]


def test_whole_clauses_then_the_words_said_so_far() -> None:
    assert heard_text(CLAUSES, 0.0) == ""
    assert heard_text(CLAUSES, 1.0) == "The first clause is here."
    assert heard_text(CLAUSES, 2.2) == "The first clause is here. The second one"
    assert heard_text(CLAUSES, 99.0) == "The first clause is here. The second one follows it."


def test_a_word_counts_once_it_has_finished() -> None:
    text = "one two three four"
    assert words_within(text, 0.1) == ""
    assert words_within(text, 0.2) == "one"
    assert words_within(text, 0.5) == "one two"
    assert words_within(text, 1.0) == text


async def test_truncating_a_finished_answer_saves_what_was_heard() -> None:
    answer = "A first sentence that is long enough. And a second sentence after it."
    recorder = MemoryRecorder()
    turn = Turn(
        llm=ScriptedLLM([*words(answer), end()]),
        speech=StandInSpeech(),
        recorder=recorder,
        settings=PipelineSettings(filler_after_s=-1, clause_min_chars=10),
        options=TurnOptions("m"),
    )
    got = [e async for e in turn.events(Audio(np.zeros(1600, np.float32), 16000))]
    clauses = [e for e in got if isinstance(e, ev.AudioOut)]
    assert len(clauses) == 2 and recorder.answers[-1]["status"] == "complete"
    kept = await turn.truncate(clauses[0].duration_s + 0.5 * clauses[1].duration_s)
    assert kept.startswith(clauses[0].text + " And a") and not kept.endswith("after it.")
    assert recorder.answers[-1]["status"] == "interrupted" and recorder.answers[-1]["content"] == kept
