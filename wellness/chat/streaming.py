"""Render an agent turn (``TurnEvent``s) as Chainlit tool steps and a streamed answer.

Why this shape: tool steps must sit above the answer (Chainlit issues #2365/#1372), so the
answer message is created lazily on its first token, and a new one is started after each tool
call. Tool arguments and results are shown as JSON (inert: rendered as code, never markdown).
Charts are collected from tool results and attached to the final answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from wellness.chat.charts import plotly_element, valid_chart

log = logging.getLogger(__name__)

# Tokens are batched so a long answer is not one socket emit per token (Chainlit #2604).
TOKEN_FLUSH_S = 0.05
MAX_STEP_OUTPUT = 6000


def defuse_images(text: str) -> str:
    """Turn markdown images into plain text.

    Why: the answer is model output that may echo text from the user's files (source names,
    workout metadata). A markdown image makes the browser fetch its URL at once, which would
    leak data to anyone who planted one; links at least need a click. ``![x](u)`` → ``!\\[x](u)``.
    """
    return text.replace("![", "!\\[")


def event_kind(ev: Any) -> str:
    """The event's kind: ``token``, ``tool_start``, ``tool_end``, ``done`` or ``error``."""
    for attr in ("kind", "type", "event"):
        v = ev.get(attr) if isinstance(ev, dict) else getattr(ev, attr, None)
        if isinstance(v, str):
            return v
    name = type(ev).__name__.lower()
    for k in ("tool_start", "toolstart", "tool_end", "toolend", "token", "done", "error"):
        if k in name:
            return {"toolstart": "tool_start", "toolend": "tool_end"}.get(k, k)
    return name


def _get(ev: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = ev.get(n) if isinstance(ev, dict) else getattr(ev, n, None)
        if v is not None:
            return v
    return default


def _as_dict(result: Any) -> Any:
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


def step_output(result: Any) -> str:
    """The tool result as pretty JSON for the step, without the bulky chart payload."""
    shown = result
    if isinstance(result, dict) and isinstance(result.get("chart"), dict):
        shown = dict(result)
        chart = result["chart"]
        shown["chart"] = f"<{len(chart.get('x') or [])} points, drawn below the answer>"
    try:
        text = json.dumps(shown, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(shown)
    if len(text) > MAX_STEP_OUTPUT:
        text = text[:MAX_STEP_OUTPUT] + "\n… (truncated)"
    return text


@dataclass
class TurnOutcome:
    answer: str = ""
    tool_calls: list[str] = field(default_factory=list)
    charts: int = 0
    error: str | None = None
    stopped: bool = False


class TurnRenderer:
    """Turns one agent turn's events into steps and messages in the current Chainlit session."""

    def __init__(self) -> None:
        self.outcome = TurnOutcome()
        self._answer: cl.Message | None = None
        self._buffer: list[str] = []
        self._last_flush = 0.0
        self._steps: dict[str, cl.Step] = {}
        self._charts: list[Any] = []
        self._loop = asyncio.get_running_loop()

    async def _flush(self, final: bool = True) -> None:
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        if not final and text.endswith("!"):
            # "!" + "[" may arrive in two tokens: hold the "!" until we see what follows.
            self._buffer.append("!")
            text = text[:-1]
            if not text:
                return
        text = defuse_images(text)
        if self._answer is None:
            self._answer = cl.Message(content="")
        await self._answer.stream_token(text)
        self._last_flush = self._loop.time()

    async def _close_answer(self) -> None:
        """Finish the current answer segment so later steps render below it."""
        await self._flush()
        if self._answer is not None:
            await self._answer.send()
            self._answer = None

    async def token(self, text: str) -> None:
        if not text:
            return
        self.outcome.answer += text
        self._buffer.append(text)
        if self._answer is None or self._loop.time() - self._last_flush >= TOKEN_FLUSH_S:
            await self._flush(final=False)

    async def tool_start(self, call_id: str, name: str, args: Any) -> None:
        await self._close_answer()
        # A step sent without ``async with`` gets no parent; nest it under the current run
        # (like the answer message) so it renders in order, above the answer.
        parent = cl.context.current_step
        step = cl.Step(name=str(name)[:80] or "tool", type="tool", show_input="json",
                       language="json", parent_id=parent.id if parent else None)
        step.input = args if isinstance(args, (dict, list)) else {"input": str(args)}
        step.start = utc_now()
        await step.send()
        self._steps[call_id] = step
        self.outcome.tool_calls.append(str(name))

    async def tool_end(self, call_id: str, name: str, result: Any) -> None:
        data = _as_dict(result)
        step = self._steps.pop(call_id, None)
        if step is None:  # an end without a start: show it anyway
            await self.tool_start(call_id, name, {})
            step = self._steps.pop(call_id)
        step.output = step_output(data)
        step.language = "json"
        step.end = utc_now()
        if isinstance(data, dict) and data.get("error"):
            step.is_error = True
        await step.update()
        if isinstance(data, dict) and valid_chart(data.get("chart")):
            el = plotly_element(data["chart"], name=f"chart-{len(self._charts) + 1}")
            if el is not None:
                self._charts.append(el)

    async def finish(self, answer: str | None = None) -> None:
        """Send the (last) answer with the charts attached."""
        await self._flush()
        if self._answer is None and answer and not self.outcome.answer:
            self.outcome.answer = answer
            self._answer = cl.Message(content=defuse_images(answer))
        if self._charts:
            if self._answer is None:
                self._answer = cl.Message(content="")
            self._answer.elements = list(self._answer.elements or []) + self._charts
            self.outcome.charts = len(self._charts)
            self._charts = []
        if self._answer is not None:
            await self._answer.send()
            self._answer = None

    async def fail(self, user_message: str) -> None:
        await self.close_open_steps("stopped: the turn failed")
        await self._close_answer()
        self.outcome.error = user_message
        await cl.Message(content=user_message, author="Wellness Coach").send()

    async def close_open_steps(self, note: str) -> None:
        for step in list(self._steps.values()):
            step.output = note
            step.is_error = True
            try:
                await step.update()
            except Exception:  # the socket may be gone
                pass
        self._steps.clear()

    async def handle(self, ev: Any) -> bool:
        """Render one event; return False when the turn is over."""
        kind = event_kind(ev)
        if kind == "token":
            await self.token(str(_get(ev, "text", "token", "content", default="")))
        elif kind == "tool_start":
            await self.tool_start(str(_get(ev, "call_id", "id", default="")),
                                  str(_get(ev, "name", default="tool")),
                                  _get(ev, "args", "arguments", default={}))
        elif kind == "tool_end":
            await self.tool_end(str(_get(ev, "call_id", "id", default="")),
                                str(_get(ev, "name", default="tool")),
                                _get(ev, "result", "output", default={}))
        elif kind == "done":
            await self.finish(_get(ev, "answer", "text"))
            return False
        elif kind == "error":
            await self.fail(str(_get(ev, "user_message", "message", "text",
                                     default="Something went wrong with that question.")))
            return False
        return True


async def render_turn(events: AsyncIterator[Any]) -> TurnOutcome:
    """Consume the agent's events into the UI; on Stop, close steps and keep what streamed."""
    r = TurnRenderer()
    finished = False
    try:
        async for ev in events:
            if not await r.handle(ev):
                finished = True
                break
        if not finished:
            await r.finish()
    except asyncio.CancelledError:
        r.outcome.stopped = True
        await asyncio.shield(_after_stop(r))
        raise
    except Exception:
        # The caller turns the error into one sentence; don't leave spinning steps behind.
        await r.close_open_steps("failed")
        await r.finish()
        raise
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.debug("closing the turn stream failed", exc_info=True)
    return r.outcome


async def _after_stop(r: TurnRenderer) -> None:
    try:
        await r.close_open_steps("stopped")
        await r.finish()
    except Exception:
        log.debug("cleanup after stop failed", exc_info=True)
