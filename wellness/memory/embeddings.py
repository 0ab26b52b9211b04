"""Embeddings for the memory indexes: a real model when configured, else an offline hasher.

Why an offline vectorizer at all: the product must work with no network and no API key, and
the tests must be deterministic. Feature hashing (word unigrams, bigrams and character
n-grams into a fixed number of buckets) gives vectors whose cosine similarity tracks word and
sub-word overlap. That is enough to rank "what's my step goal" near "how many steps am I
aiming for" and far from "is 58 bpm normal", with no model download.

Why the model name and dims live in Redis (``wellness:meta:embedding``): vectors from two
models are not comparable. If the configured model changes, :func:`check_embedding_meta`
reports it and the service re-embeds every stored text before the indexes are used again,
so an index never holds mixed vectors.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import unicodedata
from typing import Any

from redisvl.extensions.cache.embeddings import EmbeddingsCache
from redisvl.utils.vectorize import BaseVectorizer

from wellness.config import Settings
from wellness.store.connection import RedisStore
from wellness.store.keys import EMBEDDING_META, EMBEDDINGS_CACHE_NAME

log = logging.getLogger(__name__)

OFFLINE_DIMS = 1024
OFFLINE_MODEL = f"offline-hash-{OFFLINE_DIMS}"

# Words that carry almost no meaning for retrieval; they get a small weight instead of
# none so that a question made only of them still embeds to a non-zero vector.
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been am
    do does did i me my mine we our you your it its this that these those there here what
    which who whom how when where why can could should would will shall may might must
    have has had not no so than then too very just about into over under again per""".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
# Feature weights: whole words matter most, bigrams capture short phrases ("resting heart"),
# character n-grams make "steps"/"step"/"stepping" and typos overlap.
_W_UNIGRAM = 1.0
_W_STOP = 0.15
_W_BIGRAM = 0.6
_W_CHAR = 0.25
_CHAR_N = (3, 4)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.lower()


def _stem(word: str) -> str:
    """A tiny suffix stripper: enough to merge plurals and -ing/-ed forms."""
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            if suffix == "ies":
                word = word[:-3] + "y"
            elif suffix == "es" and not word.endswith(("ses", "xes", "zes", "ches", "shes")):
                word = word[:-1]
            else:
                word = word[: -len(suffix)]
            break
    # "exercise"/"exercising" and "rate"/"rating" meet at the same stem.
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _bucket(feature: str, dims: int) -> tuple[int, float]:
    """Stable bucket and sign for a feature (blake2b, never Python's salted ``hash``)."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dims, (1.0 if (value >> 63) & 1 else -1.0)


def hash_embed(text: str, dims: int = OFFLINE_DIMS) -> list[float]:
    """Deterministic, L2-normalised feature-hashing embedding as a list of Python floats."""
    vec = [0.0] * dims
    words = [_stem(w) for w in _TOKEN.findall(_normalise(text or ""))]
    for i, word in enumerate(words):
        stop = word in _STOPWORDS
        idx, sign = _bucket("w:" + word, dims)
        vec[idx] += sign * (_W_STOP if stop else _W_UNIGRAM)
        if i + 1 < len(words):
            nxt = words[i + 1]
            if not (stop and nxt in _STOPWORDS):
                idx, sign = _bucket(f"b:{word}_{nxt}", dims)
                vec[idx] += sign * _W_BIGRAM
        if not stop and len(word) > 3:
            padded = f"<{word}>"
            for n in _CHAR_N:
                for j in range(len(padded) - n + 1):
                    idx, sign = _bucket("c:" + padded[j : j + n], dims)
                    vec[idx] += sign * _W_CHAR
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        # Empty or unreadable text: a fixed unit vector keeps the index valid.
        idx, sign = _bucket("empty", dims)
        vec[idx] = sign
        return vec
    return [float(v / norm) for v in vec]


class HashVectorizer(BaseVectorizer):
    """RedisVL vectorizer around :func:`hash_embed` (offline mode).

    Subclassing ``BaseVectorizer`` (rather than ``CustomVectorizer``) keeps our own model
    name, which is what the embeddings cache and the meta check key on.
    """

    def __init__(self, dims: int = OFFLINE_DIMS, **kwargs: Any) -> None:
        kwargs.setdefault("model", f"offline-hash-{dims}")
        super().__init__(dims=dims, **kwargs)

    def _embed(self, content: Any, **kwargs: Any) -> list[float]:
        return hash_embed(str(content), self.dims or OFFLINE_DIMS)

    def _embed_many(self, contents: list[Any], batch_size: int = 10,
                    **kwargs: Any) -> list[list[float]]:
        return [self._embed(c) for c in contents]

    async def _aembed(self, content: Any, **kwargs: Any) -> list[float]:
        return self._embed(content)

    async def _aembed_many(self, contents: list[Any], batch_size: int = 10,
                           **kwargs: Any) -> list[list[float]]:
        return self._embed_many(contents)

    @property
    def type(self) -> str:
        return "offline-hash"


class EmbeddingUnavailable(ValueError):
    """The embedding server failed or timed out (its message is safe to log: no values)."""


def _bounded_openai_class() -> type[BaseVectorizer]:
    """``OpenAITextVectorizer`` without its tenacity retry loop (6 attempts, up to 60 s
    apart), which would stall a chat turn for minutes when Ollama is down. The OpenAI client
    underneath already has a timeout and one retry (see :func:`make_vectorizer`)."""
    from redisvl.utils.vectorize import OpenAITextVectorizer

    def _once(name: str) -> Any:
        inner = getattr(OpenAITextVectorizer, name)
        return getattr(inner, "__wrapped__", inner)

    class BoundedOpenAIVectorizer(OpenAITextVectorizer):
        def _embed(self, content: Any, **kwargs: Any) -> list[float]:
            try:
                return _once("_embed")(self, content, **kwargs)
            except ValueError as exc:
                raise EmbeddingUnavailable(str(exc)) from exc

        def _embed_many(self, contents: list[Any], batch_size: int = 10,
                        **kwargs: Any) -> list[list[float]]:
            try:
                return _once("_embed_many")(self, contents, batch_size, **kwargs)
            except ValueError as exc:
                raise EmbeddingUnavailable(str(exc)) from exc

        async def _aembed(self, content: Any, **kwargs: Any) -> list[float]:
            try:
                return await _once("_aembed")(self, content, **kwargs)
            except ValueError as exc:
                raise EmbeddingUnavailable(str(exc)) from exc

        async def _aembed_many(self, contents: list[Any], batch_size: int = 10,
                               **kwargs: Any) -> list[list[float]]:
            try:
                return await _once("_aembed_many")(self, contents, batch_size, **kwargs)
            except ValueError as exc:
                raise EmbeddingUnavailable(str(exc)) from exc

    return BoundedOpenAIVectorizer


def make_embeddings_cache(store: RedisStore) -> EmbeddingsCache:
    """The Redis-backed embeddings cache (content+model → vector) shared by all indexes."""
    return EmbeddingsCache(
        name=EMBEDDINGS_CACHE_NAME,
        redis_client=store.sync_client(decode=False),
        async_redis_client=store.async_client(decode=False),
    )


def make_vectorizer(settings: Settings, store: RedisStore | None = None) -> BaseVectorizer:
    """Build the configured vectorizer.

    ``embedding_mode == "offline"`` → :class:`HashVectorizer` (no cache: hashing is cheaper
    than a Redis round trip). Otherwise RedisVL's ``OpenAITextVectorizer`` pointed at the
    configured base URL (OpenAI, or an OpenAI-compatible server such as Ollama with
    ``mxbai-embed-large``), with the Redis embeddings cache attached so each text is sent to
    the model once. Construction asks the model for its dimensions (one network call), so
    call this off the event loop (``asyncio.to_thread``).
    """
    if settings.embedding_mode == "offline":
        return HashVectorizer(OFFLINE_DIMS)
    api_config: dict[str, Any] = {
        # Local servers (Ollama, LM Studio) ignore the key but the client insists on one.
        "api_key": settings.openai_api_key or "not-needed",
        # Fail fast when the embedding server is down instead of the client's 10-minute
        # default; the memory service retries setup later.
        "timeout": 20.0,
        "max_retries": 1,
    }
    base_url = settings.embedding_base_url or settings.openai_base_url
    if base_url:
        api_config["base_url"] = base_url
    cache = make_embeddings_cache(store) if store is not None else None
    vectorizer = _bounded_openai_class()(model=settings.embedding_model or "",
                                         api_config=api_config, cache=cache)
    if settings.embedding_dims and vectorizer.dims != settings.embedding_dims:
        log.warning("embedding model returns %s dims, WELLNESS_EMBEDDING_DIMS says %s; "
                    "using the model's", vectorizer.dims, settings.embedding_dims)
    return vectorizer


def vectorizer_identity(vectorizer: BaseVectorizer) -> tuple[str, int]:
    """(model, dims): what the meta key records."""
    return str(vectorizer.model), int(vectorizer.dims or 0)


async def read_embedding_meta(store: RedisStore) -> tuple[str, int] | None:
    """The model/dims the stored vectors were made with, or None on a fresh database."""
    async with store.aconnection() as r:
        raw = await r.hgetall(EMBEDDING_META)
    if not raw or "model" not in raw:
        return None
    try:
        return str(raw["model"]), int(raw.get("dims", 0))
    except (TypeError, ValueError):
        return None


async def write_embedding_meta(store: RedisStore, model: str, dims: int) -> None:
    async with store.aconnection() as r:
        await r.hset(EMBEDDING_META, mapping={"model": model, "dims": dims})


def as_bytes(vector: list[float]) -> bytes:
    """float32 bytes, the format HASH vector fields need."""
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()
