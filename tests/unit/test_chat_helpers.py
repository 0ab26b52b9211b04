"""Shared helpers for the chat handler unit tests: a recording emitter and a fake context.

Why: Chainlit ships no test harness. Handlers run against a real ``ChainlitContext`` whose
emitter records every event instead of writing to a socket, so tests assert on what a browser
would receive (steps, tokens, elements, actions) without starting a server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.emitter import BaseChainlitEmitter
from chainlit.session import HTTPSession
from chainlit.user import User


class RecordingEmitter(BaseChainlitEmitter):
    """Records (event, payload) pairs in order."""

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.events: list[tuple[str, Any]] = []

    async def emit(self, event: str, data: Any) -> None:
        self.events.append((event, data))

    async def send_step(self, step_dict: Any) -> None:
        self.events.append(("new_message", dict(step_dict)))

    async def update_step(self, step_dict: Any) -> None:
        self.events.append(("update_message", dict(step_dict)))

    async def delete_step(self, step_dict: Any) -> None:
        self.events.append(("delete_message", dict(step_dict)))

    async def stream_start(self, step_dict: Any) -> None:
        self.events.append(("stream_start", dict(step_dict)))

    async def send_token(self, id: str, token: str, is_sequence: bool = False,
                         is_input: bool = False) -> None:
        self.events.append(("stream_token", {"id": id, "token": token, "isInput": is_input}))

    async def send_element(self, element_dict: Any) -> None:
        self.events.append(("element", dict(element_dict)))

    async def set_commands(self, commands: Any) -> None:
        self.events.append(("set_commands", commands))

    # -- queries ------------------------------------------------------------------------
    def of(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    def steps(self, type_: str) -> list[dict[str, Any]]:
        """Latest state of every step of ``type_`` (new_message merged with updates)."""
        latest: dict[str, dict[str, Any]] = {}
        for e, d in self.events:
            if e in ("new_message", "update_message", "stream_start") and isinstance(d, dict):
                if d.get("type") == type_ or d.get("id") in latest:
                    latest.setdefault(d["id"], {}).update(d)
        return [s for s in latest.values() if s.get("type") == type_]

    def messages(self) -> list[dict[str, Any]]:
        """Assistant messages' final content (streamed tokens folded in)."""
        latest: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for e, d in self.events:
            if e in ("new_message", "update_message", "stream_start") and \
                    d.get("type") == "assistant_message":
                if d["id"] not in latest:
                    order.append(d["id"])
                latest.setdefault(d["id"], {}).update(d)
        return [latest[i] for i in order]

    def texts(self) -> list[str]:
        return [m.get("output") or "" for m in self.messages()]


@dataclass
class ChatContext:
    emitter: RecordingEmitter
    session: Any
    user: User | None
    thread_id: str = field(default="")


def make_context(user: str | None = "local", profile: str | None = None,
                 thread_id: str | None = None) -> ChatContext:
    """Install a Chainlit context with a recording emitter for the running test."""
    u = User(identifier=user) if user else None
    session = HTTPSession(id=str(uuid.uuid4()), thread_id=thread_id or str(uuid.uuid4()),
                          user=u, client_type="webapp")
    session.chat_profile = profile
    rec = RecordingEmitter(session)
    context_var.set(ChainlitContext(session, emitter=rec))
    return ChatContext(rec, session, u, session.thread_id)


@pytest.fixture()
def chat_ctx() -> ChatContext:
    return make_context()


async def test_recording_emitter_records_a_message() -> None:
    import chainlit as cl

    ctx = make_context()
    await cl.Message(content="hello").send()
    assert ctx.emitter.texts() == ["hello"]
