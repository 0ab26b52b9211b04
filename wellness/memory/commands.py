"""``wellness memory list|forget``: inspect and erase a user's long-term memory.

The CLI is how a person checks what the coach remembers about them without opening the
chat, and how they wipe it. Both commands skip the embedding model entirely when they can
(no facts load, offline vectorizer for listing), so they work with no network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from wellness.config import Settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("memory", help="show or forget what the coach remembers")
    sub = p.add_subparsers(dest="memory_action", required=True)

    lp = sub.add_parser("list", help="list a user's goals and memory counts")
    lp.add_argument("--user", required=True, help="user id")
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=cmd_list)

    fp = sub.add_parser("forget", help="delete a user's memories")
    fp.add_argument("--user", required=True, help="user id")
    fp.add_argument("--kind", choices=["goals", "facts", "patterns", "all"], default="all")
    fp.set_defaults(func=cmd_forget)


async def _with_service(settings: Settings, action: str, user_id: str,
                        kind: str = "all") -> dict[str, Any]:
    from wellness.memory.embeddings import OFFLINE_DIMS, HashVectorizer, read_embedding_meta
    from wellness.memory.service import MemoryService
    from wellness.store.connection import RedisStore
    from wellness.store.runtime import resolve_redis

    endpoint = resolve_redis(settings, started_by="cli")
    store = RedisStore(endpoint.url)
    try:
        # Listing and forgetting never embed: use the offline vectorizer at the stored dims
        # (no model is contacted) and open the indexes read-only (never reindex).
        meta = await read_embedding_meta(store)
        vectorizer = HashVectorizer(meta[1] if meta else OFFLINE_DIMS)
        service = MemoryService(store, settings, vectorizer=vectorizer)
        await service.setup(load_facts=False, allow_reindex=False)
        if action == "list":
            return await service.snapshot(user_id)
        return await service.forget(user_id, kind)  # type: ignore[arg-type]
    finally:
        await store.aclose()
        endpoint.release()


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.store.keys import require_user

    try:
        require_user(args.user)
    except ValueError as exc:
        print(f"wellness: {exc}")
        return 2
    snap = asyncio.run(_with_service(settings, "list", args.user))
    if args.json:
        print(json.dumps(snap, indent=2, default=str))
        return 0
    counts = snap["counts"]
    print(f"Memory for {args.user}: {counts['goals']} goals, {counts['patterns']} tool "
          f"patterns; {counts['facts']} shared health facts "
          f"(embeddings: {snap['embedding']['model']}).")
    for g in snap["goals"]:
        print(f"  [{g['goal_id']}] {g['description']}  (set {g['updated_at']})")
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.store.keys import require_user

    try:
        require_user(args.user)
    except ValueError as exc:
        print(f"wellness: {exc}")
        return 2
    result = asyncio.run(_with_service(settings, "forget", args.user, args.kind))
    print(result["summary"])
    return 0
