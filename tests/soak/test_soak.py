"""Soak (issue #7 §5): a bounded loop of imports, chats and Redis restarts.

Run by hand (not in CI): ``WELLNESS_SOAK_MINUTES=10 pytest -m soak tests/soak``. It measures
the app's RSS and Redis ``used_memory`` over the run and reports growth per 1000 turns after
a warm-up; checkpoints get a 1-minute TTL so their expiry/pruning is exercised, and every
checkpoint key must carry a TTL (unbounded keys are what would make growth unbounded).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date
from pathlib import Path

import pytest
import redis

from tests.healthgen import GenConfig, write_zip
from tests.reliability.harness import AppServer, ChatClient
from wellness.store.embedded import EmbeddedRedis

pytestmark = [pytest.mark.soak, pytest.mark.asyncio(loop_scope="session")]

QUESTIONS = ["How many steps did I take last week?", "How did I sleep last week?",
             "How many workouts did I do last month?", "What was my last workout?",
             "Show my daily steps for the last 30 days.", "What are my goals?"]


def _redis_mem(url: str) -> tuple[float, int, int, int]:
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        used = r.info("memory")["used_memory"] / 1e6
        keys = r.dbsize()
        cps = [k for k in r.scan_iter(match="checkpoint*", count=5000)]
        no_ttl = sum(1 for k in cps if r.pttl(k) < 0)
        return used, keys, len(cps), no_ttl
    finally:
        r.close()


async def test_soak(own_redis: EmbeddedRedis, tmp_path: Path, record) -> None:
    """Imports, chats and Redis restarts in a loop: memory growth per 1000 turns, bounded."""
    minutes = float(os.environ.get("WELLNESS_SOAK_MINUTES", "10"))
    root = own_redis.dir.parent
    url = own_redis.url()
    srv = AppServer(url, tmp_path / "app", env_extra={
        "WELLNESS_USER": "soak", "WELLNESS_CHECKPOINT_TTL_MINUTES": "1",
        "WELLNESS_PROBE_FILE": str(tmp_path / "probe.jsonl"), "WELLNESS_LOG_LEVEL": "WARNING"})
    srv.start()
    exports = []
    for i, start in enumerate((date(2025, 1, 1), date(2025, 6, 1))):
        p = tmp_path / f"soak{i}.zip"
        write_zip(p, GenConfig(seed=60 + i, start=start, days=90, scale=0.3, travel=False))
        exports.append(p)
    turns = errors = imports = restarts = 0
    samples: list[tuple[int, float, float, int, int, int]] = []
    deadline = time.monotonic() + minutes * 60
    clients: list[ChatClient] = []
    cycle = 0
    try:
        while time.monotonic() < deadline:
            cycle += 1
            if cycle % 5 == 1:  # fresh sessions (new threads) now and then
                for c in clients:
                    await c.close()
                clients = []
                for _ in range(3):
                    c = await ChatClient.local(srv.base)
                    await c.connect()
                    clients.append(c)
            if cycle % 3 == 1:
                _, text = await clients[0].import_file(exports[imports % 2], timeout=300)
                imports += 1
                errors += 0 if text.startswith("**Imported") else 1
            if cycle % 7 == 0:
                own_redis.stop()
                await asyncio.sleep(1.0)
                EmbeddedRedis(root, started_by="test").start()
                restarts += 1
                await asyncio.sleep(4.0)  # breaker cool-down before the next turns
            for c in clients:
                for q in QUESTIONS[cycle % 3::3]:
                    mark = c.mark()
                    try:
                        await c.send(q, timeout=60)
                    except asyncio.TimeoutError:
                        errors += 1
                        continue
                    t = (c.texts_since(mark) or [""])[-1]
                    turns += 1
                    if not t or "went wrong" in t or "can't reach" in t:
                        errors += 1
            used, keys, cps, no_ttl = _redis_mem(url)
            samples.append((turns, srv.rss_mb(), used, keys, cps, no_ttl))
    finally:
        for c in clients:
            await c.close()
        srv.stop()
    warm = samples[min(len(samples) - 1, max(1, len(samples) // 5))]
    last = samples[-1]
    dturns = max(1, last[0] - warm[0])
    app_growth = (last[1] - warm[1]) / dturns * 1000
    redis_growth = (last[2] - warm[2]) / dturns * 1000
    peak_cps = max(s[4] for s in samples)
    no_ttl = max(s[5] for s in samples)
    record.figure("minutes", minutes)
    record.figure("turns", turns)
    record.figure("imports", imports)
    record.figure("redis_restarts", restarts)
    record.figure("errors", errors)
    record.figure("app_rss_mb_start_end", [round(warm[1], 1), round(last[1], 1)])
    record.figure("redis_used_mb_start_end", [round(warm[2], 1), round(last[2], 1)])
    record.figure("app_growth_mb_per_1000_turns", round(app_growth, 2))
    record.figure("redis_growth_mb_per_1000_turns", round(redis_growth, 2))
    record.figure("checkpoint_keys_peak_end", [peak_cps, last[4]])
    ok = no_ttl == 0 and app_growth < 50 and redis_growth < 20 and errors == 0
    record.case("soak", f"{minutes:g} min: {turns} turns, {imports} imports, {restarts} Redis "
                f"restarts, {errors} failed turns/imports; app RSS {warm[1]:.0f}→{last[1]:.0f} MB "
                f"({app_growth:+.1f} MB/1000 turns), Redis {warm[2]:.1f}→{last[2]:.1f} MB "
                f"({redis_growth:+.2f} MB/1000 turns); checkpoint keys peak {peak_cps}, end "
                f"{last[4]}, without TTL {no_ttl}", ok)
    assert no_ttl == 0, "checkpoint keys without a TTL"
    assert app_growth < 50 and redis_growth < 20
    assert errors == 0, f"{errors} failed turns/imports"
