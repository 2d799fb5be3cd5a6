"""A voice turn's stage logic with stand-in engines: order, streaming, barge-in, errors, filler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from harvis.config import PipelineSettings
from harvis.llm.types import Delta, NoCapacity, StreamBroken, Unavailable
from harvis.pipeline import events as ev
from harvis.pipeline.filler import FillerCache
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio
from tests.support.voice import MemoryRecorder, ScriptedLLM, StandInSpeech, end, wav_seconds, words

ANSWER = (
    "The sky looks blue because air scatters blue light. Sunsets are red for the same reason. "
    "Light travels further through the air then."
)
CLAUSES = [
    "The sky looks blue because air scatters blue light.",
    "Sunsets are red for the same reason.",
    "Light travels further through the air then.",
]


AUDIO = Audio(np.zeros(16000, np.float32), 16000)  # what the stand-in "hears" is its transcript


def make_turn(
    llm: ScriptedLLM, speech: StandInSpeech | None = None, **settings: Any
) -> tuple[Turn, StandInSpeech, MemoryRecorder]:
    speech = speech or StandInSpeech()
    recorder = MemoryRecorder()
    conf = PipelineSettings(**{"filler_after_s": -1, **settings})
    turn = Turn(
        speech=speech,
        llm=llm,
        recorder=recorder,
        settings=conf,
        options=TurnOptions(model="smollm2:135m", keep_alive="-1", system_prompt=conf.system_prompt),
        fillers=FillerCache(speech),
    )
    return turn, speech, recorder


async def collect(stream: AsyncIterator[ev.TurnEvent], limit: int = 500) -> list[ev.TurnEvent]:
    out = []
    async for item in stream:
        out.append(item)
        assert len(out) < limit
    return out


async def until(stream: AsyncIterator[ev.TurnEvent], kind: type, seen: list[ev.TurnEvent]) -> Any:
    """Read events into `seen` until one of `kind` arrives (bounded by the test timeout)."""
    async for item in stream:
        seen.append(item)
        if isinstance(item, kind):
            return item
    raise AssertionError(f"stream ended before a {kind.__name__} event: {seen}")


async def test_a_turn_streams_transcript_tokens_and_audio_in_order() -> None:
    saved_before_llm: list[list[str]] = []
    llm = ScriptedLLM(
        [Delta(reasoning="Think about light. "), *words(ANSWER), end(prompt_tokens=7, completion_tokens=30)]
    )
    turn, speech, recorder = make_turn(llm)
    llm.on_call = lambda _req: saved_before_llm.append(list(recorder.user))
    got = await collect(turn.events(AUDIO))

    names = [e.name for e in got]
    assert names[:2] == ["session", "transcript"] and names[-1] == "done"
    assert names.index("reasoning") < names.index("token")
    assert "".join(e.text for e in got if isinstance(e, ev.Token)) == ANSWER
    audio_events = [e for e in got if isinstance(e, ev.AudioOut)]
    assert [a.index for a in audio_events] == [0, 1, 2]
    assert [a.text for a in audio_events] == CLAUSES
    assert all(wav_seconds(a.wav) > 0 and a.sample_rate == 16000 for a in audio_events)
    assert speech.spoken == CLAUSES  # reasoning is never spoken
    assert speech.calls == ["vad", "stt"]  # each stage once
    assert saved_before_llm == [["what is the weather like"]]  # user message saved before the LLM call
    request = llm.requests[0]
    assert request.messages[0]["role"] == "system"
    assert request.messages[-1]["content"] == "what is the weather like"
    assert request.keep_alive == "-1"
    done = got[-1]
    assert isinstance(done, ev.Done) and done.status == "complete" and done.usage["completion_tokens"] == 30
    assert set(done.timings) >= {"vad_ms", "stt_ms", "llm_ttft_ms", "first_audio_ms", "total_ms"}
    answer = recorder.answers[0]
    assert answer["status"] == "complete" and answer["content"] == ANSWER
    assert answer["reasoning"] == "Think about light. " and answer["error"] is None


async def test_first_audio_leaves_while_the_llm_is_still_generating() -> None:
    hold = asyncio.Event()
    first, rest = ANSWER.split(" Sunsets")
    llm = ScriptedLLM([*words(first + " "), hold, *words("Sunsets" + rest), end()])
    turn, _, _ = make_turn(llm)
    stream = turn.events(AUDIO)
    seen: list[ev.TurnEvent] = []
    audio = await until(stream, ev.AudioOut, seen)
    assert audio.text == CLAUSES[0] and not llm.finished  # the LLM is held mid-answer
    hold.set()
    rest_events = await collect(stream)
    assert [e.index for e in rest_events if isinstance(e, ev.AudioOut)] == [1, 2]
    assert isinstance(rest_events[-1], ev.Done) and llm.finished


async def test_cancel_mid_answer_stops_audio_and_saves_the_answer_as_interrupted() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words(ANSWER), hold, *words(" More words that should never be said."), end()])
    speech = StandInSpeech()
    speech.gates[CLAUSES[2]] = asyncio.Event()  # the third clause is still being synthesized
    turn, speech, recorder = make_turn(llm, speech)
    stream = turn.events(AUDIO)
    seen: list[ev.TurnEvent] = []
    await until(stream, ev.AudioOut, seen)
    second = await until(stream, ev.AudioOut, seen)
    assert second.index == 1
    turn.cancel()
    after = await collect(stream)
    assert not [e for e in after if isinstance(e, ev.AudioOut)]
    done = after[-1]
    assert isinstance(done, ev.Done) and done.status == "interrupted"
    assert llm.closed and not llm.finished  # the LLM stream was closed, not drained
    answer = recorder.answers[0]
    assert answer["status"] == "interrupted"
    assert answer["content"] == " ".join(CLAUSES[:2])  # cut to what was sent
    assert "never be said" not in answer["content"]
    assert len(recorder.answers) == 1


async def test_a_consumer_that_goes_away_leaves_an_interrupted_answer() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words(CLAUSES[0] + " "), hold, *words(CLAUSES[1]), end()])
    turn, _, recorder = make_turn(llm)
    stream = turn.events(AUDIO)
    await until(stream, ev.AudioOut, [])
    await stream.aclose()  # type: ignore[attr-defined]
    assert llm.closed and not llm.finished
    assert len(recorder.answers) == 1
    assert recorder.answers[0]["status"] == "interrupted" and recorder.answers[0]["content"] == CLAUSES[0]


async def test_llm_unavailable_before_the_first_token_is_an_error_event() -> None:
    llm = ScriptedLLM([Unavailable("no node could be reached")])
    turn, speech, recorder = make_turn(llm)
    got = await collect(turn.events(AUDIO))
    assert [e.name for e in got] == ["session", "transcript", "error"]
    err = got[-1]
    assert isinstance(err, ev.Error) and err.code == "llm_unavailable" and err.message_id == "a1"
    assert recorder.answers[0]["status"] == "error" and "no node" in recorder.answers[0]["error"]
    assert speech.spoken == []


async def test_a_busy_llm_tells_the_client_when_to_retry() -> None:
    llm = ScriptedLLM([NoCapacity("every node is busy", retry_after=4.0)])
    turn, _speech, _recorder = make_turn(llm)
    got = await collect(turn.events(AUDIO))
    err = got[-1]
    assert isinstance(err, ev.Error) and err.code == "no_capacity"
    assert err.payload()["retry_after"] == 4.0 and ev.to_ws(err)["retry_after"] == 4.0


async def test_a_stream_broken_mid_answer_speaks_what_came_and_saves_the_partial_answer() -> None:
    llm = ScriptedLLM([*words(CLAUSES[0] + " Half a"), StreamBroken("node died")])
    turn, _speech, recorder = make_turn(llm)
    got = await collect(turn.events(AUDIO))
    assert [e.text for e in got if isinstance(e, ev.AudioOut)] == [CLAUSES[0]]
    assert isinstance(got[-1], ev.Error) and got[-1].code == "stream_broken"
    assert recorder.answers[0]["status"] == "error"
    assert recorder.answers[0]["content"] == CLAUSES[0] + " Half a"


async def test_a_late_first_token_gets_a_spoken_filler_once() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([hold, *words(ANSWER), end()])
    turn, speech, _ = make_turn(llm, filler_after_s=0.01, filler_text="One moment.")
    stream = turn.events(AUDIO)
    seen: list[ev.TurnEvent] = []
    filler = await until(stream, ev.Filler, seen)
    assert filler.text == "One moment." and wav_seconds(filler.wav) > 0
    hold.set()
    rest = await collect(stream)
    assert len([e for e in seen + rest if isinstance(e, ev.Filler)]) == 1
    assert [e.index for e in rest if isinstance(e, ev.AudioOut)] == [0, 1, 2]
    assert speech.spoken == ["One moment.", *CLAUSES]


async def test_no_filler_when_the_answer_comes_in_time() -> None:
    llm = ScriptedLLM([*words(ANSWER), end()])
    turn, _speech, _ = make_turn(llm, filler_after_s=30)
    got = await collect(turn.events(AUDIO))
    assert not [e for e in got if isinstance(e, ev.Filler)]


async def test_silence_is_an_error_and_saves_nothing() -> None:
    llm = ScriptedLLM([*words(ANSWER), end()])
    turn, _, recorder = make_turn(llm, speech=StandInSpeech(transcript="  "))
    got = await collect(turn.events(AUDIO))
    assert [(e.name, getattr(e, "code", "")) for e in got] == [("error", "no_speech")]
    assert recorder.user == [] and recorder.answers == [] and llm.requests == []


async def test_a_router_fallback_is_reported() -> None:
    llm = ScriptedLLM(
        [*words(CLAUSES[0]), end(model="qwen2.5-coder:0.5b", fallback=True, fallback_from="smollm2:135m")]
    )
    turn, _, _ = make_turn(llm)
    got = await collect(turn.events(AUDIO))
    fb = [e for e in got if isinstance(e, ev.Fallback)]
    assert fb and fb[0].requested == "smollm2:135m" and fb[0].model == "qwen2.5-coder:0.5b"
    assert isinstance(got[-1], ev.Done) and got[-1].fallback


async def test_tts_failure_ends_the_turn_with_an_error() -> None:
    llm = ScriptedLLM([*words(ANSWER), end()])
    turn, _, recorder = make_turn(llm, speech=StandInSpeech(fail_tts=True))
    got = await collect(turn.events(AUDIO))
    assert isinstance(got[-1], ev.Error) and got[-1].code == "tts_failed"
    assert recorder.answers[0]["status"] == "error"


def test_events_have_the_contract_wire_shapes() -> None:
    audio = ev.AudioOut(3, 22050, b"RIFF", "Hi.")
    assert ev.to_ws(audio) == {
        "type": "audio",
        "index": 3,
        "sample_rate": 22050,
        "format": "wav",
        "text": "Hi.",
        "data": "UklGRg==",
    }
    assert ev.to_sse(ev.Token("a")) == 'event: token\ndata: {"text":"a"}\n\n'


async def test_max_wait_does_not_cut_a_sentence_while_the_speaker_is_busy() -> None:
    hold, gate = asyncio.Event(), asyncio.Event()
    first = "A first sentence that is long enough."
    llm = ScriptedLLM(
        [*words(first + " A slow second sentence without an end"), hold, *words(" yet here."), end()]
    )
    speech = StandInSpeech()
    speech.gates[first] = gate  # the speaker is busy with the first sentence
    turn, speech, _ = make_turn(llm, speech, clause_max_wait_s=0.01, clause_min_chars=10)
    consumer = asyncio.create_task(collect(turn.events(AUDIO)))
    await poll(lambda: turn.content.endswith("without an end"))
    for _ in range(5):
        await asyncio.sleep(0.02)  # the maximum wait passes, several times over
    hold.set()
    await poll(lambda: turn.content.endswith("here."))
    gate.set()
    got = await consumer
    assert [e.text for e in got if isinstance(e, ev.AudioOut)] == [
        first,
        "A slow second sentence without an end yet here.",
    ]


async def test_max_wait_cuts_a_slow_sentence_when_the_speaker_is_idle() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words("A slow sentence without an end"), hold, *words(" yet here."), end()])
    turn, _, _ = make_turn(llm, clause_max_wait_s=0.01, clause_min_chars=10)
    stream = turn.events(AUDIO)
    first = await until(stream, ev.AudioOut, [])
    assert first.text == "A slow sentence without an"
    hold.set()
    rest = await collect(stream)
    assert [e.text for e in rest if isinstance(e, ev.AudioOut)] == ["end yet here."]


async def poll(condition: Any, rounds: int = 1000) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached")


async def test_a_store_failure_before_the_llm_is_an_error_event_and_the_llm_is_not_called() -> None:
    llm = ScriptedLLM([*words(ANSWER), end()])
    turn, _, recorder = make_turn(llm)

    async def broken(transcript: str, *, model: str) -> Any:
        raise OSError("disk full")

    recorder.begin = broken  # type: ignore[method-assign]
    got = await collect(turn.events(AUDIO))
    assert [(e.name, getattr(e, "code", "")) for e in got] == [("error", "storage_failed")]
    assert llm.requests == []


async def test_an_abbreviation_stays_inside_one_spoken_clause() -> None:
    """The chunker keeps "Dr. Smith" together, and the clause reaches TTS as one call."""
    answer = "You should ask Dr. Smith about it, he knows."
    llm = ScriptedLLM([*words(answer), end()])
    turn, speech, _ = make_turn(llm)
    got = await collect(turn.events(AUDIO))
    assert speech.spoken == [answer]
    assert [e.text for e in got if isinstance(e, ev.AudioOut)] == [answer]


async def test_the_filler_is_synthesized_once_per_voice() -> None:
    speech = StandInSpeech()
    fillers = FillerCache(speech)
    for _ in range(3):
        hold = asyncio.Event()
        llm = ScriptedLLM([hold, *words(CLAUSES[0]), end()])
        turn = Turn(
            speech=speech,
            llm=llm,
            recorder=MemoryRecorder(),
            settings=PipelineSettings(filler_after_s=0.01, filler_text="One moment."),
            options=TurnOptions(model="smollm2:135m"),
            fillers=fillers,
        )
        stream = turn.events(AUDIO)
        filler = await until(stream, ev.Filler, [])
        assert filler.duration_s > 0
        hold.set()
        await collect(stream)
    assert speech.spoken.count("One moment.") == 1


async def test_a_text_turn_streams_tokens_without_speech() -> None:
    llm = ScriptedLLM([Delta(reasoning="hmm "), *words(ANSWER), end(completion_tokens=3)])
    recorder = MemoryRecorder()
    turn = Turn(
        llm=llm, recorder=recorder, settings=PipelineSettings(), options=TurnOptions("m", speak=False)
    )
    started = await turn.begin("hello")
    got = await collect(turn.answer(started))
    assert [e.name for e in got][:3] == ["session", "reasoning", "token"] and got[-1].name == "done"
    assert not [e for e in got if isinstance(e, ev.AudioOut)]
    assert recorder.answers[0]["content"] == ANSWER and recorder.answers[0]["status"] == "complete"


async def test_a_text_turn_whose_client_leaves_is_saved_as_stopped_with_all_it_streamed() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words("Half of an answer"), hold, *words(" and the rest."), end()])
    recorder = MemoryRecorder()
    turn = Turn(
        llm=llm, recorder=recorder, settings=PipelineSettings(), options=TurnOptions("m", speak=False)
    )
    stream = turn.answer(await turn.begin("hello"))
    seen: list[ev.TurnEvent] = []
    while "".join(e.text for e in seen if isinstance(e, ev.Token)) != "Half of an answer":
        seen.append(await anext(stream))
    await stream.aclose()  # type: ignore[attr-defined]
    assert llm.closed and not llm.finished
    assert recorder.answers == [recorder.answers[0]] and recorder.answers[0]["status"] == "stopped"
    assert recorder.answers[0]["content"] == "Half of an answer"
