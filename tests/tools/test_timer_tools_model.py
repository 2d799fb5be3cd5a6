"""The timer tools as a real model sees them (Qwen2.5-Coder-1.5B on a real `harvis llm-node`):
from the specs alone it calls set_timer and set_reminder with arguments the tools accept, and
the calls, run through the Toolbox, set what was asked for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ollama
import pytest

from harvis.llm.types import ToolCall
from harvis.store.db import Database
from harvis.tools.base import ToolContext
from harvis.tools.timers import TimerTools
from harvis.tools.toolbox import Toolbox
from tests.support.llm_node import TOOL_MODEL, llm_node, tool_models_dir
from tests.support.processes import Proc
from tests.tools.conftest import make_user

pytestmark = pytest.mark.slow
SYSTEM = "You are Harvis, a voice assistant. Use the tools to set, list and cancel timers and reminders."
GREEDY: dict[str, Any] = {"temperature": 0, "num_predict": 96, "seed": 1}


@pytest.fixture(scope="module")
def node() -> Iterator[Proc]:
    with llm_node(extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())}) as proc:
        yield proc


async def model_call(node: Proc, tools: list[dict[str, Any]], ask: str) -> ToolCall:
    client = ollama.AsyncClient(host=node.url, timeout=300)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}]
    reply = await client.chat(model=TOOL_MODEL, messages=messages, tools=tools, options=GREEDY)
    calls = reply.message.tool_calls or []
    assert len(calls) == 1, reply.message
    return ToolCall(calls[0].function.name, dict(calls[0].function.arguments))


async def test_the_model_sets_a_timer_and_a_reminder(node: Proc, db: Database, tools: TimerTools) -> None:
    ctx = ToolContext(await make_user(db, "alice"), timezone="Europe/Paris")
    box = Toolbox([tools])
    offered = await box.tools_for(ctx)
    specs = [tool.spec.for_llm() for tool in offered.values()]

    call = await model_call(node, specs, "Set a timer for 3 minutes for the pasta.")
    assert call.name == "set_timer", call
    out = await box.run(call, offered, ctx)
    assert out.ok and "set for 3 minutes" in out.result, out
    listed = await tools.list_timers({}, ctx)
    assert "in 3 minutes" in listed, listed

    call = await model_call(node, specs, "Remind me to call mum at 15:30.")
    assert call.name == "set_reminder" and "15:30" in str(call.arguments.get("when")), call
    out = await box.run(call, offered, ctx)
    assert out.ok and "Reminder set for 15:30:00" in out.result and "mum" in out.result, out
