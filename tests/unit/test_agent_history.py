"""Pair-aware trimming: a cut never separates an AI tool call from its ToolMessages."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from wellness.agent.history import (
    CANCELLED_RESULT,
    check_openai_pairing,
    group_messages,
    trim_history,
)

pytestmark = pytest.mark.unit


def _call(cid: str, name: str = "metric_summary") -> dict:
    return {"name": name, "args": {"metric": "StepCount"}, "id": cid, "type": "tool_call"}


def _turn(i: int, calls: int = 2) -> list:
    ids = [f"c{i}_{k}" for k in range(calls)]
    return [HumanMessage(content=f"q{i}"),
            AIMessage(content="", tool_calls=[_call(c) for c in ids]),
            *[ToolMessage(content='{"summary": "x"}', tool_call_id=c) for c in ids],
            AIMessage(content=f"a{i}")]


def _as_openai(msgs: list) -> list[dict]:
    out = []
    for m in msgs:
        if isinstance(m, HumanMessage):
            out.append({"role": "user"})
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id})
        else:
            out.append({"role": "assistant",
                        "tool_calls": [{"id": tc["id"]} for tc in m.tool_calls] or None})
    return out


@pytest.mark.parametrize("limit", range(1, 30))
def test_every_cut_keeps_pairs_and_starts_on_a_human(limit):
    msgs = [m for i in range(6) for m in _turn(i, calls=1 + i % 3)]
    kept = trim_history(msgs, max_messages=limit)
    assert kept, "the current question is always kept"
    assert isinstance(kept[0], HumanMessage)
    assert check_openai_pairing(_as_openai(kept)) is None
    assert kept[-1].content == "a5"


def test_leading_orphan_tool_message_is_dropped():
    msgs = [ToolMessage(content="{}", tool_call_id="gone"), *_turn(1)]
    assert check_openai_pairing(_as_openai(trim_history(msgs))) is None
    assert not isinstance(trim_history(msgs)[0], ToolMessage)


def test_dangling_tool_call_gets_a_cancelled_result():
    msgs = [HumanMessage(content="q"), AIMessage(content="", tool_calls=[_call("a"), _call("b")]),
            ToolMessage(content="{}", tool_call_id="a"), HumanMessage(content="next")]
    groups = group_messages(msgs)
    assert [len(g) for g in groups] == [1, 3, 1]
    assert groups[1][2].content == CANCELLED_RESULT
    assert check_openai_pairing(_as_openai(trim_history(msgs))) is None


def test_check_openai_pairing_detects_problems():
    assert check_openai_pairing([{"role": "tool", "tool_call_id": "x"}])
    assert check_openai_pairing([{"role": "assistant", "tool_calls": [{"id": "a"}]},
                                 {"role": "user"}])
