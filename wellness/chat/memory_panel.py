"""The memory panel: goals and what the coach remembers, with "forget" buttons.

Why a side panel plus a message: the sidebar (``cl.ElementSidebar``) keeps the list visible
while chatting; the buttons live on a message because Chainlit actions attach to messages.
Everything shown comes from the user's own memory and is escaped before rendering.
"""

from __future__ import annotations

import logging
from typing import Any

import chainlit as cl

from wellness.chat.text import inert

log = logging.getLogger(__name__)

FORGET_ACTION = "forget_memory"
KINDS = {
    "goals": "Forget my goals",
    "conversations": "Forget our conversations",
    "patterns": "Forget learned patterns",
    "all": "Forget everything",
}


def _items(v: Any) -> list[Any]:
    if isinstance(v, dict):
        return [v] if v else []
    return list(v) if isinstance(v, (list, tuple)) else []


def _goal_line(g: Any) -> str:
    if not isinstance(g, dict):
        return f"- {inert(g)}"
    text = g.get("text") or g.get("description") or g.get("summary")
    bits = []
    if g.get("metric"):
        bits.append(inert(g["metric"], 40))
    if g.get("target") is not None:
        bits.append(f"target {inert(g['target'], 20)} {inert(g.get('unit') or '', 10)}".strip())
    if g.get("deadline"):
        bits.append(f"by {inert(g['deadline'], 20)}")
    line = " · ".join(bits)
    if text:
        line = f"{inert(text, 160)}" + (f" ({line})" if line else "")
    return f"- {line or inert(g)}"


def snapshot_markdown(snap: dict[str, Any]) -> str:
    """Markdown for a memory snapshot; unknown sections are listed generically."""
    out = ["### Your goals"]
    goals = _items(snap.get("goals"))
    out += [_goal_line(g) for g in goals] if goals else ["- No goals yet. Tell me one, e.g. "
                                                         "*My goal is 10,000 steps a day*."]
    for key, value in snap.items():
        if key == "goals":
            continue
        title = inert(str(key).replace("_", " ").capitalize(), 60)
        items = _items(value)
        if isinstance(value, (int, float)):
            out += [f"\n### {title}", f"- {value}"]
            continue
        out.append(f"\n### {title}")
        if not items:
            out.append("- nothing remembered")
        for it in items[:20]:
            if isinstance(it, dict):
                label = it.get("text") or it.get("question") or it.get("summary") or \
                    it.get("pattern") or ", ".join(f"{k}: {v}" for k, v in list(it.items())[:3])
                out.append(f"- {inert(label, 160)}")
            else:
                out.append(f"- {inert(it, 160)}")
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
        await cl.Message(content=msg).send()
        return
    snap = snap if isinstance(snap, dict) else {"items": snap}
    body = snapshot_markdown(snap)
    try:
        await cl.ElementSidebar.set_title("What I remember")
        await cl.ElementSidebar.set_elements([cl.Text(name="memory", content=body,
                                                      display="side")])
    except Exception:
        log.debug("element sidebar unavailable", exc_info=True)
    actions = [cl.Action(name=FORGET_ACTION, payload={"kind": k}, label=label, icon="trash-2")
               for k, label in KINDS.items()]
    await cl.Message(content=body, actions=actions, author="Wellness Coach").send()


async def forget(services: Any, user_id: str, kind: str) -> str:
    if kind not in KINDS:
        return "I don't know that kind of memory."
    memory = services.memory
    if memory is None or not hasattr(memory, "forget"):
        return "Long-term memory isn't available right now."
    try:
        result = await memory.forget(user_id, kind)
    except Exception as exc:
        return getattr(exc, "user_message", None) or "I couldn't forget that just now."
    n = result if isinstance(result, int) else None
    what = {"goals": "your goals", "conversations": "our conversations",
            "patterns": "the patterns I learned", "all": "everything I remembered"}[kind]
    return f"Done: I forgot {what}" + (f" ({n} items)." if n is not None else ".")


async def on_forget(action: cl.Action) -> None:
    from wellness.chat.handlers import current_user_id
    from wellness.chat.services import get_services

    services = get_services()
    text = await forget(services, current_user_id(services), str(action.payload.get("kind")))
    await cl.Message(content=text, author="Wellness Coach").send()
