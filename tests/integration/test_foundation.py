"""Foundation: the embedded server, modules, RedisVL, checkpoints across restarts, breaker.

Tests that stop or restart a server use their own EmbeddedRedis in a temp dir, so the
session server other tests rely on is never disturbed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, TypedDict

import numpy as np
import pytest
import redis

from wellness.store.connection import CircuitBreaker, RedisStore
from wellness.store.embedded import EmbeddedRedis, free_port, server_binary
from wellness.store.errors import ModulesMissing, StoreUnavailable
from wellness.store.runtime import check_modules

pytestmark = pytest.mark.integration


@pytest.fixture()
def own_server(tmp_path: Path):
    server = EmbeddedRedis(tmp_path, started_by="test")
    server.start()
    yield server
    server.stop()


def test_embedded_server_has_search_and_json(redis_url: str) -> None:
    info = check_modules(redis_url)
    names = {m["name"] for m in info["modules"]}  # type: ignore[index]
    assert {"search", "ReJSON"} <= names
    assert str(info["version"]).startswith("8.")


def test_embedded_server_is_local_and_password_protected(redis_server: EmbeddedRedis) -> None:
    st = redis_server.state()
    assert st is not None
    anonymous = redis.Redis(host="127.0.0.1", port=st.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    client = redis.Redis.from_url(redis_server.url(), decode_responses=True)
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.close()
    conf = redis_server.dir / "redis.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o600"


def test_second_start_reuses_running_server(own_server: EmbeddedRedis) -> None:
    again = EmbeddedRedis(own_server.dir.parent)
    assert again.start() == own_server.url()
    assert again.owned is False  # a reusing process must not stop someone else's server


def test_orphan_after_hard_kill_is_reused_and_stale_state_replaced(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    # The "app" dies hard: nobody calls stop(). The next start reuses the orphan.
    second = EmbeddedRedis(tmp_path)
    assert second.start() == url
    # Now the server dies too, leaving a stale state file: the next start replaces it.
    st = second.state()
    assert st is not None
    os.kill(st.pid, 9)
    first._proc.wait(timeout=5)  # type: ignore[union-attr]
    third = EmbeddedRedis(tmp_path)
    url3 = third.start()
    assert redis.Redis.from_url(url3).ping()
    third.stop()
    assert third.running() is None


def test_redisvl_vector_tag_text_index(redis_url: str, user_id: str) -> None:
    from redisvl.index import SearchIndex
    from redisvl.query import TextQuery, VectorQuery
    from redisvl.query.filter import Tag

    schema = {
        "index": {"name": f"idx_{user_id}", "prefix": f"doc_{user_id}", "storage_type": "hash"},
        "fields": [
            {"name": "user_id", "type": "tag"},
            {"name": "text", "type": "text"},
            {"name": "embedding", "type": "vector",
             "attrs": {"dims": 4, "distance_metric": "cosine", "algorithm": "hnsw",
                       "datatype": "float32"}},
        ],
    }
    index = SearchIndex.from_dict(schema, redis_url=redis_url)
    index.create(overwrite=True)
    try:
        def vec(*v: float) -> bytes:
            return np.array(v, dtype=np.float32).tobytes()

        index.load([
            {"user_id": "a", "text": "ten thousand steps", "embedding": vec(1, 0, 0, 0)},
            {"user_id": "a", "text": "sleep eight hours", "embedding": vec(0, 1, 0, 0)},
            {"user_id": "b", "text": "ten thousand steps", "embedding": vec(1, 0, 0, 0)},
        ])
        hits = index.query(VectorQuery([1, 0, 0, 0], "embedding", return_fields=["text", "user_id"],
                                       filter_expression=Tag("user_id") == "a", num_results=5))
        assert [h["user_id"] for h in hits] == ["a", "a"]
        assert hits[0]["text"] == "ten thousand steps"
        texts = index.query(TextQuery("sleep", "text", return_fields=["text"]))
        assert texts and texts[0]["text"] == "sleep eight hours"
    finally:
        index.delete(drop=True)


class _Chat(TypedDict):
    messages: Annotated[list, __import__("langgraph.graph.message", fromlist=["add_messages"]).add_messages]


async def _ask(url: str, thread: str, text: str) -> list:
    """One turn of a tiny LangGraph graph (no LLM) with an AsyncRedisSaver on ``url``."""
    import redis.asyncio as aredis
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.redis.aio import AsyncRedisSaver
    from langgraph.graph import END, START, StateGraph

    def reply(state: _Chat) -> dict:
        humans = [m for m in state["messages"] if isinstance(m, HumanMessage)]
        return {"messages": [AIMessage(f"turn {len(humans)}: {humans[-1].content}")]}

    client = aredis.Redis.from_url(url, decode_responses=False)
    saver = AsyncRedisSaver(redis_client=client, ttl={"default_ttl": 60, "refresh_on_read": True})
    await saver.asetup()
    builder = StateGraph(_Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    graph = builder.compile(checkpointer=saver)
    out = await graph.ainvoke({"messages": [HumanMessage(text)]},
                              {"configurable": {"thread_id": thread}})
    await client.aclose()
    return out["messages"]


async def test_checkpoints_survive_server_restart(own_server: EmbeddedRedis) -> None:
    url = own_server.url()
    await _ask(url, "u1:thread-a", "hello")
    own_server.stop()
    url2 = EmbeddedRedis(own_server.dir.parent).start()
    assert url2 == url  # same port again, so connected clients find it by themselves
    messages = await _ask(url2, "u1:thread-a", "again")
    assert [m.content for m in messages] == ["hello", "turn 1: hello", "again", "turn 2: again"]
    EmbeddedRedis(own_server.dir.parent).stop()


def test_circuit_breaker_opens_when_redis_stops_and_recovers(own_server: EmbeddedRedis) -> None:
    store = RedisStore(own_server.url(), breaker=CircuitBreaker(threshold=2, cooldown_s=0.5))
    assert store.ping()
    root = own_server.dir.parent
    own_server.stop()
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            store.ping()
    assert store.breaker.state == "open"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="circuit breaker open"):
        store.ping()
    assert time.monotonic() - started < 0.05  # open breaker fails fast, no retries
    EmbeddedRedis(root).start()
    time.sleep(0.6)
    assert store.ping()  # half-open probe succeeds and closes the breaker
    assert store.breaker.state == "closed"
    store.close()
    EmbeddedRedis(root).stop()


async def test_async_connection_raises_store_unavailable(own_server: EmbeddedRedis) -> None:
    store = RedisStore(own_server.url(), breaker=CircuitBreaker(threshold=1, cooldown_s=10))
    assert await store.aping()
    own_server.stop()
    with pytest.raises(StoreUnavailable) as err:
        await store.aping()
    assert "try again" in err.value.user_message
    assert store.breaker.state == "open"
    await store.aclose()


@pytest.fixture()
def plain_redis(tmp_path: Path):
    """A Redis without modules, like a plain Redis 7 someone might point REDIS_URL at."""
    port = free_port()
    proc = subprocess.Popen([str(server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_redis_without_modules_gives_actionable_error(plain_redis: str) -> None:
    with pytest.raises(ModulesMissing) as err:
        check_modules(plain_redis)
    message = str(err.value)
    assert "RediSearch" in message and "RedisJSON" in message
    assert "Redis 8" in message and "REDIS_URL" in message


def _cli(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "wellness.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_doctor_json_reports_modules_and_masks_password(redis_url: str) -> None:
    result = _cli(["doctor", "--json"], {"REDIS_URL": redis_url})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["redis"]["ok"] is True
    assert {"search", "ReJSON"} <= set(report["redis"]["modules"])
    assert report["llm_mode"] == "offline"
    assert report["embedding_mode"] == "offline"
    password = redis_url.split(":")[2].split("@")[0]
    assert password not in result.stdout
    assert "***" in report["redis"]["url"]


def test_doctor_with_plain_redis_fails_clearly(plain_redis: str) -> None:
    result = _cli(["doctor"], {"REDIS_URL": plain_redis})
    assert result.returncode == 1
    assert "lacks RediSearch" in result.stdout


def test_doctor_embedded_starts_and_stops_its_server(tmp_path: Path) -> None:
    result = _cli(["doctor", "--json"], {"WELLNESS_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["redis"]["kind"] == "embedded"
    assert {"search", "ReJSON"} <= set(report["redis"]["modules"])
    assert EmbeddedRedis(tmp_path).running() is None  # no orphan left behind


def test_redis_cli_start_status_stop(tmp_path: Path) -> None:
    env = {"WELLNESS_DATA_DIR": str(tmp_path)}
    assert _cli(["redis", "status"], env).returncode == 3
    started = _cli(["redis", "start"], env)
    assert started.returncode == 0 and "***" in started.stdout
    status = _cli(["redis", "status"], env)
    assert status.returncode == 0 and "started by cli" in status.stdout
    # An app-style process that reuses the CLI's server must leave it running.
    doctor = _cli(["doctor", "--json"], env)
    assert doctor.returncode == 0
    assert EmbeddedRedis(tmp_path).running() is not None
    assert "Stopped" in _cli(["redis", "stop"], env).stdout
    assert EmbeddedRedis(tmp_path).running() is None
