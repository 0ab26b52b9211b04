"""``wellness ask``: one turn through the same graph and Redis as the web app.

Why a CLI turn: it makes every answer scriptable and testable across processes. With the
same ``--thread`` a second ``wellness ask`` continues the conversation through the Redis
checkpointer, exactly as the chat does after a server restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from wellness.config import Settings


def register(subparsers: Any) -> None:
    """Add ``ask`` to the ``wellness`` command."""
    p = subparsers.add_parser("ask", help="ask one question about your health data")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--user", default=None, help="user id (default: WELLNESS_USER or 'local')")
    p.add_argument("--thread", default="cli", help="conversation id to continue (default: cli)")
    p.add_argument("--json", action="store_true",
                   help='print {"answer", "thread_id", "tool_calls": [{name, args, result}]}')
    p.add_argument("--stateless", action="store_true",
                   help="no conversation memory: nothing is read from or saved to the thread")
    p.set_defaults(func=cmd_ask)


async def ask(settings: Settings, url: str, user: str, thread: str, question: str, *,
              stateless: bool = False, stream: Any = None) -> dict[str, Any]:
    """Run one turn; ``stream`` (a text file) receives tokens as they arrive."""
    from wellness.agent.graph import AgentRuntime

    runtime = await AgentRuntime.open(settings, url, memory=None if stateless else "auto")
    try:
        tokens: list[str] = []
        out: dict[str, Any] = {"answer": "", "thread_id": thread, "tool_calls": [],
                               "error": None}
        async for event in runtime.run_turn(user, thread, question, stateless=stateless):
            if event.kind == "token":
                tokens.append(event.text)
                if stream is not None:
                    stream.write(event.text)
                    stream.flush()
            elif event.kind == "done":
                out["answer"] = event.answer or "".join(tokens)
                out["tool_calls"] = [{"name": c["name"], "args": c["args"],
                                      "result": c["result"]} for c in event.tool_calls]
            elif event.kind == "error":
                out["error"] = event.user_message
                out["answer"] = event.user_message
        return out
    finally:
        await runtime.close()


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.store.runtime import resolve_redis

    user = args.user or settings.default_user
    # The embedded server is released at exit only if this process started it.
    endpoint = resolve_redis(settings, started_by="cli")
    try:
        streaming = not args.json and sys.stdout.isatty()
        result = asyncio.run(ask(settings, endpoint.url, user, args.thread, args.question,
                                 stateless=args.stateless,
                                 stream=sys.stdout if streaming else None))
    finally:
        endpoint.release()
    if args.json:
        payload = {"answer": result["answer"], "thread_id": result["thread_id"],
                   "tool_calls": result["tool_calls"]}
        if result["error"]:
            payload["error"] = result["error"]
        print(json.dumps(payload, ensure_ascii=False, default=str))
    elif streaming:
        print()
    else:
        print(result["answer"])
    return 1 if result["error"] else 0
