"""Scale-out (issue #7 §6): two app processes on two ports share one Redis via REDIS_URL.

A login on one replica is valid on the other (same CHAINLIT_AUTH_SECRET), a conversation
started on replica 1 resumes on replica 2 with its context, an import through one is visible
to the other, and two imports for the same user started at once on both replicas end with one
complete dataset (never a mix), no staging keys and no lock left.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
import redis

from tests.healthgen import GenConfig, write_zip
from tests.reliability.harness import AppServer, ChatClient
from tests.reliability.test_faults import checkpoint_humans

pytestmark = [pytest.mark.integration, pytest.mark.e2e,
              pytest.mark.asyncio(loop_scope="session")]


def _days(r: redis.Redis, user: str) -> set[str]:
    out: set[str] = set()
    for metric in r.smembers(f"user:{user}:health_metrics"):
        out.update(r.zrange(f"user:{user}:health_metric:{metric}:days", 0, -1))
    return out


async def test_two_replicas_share_one_redis(redis_url: str, tmp_path: Path, record) -> None:
    """Resume across replicas, import visibility, concurrent same-user imports."""
    user = f"scale{uuid.uuid4().hex[:6]}"
    password = "scale-out-pass-1"
    env = {"WELLNESS_AUTH": "password"}
    s1 = AppServer(redis_url, tmp_path / "r1", env_extra=env)
    s2 = AppServer(redis_url, tmp_path / "r2", env_extra=env)
    s1.start()
    s2.start()
    files = tmp_path / "files"
    files.mkdir()
    seed = files / "seed.zip"
    write_zip(seed, GenConfig(seed=31, days=20, scale=0.1, travel=False))
    a = files / "a_2024.zip"
    write_zip(a, GenConfig(seed=32, start=date(2024, 1, 1), days=60, scale=0.4, travel=False))
    b = files / "b_2025.zip"
    write_zip(b, GenConfig(seed=33, start=date(2025, 6, 1), days=45, scale=0.4, travel=False))
    res = subprocess.run([sys.executable, "-m", "wellness.cli", "users", "add", user,
                          "--password-stdin"], env=s1.env(), input=password + "\n",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    c1 = c2 = c3 = c4 = None
    try:
        login = await ChatClient.login(s1.base, user, password)
        cookies = dict(login.cookies)
        # import + conversation on replica 1
        c1 = ChatClient(s1.base, cookies=cookies)
        await c1.connect()
        _, text = await c1.import_file(seed)
        assert text.startswith("**Imported"), text
        await c1.send("How many steps did I take in total?")
        thread = c1.first_thread or ""
        # the same login, resumed on replica 2
        c2 = ChatClient(s2.base, cookies=cookies, thread_id=thread)
        await c2.connect()
        mark = c2.mark()
        await c2.send("And how did I sleep?")
        follow = c2.texts_since(mark)
        await c2.send("status")
        status = c2.texts_since(mark)[-1] if c2.texts_since(mark) else ""
        humans = await checkpoint_humans(redis_url, user, thread)
        resumed = humans == ["How many steps did I take in total?", "And how did I sleep?"]
        visible = "Your data:" in status
        record.case("resume on the other replica", f"checkpoint after replica-2 turn: {humans}; "
                    f"answer {follow[0][:70] if follow else ''!r}", resumed and bool(follow))
        record.case("import on replica 1 visible on replica 2",
                    status.replace("\n", " ")[:160], visible)
        # concurrent imports for the same user, one per replica
        c3 = ChatClient(s1.base, cookies=cookies)
        c4 = ChatClient(s2.base, cookies=cookies)
        await c3.connect()
        await c4.connect()
        (_, t_a), (_, t_b) = await asyncio.gather(c3.import_file(a, timeout=180),
                                                  c4.import_file(b, timeout=180))
        days = _days(r, user)
        years = {d[:4] for d in days}
        staging = list(r.scan_iter(match=f"user:{user}:staging:*"))
        lock = r.exists(f"user:{user}:import:lock")
        doc = json.loads(r.execute_command("JSON.GET", f"user:{user}:health_data", "$"))[0]
        last_file = doc["imports"][-1]["file"]
        winners = [n for n, t in (("a_2024.zip", t_a), ("b_2025.zip", t_b))
                   if t.startswith("**Imported")]
        one_dataset = (len(years & {"2024", "2025"}) == 1 and not staging and not lock
                       and last_file in winners)
        record.case("concurrent same-user imports on two replicas",
                    f"replica 1: {t_a.splitlines()[0][:70]!r}; replica 2: "
                    f"{t_b.splitlines()[0][:70]!r}; live data years {sorted(years)}, last import "
                    f"{last_file}, staging keys {len(staging)}, lock {bool(lock)}", one_dataset)
        assert resumed and follow, humans
        assert visible, status
        assert one_dataset, (t_a, t_b, sorted(years), last_file)
    finally:
        for c in (c1, c2, c3, c4):
            if c is not None:
                await c.close()
        r.close()
        s1.stop()
        s2.stop()
