"""A Chainlit data layer on ``redis.asyncio``: users, threads, steps, feedback, elements.

Why our own: Chainlit has no Redis layer, and Redis is the product's only store. Layout
(builders in ``wellness.store.keys``):

- ``cl:user:{identifier}`` hash (id, identifier, createdAt, metadata); ``cl:user_id:{id}``
  → identifier.
- ``cl:user:{user_id}:threads`` zset of thread ids scored by last activity (sidebar order).
- ``cl:thread:{id}`` hash (id, name, userId, userIdentifier, createdAt, tags, metadata, seq).
- ``cl:thread:{id}:steps`` zset of step ids by insertion sequence; ``cl:step:{id}`` JSON.
- ``cl:thread:{id}:elements`` set; ``cl:element:{id}`` JSON metadata only — never file bytes
  (uploads are multi-GB), except small inline chart JSON so charts survive resume.
- ``cl:feedback:{id}`` JSON.

Ownership: a thread's author is set once and never changed; steps are refused for a thread
owned by another user than the one in the current Chainlit context.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from chainlit.data.base import BaseDataLayer
from chainlit.data.utils import queue_until_user_message
from chainlit.types import (
    Feedback,
    PageInfo,
    PaginatedResponse,
    Pagination,
    ThreadDict,
    ThreadFilter,
)
from chainlit.user import PersistedUser, User

from wellness.store import keys

log = logging.getLogger(__name__)

MAX_INLINE_ELEMENT = 256 * 1024   # chart JSON kept inline so charts render after resume
MAX_PAGE = 100
SEARCH_SCAN_LIMIT = 2000


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _s(v: Any) -> Any:
    return v.decode("utf-8") if isinstance(v, bytes) else v


def _loads(v: Any, default: Any) -> Any:
    if v is None:
        return default
    try:
        return json.loads(_s(v))
    except (TypeError, ValueError):
        return default


def _context_user() -> str | None:
    """The identifier of the user in the current Chainlit context, if any."""
    try:
        from chainlit.context import context
        user = context.session.user
    except Exception:
        return None
    return getattr(user, "identifier", None)


class RedisDataLayer(BaseDataLayer):
    """Chainlit persistence in Redis. ``client`` is a redis.asyncio client or a factory of one.

    A factory lets the layer exist before ``on_app_startup`` has opened Redis: Chainlit builds
    the data layer lazily, and we look the client up on every call.
    """

    def __init__(self, client: Any | Callable[[], Any], *,
                 on_thread_deleted: Callable[[str, str], Awaitable[None]] | None = None
                 ) -> None:
        self._client = client
        # Deleting a thread in the sidebar also drops the agent's checkpoint of it.
        self._on_thread_deleted = on_thread_deleted

    @property
    def r(self) -> Any:
        c = self._client
        if callable(c) and not hasattr(c, "hset"):
            c = c()
        if c is None:
            from wellness.store.errors import StoreUnavailable
            raise StoreUnavailable("redis not opened yet")
        return c

    # -- users ------------------------------------------------------------------------------
    async def get_user(self, identifier: str) -> PersistedUser | None:
        h = await self.r.hgetall(keys.cl_user(identifier))
        if not h:
            return None
        h = {_s(k): _s(v) for k, v in h.items()}
        return PersistedUser(id=h["id"], identifier=h["identifier"], createdAt=h["createdAt"],
                             display_name=h.get("display_name") or None,
                             metadata=_loads(h.get("metadata"), {}))

    async def create_user(self, user: User) -> PersistedUser | None:
        existing = await self.get_user(user.identifier)
        r = self.r
        if existing:
            await r.hset(keys.cl_user(user.identifier),
                         mapping={"metadata": json.dumps(user.metadata or {})})
            existing.metadata = user.metadata or {}
            return existing
        import uuid
        uid = str(uuid.uuid4())
        created = _now_iso()
        pipe = r.pipeline()
        pipe.hset(keys.cl_user(user.identifier), mapping={
            "id": uid, "identifier": user.identifier, "createdAt": created,
            "display_name": user.display_name or "", "metadata": json.dumps(user.metadata or {}),
        })
        pipe.set(keys.cl_user_by_id(uid), user.identifier)
        await pipe.execute()
        return PersistedUser(id=uid, identifier=user.identifier, createdAt=created,
                             display_name=user.display_name, metadata=user.metadata or {})

    async def _identifier_for(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        return _s(await self.r.get(keys.cl_user_by_id(user_id)))

    # -- threads ----------------------------------------------------------------------------
    async def _thread_hash(self, thread_id: str) -> dict[str, Any]:
        h = await self.r.hgetall(keys.cl_thread(thread_id))
        return {_s(k): _s(v) for k, v in h.items()}

    async def get_thread_author(self, thread_id: str) -> str:
        return _s(await self.r.hget(keys.cl_thread(thread_id), "userIdentifier")) or ""

    async def update_thread(self, thread_id: str, name: str | None = None,
                            user_id: str | None = None, metadata: dict | None = None,
                            tags: list[str] | None = None) -> None:
        r = self.r
        h = await self._thread_hash(thread_id)
        now = time.time()
        fields: dict[str, str] = {}
        if not h:
            fields.update({"id": thread_id, "createdAt": _now_iso(), "seq": "0"})
        owner_id = h.get("userId") or None
        if user_id and not owner_id:
            ident = await self._identifier_for(user_id)
            fields["userId"] = user_id
            if ident:
                fields["userIdentifier"] = ident
            owner_id = user_id
        elif user_id and owner_id != user_id:
            log.warning("refused to move a thread to another user")
            return
        if name:  # Chainlit names a thread "" when its first message is only an upload
            fields["name"] = name[:200]
        if tags is not None:
            fields["tags"] = json.dumps(list(tags))
        if metadata is not None:
            merged = _loads(h.get("metadata"), {})
            merged.update({k: v for k, v in metadata.items() if v is not None})
            fields["metadata"] = json.dumps(merged, default=str)
        pipe = r.pipeline()
        if fields:
            pipe.hset(keys.cl_thread(thread_id), mapping=fields)
        if owner_id:
            pipe.zadd(keys.cl_user_threads(owner_id), {thread_id: now})
        await pipe.execute()

    async def _touch(self, thread_id: str) -> None:
        owner_id = _s(await self.r.hget(keys.cl_thread(thread_id), "userId"))
        if owner_id:
            await self.r.zadd(keys.cl_user_threads(owner_id), {thread_id: time.time()}, xx=True)

    async def _check_owner(self, thread_id: str) -> bool:
        """False when the thread exists and belongs to someone else than the context user."""
        ctx_user = _context_user()
        if ctx_user is None:
            return True
        author = await self.get_thread_author(thread_id)
        return not author or author == ctx_user

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        h = await self._thread_hash(thread_id)
        if not h:
            return None
        r = self.r
        step_ids = [_s(s) for s in await r.zrange(keys.cl_thread_steps(thread_id), 0, -1)]
        el_ids = sorted(_s(e) for e in await r.smembers(keys.cl_thread_elements(thread_id)))
        raw_steps = await r.mget([keys.cl_step(s) for s in step_ids]) if step_ids else []
        raw_els = await r.mget([keys.cl_element(e) for e in el_ids]) if el_ids else []
        steps = [s for s in (_loads(v, None) for v in raw_steps) if isinstance(s, dict)]
        elements = [e for e in (_loads(v, None) for v in raw_els) if isinstance(e, dict)]
        return ThreadDict(
            id=thread_id,
            createdAt=h.get("createdAt") or _now_iso(),
            name=h.get("name") or None,
            userId=h.get("userId") or None,
            userIdentifier=h.get("userIdentifier") or None,
            tags=_loads(h.get("tags"), []),
            metadata=_loads(h.get("metadata"), {}),
            steps=steps,  # type: ignore[typeddict-item]
            elements=elements,  # type: ignore[typeddict-item]
        )

    async def delete_thread(self, thread_id: str) -> None:
        r = self.r
        h = await self._thread_hash(thread_id)
        step_ids = [_s(s) for s in await r.zrange(keys.cl_thread_steps(thread_id), 0, -1)]
        el_ids = [_s(e) for e in await r.smembers(keys.cl_thread_elements(thread_id))]
        fb_ids = []
        for raw in (await r.mget([keys.cl_step(s) for s in step_ids]) if step_ids else []):
            fb = (_loads(raw, {}) or {}).get("feedback") or {}
            if fb.get("id"):
                fb_ids.append(fb["id"])
        pipe = r.pipeline()
        pipe.delete(keys.cl_thread(thread_id), keys.cl_thread_steps(thread_id),
                    keys.cl_thread_elements(thread_id))
        for s in step_ids:
            pipe.delete(keys.cl_step(s))
        for e in el_ids:
            pipe.delete(keys.cl_element(e))
        for f in fb_ids:
            pipe.delete(keys.cl_feedback(f))
        if h.get("userId"):
            pipe.zrem(keys.cl_user_threads(h["userId"]), thread_id)
        await pipe.execute()
        if self._on_thread_deleted is not None and h.get("userIdentifier"):
            try:
                await self._on_thread_deleted(h["userIdentifier"], thread_id)
            except Exception:
                log.warning("could not drop the agent state of a deleted thread")

    async def list_threads(self, pagination: Pagination,
                           filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        """Newest activity first; cursor = last thread id of the previous page."""
        if not filters.userId:  # never list everybody's threads
            return PaginatedResponse(pageInfo=PageInfo(hasNextPage=False, startCursor=None,
                                                       endCursor=None), data=[])
        r = self.r
        zkey = keys.cl_user_threads(filters.userId)
        first = max(1, min(int(pagination.first or 20), MAX_PAGE))
        start = 0
        if pagination.cursor:
            rank = await r.zrevrank(zkey, pagination.cursor)
            start = (rank + 1) if rank is not None else 0
        search = (filters.search or "").strip().lower()
        want_feedback = filters.feedback
        picked: list[dict[str, Any]] = []
        has_more = False
        pos = start
        batch = first if not (search or want_feedback is not None) else 200
        scanned = 0
        while True:
            ids = [_s(i) for i in await r.zrevrange(zkey, pos, pos + batch - 1)]
            if not ids:
                break
            pipe = r.pipeline()
            for tid in ids:
                pipe.hgetall(keys.cl_thread(tid))
            hashes = await pipe.execute()
            for tid, h in zip(ids, hashes):
                pos += 1
                scanned += 1
                h = {_s(k): _s(v) for k, v in h.items()}
                if not h:
                    continue
                if search and search not in (h.get("name") or "").lower():
                    continue
                if want_feedback is not None and h.get(f"feedback_{want_feedback}") is None:
                    continue
                if len(picked) == first:
                    has_more = True
                    break
                picked.append(h)
            if has_more or len(ids) < batch or scanned >= SEARCH_SCAN_LIMIT:
                break
        data = [ThreadDict(id=h["id"], createdAt=h.get("createdAt") or "",
                           name=h.get("name") or None, userId=h.get("userId") or None,
                           userIdentifier=h.get("userIdentifier") or None,
                           tags=_loads(h.get("tags"), []), metadata=_loads(h.get("metadata"), {}),
                           steps=[], elements=[]) for h in picked]
        return PaginatedResponse(
            pageInfo=PageInfo(hasNextPage=has_more,
                              startCursor=data[0]["id"] if data else None,
                              endCursor=data[-1]["id"] if data else None),
            data=data)

    # -- steps ------------------------------------------------------------------------------
    async def _save_step(self, step_dict: dict[str, Any], create: bool) -> None:
        thread_id = step_dict.get("threadId")
        step_id = step_dict.get("id")
        if not thread_id or not step_id:
            return
        if not await self._check_owner(thread_id):
            log.warning("refused a step for a thread owned by another user")
            return
        r = self.r
        if not await r.exists(keys.cl_thread(thread_id)):
            await self.update_thread(thread_id)
        old = _loads(await r.get(keys.cl_step(step_id)), {}) or {}
        merged = {**old, **{k: v for k, v in step_dict.items() if v is not None}}
        if old.get("feedback") and not step_dict.get("feedback"):
            merged["feedback"] = old["feedback"]
        if "createdAt" not in merged or not merged["createdAt"]:
            merged["createdAt"] = _now_iso()
        if merged.get("type") == "user_message" and not await r.hget(keys.cl_thread(thread_id),
                                                                      "name"):
            text = " ".join(str(merged.get("output") or "").split())
            await r.hset(keys.cl_thread(thread_id), "name",
                         text[:80] if text else "Health data import")
        in_thread = await r.zscore(keys.cl_thread_steps(thread_id), step_id)
        pipe = r.pipeline()
        pipe.set(keys.cl_step(step_id), json.dumps(merged, default=str))
        if in_thread is None:
            seq = await r.hincrby(keys.cl_thread(thread_id), "seq", 1)
            pipe.zadd(keys.cl_thread_steps(thread_id), {step_id: seq})
        await pipe.execute()
        await self._touch(thread_id)

    @queue_until_user_message()
    async def create_step(self, step_dict: dict[str, Any]) -> None:
        await self._save_step(step_dict, create=True)

    @queue_until_user_message()
    async def update_step(self, step_dict: dict[str, Any]) -> None:
        await self._save_step(step_dict, create=False)

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        r = self.r
        step = _loads(await r.get(keys.cl_step(step_id)), {}) or {}
        thread_id = step.get("threadId")
        if thread_id and not await self._check_owner(thread_id):
            return
        pipe = r.pipeline()
        pipe.delete(keys.cl_step(step_id))
        if thread_id:
            pipe.zrem(keys.cl_thread_steps(thread_id), step_id)
        fb = step.get("feedback") or {}
        if fb.get("id"):
            pipe.delete(keys.cl_feedback(fb["id"]))
        await pipe.execute()

    async def get_favorite_steps(self, user_id: str) -> list[dict[str, Any]]:
        return []

    # -- feedback ---------------------------------------------------------------------------
    async def upsert_feedback(self, feedback: Feedback) -> str:
        import uuid
        r = self.r
        fid = feedback.id or str(uuid.uuid4())
        step = _loads(await r.get(keys.cl_step(feedback.forId)), None)
        thread_id = feedback.threadId or (step or {}).get("threadId")
        if thread_id and not await self._check_owner(thread_id):
            raise PermissionError("feedback on someone else's thread")
        record = {"id": fid, "forId": feedback.forId, "value": feedback.value,
                  "comment": feedback.comment, "threadId": thread_id}
        pipe = r.pipeline()
        pipe.set(keys.cl_feedback(fid), json.dumps(record))
        if isinstance(step, dict):
            step["feedback"] = {"id": fid, "forId": feedback.forId, "value": feedback.value,
                                "comment": feedback.comment}
            pipe.set(keys.cl_step(feedback.forId), json.dumps(step, default=str))
        if thread_id:
            pipe.hset(keys.cl_thread(thread_id), f"feedback_{int(feedback.value)}", "1")
        await pipe.execute()
        return fid

    async def delete_feedback(self, feedback_id: str) -> bool:
        r = self.r
        record = _loads(await r.get(keys.cl_feedback(feedback_id)), None)
        if not isinstance(record, dict):
            return False
        if record.get("threadId") and not await self._check_owner(record["threadId"]):
            return False
        step = _loads(await r.get(keys.cl_step(record.get("forId", ""))), None)
        pipe = r.pipeline()
        pipe.delete(keys.cl_feedback(feedback_id))
        if isinstance(step, dict) and (step.get("feedback") or {}).get("id") == feedback_id:
            step.pop("feedback", None)
            pipe.set(keys.cl_step(record["forId"]), json.dumps(step, default=str))
        await pipe.execute()
        return True

    # -- elements (metadata only) -----------------------------------------------------------
    @queue_until_user_message()
    async def create_element(self, element: Any) -> None:
        d = dict(element.to_dict())
        thread_id = d.get("threadId")
        if not thread_id or not d.get("id"):
            return
        if not await self._check_owner(thread_id):
            return
        d.pop("path", None)
        d.pop("chainlitKey", None)  # session-local file key: meaningless after the session
        content = getattr(element, "content", None)
        if (getattr(element, "type", None) == "plotly" and isinstance(content, (str, bytes))
                and len(content) <= MAX_INLINE_ELEMENT and not d.get("url")):
            raw = content.encode() if isinstance(content, str) else content
            d["url"] = "data:application/json;base64," + base64.b64encode(raw).decode()
        r = self.r
        if not await r.exists(keys.cl_thread(thread_id)):
            await self.update_thread(thread_id)
        pipe = r.pipeline()
        pipe.set(keys.cl_element(d["id"]), json.dumps(d, default=str))
        pipe.sadd(keys.cl_thread_elements(thread_id), d["id"])
        await pipe.execute()

    async def get_element(self, thread_id: str, element_id: str) -> dict[str, Any] | None:
        d = _loads(await self.r.get(keys.cl_element(element_id)), None)
        if not isinstance(d, dict) or d.get("threadId") != thread_id:
            return None
        return d

    @queue_until_user_message()
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        r = self.r
        d = _loads(await r.get(keys.cl_element(element_id)), None)
        if not isinstance(d, dict):
            return
        tid = d.get("threadId")
        if thread_id and tid != thread_id:
            return
        if tid and not await self._check_owner(tid):
            return
        pipe = r.pipeline()
        pipe.delete(keys.cl_element(element_id))
        if tid:
            pipe.srem(keys.cl_thread_elements(tid), element_id)
        await pipe.execute()

    # -- misc -------------------------------------------------------------------------------
    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        """Nothing to close: the Redis pool belongs to the app's RedisStore."""
        return None
