"""AgentRuntime on the real test Redis, with small stand-in tools (no health data needed).

Covers the runtime contract: event stream, checkpoints across turns, per-turn accounting,
dedup, rollback of failed turns, stateless mode, user scoping, TTL, and an OpenAI-format
history that a strict fake OpenAI server accepts after trimming.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool

from wellness.agent import history as history_mod
from wellness.agent.graph import AgentRuntime, collect_turn
from wellness.agent.offline import OfflineModel
from wellness.store.errors import StoreUnavailable
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.integration

TODAY = date(2026, 12, 2)
CALLS: list[tuple[str, str, dict[str, Any]]] = []


@tool
def metric_summary(metric: str, config: RunnableConfig, start: str | None = None,
                   end: str | None = None, period: str | None = None,
                   stat: str | None = None) -> str:
    """Summary of one metric over a period."""
    user = config["configurable"]["user_id"]
    CALLS.append((user, "metric_summary", {"metric": metric, "start": start, "end": end}))
    if metric == "Broken":
        raise StoreUnavailable("simulated outage")
    return json.dumps({"summary": f"{metric} {stat or 'avg'} from {start} to {end} was 61.",
                       "value": 61, "start": start, "end": end})


@tool
def last_workout(config: RunnableConfig, workout_type: str | None = None) -> str:
    """The most recent workout."""
    CALLS.append((config["configurable"]["user_id"], "last_workout", {}))
    return json.dumps({"summary": "Your last workout was a 31-minute run on 30 November 2026.",
                       "workout": {"type": "Running", "date": "2026-11-30",
                                   "duration_min": 31.2, "energy_kcal": 250}})


STANDIN_TOOLS = [metric_summary, last_workout]
SEEN: list[list[BaseMessage]] = []


class ScriptedModel(BaseChatModel):
    """Calls ``metric_summary`` twice with identical args (two rounds), then answers."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        SEEN.append(list(messages))
        turn_ai = 0
        for m in reversed(messages):
            if isinstance(m, HumanMessage):
                break
            if isinstance(m, AIMessage) and m.tool_calls:
                turn_ai += 1
        if turn_ai < 2:
            msg = AIMessage(content="", tool_calls=[{
                "name": "metric_summary", "args": {"metric": "StepCount", "period": "today"},
                "id": f"c{turn_ai}-{len(SEEN)}", "type": "tool_call"}])
        else:
            msg = AIMessage(content="Done: 61 steps.")
        return ChatResult(generations=[ChatGeneration(message=msg)])


@pytest.fixture()
async def runtime(settings, redis_url) -> AsyncIterator[AgentRuntime]:
    s = settings.with_overrides(today=TODAY, checkpoint_ttl_minutes=30)
    rt = await AgentRuntime.open(s, redis_url, tools=STANDIN_TOOLS, memory=None,
                                 model=OfflineModel(today=TODAY))
    yield rt
    await rt.close()


async def _events(rt: AgentRuntime, user: str, thread: str, text: str, **kw: Any) -> list[Any]:
    return [e async for e in rt.run_turn(user, thread, text, **kw)]


async def test_event_stream_and_turn_scoped_accounting(runtime, user_id):
    events = await _events(runtime, user_id, "t1", "What was my average resting heart rate last week?")
    kinds = [e.kind for e in events]
    assert kinds[0] == "tool_start" and kinds[1] == "tool_end" and kinds[-1] == "done"
    assert "token" in kinds
    start = events[0]
    assert start.name == "metric_summary"
    assert start.args["metric"] == "RestingHeartRate"
    assert (start.args["start"], start.args["end"]) == ("2026-11-23", "2026-11-29")
    done = events[-1]
    assert "61" in done.answer
    assert "".join(e.text for e in events if e.kind == "token").strip() == done.answer.strip()
    assert [c["name"] for c in done.tool_calls] == ["metric_summary"]
    assert done.tool_calls[0]["result"]["value"] == 61
    assert done.validation["score"] == 1.0

    # A second turn reports only its own tool calls, not the thread's.
    second = await _events(runtime, user_id, "t1", "When was my last run?")
    assert [c["name"] for c in second[-1].tool_calls] == ["last_workout"]


async def test_follow_ups_resolve_from_the_thread(runtime, user_id):
    await collect_turn(runtime, user_id, "f", "What was my average resting heart rate last week?")
    before = await collect_turn(runtime, user_id, "f", "and the week before?")
    args = before["tool_calls"][0]["args"]
    assert (args["metric"], args["start"], args["end"]) == ("RestingHeartRate", "2026-11-16",
                                                            "2026-11-22")
    bmi = await collect_turn(runtime, user_id, "f", "and my BMI?")
    assert bmi["tool_calls"][0]["args"]["metric"] == "BodyMassIndex"
    await collect_turn(runtime, user_id, "f", "When was my last workout?")
    how_long = await collect_turn(runtime, user_id, "f", "How long was it?")
    assert "31 minutes" in how_long["answer"]


async def test_other_user_same_thread_sees_nothing(runtime, user_id):
    await collect_turn(runtime, user_id, "shared", "What was my average resting heart rate last week?")
    other = f"{user_id}x"
    assert await runtime.history(other, "shared") == []
    CALLS.clear()
    reply = await collect_turn(runtime, other, "shared", "and the week before?")
    assert reply["tool_calls"] == []          # no context leaks from the first user's thread
    assert all(u == other for u, _, _ in CALLS)
    assert len(await runtime.history(user_id, "shared")) == 4


async def test_stateless_saves_nothing(runtime, user_id):
    reply = await collect_turn(runtime, user_id, "s", "When was my last run?", stateless=True)
    assert "31-minute" in reply["answer"]
    assert await runtime.history(user_id, "s") == []


async def test_store_outage_is_one_sentence_and_rolled_back(runtime, user_id):
    await collect_turn(runtime, user_id, "o", "When was my last run?")
    saved = await runtime.history(user_id, "o")
    from langchain_core.messages import AIMessage as _AI

    class Outage(OfflineModel):
        def respond(self, messages, tool_specs=None):  # type: ignore[override]
            if isinstance(messages[-1], HumanMessage):
                return _AI(content="", tool_calls=[{"name": "metric_summary",
                                                    "args": {"metric": "Broken"},
                                                    "id": "boom", "type": "tool_call"}])
            return _AI(content="unreachable")

    rt = AgentRuntime(runtime.settings, runtime.store, runtime.saver, Outage(today=TODAY),
                      STANDIN_TOOLS)
    before = await rt.history(user_id, "o")
    events = await _events(rt, user_id, "o", "steps today?")
    assert [e.kind for e in events][-1] == "error"
    assert events[-1].user_message == StoreUnavailable.user_message
    after = await rt.history(user_id, "o")
    assert [m.id for m in after] == [m.id for m in before]   # no partial turn kept
    assert len(saved) <= len(after)
    ok = await collect_turn(runtime, user_id, "o", "When was my last run?")
    assert ok["error"] is None and "31-minute" in ok["answer"]


async def test_identical_tool_calls_in_a_turn_run_once(settings, redis_url, user_id):
    s = settings.with_overrides(today=TODAY)
    rt = await AgentRuntime.open(s, redis_url, tools=STANDIN_TOOLS, memory=None,
                                 model=ScriptedModel())
    try:
        CALLS.clear()
        reply = await collect_turn(rt, user_id, "d", "steps today?")
        assert reply["answer"] == "Done: 61 steps."
        assert len(reply["tool_calls"]) == 2
        assert reply["tool_calls"][0]["result"] == reply["tool_calls"][1]["result"]
        assert len([c for c in CALLS if c[1] == "metric_summary"]) == 1
        # the model never sees the user id
        for batch in SEEN:
            assert all(user_id not in str(m.content) for m in batch)
    finally:
        await rt.close()


async def test_dangling_tool_call_is_repaired(runtime, user_id):
    await collect_turn(runtime, user_id, "x", "When was my last run?")
    config = runtime.config_for(user_id, "x")
    # Simulate a turn cancelled after the model asked for a tool.
    await runtime.graph.aupdate_state(config, {"messages": [
        HumanMessage(content="How did I sleep?", id="h-cancel"),
        AIMessage(content="", id="ai-cancel", tool_calls=[{
            "name": "last_workout", "args": {}, "id": "dangling", "type": "tool_call"}]),
    ]}, as_node="tools")
    reply = await collect_turn(runtime, user_id, "x", "What was my average resting heart rate last week?")
    assert reply["error"] is None and "61" in reply["answer"]


async def test_checkpoints_carry_the_ttl(runtime, user_id, store):
    await collect_turn(runtime, user_id, "ttl", "When was my last run?")
    with store.connection() as r:
        keys = [k for k in r.scan_iter(match=f"checkpoint*:{user_id}:ttl*", count=500)]
        assert keys
        ttls = [r.ttl(k) for k in keys]
    assert all(0 < t <= 30 * 60 for t in ttls)


async def test_openai_format_history_after_trimming(settings, redis_url, user_id, monkeypatch):
    monkeypatch.setattr(history_mod, "MAX_HISTORY_MESSAGES", 7)
    with FakeOpenAI() as fake:
        s = settings.with_overrides(today=TODAY, openai_base_url=fake.base_url, model="fake")
        rt = await AgentRuntime.open(s, redis_url, tools=STANDIN_TOOLS, memory=None)
        try:
            for i in range(5):
                events = [e async for e in rt.run_turn(user_id, "oa", f"question {i}")]
                done = events[-1]
                assert done.kind == "done", done
                assert "StepCount" in done.answer
                streamed = "".join(e.text for e in events if e.kind == "token")
                assert streamed.strip() == done.answer.strip()   # tokens really streamed
                assert [e.kind for e in events].count("token") > 3
            # A cancelled turn left an AI tool call without its result in the thread.
            await rt.graph.aupdate_state(rt.config_for(user_id, "oa"), {"messages": [
                HumanMessage(content="cancelled", id="h-c"),
                AIMessage(content="", id="ai-c", tool_calls=[{
                    "name": "metric_summary", "args": {"metric": "StepCount"},
                    "id": "call_dangling", "type": "tool_call"}]),
            ]}, as_node="tools")
            reply = await collect_turn(rt, user_id, "oa", "question after cancel")
            assert reply["error"] is None, reply
        finally:
            await rt.close()
    assert fake.problems == []
    lengths = [len(r["messages"]) for r in fake.requests]
    assert max(lengths) <= 1 + 7 + 2            # system + trimmed history (+ current group)
    for req in fake.requests:
        msgs = req["messages"]
        assert msgs[0]["role"] == "system"
        assert msgs[1]["role"] == "user"       # never a leading orphan tool/assistant message
        assert "Today is" in msgs[0]["content"] and user_id not in json.dumps(msgs)


async def test_model_error_is_one_sentence(settings, redis_url, user_id):
    with FakeOpenAI() as fake:
        url = fake.base_url
    # The server is gone: the model call fails, the user gets one sentence, nothing saved.
    s = settings.with_overrides(today=TODAY, openai_base_url=url, model="fake",
                                llm_timeout_s=2.0)
    rt = await AgentRuntime.open(s, redis_url, tools=STANDIN_TOOLS, memory=None)
    try:
        reply = await collect_turn(rt, user_id, "me", "How many steps today?")
        assert reply["error"] and "language model" in reply["error"]
        assert await rt.history(user_id, "me") == []
    finally:
        await rt.close()


async def test_long_threads_are_pruned(runtime, user_id, store):
    from wellness.agent import graph as graph_mod

    for _ in range(graph_mod.PRUNE_EVERY):
        await collect_turn(runtime, user_id, "long", "When was my last run?")
    with store.connection() as r:
        docs = [k for k in r.scan_iter(match=f"checkpoint:{user_id}:long:*", count=1000)]
    assert 0 < len(docs) <= graph_mod.KEEP_CHECKPOINTS
    history = await runtime.history(user_id, "long")
    assert len(history) == 4 * graph_mod.PRUNE_EVERY      # the conversation itself is intact
    reply = await collect_turn(runtime, user_id, "long", "How long was it?")
    assert "58" in reply["answer"] or "31 minutes" in reply["answer"]
