"""The tool loop of a turn with stand-in engines and a real Toolbox: rounds, failures told to the
model, the bound on rounds, cancel, the spoken cue, models without tool support."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from harvis.config import PipelineSettings, ToolSettings
from harvis.llm.types import BadRequest, Delta, ToolCall
from harvis.pipeline import events as ev
from harvis.pipeline.filler import FillerCache
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio
from harvis.tools.base import Tool, ToolContext, ToolSpec
from harvis.tools.builtin import BuiltinTools
from harvis.tools.toolbox import Toolbox
from tests.pipeline.test_turn import collect, until
from tests.support.voice import MemoryRecorder, ScriptedLLM, StandInSpeech, end, words

AUDIO = Audio(np.zeros(16000, np.float32), 16000)


class GatedTool:
    """A tool that waits for `gate` (or forever) and remembers how its calls ended."""

    def __init__(self, name: str = "slow_lookup", *, fail: bool = False) -> None:
        self.spec = ToolSpec(name, "looks something up slowly", {"type": "object", "properties": {}})
        self.gate = asyncio.Event()
        self.fail = fail
        self.started = asyncio.Event()
        self.ended: list[str] = []
        self.contexts: list[ToolContext] = []

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.contexts.append(context)
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        if self.fail:
            raise RuntimeError("the lookup service is down")
        self.ended.append("done")
        return "found it"


class Extra:
    """A provider of test tools next to the built-in ones."""

    def __init__(self, *tools: Tool) -> None:
        self.tools = list(tools)

    async def tools_for(self, context: ToolContext) -> list[Tool]:
        return list(self.tools)


def call(name: str, **arguments: Any) -> Delta:
    return Delta(tool_calls=(ToolCall(name, arguments),))


def make(
    llm: ScriptedLLM,
    *tools: Tool,
    speak: bool = False,
    timeout_s: float = 10.0,
    **tool_settings: Any,
) -> tuple[Turn, MemoryRecorder, StandInSpeech]:
    speech = StandInSpeech()
    recorder = MemoryRecorder()
    turn = Turn(
        llm=llm,
        recorder=recorder,
        settings=PipelineSettings(filler_after_s=-1),
        options=TurnOptions(model="smollm2:135m", speak=speak, user_id="u1", timezone="Europe/Paris"),
        speech=speech if speak else None,
        fillers=FillerCache(speech),
        toolbox=Toolbox([BuiltinTools(), Extra(*tools)], timeout_s=timeout_s),
        tool_settings=ToolSettings(**tool_settings),
    )
    return turn, recorder, speech


async def text_turn(turn: Turn) -> list[ev.TurnEvent]:
    started = await turn.begin("what is 12*34?")
    return await collect(turn.answer(started))


def results(events: list[ev.TurnEvent]) -> list[ev.ToolResult]:
    return [e for e in events if isinstance(e, ev.ToolResult)]


async def test_a_tool_round_calls_the_tool_tells_the_model_and_streams_both_rounds() -> None:
    llm = ScriptedLLM(
        [],
        rounds=[
            [
                Delta(content="Let me work it out. "),
                call("calculate", expression="12*34"),
                end(completion_tokens=5),
            ],
            [*words("It is 408."), end(completion_tokens=4)],
        ],
    )
    turn, recorder, _ = make(llm)
    got = await text_turn(turn)

    names = [e.name for e in got]
    assert names.index("tool_call") < names.index("tool_result") < len(names) - 1
    assert names[-1] == "done" and names.count("token") >= 2
    first_token_after = names.index("token", names.index("tool_result"))
    assert (
        "".join(e.text for e in got[:first_token_after] if isinstance(e, ev.Token)) == "Let me work it out. "
    )
    (result,) = results(got)
    assert (result.tool, result.result, result.ok, result.round, result.index) == (
        "calculate",
        "12*34 = 408",
        True,
        1,
        0,
    )
    # Round 1 offered the tools in Ollama's shape; round 2 carries the call and its result.
    offered = {t["function"]["name"] for t in llm.requests[0].tools}
    assert offered == {"calculate", "get_current_time"}
    tail = llm.requests[1].messages[-2:]
    assert tail[0]["role"] == "assistant" and tail[0]["content"] == "Let me work it out. "
    assert tail[0]["tool_calls"] == [
        {"function": {"name": "calculate", "arguments": {"expression": "12*34"}}}
    ]
    assert tail[1] == {"role": "tool", "content": "12*34 = 408", "tool_name": "calculate"}
    done = got[-1]
    assert isinstance(done, ev.Done) and done.status == "complete"
    assert done.timings["tool_rounds"] == 1 and done.usage["completion_tokens"] == 9
    saved = recorder.answers[-1]
    assert saved["content"] == "Let me work it out. \n\nIt is 408."
    assert saved["tool_calls"] == [
        {
            "name": "calculate",
            "arguments": {"expression": "12*34"},
            "result": "12*34 = 408",
            "ok": True,
            "ms": result.ms,
        }
    ]
    assert ev.to_sse(result).startswith("event: tool_result\ndata: {")


async def test_the_tool_acts_for_the_turns_user_session_and_time_zone() -> None:
    tool = GatedTool()
    tool.gate.set()
    llm = ScriptedLLM([], rounds=[[call("slow_lookup"), end()], [*words("Found."), end()]])
    turn, _, _ = make(llm, tool)
    await text_turn(turn)
    assert tool.contexts == [ToolContext(user_id="u1", session_id="s1", timezone="Europe/Paris")]


async def test_failures_are_told_to_the_model_and_the_answer_goes_on() -> None:
    raising = GatedTool("flaky", fail=True)
    raising.gate.set()
    hanging = GatedTool("hangs")  # never released: the toolbox's timeout ends it
    llm = ScriptedLLM(
        [],
        rounds=[
            [
                call("flaky"),
                call("hangs"),
                Delta(tool_calls=(ToolCall("calculate", {}, invalid_arguments='{"expression": 12*'),)),
                call("no_such_tool"),
                call("calculate", expression="__import__('os')"),
                end(),
            ],
            [*words("Sorry, that did not work."), end()],
        ],
    )
    turn, recorder, _ = make(llm, raising, hanging, timeout_s=0.05)
    got = await text_turn(turn)

    told = [(r.tool, r.ok, r.result) for r in results(got)]
    assert [t[:2] for t in told] == [
        ("flaky", False),
        ("hangs", False),
        ("calculate", False),
        ("no_such_tool", False),
        ("calculate", False),
    ]
    assert "failed (RuntimeError)" in told[0][2]
    assert "did not answer within 0.05 s" in told[1][2] and hanging.ended == ["cancelled"]
    assert "not a JSON object" in told[2][2] and "12*" in told[2][2]
    assert "no tool named 'no_such_tool'" in told[3][2]
    assert "not allowed" in told[4][2]
    tool_messages = [m for m in llm.requests[1].messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == [t[2] for t in told]
    assert got[-1].name == "done" and recorder.answers[-1]["status"] == "complete"
    assert [c["ok"] for c in recorder.answers[-1]["tool_calls"]] == [False] * 5


async def test_rounds_are_bounded_then_the_model_answers_without_tools() -> None:
    # A new call every round, forever.
    llm = ScriptedLLM([], rounds=[[call("calculate", expression=f"{n}+1"), end()] for n in range(3)])
    turn, recorder, _ = make(llm, max_rounds=2)
    got = await text_turn(turn)

    assert len(llm.requests) == 3
    assert [bool(r.tools) for r in llm.requests] == [True, True, False]
    notices = [e for e in got if isinstance(e, ev.ToolNotice)]
    assert [n.code for n in notices] == ["tool_rounds_exhausted"]
    assert len(results(got)) == 2  # the third round's call, made without tools, is not run
    done = got[-1]
    assert isinstance(done, ev.Done) and done.timings["tool_rounds_capped"] == 1
    assert len(recorder.answers[-1]["tool_calls"]) == 2


async def test_a_repeated_call_is_not_run_again_the_model_is_asked_for_words() -> None:
    again = [call("calculate", expression="12*34"), end()]
    llm = ScriptedLLM([], rounds=[again, again, [*words("It is 408."), end()]])
    turn, recorder, _ = make(llm)
    got = await text_turn(turn)

    assert [bool(r.tools) for r in llm.requests] == [True, True, False]
    assert len(results(got)) == 1  # run once; the same call again is answered from the messages
    assert "".join(e.text for e in got if isinstance(e, ev.Token)) == "It is 408."
    done = got[-1]
    assert isinstance(done, ev.Done) and done.timings["tool_calls_repeated"] == 1
    assert len(recorder.answers[-1]["tool_calls"]) == 1


async def test_a_round_that_says_nothing_after_the_results_is_asked_again_for_words() -> None:
    llm = ScriptedLLM(
        [], rounds=[[call("calculate", expression="2+2"), end()], [end()], [*words("Four."), end()]]
    )
    turn, _, _ = make(llm)
    got = await text_turn(turn)
    assert [bool(r.tools) for r in llm.requests] == [True, True, False]
    assert "".join(e.text for e in got if isinstance(e, ev.Token)) == "Four."


async def test_cancel_during_a_tool_call_stops_the_call() -> None:
    tool = GatedTool()
    llm = ScriptedLLM([], rounds=[[call("slow_lookup"), end()], [*words("Never said."), end()]])
    turn, recorder, _ = make(llm, tool)
    started = await turn.begin("look it up")
    stream = turn.answer(started)
    seen: list[ev.TurnEvent] = []
    await until(stream, ev.ToolCallStarted, seen)
    await tool.started.wait()
    turn.cancel()
    seen += await collect(stream)

    assert tool.ended == ["cancelled"]
    assert len(llm.requests) == 1 and not results(seen)
    assert recorder.answers[-1]["status"] == "stopped"


async def test_a_voice_turn_says_what_came_before_the_tool_then_the_cue_once() -> None:
    tool = GatedTool()
    llm = ScriptedLLM(
        [],
        rounds=[
            [Delta(content="Let me look that up"), call("slow_lookup"), end()],
            [call("slow_lookup"), end()],  # a second slow round: no second cue
            [*words("It is sunny."), end()],
        ],
    )
    turn, recorder, speech = make(llm, tool, speak=True, cue_after_s=0.0, cue_text="One moment.")
    stream = turn.events(AUDIO)
    seen: list[ev.TurnEvent] = []
    # The clause without its full stop is spoken while the tool still runs, then the cue.
    audio = await until(stream, ev.AudioOut, seen)
    assert audio.text == "Let me look that up" and not tool.ended
    cue = await until(stream, ev.Filler, seen)
    assert cue.text == "One moment." and not tool.ended
    tool.gate.set()
    seen += await collect(stream)

    names = [e.name for e in seen]
    assert names.count("filler") == 1 and names[-1] == "done"
    assert [e.text for e in seen if isinstance(e, ev.AudioOut)] == ["Let me look that up", "It is sunny."]
    assert recorder.answers[-1]["content"] == "Let me look that up\n\nIt is sunny."
    assert "One moment." in speech.spoken


async def test_a_model_without_tool_support_answers_without_tools_and_says_so() -> None:
    refused = BadRequest('"smollm2:135m" does not support tools')
    llm = ScriptedLLM([], rounds=[[refused], [*words("Hello there."), end()]])
    turn, _, _ = make(llm)
    got = await text_turn(turn)

    assert [bool(r.tools) for r in llm.requests] == [True, False]
    assert llm.requests[0].messages[0]["role"] == "system"  # the tool instructions, then none
    assert llm.requests[1].messages == [{"role": "user", "content": "what is 12*34?"}]
    notices = [e for e in got if isinstance(e, ev.ToolNotice)]
    assert [n.code for n in notices] == ["tools_unsupported"]
    done = got[-1]
    assert isinstance(done, ev.Done) and done.status == "complete" and done.timings["tools_unsupported"] == 1

    # The next turn on that model is not refused again, and is told just the same.
    toolbox = turn._stages.toolbox
    assert toolbox is not None and toolbox.knows_no_tools("smollm2:135m")
    again = ScriptedLLM([*words("Hi again."), end()])
    turn2 = Turn(
        llm=again,
        recorder=MemoryRecorder(),
        settings=PipelineSettings(),
        options=TurnOptions(model="smollm2:135m", speak=False, user_id="u1"),
        toolbox=toolbox,
    )
    got = await text_turn(turn2)
    assert [bool(r.tools) for r in again.requests] == [False]
    assert [e.name for e in got].count("tool_notice") == 1 and got[-1].name == "done"


async def test_other_bad_requests_still_fail_the_turn() -> None:
    llm = ScriptedLLM([BadRequest("the prompt is too long")])
    turn, _, _ = make(llm)
    got = await text_turn(turn)
    assert got[-1].name == "error" and len(llm.requests) == 1


async def test_without_a_user_a_turn_offers_no_tools() -> None:
    llm = ScriptedLLM([*words("Hi."), end()])
    recorder = MemoryRecorder()
    turn = Turn(
        llm=llm,
        recorder=recorder,
        settings=PipelineSettings(),
        options=TurnOptions(model="smollm2:135m", speak=False),
        toolbox=Toolbox([BuiltinTools()]),
    )
    started = await turn.begin("hi")
    await collect(turn.answer(started))
    assert llm.requests[0].tools == [] and recorder.answers[-1]["tool_calls"] == []
