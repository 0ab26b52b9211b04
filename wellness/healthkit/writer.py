"""Redis writes: stage everything under a private namespace, then switch in atomically.

Why staging + one MULTI/EXEC: an import that fails, is cancelled or meets a truncated file
must leave the user's previous data exactly as it was, and a newer export must replace the
old one without leaving stale workout hashes behind. Building under
``user:{u}:staging:{import_id}:…`` and then, in a single transaction, deleting the live keys
and RENAMEing the staged ones over them gives both. Staged writes go through large
non-transactional pipelines (``transaction=False``), ~1,000 commands per round trip.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis

from wellness.healthkit.aggregate import BuildResult
from wellness.healthkit.errors import ImportInProgress
from wellness.store.embedded import pid_alive
from wellness.store.keys import (
    CHECKPOINT_PREFIXES,
    UserKeys,
    checkpoint_user_patterns,
    day_ordinal,
    episodic_user_pattern,
)

BATCH = 1000
LOCK_TTL_S = 180


def _scan(r: redis.Redis, pattern: str) -> list[str]:
    return list(r.scan_iter(match=pattern, count=2000))


class ImportLock:
    """``user:{u}:import:lock`` held (with a TTL refreshed on progress) for a whole import.

    A lock left by a killed process on this host (dead pid) is taken over at once; any other
    holder makes a second concurrent import fail fast with ImportInProgress.
    """

    def __init__(self, r: redis.Redis, keys: UserKeys, import_id: str) -> None:
        self.r = r
        self.key = keys.import_lock
        self.token = f"{socket.gethostname()}:{os.getpid()}:{import_id}"

    def acquire(self) -> None:
        if self.r.set(self.key, self.token, nx=True, ex=LOCK_TTL_S):
            return
        held = self.r.get(self.key) or ""
        host, _, rest = str(held).partition(":")
        pid_s = rest.split(":", 1)[0]
        if host == socket.gethostname() and pid_s.isdigit() and not pid_alive(int(pid_s)):
            self.r.set(self.key, self.token, ex=LOCK_TTL_S)
            return
        raise ImportInProgress(detail="import lock held")

    def refresh(self) -> None:
        self.r.expire(self.key, LOCK_TTL_S)

    def release(self) -> None:
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(self.key)
                if pipe.get(self.key) == self.token:
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.execute()
            except redis.WatchError:
                pass


class StagingWriter:
    """Batches commands into pipelines and remembers every staged key."""

    def __init__(self, r: redis.Redis, keys: UserKeys,
                 on_batch: Callable[[], None] | None = None) -> None:
        self.r = r
        self.keys = keys
        self.staged: list[str] = []
        self._seen: set[str] = set()
        self._pipe = r.pipeline(transaction=False)
        self._n = 0
        self._on_batch = on_batch

    def _count(self, key: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.staged.append(key)
        self._n += 1
        if self._n >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._n:
            self._pipe.execute()
            self._n = 0
            if self._on_batch:
                self._on_batch()

    def write(self, result: BuildResult) -> None:
        k = self.keys
        p = self._pipe
        for t, m in result.metrics.items():
            p.set(k.health_metric(t), json.dumps(m.summary, ensure_ascii=False, sort_keys=True))
            self._count(k.health_metric(t))
            for chunk in _chunks(m.daily.items(), 500):
                p.hset(k.metric_daily(t), mapping=dict(chunk))
                self._count(k.metric_daily(t))
            for chunk in _chunks(m.days.items(), 500):
                p.zadd(k.metric_days(t), dict(chunk))
                self._count(k.metric_days(t))
        if result.metrics:
            p.sadd(k.metric_types, *sorted(result.metrics))
            self._count(k.metric_types)
        for wid, fields in result.workouts.items():
            p.hset(k.workout(wid), mapping=fields)
            self._count(k.workout(wid))
        if result.workouts:
            for chunk in _chunks(result.workout_scores.items(), 500):
                p.zadd(k.workout_by_date, dict(chunk))
                self._count(k.workout_by_date)
            for day, n in sorted(result.workout_days.items()):
                p.hincrby(k.workout_days, day, n)
                self._count(k.workout_days)
        for night, fields in result.sleep.items():
            p.hset(k.sleep_night(night), mapping={f: str(v) for f, v in fields.items()})
            self._count(k.sleep_night(night))
        if result.sleep:
            ords = {n: day_ordinal(_date(n)) for n in result.sleep}
            for chunk in _chunks(ords.items(), 500):
                p.zadd(k.sleep_by_date, dict(chunk))
                self._count(k.sleep_by_date)
        for day, fields in result.activity.items():
            if fields:
                p.hset(k.activity_day(day), mapping={f: _fmt(v) for f, v in fields.items()})
                self._count(k.activity_day(day))
        if result.activity:
            ords = {d: day_ordinal(_date(d)) for d in result.activity}
            for chunk in _chunks(ords.items(), 500):
                p.zadd(k.activity_by_date, dict(chunk))
                self._count(k.activity_by_date)
        self.flush()

    def write_health_data(self, doc: dict[str, Any]) -> None:
        key = self.keys.health_data
        self._pipe.execute_command("JSON.SET", key, "$", json.dumps(doc, ensure_ascii=False))
        self._count(key)
        self.flush()


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    buf: list[Any] = []
    for it in items:
        buf.append(it)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _date(s: str) -> Any:
    from datetime import date

    return date.fromisoformat(s)


def _fmt(v: float) -> str:
    r = round(float(v), 3)
    return str(int(r)) if r.is_integer() else repr(r)


def live_health_keys(r: redis.Redis, keys: UserKeys) -> list[str]:
    live = keys.live()
    found: set[str] = set()
    for pattern in live.health_patterns():
        found.update(_scan(r, pattern))
    return sorted(found)


def commit(r: redis.Redis, keys: UserKeys, staged: list[str], retention_days: int | None) -> None:
    """One MULTI/EXEC: delete live health keys, RENAME staged keys over them, apply TTL.

    The staged keys are WATCHed and checked to exist first, so a RENAME can never fail
    half-way through the transaction (Redis does not roll back a failed command).
    """
    live = keys.live()
    prefix = keys.base + ":"
    live_prefix = live.base + ":"
    targets = [live_prefix + s[len(prefix):] for s in staged]
    ttl = retention_days * 86400 if retention_days else None
    with r.pipeline(transaction=True) as pipe:
        pipe.watch(*staged)
        existing = live_health_keys(r, keys)
        if staged and pipe.exists(*staged) != len(staged):
            raise RuntimeError("staged keys vanished before commit")
        pipe.multi()
        for i in range(0, len(existing), 1000):
            pipe.delete(*existing[i:i + 1000])
        for src, dst in zip(staged, targets):
            pipe.rename(src, dst)
            if ttl:
                pipe.expire(dst, ttl)
        # A new version in the same transaction: readers' caches see the swap atomically.
        pipe.set(live.health_version, uuid.uuid4().hex, ex=ttl)
        pipe.execute()


def delete_pattern(r: redis.Redis, pattern: str) -> int:
    n = 0
    batch: list[str] = []
    for key in r.scan_iter(match=pattern, count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            n += int(r.delete(*batch))
            batch = []
    if batch:
        n += int(r.delete(*batch))
    return n


def sweep_orphan_staging(r: redis.Redis) -> int:
    """Delete staging keys (and stale locks) that no running import owns; return keys removed.

    Why at startup: an app killed mid-import (SIGKILL, OOM, power loss) leaves its staging
    keys and lock behind, and until now only that user's *next* import removed them. A user's
    staging keys are swept when the user has no import lock, or the lock belongs to a dead
    process on this host; a live lock (this host or another replica) is left alone.
    """
    users: dict[str, list[str]] = {}
    for key in r.scan_iter(match="user:*:staging:*", count=2000):
        k = key.decode() if isinstance(key, bytes) else key
        user = k.split(":", 2)[1]
        users.setdefault(user, []).append(k)
    removed = 0
    host = socket.gethostname()
    for user, staged in users.items():
        lock_key = UserKeys(user).import_lock
        held = r.get(lock_key)
        if held:
            held = held.decode() if isinstance(held, bytes) else str(held)
            h, _, rest = held.partition(":")
            pid_s = rest.split(":", 1)[0]
            if not (h == host and pid_s.isdigit() and not pid_alive(int(pid_s))):
                continue  # a live import (here or on another replica) owns these keys
            r.delete(lock_key)
        for i in range(0, len(staged), 1000):
            removed += int(r.delete(*staged[i:i + 1000]))
    return removed


def forget_patterns(user_id: str) -> list[str]:
    keys = UserKeys(user_id)
    return [keys.all_pattern(), episodic_user_pattern(user_id),
            *checkpoint_user_patterns(user_id)]


__all__ = ["CHECKPOINT_PREFIXES", "ImportLock", "StagingWriter", "commit", "delete_pattern",
           "forget_patterns", "live_health_keys", "sweep_orphan_staging"]
