"""The memory panel: goals and what the coach remembers, with "forget" buttons.

Why a side panel plus a message: ``cl.ElementSidebar`` keeps the list visible while chatting;
the buttons live on a message because Chainlit actions attach to messages. Everything shown
comes from the user's own memory and is escaped before rendering.
"""

from __future__ import annotations

import logging
from typing import Any

import chainlit as cl

from wellness.chat.text import fmt_int, inert

log = logging.getLogger(__name__)

FORGET_ACTION = "forget_memory"
FORGET_GOAL_ACTION = "forget_goal"
KINDS = {
    "goals": "Forget all my goals",
    "patterns": "Forget learned patterns",
    "conversation": "Forget this conversation",
    "all": "Forget everything",
}
MAX_GOAL_BUTTONS = 8


def goal_line(g: Any) -> str:
    if not isinstance(g, dict):
        return f"- {inert(g)}"
    text = g.get("description") or g.get("text") or g.get("metric") or "goal"
    extra = []
    if g.get("deadline"):
        extra.append(f"by {inert(g['deadline'], 20)}")
    if g.get("created_at"):
        extra.append(f"set {inert(str(g['created_at'])[:10], 20)}")
    return f"- {inert(text, 200)}" + (f" ({', '.join(extra)})" if extra else "")


def snapshot_markdown(snap: dict[str, Any]) -> str:
    """Markdown for ``MemoryService.snapshot``: goals, then what else is remembered."""
    goals = snap.get("goals") if isinstance(snap.get("goals"), list) else []
    out = ["### Your goals"]
    out += [goal_line(g) for g in goals] if goals else [
        "- No goals yet. Tell me one, e.g. *My goal is 10,000 steps a day*."]
    counts = snap.get("counts") if isinstance(snap.get("counts"), dict) else {}
    out.append("\n### What I remember")
    out.append(f"- {fmt_int(counts.get('goals', len(goals)))} goal(s)")
    out.append(f"- {fmt_int(counts.get('patterns', 0))} learned question pattern(s) that help "
               "me plan similar questions")
    out.append("- This conversation (in the Coach profile), so follow-ups like *and the "
               "month before?* work")
    if counts.get("facts"):
        out.append(f"- {fmt_int(counts['facts'])} curated health facts (shared reference "
                   "knowledge, not about you)")
    return "\n".join(out)


async def show_memory(services: Any, user_id: str) -> None:
    memory = services.memory
    if memory is None or not hasattr(memory, "snapshot"):
        await cl.Message(content="Long-term memory isn't available right now.").send()
        return
    try:
        snap = await memory.snapshot(user_id)
    except Exception as exc:
        msg = getattr(exc, "user_message", None) or "I couldn't read your memory just now."
        await cl.Message(content=str(msg)).send()
        return
    snap = snap if isinstance(snap, dict) else {}
    body = snapshot_markdown(snap)
    try:
        await cl.ElementSidebar.set_title("What I remember")
        await cl.ElementSidebar.set_elements([cl.Text(name="memory", content=body)])
    except Exception:
        log.debug("element sidebar unavailable", exc_info=True)
    actions = []
    for g in (snap.get("goals") or [])[:MAX_GOAL_BUTTONS]:
        if isinstance(g, dict) and g.get("goal_id"):
            label = str(g.get("metric") or g.get("description") or "goal")[:30]
            actions.append(cl.Action(name=FORGET_GOAL_ACTION, payload={"goal_id": g["goal_id"]},
                                     label=f"Forget goal: {label}", icon="x"))
    actions += [cl.Action(name=FORGET_ACTION, payload={"kind": k}, label=label, icon="trash-2")
                for k, label in KINDS.items()]
    await cl.Message(content=body, actions=actions, author="Wellness Coach").send()


async def forget(services: Any, user_id: str, kind: str, thread_id: str | None = None) -> str:
    """Forget one kind of memory; returns one sentence for the chat."""
    if kind not in KINDS:
        return "I don't know that kind of memory."
    parts: list[str] = []
    if kind in ("conversation", "all") and thread_id and services.runtime is not None:
        try:
            await services.runtime.forget_thread(user_id, thread_id)
            parts.append("I forgot this conversation; earlier messages stay on screen but I "
                         "won't use them.")
        except Exception:
            parts.append("I couldn't forget this conversation just now.")
    if kind != "conversation":
        memory = services.memory
        if memory is None or not hasattr(memory, "forget"):
            parts.append("Long-term memory isn't available right now.")
        else:
            try:
                result = await memory.forget(user_id, kind)
                summary = result.get("summary") if isinstance(result, dict) else None
                parts.append(str(summary or "Done."))
            except Exception as exc:
                parts.append(str(getattr(exc, "user_message", None)
                                 or "I couldn't forget that just now."))
    return " ".join(parts) or "Done."


async def forget_goal(services: Any, user_id: str, goal_id: str) -> str:
    goals = getattr(services.memory, "goals", None)
    if goals is None:
        return "Long-term memory isn't available right now."
    try:
        deleted = await goals.delete(user_id, goal_id=goal_id)  # scoped to this user
    except Exception as exc:
        return str(getattr(exc, "user_message", None) or "I couldn't forget that goal just now.")
    return "Forgot that goal." if deleted else "That goal was already gone."


async def on_forget(action: cl.Action) -> None:
    from wellness.chat.handlers import AUTHOR, chat_thread_id, current_user_id
    from wellness.chat.services import get_services

    services = get_services()
    text = await forget(services, current_user_id(services), str(action.payload.get("kind")),
                        chat_thread_id())
    await cl.Message(content=text, author=AUTHOR).send()


async def on_forget_goal(action: cl.Action) -> None:
    from wellness.chat.handlers import AUTHOR, current_user_id
    from wellness.chat.services import get_services

    services = get_services()
    text = await forget_goal(services, current_user_id(services),
                             str(action.payload.get("goal_id", "")))
    await action.remove()
    await cl.Message(content=text, author=AUTHOR).send()
