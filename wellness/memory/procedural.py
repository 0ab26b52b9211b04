"""Procedural memory: which tool sequence answered which kind of question.

After a successful turn we remember *this turn's* tool calls (never the whole thread, which
polluted patterns before) as a shape: tool names in order with argument names and value
kinds (``metric: str``, ``limit: int``), never the values. The next time a similar question
comes in, :meth:`PatternStore.suggest` offers that plan.

Bounded by construction: one key per (user, pattern hash). Seeing a known pattern again
bumps ``usage_count``/``last_used``, folds the new question into the stored example list
(at most :data:`MAX_EXAMPLES`) and moves the vector to the centroid of those examples,
instead of adding a key. Each user also keeps at most :data:`MAX_PATTERNS_PER_USER`
patterns (least recently used evicted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from typing import Any

from redisvl.query import FilterQuery, RangeQuery
from redisvl.query.filter import FilterExpression, Tag

from wellness.memory.embeddings import as_bytes
from wellness.memory.indexes import EMBED_TEXT_FIELD, VECTOR_FIELD, ThresholdedIndexStore
from wellness.store.keys import procedural_pattern, require_user

log = logging.getLogger(__name__)

STORE_MIN_SCORE = 0.7
SLOW_TURN_MS = 30_000
MAX_EXAMPLES = 8
MAX_PATTERNS_PER_USER = 200
OFFLINE_THRESHOLD = 0.6
MODEL_THRESHOLD = 0.35
# Tools whose use is itself a memory operation: a plan made only of these teaches nothing.
_MEMORY_ONLY = {"suggest_plan"}


def score_turn(tool_calls: list[dict[str, Any]], answer: str | None,
               elapsed_ms: float | None) -> float:
    """Success score by the seed rules: no tools → 0; a tool error → 0.3; no answer → 0.2;
    slower than 30 s → 0.6; otherwise 0.95. Patterns are stored at ≥ 0.7 only."""
    if not tool_calls:
        return 0.0
    for call in tool_calls:
        if _is_error(call.get("result")):
            return 0.3
    if not answer or not str(answer).strip():
        return 0.2
    if elapsed_ms is not None and elapsed_ms > SLOW_TURN_MS:
        return 0.6
    return 0.95


def _is_error(result: Any) -> bool:
    if result is None:
        return False
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except (ValueError, TypeError):
            return bool(re.search(r"\berror\b", result, re.I))
    if isinstance(result, dict):
        return bool(result.get("error")) or result.get("ok") is False
    return False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "date" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else "other"


def tool_shape(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names and argument kinds of this turn's calls, in order (values dropped)."""
    shape = []
    for call in tool_calls:
        args = call.get("args") or {}
        shape.append({"tool": str(call.get("name", "")),
                      "args": {k: _kind(v) for k, v in sorted(args.items())
                               if v is not None}})
    return shape


def classify(question: str) -> str:
    """A coarse label stored with each pattern (for display and filtering)."""
    q = question.lower()
    rules = [("goal", r"\bgoals?\b|\btarget\b"), ("comparison", r"\bcompare|\bvs\b|versus"),
             ("trend", r"\btrend|over time|progress"), ("workout", r"workout|run|swim|ride|gym"),
             ("sleep", r"\bsleep|\bslept|\bnap"), ("knowledge", r"\bnormal|healthy|should")]
    for label, pattern in rules:
        if re.search(pattern, q):
            return label
    return "health_metric"


def pattern_hash(user_id: str, shape: list[dict[str, Any]]) -> str:
    """Stable id of a (user, tool shape) pair; user-scoped so dedup never crosses users."""
    blob = json.dumps({"u": user_id, "s": shape}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _centroid(vectors: list[list[float]]) -> list[float]:
    dims = len(vectors[0])
    out = [sum(v[i] for v in vectors) / len(vectors) for i in range(dims)]
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [float(x / norm) for x in out]


class PatternStore(ThresholdedIndexStore):
    """The ``wellness_procedural`` index."""

    _FIELDS = ["user_id", "pattern_hash", "query_type", "tools", "examples", "usage_count",
               "last_used", "created_at", "success_score", "avg_elapsed_ms"]

    OFFLINE_THRESHOLD = OFFLINE_THRESHOLD
    MODEL_THRESHOLD = MODEL_THRESHOLD

    @staticmethod
    def _scope(user_id: str | None, extra: FilterExpression | None = None) -> FilterExpression:
        """The mandatory user filter (fails closed without a user id)."""
        expr = Tag("user_id") == require_user(user_id)
        return expr & extra if extra is not None else expr

    async def _find(self, user_id: str, phash: str) -> dict[str, Any] | None:
        q = FilterQuery(filter_expression=self._scope(user_id, Tag("pattern_hash") == phash),
                        return_fields=self._FIELDS, num_results=5)
        docs = [d for d in await self.index.query(q) if d.get("user_id") == user_id]
        return docs[0] if docs else None

    async def record(self, user_id: str, question: str, tool_calls: list[dict[str, Any]],
                     answer: str | None, elapsed_ms: float | None) -> dict[str, Any] | None:
        """Store (or reinforce) this turn's pattern when the turn scored ≥ 0.7."""
        require_user(user_id)
        calls = [c for c in tool_calls if c.get("name") not in _MEMORY_ONLY]
        score = score_turn(calls, answer, elapsed_ms)
        if score < STORE_MIN_SCORE:
            return None
        shape = tool_shape(calls)
        phash = pattern_hash(user_id, shape)
        now = time.time()
        existing = await self._find(user_id, phash)
        question = " ".join(question.split())[:500]
        if existing:
            key = existing["id"]
            examples = json.loads(existing.get("examples") or "[]")
            if question not in examples:
                examples = (examples + [question])[-MAX_EXAMPLES:]
            count = int(float(existing.get("usage_count") or 0)) + 1
            avg_ms = float(existing.get("avg_elapsed_ms") or 0.0)
            if elapsed_ms is not None:
                avg_ms = avg_ms + (float(elapsed_ms) - avg_ms) / count
            created = float(existing.get("created_at") or now)
        else:
            examples, count, created = [question], 1, now
            avg_ms = float(elapsed_ms or 0.0)
            key = procedural_pattern(phash, int(now * 1000))
        vectors = await self.vectorizer.aembed_many(examples)
        doc = {
            "user_id": user_id, "pattern_hash": phash, "query_type": classify(question),
            "tools": json.dumps(shape), "examples": json.dumps(examples),
            "usage_count": count, "last_used": now, "created_at": created,
            "success_score": score, "avg_elapsed_ms": round(avg_ms, 1),
            EMBED_TEXT_FIELD: "\n".join(examples), VECTOR_FIELD: as_bytes(_centroid(vectors)),
        }
        await self.index.load([doc], keys=[key])
        if not existing:
            key, count = await self._consolidate(user_id, phash, key, count)
            await self._evict(user_id)
        return {"key": key, "pattern_hash": phash, "usage_count": count, "score": score}

    async def _consolidate(self, user_id: str, phash: str, key: str,
                           count: int) -> tuple[str, int]:
        """Two turns that learned the same new pattern at once may both have added a key;
        keep the oldest, fold the other counts into it, delete the rest (one key per hash)."""
        q = FilterQuery(filter_expression=self._scope(user_id, Tag("pattern_hash") == phash),
                        return_fields=["created_at", "usage_count"], num_results=20)
        docs = await self.index.query(q)
        if len(docs) <= 1:
            return key, count
        docs.sort(key=lambda d: (float(d.get("created_at") or 0), d["id"]))
        keep, extra = docs[0], docs[1:]
        total = sum(int(float(d.get("usage_count") or 0)) for d in docs)
        async with self.store.aconnection() as r:
            await r.hset(keep["id"], "usage_count", total)
            await r.delete(*[d["id"] for d in extra])
        return keep["id"], total

    async def _evict(self, user_id: str) -> None:
        q = FilterQuery(filter_expression=self._scope(user_id), return_fields=["last_used"],
                        num_results=MAX_PATTERNS_PER_USER + 50)
        q.sort_by("last_used", asc=False)
        docs = await self.index.query(q)
        extra = [d["id"] for d in docs[MAX_PATTERNS_PER_USER:]]
        if extra:
            async with self.store.aconnection() as r:
                await r.delete(*extra)

    async def suggest(self, user_id: str, question: str, k: int = 3) -> list[dict[str, Any]]:
        """The user's past plans for similar questions (within the distance threshold)."""
        vector = await self.vectorizer.aembed(question)
        q = RangeQuery(vector=vector, vector_field_name=VECTOR_FIELD,
                       return_fields=self._FIELDS, filter_expression=self._scope(user_id),
                       num_results=k, distance_threshold=self.threshold)
        docs = [d for d in await self.index.query(q) if d.get("user_id") == user_id]
        out = []
        for d in docs:
            out.append({
                "tools": json.loads(d.get("tools") or "[]"),
                "query_type": d.get("query_type"),
                "usage_count": int(float(d.get("usage_count") or 0)),
                "distance": round(float(d.get("vector_distance", 1.0)), 4),
                "example": (json.loads(d.get("examples") or "[]") or [""])[-1],
            })
        out.sort(key=lambda p: (p["distance"], -p["usage_count"]))
        return out

    async def suggest_structure(self, question: str, k: int = 3) -> list[dict[str, Any]]:
        """Tool shapes of similar questions across users, with no user data attached.

        For callers that have no user id (a plan hint is only tool names and argument
        kinds, which carry no personal information); example questions are dropped.
        """
        vector = await self.vectorizer.aembed(question)
        q = RangeQuery(vector=vector, vector_field_name=VECTOR_FIELD,
                       return_fields=["tools", "query_type", "usage_count"],
                       num_results=k, distance_threshold=self.threshold)
        out = [{"tools": json.loads(d.get("tools") or "[]"), "query_type": d.get("query_type"),
                "usage_count": int(float(d.get("usage_count") or 0)),
                "distance": round(float(d.get("vector_distance", 1.0)), 4), "example": ""}
               for d in await self.index.query(q)]
        out.sort(key=lambda p: (p["distance"], -p["usage_count"]))
        return out

    async def count(self, user_id: str) -> int:
        q = FilterQuery(filter_expression=self._scope(user_id), return_fields=["user_id"],
                        num_results=MAX_PATTERNS_PER_USER + 50)
        return len(await self.index.query(q))

    async def forget(self, user_id: str) -> int:
        q = FilterQuery(filter_expression=self._scope(user_id), return_fields=["user_id"],
                        num_results=MAX_PATTERNS_PER_USER + 50)
        keys = [d["id"] for d in await self.index.query(q) if d.get("user_id") == user_id]
        if keys:
            async with self.store.aconnection() as r:
                await r.delete(*keys)
        return len(keys)
