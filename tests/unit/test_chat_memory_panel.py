"""The memory panel: snapshot rendering, sidebar, forget buttons scoped to the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chainlit as cl
import pytest

from tests.unit.test_chat_helpers import make_context
from wellness.chat import handlers, memory_panel
from wellness.chat.services import Services, set_services
from wellness.config import Settings

pytestmark = pytest.mark.unit

GOAL = {"goal_id": "g1", "metric": "steps", "description": "steps: at least 10,000 per day",
        "text": "walk 10000 steps", "deadline": None, "created_at": "2026-11-30T10:00:00Z"}


class FakeGoals:
    def __init__(self) -> None:
        self.deleted: list[tuple[str, str]] = []

    async def delete(self, user_id: str, *, goal_id: str) -> list[Any]:
        self.deleted.append((user_id, goal_id))
        return [object()]


class FakeMemory:
    def __init__(self) -> None:
        self.goals = FakeGoals()
        self.forgot: list[tuple[str, str]] = []

    async def snapshot(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "goals": [GOAL, {**GOAL, "goal_id": "g2",
                                                     "description": "<b>[x](y)</b>"}],
                "counts": {"goals": 2, "facts": 36, "patterns": 3}}

    async def forget(self, user_id: str, kind: str) -> dict[str, Any]:
        self.forgot.append((user_id, kind))
        return {"summary": f"Forgot {kind}."}


class FakeRuntime:
    def __init__(self) -> None:
        self.forgotten: list[tuple[str, str]] = []

    async def forget_thread(self, user_id: str, thread_id: str) -> None:
        self.forgotten.append((user_id, thread_id))


@pytest.fixture()
def services(tmp_path: Path):
    s = Services(Settings(data_dir=tmp_path))
    s.memory = FakeMemory()
    s.runtime = FakeRuntime()
    s.store = object()
    set_services(s)
    yield s
    set_services(None)


async def test_memory_request_shows_goals_sidebar_and_buttons(services: Services) -> None:
    ctx = make_context(user="alice")
    msg = cl.Message(content="What do you remember about me?", type="user_message")
    await handlers.on_message(msg)
    text = ctx.emitter.texts()[-1]
    assert "at least 10,000 per day" in text and "3 learned" in text
    assert "<b>" not in text and "[x](y)" not in text
    names = [d["name"] for e, d in ctx.emitter.events if e == "action"]
    assert names.count(memory_panel.FORGET_GOAL_ACTION) == 2
    assert names.count(memory_panel.FORGET_ACTION) == len(memory_panel.KINDS)
    sidebar = [d for e, d in ctx.emitter.events if e == "set_sidebar_elements"]
    assert sidebar and sidebar[0]["elements"]


async def test_forget_buttons_act_for_the_current_user_only(services: Services) -> None:
    ctx = make_context(user="alice")
    await memory_panel.on_forget_goal(cl.Action(name=memory_panel.FORGET_GOAL_ACTION,
                                                payload={"goal_id": "g1"}))
    assert services.memory.goals.deleted == [("alice", "g1")]
    await memory_panel.on_forget(cl.Action(name=memory_panel.FORGET_ACTION,
                                           payload={"kind": "all"}))
    assert services.memory.forgot == [("alice", "all")]
    assert services.runtime.forgotten == [("alice", ctx.session.thread_id)]
    await memory_panel.on_forget(cl.Action(name=memory_panel.FORGET_ACTION,
                                           payload={"kind": "nonsense"}))
    assert ctx.emitter.texts()[-1] == "I don't know that kind of memory."


async def test_without_memory_the_panel_says_so(services: Services) -> None:
    services.memory = None
    ctx = make_context()
    await memory_panel.show_memory(services, "local")
    assert ctx.emitter.texts() == ["Long-term memory isn't available right now."]
