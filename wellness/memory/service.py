"""``MemoryService``: the one object the agent, the chat UI and the CLI use for memory.

Owns the vectorizer, the three RedisVL indexes (episodic goals, semantic facts, procedural
patterns) and the embedding-model check. Every public method returns JSON-safe dicts with a
``summary`` sentence, so the LangChain tools (``tools.py``), the side panel and the CLI all
show the same words.

Failure policy: memory must never break a chat turn. ``record_turn`` and ``plan_hint``
swallow and log store errors; the tool wrappers turn them into ``{"error": ...}`` results.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date, datetime
from typing import Any, Literal

from redisvl.exceptions import RedisSearchError
from redisvl.index import AsyncSearchIndex
from redisvl.utils.vectorize import BaseVectorizer

from wellness.config import Settings
from wellness.memory.embeddings import (
    as_bytes,
    make_vectorizer,
    read_embedding_meta,
    vectorizer_identity,
    write_embedding_meta,
)
from wellness.memory.facts import CATEGORIES, FactStore, question_kind
from wellness.memory.goals import (
    DIRECTIONS,
    METRICS,
    Goal,
    GoalStore,
    ParsedGoal,
    normalise_metric,
    parse_deadline,
    parse_goal,
)
from wellness.memory.indexes import (
    DEFAULT_ALGORITHM,
    EMBED_TEXT_FIELD,
    VECTOR_FIELD,
    all_schemas,
    existing_dims,
    make_index,
)
from wellness.memory.procedural import STORE_MIN_SCORE, PatternStore
from wellness.memory.progress import HealthSource, default_source, goal_progress
from wellness.store.connection import RedisStore
from wellness.store.errors import StoreUnavailable
from wellness.store.keys import require_user

log = logging.getLogger(__name__)

ForgetKind = Literal["goals", "facts", "patterns", "all"]
RETRY_SETUP_S = 30.0


class MemoryUnavailable(RuntimeError):
    """Memory cannot be used right now (embedding model down, setup not run)."""

    @property
    def user_message(self) -> str:
        return str(self)


class MemoryService:
    """Long-term memory over Redis. Create once per process/event loop, ``await setup()``."""

    def __init__(self, store: RedisStore, settings: Settings, *,
                 vectorizer: BaseVectorizer | None = None,
                 health_source: HealthSource | None = None,
                 algorithm: str = DEFAULT_ALGORITHM) -> None:
        self.store = store
        self.settings = settings
        self.algorithm = algorithm
        self._vectorizer = vectorizer
        self.health: HealthSource = health_source or default_source(store, settings.tz)
        self.indexes: dict[str, AsyncSearchIndex] = {}
        self.goals: GoalStore | None = None
        self.facts: FactStore | None = None
        self.patterns: PatternStore | None = None
        self._ready = False
        self._lock: asyncio.Lock | None = None
        self._failed_at: float | None = None
        self.unavailable: str | None = None  # a sentence for the user when memory is down
        self.embedding: dict[str, Any] = {}
        self.reindexed = False

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def vectorizer(self) -> BaseVectorizer:
        if self._vectorizer is None:
            raise RuntimeError("MemoryService.setup() has not run")
        return self._vectorizer

    async def setup(self, *, load_facts: bool = True, allow_reindex: bool = True) -> None:
        """Create indexes, check the embedding model (re-embed on change), load facts.

        ``allow_reindex=False`` is for tools that only list or delete (the CLI): they open
        the indexes with the stored model's dims and never re-embed, so running the CLI with
        a different embedding configuration than the app cannot trigger a reindex.
        """
        if self._vectorizer is None:
            # Remote vectorizers ask the model for its dims on construction: off the loop.
            now = time.monotonic()
            if self._failed_at is not None and now - self._failed_at < RETRY_SETUP_S:
                return
            try:
                self._vectorizer = await asyncio.to_thread(make_vectorizer, self.settings,
                                                           self.store)
            except StoreUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - any client/HTTP error: degrade
                # The chat must keep working without long-term memory; retry later.
                self._failed_at = now
                self.unavailable = ("The embedding model is unreachable, so long-term memory "
                                    "is unavailable right now.")
                log.warning("memory disabled: embedding model unreachable (%s)",
                            type(exc).__name__)
                return
            self._failed_at, self.unavailable = None, None
        model, dims = vectorizer_identity(self._vectorizer)
        meta = await read_embedding_meta(self.store)
        if not allow_reindex and meta is not None:
            # Read-only callers (the CLI) use the indexes as stored and never re-embed.
            model, dims = meta
        schemas = all_schemas(dims, self.algorithm)
        self.indexes = {name: make_index(schema, self.store) for name, schema in schemas.items()}
        mismatch = meta is not None and meta != (model, dims)
        for index in self.indexes.values():
            have = await existing_dims(index)
            if have is not None and have != dims:
                mismatch = True
        if mismatch and allow_reindex:
            log.warning("embedding model changed (%s → %s/%s): re-embedding stored memories",
                        meta[0] if meta else "?", model, dims)
            await self.reindex()
        else:
            for index in self.indexes.values():
                if await existing_dims(index) is None:
                    await self._create(index)
        if allow_reindex or meta is None:
            await write_embedding_meta(self.store, model, dims)
        self.embedding = {"model": model, "dims": dims}
        self.goals = GoalStore(self.indexes["episodic"], self._vectorizer, self.store)
        self.facts = FactStore(self.indexes["semantic"], self._vectorizer, self.store)
        self.patterns = PatternStore(self.indexes["procedural"], self._vectorizer, self.store)
        if load_facts:
            await self.facts.load()
        self._ready = True

    async def ensure_setup(self) -> None:
        """Lazy setup for callers that only hold tools (first tool call sets up)."""
        if self._ready:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._ready:
                await self.setup()

    @staticmethod
    async def _create(index: AsyncSearchIndex, budget_s: float = 30.0) -> None:
        """Create the index and wait until Redis has indexed the documents already stored.

        FT.CREATE over existing keys indexes them in the background; a query issued before
        that finishes silently misses documents (seen after a reindex of many memories).
        """
        try:
            await index.create(overwrite=False)
        except RedisSearchError as exc:  # another process created it between check and create
            if "already exists" not in str(exc).lower():
                raise
        deadline = asyncio.get_running_loop().time() + budget_s
        while asyncio.get_running_loop().time() < deadline:
            info = await index.info()
            if str(info.get("indexing", 0)) in ("0", "0.0") and \
                    float(info.get("percent_indexed", 1) or 1) >= 1:
                return
            await asyncio.sleep(0.02)

    async def reindex(self) -> int:
        """Re-embed every stored memory with the current model; returns documents updated.

        Order matters for "never mixed vectors": drop each index definition (documents
        stay), rewrite every vector from its stored ``embed_text``, then create the index
        with the new dims. The meta key is written by ``setup`` only after this finishes,
        so an interrupted reindex is simply redone at the next start.
        """
        total = 0
        for index in self.indexes.values():
            if await index.exists():
                await index.delete(drop=False)
            prefix = index.schema.index.prefix
            keys: list[str] = []
            async with self.store.aconnection(decode=False) as r:
                async for key in r.scan_iter(match=f"{prefix}:*", count=500):
                    keys.append(key.decode() if isinstance(key, bytes) else key)
                for start in range(0, len(keys), 64):
                    batch = keys[start:start + 64]
                    pipe = r.pipeline(transaction=False)
                    for k in batch:
                        pipe.hget(k, EMBED_TEXT_FIELD)
                    texts = await pipe.execute()
                    pairs = [(k, t.decode("utf-8")) for k, t in zip(batch, texts) if t]
                    stale = [k for k, t in zip(batch, texts) if not t]
                    if pairs:
                        vectors = await self.vectorizer.aembed_many([t for _, t in pairs])
                        pipe = r.pipeline(transaction=False)
                        for (k, _), v in zip(pairs, vectors):
                            pipe.hset(k, VECTOR_FIELD, as_bytes(v))
                            if prefix == "semantic":
                                pipe.hset(k, "model", str(self.vectorizer.model))
                        await pipe.execute()
                        total += len(pairs)
                    if stale:  # no text to re-embed from: cannot be made consistent
                        await r.delete(*stale)
            await self._create(index)
        self.reindexed = True
        return total

    # -- helpers -------------------------------------------------------------------------
    def today(self) -> date:
        return self.settings.today or datetime.now(self.settings.tz).date()

    def _require(self) -> tuple[GoalStore, FactStore, PatternStore]:
        if not (self.goals and self.facts and self.patterns):
            raise MemoryUnavailable(self.unavailable or "Long-term memory is not ready yet.")
        return self.goals, self.facts, self.patterns

    # -- goals -------------------------------------------------------------------------
    async def set_goal(self, user_id: str, text: str, *, metric: str | None = None,
                       target: float | None = None, unit: str | None = None,
                       direction: str | None = None,
                       deadline: str | None = None) -> dict[str, Any]:
        """Parse and store a goal (explicit arguments win over what the text says)."""
        goals, _, _ = self._require()
        require_user(user_id)
        today = self.today()
        parsed = parse_goal(text or "", today)
        if parsed is None and not (metric and target is not None):
            return {"saved": False, "summary": (
                "That reads like a question, not a goal, so I didn't save anything. "
                "Tell me the goal as a statement, e.g. \"my goal is 10k steps a day\".")}
        if parsed is None:
            parsed = ParsedGoal(text=text.strip() or f"{metric} {target}")
        if metric:
            name = normalise_metric(metric)
            if name != parsed.metric:
                spec = METRICS.get(name or "")
                parsed.metric = name
                parsed.direction = parsed.direction or (spec.direction if spec else None)
                parsed.period = spec.period if spec else parsed.period
                parsed.unit = unit or (spec.unit if spec else parsed.unit)
        if target is not None:
            parsed.target, parsed.change = float(target), None
        if unit:
            parsed.unit = unit
        if direction:
            if direction.lower() not in DIRECTIONS:
                return {"saved": False, "summary": (
                    f"Direction must be one of {', '.join(DIRECTIONS)}; nothing saved.")}
            parsed.direction = direction.lower()
        if deadline:
            try:
                parsed.deadline = date.fromisoformat(deadline)
            except ValueError:
                parsed.deadline = parse_deadline(f"by {deadline}", today) or parsed.deadline
        baseline = None
        if parsed.metric and parsed.target is None and parsed.change is not None:
            baseline = await self._latest_level(user_id, parsed.metric, today)
            if baseline is not None:
                parsed.target = round(baseline + parsed.change, 1)
        goal, previous = await goals.set(user_id, parsed)
        if baseline is not None:
            goal = await goals.update(user_id, goal.goal_id, baseline=baseline) or goal
        if previous is not None and previous.describe() == goal.describe():
            summary = f"That goal is already saved: {goal.describe()}."
        elif previous is not None:
            summary = f"Updated your goal: {goal.describe()} (was: {previous.describe()})."
        else:
            summary = f"Saved your goal: {goal.describe()}."
        if goal.metric and goal.metric not in METRICS:
            summary += " I can't track that metric from Health data, but I'll remember it."
        return {"saved": True, "updated": previous is not None, "goal": goal.to_public(),
                "summary": summary}

    async def _latest_level(self, user_id: str, metric: str, today: date) -> float | None:
        spec = METRICS.get(metric)
        if spec is None or not spec.source.startswith("metric:"):
            return None
        from datetime import timedelta

        series = await self.health.daily(user_id, spec.source.split(":", 1)[1],
                                         today - timedelta(days=90), today, spec.field)
        return series[max(series)] if series else None

    async def list_goals(self, user_id: str, query: str | None = None) -> dict[str, Any]:
        """Current goals; with ``query`` they are ranked by similarity and recency."""
        goals, _, _ = self._require()
        if query and query.strip():
            current = [g for g, _ in await goals.search(user_id, query, k=20)]
        else:
            current = await goals.list(user_id)
        if not current:
            return {"goals": [], "count": 0, "summary": "You have no goals saved yet."}
        lines = "; ".join(g.describe() for g in current)
        return {"goals": [g.to_public() for g in current], "count": len(current),
                "summary": f"You have {len(current)} goal{'s' * (len(current) != 1)}: {lines}."}

    async def delete_goal(self, user_id: str, *, goal_id: str | None = None,
                          metric: str | None = None, everything: bool = False) -> dict[str, Any]:
        goals, _, _ = self._require()
        if not (goal_id or metric or everything):
            return {"deleted": 0, "summary": (
                "Tell me which goal to delete (its id or metric), or ask to forget all goals.")}
        name = normalise_metric(metric) if metric else None
        removed = await goals.delete(user_id, goal_id=goal_id, metric=name,
                                     everything=everything)
        current = {g.goal_id: g for g in removed}
        if not removed:
            what = f"goal {goal_id}" if goal_id else f"{metric} goal" if metric else "goals"
            return {"deleted": 0, "summary": f"I found no {what} to delete."}
        descr = "; ".join(g.describe() for g in current.values())
        if everything:
            summary = f"Forgot all your goals ({len(current)}): {descr}."
        else:
            summary = f"Deleted: {descr}."
        return {"deleted": len(current), "goals": [g.to_public() for g in current.values()],
                "summary": summary}

    async def goal_progress(self, user_id: str, metric: str | None = None) -> dict[str, Any]:
        goals, _, _ = self._require()
        today = self.today()
        if metric:
            name = normalise_metric(metric)
            goal = await goals.current(user_id, name) if name else None
            if goal is None:
                return {"no_goal": True, "summary": (
                    f"You have no {metric} goal saved. Set one first, e.g. \"my goal is "
                    f"10k steps a day\".")}
            return await goal_progress(goal, self.health, today)
        current = [g for g in await goals.list(user_id) if g.metric]
        if not current:
            return {"no_goal": True, "progress": [], "summary": (
                "You have no measurable goals saved yet.")}
        results = [await goal_progress(g, self.health, today) for g in current]
        return {"progress": results,
                "summary": " ".join(r["summary"] for r in results)}

    # -- facts -------------------------------------------------------------------------
    async def health_facts(self, question: str, category: str | None = None) -> dict[str, Any]:
        _, facts, _ = self._require()
        if category and category.strip().lower() not in CATEGORIES:
            category = None  # an unknown category would silently filter everything out
        found = await facts.search(question, category)
        if not found:
            return {"facts": [], "kind": question_kind(question), "summary": (
                "No curated health guideline matches this question; answer from the "
                "user's data instead.")}
        top = found[0]
        summary = f"{top['fact']} (Source: {top['source']}.)"
        if top.get("context"):
            summary += f" {top['context']}"
        return {"facts": found, "summary": summary}

    # -- procedural --------------------------------------------------------------------
    async def record_turn(self, user_id: str, question: str,
                          tool_calls: list[dict[str, Any]], answer: str | None,
                          elapsed_ms: float | None = None,
                          score: float | None = None) -> dict[str, Any] | None:
        """Remember this turn's tool pattern if the turn succeeded; never raises.

        ``tool_calls`` are this turn's calls only (``[{name, args, result}]``). ``score`` is
        an optional external quality score (the agent's answer validation); a turn scored
        below the storage threshold there is not learned from either.
        """
        try:
            if score is not None and float(score) < STORE_MIN_SCORE:
                return None
            await self.ensure_setup()
            _, _, patterns = self._require()
            return await patterns.record(user_id, question, tool_calls, answer, elapsed_ms)
        except (StoreUnavailable, MemoryUnavailable, RedisSearchError, ValueError, TypeError,
                OSError) as exc:
            log.warning("record_turn skipped: %s", type(exc).__name__)
            return None

    async def plan_hint(self, question: str, user_id: str | None = None) -> str | None:
        """A one-sentence plan from similar past questions, for the system prompt; or None.

        With ``user_id`` only that user's patterns are searched. Without it, patterns of
        all users are searched but only their structure (tool names and argument kinds) is
        returned, never another user's question text. Never raises.
        """
        try:
            await self.ensure_setup()
            _, _, patterns = self._require()
            if user_id:
                found = await patterns.suggest(user_id, question)
            else:
                found = await patterns.suggest_structure(question)
        except (StoreUnavailable, MemoryUnavailable, RedisSearchError, ValueError,
                OSError) as exc:
            log.warning("plan_hint skipped: %s", type(exc).__name__)
            return None
        if not found:
            return None
        return _plan_summary(found)

    async def suggest_plan(self, user_id: str, question: str) -> dict[str, Any]:
        _, _, patterns = self._require()
        found = await patterns.suggest(user_id, question)
        if not found:
            return {"plans": [], "summary": "No similar past question; choose tools normally."}
        return {"plans": found, "summary": _plan_summary(found)}

    # -- side panel / CLI ----------------------------------------------------------------
    async def snapshot(self, user_id: str) -> dict[str, Any]:
        """What the memory side panel shows: current goals and counts."""
        goals, facts, patterns = self._require()
        current = await goals.list(user_id)
        n_facts = await facts.count()
        n_patterns = await patterns.count(user_id)
        return {
            "user_id": user_id,
            "goals": [g.to_public() for g in current],
            "counts": {"goals": len(current), "facts": n_facts, "patterns": n_patterns},
            "embedding": dict(self.embedding),
            "summary": (f"{len(current)} goal{'s' * (len(current) != 1)}, {n_patterns} learned "
                        f"tool pattern{'s' * (n_patterns != 1)}, {n_facts} curated facts."),
        }

    async def forget(self, user_id: str, kind: ForgetKind = "all") -> dict[str, Any]:
        """Delete a user's memories. Facts are shared curated knowledge, never personal, so
        forgetting "facts" deletes nothing (and says so)."""
        goals, _, patterns = self._require()
        require_user(user_id)
        if kind not in ("goals", "facts", "patterns", "all"):
            raise ValueError(f"unknown memory kind: {kind}")
        deleted = {"goals": 0, "patterns": 0, "facts": 0}
        if kind in ("goals", "all"):
            deleted["goals"] = len(await goals.delete(user_id, everything=True))
        if kind in ("patterns", "all"):
            deleted["patterns"] = await patterns.forget(user_id)
        names = {"goals": ("goal", "goals"), "patterns": ("tool pattern", "tool patterns")}
        parts = [f"{n} {names[k][n != 1]}" for k, n in deleted.items() if k != "facts"
                 and kind in (k, "all")]
        summary = f"Forgot {', '.join(parts)}." if parts else "Nothing to forget."
        if kind in ("facts", "all"):
            summary += (" Health facts are shared reference knowledge, not personal data, so "
                        "they were kept.")
        return {"deleted": deleted, "summary": summary.strip()}

    # -- tools -------------------------------------------------------------------------
    def memory_tools(self) -> list[Any]:
        from wellness.memory.tools import make_memory_tools

        return make_memory_tools(self)


def _plan_summary(found: list[dict[str, Any]]) -> str:
    best = found[0]
    steps = " → ".join(
        f"{s['tool']}({', '.join(f'{k}: {v}' for k, v in s['args'].items())})"
        for s in best["tools"])
    like = f"A similar question (\"{best['example']}\")" if best.get("example") else \
        "A similar question"
    return f"{like} was answered with: {steps} (used {best['usage_count']}x)."


def goal_summary_line(goal: Goal) -> str:
    return goal.describe()


def dumps(result: dict[str, Any]) -> str:
    """Compact JSON for tool results."""
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str)
