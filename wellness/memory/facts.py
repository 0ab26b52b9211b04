"""Semantic memory: curated, sourced health facts shared by every user.

Why curated and sourced: the coach interprets numbers ("is 58 bpm normal?"); the model must
ground that in a named guideline, not in its own recollection. ``facts_data.json`` holds
each fact with its source and a few example questions it answers.

Why the example questions are embedded with the fact: an interpretive question ("is my
BMI healthy?") shares words like *healthy*, *normal*, *should* with those examples, while a
plain data question ("how many steps did I take last week?") does not, so the distance
threshold keeps data questions from pulling in facts.

Loading is idempotent: keys are ``semantic:{category}:{fact_type}:{id}`` with a stable slug
id (no timestamps, so facts can never overwrite each other); a fact is re-embedded only when
its content hash or the embedding model changes, and facts removed from the JSON are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redisvl.query import RangeQuery
from redisvl.query.filter import Tag

from wellness.memory.embeddings import as_bytes
from wellness.memory.indexes import EMBED_TEXT_FIELD, VECTOR_FIELD, ThresholdedIndexStore
from wellness.store.keys import SEMANTIC_PREFIX, semantic_fact

log = logging.getLogger(__name__)

# Cosine distance (0 = same direction, 2 = opposite) above which a fact is not relevant.
# Tuned on the offline hashing vectorizer (interpretive questions land ~0.55-0.75, plain
# data questions ~0.85+); real embedding models cluster tighter, hence a lower default.
OFFLINE_THRESHOLD = 0.78
MODEL_THRESHOLD = 0.45
# A plain data question ("what was my average heart rate in March?") can share its topic
# words with a fact; without an interpretive cue it must be a near-exact match to count.
DATA_QUESTION_THRESHOLD = 0.2

_INTERPRETIVE = re.compile(
    r"\b(normal|healthy|unhealthy|good|bad|ok|okay|fine|enough|too\s+(?:high|low|much|"
    r"little|fast|slow)|should|recommend\w*|safe|unsafe|risk\w*|worry|worried|concern\w*|"
    r"mean|means|meaning|define|definition|explain|why|healthy|ideal|optimal|target|"
    r"guideline\w*|norm|norms|average\s+for|for\s+my\s+age|bmi|zones?|formula|calculate\w*)\b",
    re.I)
_DATA = re.compile(
    r"\b(did\s+i|have\s+i|was\s+my|were\s+my|what(?:'s|\s+is|\s+was)\s+my|show|list|"
    r"compare|trend|history|chart|plot|yesterday|today|tonight|last\s+(?:night|week|month|"
    r"year|\d+\s+\w+)|this\s+(?:week|month|year)|since|in\s+(?:jan|feb|mar|apr|may|jun|jul|"
    r"aug|sep|oct|nov|dec)\w*|how\s+(?:many|much|far|long)\b.*\b(?:did|have)\s+i)\b", re.I)


def question_kind(question: str) -> str:
    """``interpretive`` (asks what a number means or what is recommended), ``data`` (asks
    for the user's own numbers) or ``other``."""
    if _INTERPRETIVE.search(question):
        return "interpretive"
    if _DATA.search(question):
        return "data"
    return "other"


@dataclass(frozen=True)
class Fact:
    id: str
    category: str
    fact_type: str
    fact: str
    context: str
    source: str
    url: str = ""
    questions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return semantic_fact(self.category, self.fact_type, self.id)

    def embed_text(self) -> str:
        return " ".join([self.fact, *self.questions])

    def content_hash(self) -> str:
        blob = json.dumps([self.category, self.fact_type, self.fact, self.context, self.source,
                           self.url, list(self.questions)], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_public(self, distance: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "category": self.category,
                               "fact_type": self.fact_type, "fact": self.fact,
                               "context": self.context, "source": self.source}
        if self.url:
            out["url"] = self.url
        if distance is not None:
            out["distance"] = round(distance, 4)
        return out


def load_curated() -> list[Fact]:
    """The curated facts shipped with the package."""
    raw = resources.files("wellness.memory").joinpath("facts_data.json").read_text("utf-8")
    data = json.loads(raw)
    return [Fact(id=f["id"], category=f["category"], fact_type=f["fact_type"], fact=f["fact"],
                 context=f.get("context", ""), source=f["source"], url=f.get("url", ""),
                 questions=tuple(f.get("questions", ()))) for f in data["facts"]]


CATEGORIES: tuple[str, ...] = tuple(sorted({f.category for f in load_curated()}))


class FactStore(ThresholdedIndexStore):
    """The ``wellness_semantic`` index: idempotent load and thresholded retrieval."""

    OFFLINE_THRESHOLD = OFFLINE_THRESHOLD
    MODEL_THRESHOLD = MODEL_THRESHOLD

    async def load(self, facts: list[Fact] | None = None, *, force: bool = False) -> int:
        """Upsert the curated facts; returns how many were (re-)embedded."""
        facts = facts if facts is not None else load_curated()
        model = str(self.vectorizer.model)
        async with self.store.aconnection() as r:
            pipe = r.pipeline(transaction=False)
            for f in facts:
                pipe.hmget(f.key, ["content_hash", "model"])
            current = await pipe.execute()
        stale = [f for f, (h, m) in zip(facts, current)
                 if force or h != f.content_hash() or m != model]
        if stale:
            vectors = await self.vectorizer.aembed_many([f.embed_text() for f in stale])
            docs = [{
                "fact_id": f.id, "category": f.category, "fact_type": f.fact_type,
                "fact": f.fact, "context": f.context, "source": f.source, "url": f.url,
                "questions": json.dumps(list(f.questions)), "content_hash": f.content_hash(),
                "model": model, EMBED_TEXT_FIELD: f.embed_text(), VECTOR_FIELD: as_bytes(v),
            } for f, v in zip(stale, vectors)]
            await self.index.load(docs, keys=[f.key for f in stale])
        # Remove facts that are no longer curated (renamed or deleted ids).
        wanted = {f.key for f in facts}
        async with self.store.aconnection() as r:
            orphans = []
            async for key in r.scan_iter(match=f"{SEMANTIC_PREFIX}:*", count=500):
                k = key.decode() if isinstance(key, bytes) else key
                if k not in wanted:
                    orphans.append(k)
            if orphans:
                await r.delete(*orphans)
        if stale or orphans:
            log.info("semantic facts: %d embedded, %d removed", len(stale), len(orphans))
        return len(stale)

    async def count(self) -> int:
        async with self.store.aconnection() as r:
            n = 0
            async for _ in r.scan_iter(match=f"{SEMANTIC_PREFIX}:*", count=500):
                n += 1
        return n

    async def search(self, question: str, category: str | None = None, k: int = 3,
                     threshold: float | None = None) -> list[dict[str, Any]]:
        """Facts within the distance threshold, nearest first (empty for data questions)."""
        if threshold is None:
            threshold = self.threshold
            if question_kind(question) == "data":
                threshold = min(threshold, DATA_QUESTION_THRESHOLD)
        vector = await self.vectorizer.aembed(question)
        flt = Tag("category") == category.strip().lower() if category else None
        q = RangeQuery(vector=vector, vector_field_name=VECTOR_FIELD,
                       return_fields=["fact_id", "category", "fact_type", "fact", "context",
                                      "source", "url"],
                       filter_expression=flt, num_results=k,
                       distance_threshold=threshold)
        docs = await self.index.query(q)
        out = []
        for d in docs:
            f = Fact(id=d.get("fact_id", ""), category=d.get("category", ""),
                     fact_type=d.get("fact_type", ""), fact=d.get("fact", ""),
                     context=d.get("context", ""), source=d.get("source", ""),
                     url=d.get("url", ""))
            out.append(f.to_public(float(d.get("vector_distance", 0.0))))
        out.sort(key=lambda x: x["distance"])
        return out

    async def nearest(self, question: str, k: int = 5) -> list[tuple[str, float]]:
        """(fact id, distance) of the nearest facts with no threshold: for tuning and tests."""
        from redisvl.query import VectorQuery

        vector = await self.vectorizer.aembed(question)
        q = VectorQuery(vector=vector, vector_field_name=VECTOR_FIELD,
                        return_fields=["fact_id"], num_results=k)
        return [(d["fact_id"], float(d["vector_distance"])) for d in await self.index.query(q)]
