"""Pair-aware history trimming for the model input.

Why our own trimmer instead of ``langchain_core.messages.trim_messages``: that helper counts
messages/tokens and can be told to start on a human message, but it neither repairs an AI
tool call whose ToolMessages never arrived (a turn cancelled mid-tool) nor drops a ToolMessage
whose AI call was cut away in the middle of the list. OpenAI rejects both with a 400. Here the
unit of trimming is a *group*: a human message, a plain AI message, or an AI message with tool
calls together with exactly one ToolMessage per call, so a cut can only fall between groups.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

CANCELLED_RESULT = json.dumps({
    "summary": "This tool call did not finish (the turn was interrupted), so it has no result.",
    "error": "cancelled",
})

#: Defaults sized for small local models as well as gpt-4o-mini.
MAX_HISTORY_MESSAGES = 40
MAX_HISTORY_CHARS = 24_000


def _size(msg: BaseMessage) -> int:
    content = msg.content if isinstance(msg.content, str) else json.dumps(msg.content)
    size = len(content)
    if isinstance(msg, AIMessage) and msg.tool_calls:
        size += sum(len(json.dumps(tc.get("args") or {})) + 40 for tc in msg.tool_calls)
    return size


def group_messages(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    """Split history into atomic groups, repairing broken tool-call pairing on the way.

    - an AI message with tool calls takes the ToolMessages that answer its calls (in call
      order); calls without an answer get a synthetic "cancelled" ToolMessage;
    - ToolMessages that answer no open call (orphans) are dropped;
    - system messages are dropped (the graph adds a fresh one every turn).
    """
    groups: list[list[BaseMessage]] = []
    i, n = 0, len(messages)
    while i < n:
        msg = messages[i]
        if isinstance(msg, SystemMessage) or isinstance(msg, ToolMessage):
            i += 1  # a ToolMessage reached here has no AI call in front of it: orphan
            continue
        if isinstance(msg, AIMessage) and msg.tool_calls:
            wanted = [tc.get("id") or "" for tc in msg.tool_calls]
            answers: dict[str, ToolMessage] = {}
            j = i + 1
            while j < n and isinstance(messages[j], ToolMessage):
                tm = messages[j]
                assert isinstance(tm, ToolMessage)
                if tm.tool_call_id in wanted and tm.tool_call_id not in answers:
                    answers[tm.tool_call_id] = tm
                j += 1
            group: list[BaseMessage] = [msg]
            for tc in msg.tool_calls:
                cid = tc.get("id") or ""
                group.append(answers.get(cid) or ToolMessage(
                    content=CANCELLED_RESULT, tool_call_id=cid, name=tc.get("name")))
            groups.append(group)
            i = j
            continue
        groups.append([msg])
        i += 1
    return groups


def trim_history(messages: Sequence[BaseMessage], *, max_messages: int = MAX_HISTORY_MESSAGES,
                 max_chars: int = MAX_HISTORY_CHARS) -> list[BaseMessage]:
    """The newest whole groups that fit the budget, starting on a human message.

    The running turn (the last human message and everything after it) is always kept, even
    over budget, so the model never answers a question it can't see.
    """
    groups = group_messages(messages)
    if not groups:
        return []
    last_human = max((i for i, g in enumerate(groups) if isinstance(g[0], HumanMessage)),
                     default=0)
    kept = list(reversed(groups[last_human:]))   # the running turn, always whole
    count = sum(len(g) for g in kept)
    chars = sum(_size(m) for g in kept for m in g)
    for group in reversed(groups[:last_human]):
        g_count = len(group)
        g_chars = sum(_size(m) for m in group)
        if count + g_count > max_messages or chars + g_chars > max_chars:
            break
        kept.append(group)
        count += g_count
        chars += g_chars
    kept.reverse()
    # Start on a human message: a leading AI answer without its question confuses models.
    while len(kept) > 1 and not isinstance(kept[0][0], HumanMessage):
        kept.pop(0)
    return [m for group in kept for m in group]


def current_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Messages of the running turn: everything after (and including) the last human message."""
    for idx in range(len(messages) - 1, -1, -1):
        if isinstance(messages[idx], HumanMessage):
            return list(messages[idx:])
    return list(messages)


def check_openai_pairing(messages: Sequence[dict]) -> str | None:
    """Validate an OpenAI-format message list; return a problem description or ``None``.

    Used by the tests' fake OpenAI server: every assistant ``tool_calls`` entry must be
    answered by a ``tool`` message right after it, and no ``tool`` message may stand alone.
    """
    open_ids: list[str] = []
    for idx, m in enumerate(messages):
        role = m.get("role")
        if role == "tool":
            cid = m.get("tool_call_id")
            if cid not in open_ids:
                return f"message {idx}: tool result {cid!r} does not answer an open tool call"
            open_ids.remove(cid)
            continue
        if open_ids:
            return f"message {idx}: tool calls {open_ids} were not answered before a {role}"
        if role == "assistant" and m.get("tool_calls"):
            open_ids = [tc.get("id") for tc in m["tool_calls"]]
    if open_ids:
        return f"tool calls {open_ids} left unanswered at the end"
    return None
