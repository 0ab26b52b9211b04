"""RedisVL schemas for the three memory indexes, and their lifecycle.

Why FLAT: per-user memory is small (a handful of goals per user, tens of facts, a bounded
set of tool patterns) and every episodic query carries a ``user_id`` tag filter, which
RediSearch applies before scoring, so FLAT's cost depends on the user's vectors, not the
index size. ``bench/memory_bench.py`` at 10k memories / 100 users, 1024-d (2-core machine,
load ~6): server time per filtered search FLAT 0.31 ms vs HNSW 0.33 ms (ADHOC_BF), results
identical (HNSW recall@5 = 1.0); FLAT builds the index in 0.9 s vs 5.8 s, stores a goal in
5.2 vs 9.7 ms (p50, HNSW inserts block the main thread on RediSearch 2.10), uses 40.5 vs
43.4 MB of vector index, and is exact. HNSW only wins unfiltered KNN (0.22 vs 5.3 ms
server), which no episodic query does. Revisit past ~50-100k vectors per index or if
unfiltered searches become common. ``algorithm`` is a parameter so the benchmark can build
HNSW twins.

All three are HASH indexes with float32 COSINE vectors; the vector field is always
``embedding`` and the text that produced it is kept next to it (``embed_text``), so a change
of embedding model can re-embed every document in place.
"""

from __future__ import annotations

import logging
from typing import Any

from redisvl.index import AsyncSearchIndex
from redisvl.schema import IndexSchema
from redisvl.utils.vectorize import BaseVectorizer

from wellness.store.connection import RedisStore
from wellness.store.keys import (
    EPISODIC_INDEX,
    EPISODIC_PREFIX,
    PROCEDURAL_INDEX,
    PROCEDURAL_PREFIX,
    SEMANTIC_INDEX,
    SEMANTIC_PREFIX,
)

log = logging.getLogger(__name__)

VECTOR_FIELD = "embedding"
EMBED_TEXT_FIELD = "embed_text"
DEFAULT_ALGORITHM = "flat"


def _vector(dims: int, algorithm: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"dims": dims, "distance_metric": "cosine",
                             "algorithm": algorithm, "datatype": "float32"}
    if algorithm == "hnsw":
        # Lower ef_construction than the default 200: inserts block the main thread on
        # RediSearch 2.10, and recall at our sizes is already ~1 (bench).
        attrs.update({"m": 16, "ef_construction": 100, "ef_runtime": 20})
    return {"name": VECTOR_FIELD, "type": "vector", "attrs": attrs}


def episodic_schema(dims: int, algorithm: str = DEFAULT_ALGORITHM, *,
                    name: str = EPISODIC_INDEX, prefix: str = EPISODIC_PREFIX) -> IndexSchema:
    """Goals (and future user events): always queried with a ``user_id`` filter."""
    return IndexSchema.from_dict({
        "index": {"name": name, "prefix": prefix, "storage_type": "hash"},
        "fields": [
            {"name": "user_id", "type": "tag"},
            {"name": "event_type", "type": "tag"},
            {"name": "goal_id", "type": "tag"},
            {"name": "metric", "type": "tag"},
            {"name": "timestamp", "type": "numeric", "attrs": {"sortable": True}},
            {"name": "updated_at", "type": "numeric", "attrs": {"sortable": True}},
            {"name": "text", "type": "text"},
            _vector(dims, algorithm),
        ],
    })


def semantic_schema(dims: int, algorithm: str = DEFAULT_ALGORITHM) -> IndexSchema:
    """Curated health facts: shared by all users, filtered by category."""
    return IndexSchema.from_dict({
        "index": {"name": SEMANTIC_INDEX, "prefix": SEMANTIC_PREFIX, "storage_type": "hash"},
        "fields": [
            {"name": "fact_id", "type": "tag"},
            {"name": "category", "type": "tag"},
            {"name": "fact_type", "type": "tag"},
            {"name": "fact", "type": "text"},
            _vector(dims, algorithm),
        ],
    })


def procedural_schema(dims: int, algorithm: str = DEFAULT_ALGORITHM) -> IndexSchema:
    """Tool-call patterns: one document per (user, pattern hash)."""
    return IndexSchema.from_dict({
        "index": {"name": PROCEDURAL_INDEX, "prefix": PROCEDURAL_PREFIX,
                  "storage_type": "hash"},
        "fields": [
            {"name": "user_id", "type": "tag"},
            {"name": "pattern_hash", "type": "tag"},
            {"name": "query_type", "type": "tag"},
            {"name": "last_used", "type": "numeric", "attrs": {"sortable": True}},
            {"name": "usage_count", "type": "numeric", "attrs": {"sortable": True}},
            _vector(dims, algorithm),
        ],
    })


def all_schemas(dims: int, algorithm: str = DEFAULT_ALGORITHM) -> dict[str, IndexSchema]:
    return {
        "episodic": episodic_schema(dims, algorithm),
        "semantic": semantic_schema(dims, algorithm),
        "procedural": procedural_schema(dims, algorithm),
    }


def make_index(schema: IndexSchema, store: RedisStore) -> AsyncSearchIndex:
    """An ``AsyncSearchIndex`` on the store's raw (bytes) async client, which RedisVL needs."""
    return AsyncSearchIndex(schema, redis_client=store.async_client(decode=False))


async def existing_dims(index: AsyncSearchIndex) -> int | None:
    """Vector dims of the index as it exists in Redis (None when it does not exist)."""
    if not await index.exists():
        return None
    info = await index.info()
    for attr in info.get("attributes", []):
        # FT.INFO attributes come back as flat [key, value, ...] lists.
        items = [a.decode() if isinstance(a, bytes) else a for a in attr]
        pairs = dict(zip(items[::2], items[1::2]))
        if pairs.get("identifier") == VECTOR_FIELD or pairs.get("attribute") == VECTOR_FIELD:
            for key in ("dim", "DIM", "dims"):
                if key in pairs:
                    try:
                        return int(pairs[key])
                    except (TypeError, ValueError):
                        return None
            # Some server versions nest the vector params after the type.
            for i, item in enumerate(items):
                if str(item).lower() == "dim" and i + 1 < len(items):
                    return int(items[i + 1])
    return None


class ThresholdedIndexStore:
    """Shared setup of the memory stores that search with a distance threshold.

    The threshold depends on the embedding family: the offline hashing vectorizer spreads
    related texts wider than a real embedding model, so each store names both values.
    """

    OFFLINE_THRESHOLD: float = 0.6
    MODEL_THRESHOLD: float = 0.35

    def __init__(self, index: AsyncSearchIndex, vectorizer: BaseVectorizer,
                 store: RedisStore, threshold: float | None = None) -> None:
        self.index = index
        self.vectorizer = vectorizer
        self.store = store
        offline = str(vectorizer.model).startswith("offline-hash")
        self.threshold = threshold if threshold is not None else (
            self.OFFLINE_THRESHOLD if offline else self.MODEL_THRESHOLD)
