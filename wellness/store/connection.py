"""Connections: sync and async client factories sharing one set of settings.

Seed §7 done better: redis-py's own ``Retry`` with exponential backoff and jitter,
``health_check_interval``, socket timeouts, bounded pools, and a small circuit breaker in
front, so a dead Redis costs one fast failure instead of a retry storm per call. Every
failure surfaces as :class:`StoreUnavailable`, which callers turn into a friendly sentence.

redis-py 8 also ships ``redis.multidb`` with a pybreaker-based breaker, but that is built for
failing over between several databases; for one database a 40-line breaker is simpler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import redis
import redis.asyncio as aredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.asyncio.retry import Retry as AsyncRetry
from redis.retry import Retry

from wellness.store.errors import StoreUnavailable

# Errors that mean "the store is unavailable" (as opposed to a bug in our command).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ConnectionError,
    TimeoutError,
)


@dataclass
class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown_s``.

    In half-open state one probe call is let through: success closes the breaker, failure
    re-opens it for another cool-down.
    """

    threshold: int = 3
    cooldown_s: float = 3.0
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        with self._lock:
            st = self.state
            if st == "closed":
                return True
            if st == "half-open":
                # Let one probe through and push the window forward for everyone else.
                self.opened_at = time.monotonic()
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


@dataclass(frozen=True)
class PoolSettings:
    max_connections: int = 64
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 2.0
    health_check_interval: int = 30
    retries: int = 3
    backoff_base: float = 0.05
    backoff_cap: float = 0.5


class RedisStore:
    """Owns the pools for one Redis URL and guards every use with the circuit breaker.

    ``decode`` clients return ``str`` (our own queries); ``raw`` clients return ``bytes``
    (LangGraph's AsyncRedisSaver and RedisVL, which expect ``decode_responses=False``).
    Async clients are per event loop; create the store inside the loop that uses them.
    """

    def __init__(self, url: str, pool: PoolSettings | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        self.url = url
        self.pool = pool or PoolSettings()
        self.breaker = breaker or CircuitBreaker()
        self._sync: dict[bool, redis.Redis] = {}
        self._async: dict[bool, aredis.Redis] = {}
        self._lock = threading.Lock()

    def _kwargs(self, decode: bool, asynchronous: bool = False) -> dict[str, object]:
        p = self.pool
        # The asyncio client needs redis.asyncio's Retry: the sync Retry "retries" by calling
        # the coroutine factory and returning the coroutine unawaited, so async commands were
        # never retried and the first command on a stale pooled connection after a Redis
        # restart failed ("Connection closed by server").
        retry_cls = AsyncRetry if asynchronous else Retry
        # The chat (async) retries only broken connections: retrying a *timed-out* command
        # on a slow Redis multiplied the wait (5 s × 4 attempts per command; a turn took 41 s
        # to fail in tests/reliability/test_faults.py). The importer (sync) keeps retrying
        # timeouts, since failing a long import on one stall is worse than waiting.
        retryable: tuple[type[Exception], ...] = (
            (redis.ConnectionError,) if asynchronous
            else (redis.ConnectionError, redis.TimeoutError))
        return {
            "decode_responses": decode,
            "max_connections": p.max_connections,
            "socket_timeout": p.socket_timeout,
            "socket_connect_timeout": p.socket_connect_timeout,
            "health_check_interval": p.health_check_interval,
            "socket_keepalive": True,
            "retry": retry_cls(ExponentialWithJitterBackoff(base=p.backoff_base,
                                                            cap=p.backoff_cap), p.retries,
                               supported_errors=retryable),
            "retry_on_error": list(retryable),
        }

    # -- raw factories -------------------------------------------------------------
    def sync_client(self, decode: bool = True) -> redis.Redis:
        with self._lock:
            client = self._sync.get(decode)
            if client is None:
                client = redis.Redis.from_url(self.url, **self._kwargs(decode))
                self._sync[decode] = client
            return client

    def async_client(self, decode: bool = True) -> aredis.Redis:
        client = self._async.get(decode)
        if client is None:
            # A *blocking* pool: under load (50 chat sessions) the default pool raised
            # MaxConnectionsError ("Too many connections") instead of waiting a few ms for a
            # free connection, failed turns and tripped the breaker (bench/chat_load.py).
            kwargs = self._kwargs(decode, asynchronous=True)
            max_conn = kwargs.pop("max_connections")
            pool = aredis.BlockingConnectionPool.from_url(
                self.url, max_connections=max_conn, timeout=self.pool.socket_timeout, **kwargs)
            client = aredis.Redis(connection_pool=pool)
            client.auto_close_connection_pool = True
            self._async[decode] = client
        return client

    # -- guarded use sites ---------------------------------------------------------
    @contextmanager
    def connection(self, decode: bool = True) -> Iterator[redis.Redis]:
        """``with store.connection() as r:`` – raises StoreUnavailable on any outage."""
        if not self.breaker.allow():
            raise StoreUnavailable("circuit breaker open")
        try:
            yield self.sync_client(decode)
        except UNAVAILABLE_ERRORS as exc:
            self.breaker.record_failure()
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        else:
            self.breaker.record_success()

    @asynccontextmanager
    async def aconnection(self, decode: bool = True) -> AsyncIterator[aredis.Redis]:
        """``async with store.aconnection() as r:`` – the chat path's guarded client."""
        if not self.breaker.allow():
            raise StoreUnavailable("circuit breaker open")
        try:
            yield self.async_client(decode)
        except UNAVAILABLE_ERRORS as exc:
            self.breaker.record_failure()
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        else:
            self.breaker.record_success()

    def ping(self) -> bool:
        with self.connection() as r:
            return bool(r.ping())

    async def aping(self) -> bool:
        async with self.aconnection() as r:
            return bool(await r.ping())

    # -- teardown ------------------------------------------------------------------
    def close(self) -> None:
        for client in self._sync.values():
            client.close()
        self._sync.clear()

    async def aclose(self) -> None:
        for client in self._async.values():
            await client.aclose()
        self._async.clear()
        self.close()
