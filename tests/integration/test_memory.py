"""Long-term memory on the real embedded Redis: goals, isolation, progress, facts, patterns,
model change and persistence across a server restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from wellness.config import Settings
from wellness.memory.embeddings import HashVectorizer, read_embedding_meta
from wellness.memory.goals import GoalStore
from wellness.memory.service import MemoryService
from wellness.memory.tools import memory_tools
from wellness.store.connection import RedisStore
from wellness.store.keys import PROCEDURAL_PREFIX, UserKeys, day_ordinal

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 30)


@pytest.fixture()
async def memory(store: RedisStore, settings: Settings) -> AsyncIterator[MemoryService]:
    service = MemoryService(store, settings.with_overrides(today=TODAY))
    await service.setup()
    yield service
    await store.aclose()


def _cfg(user_id: str | None) -> dict:
    return {"configurable": {"user_id": user_id}} if user_id else {"configurable": {}}


async def _tool(service: MemoryService, name: str, args: dict, user_id: str | None) -> dict:
    tools = {t.name: t for t in service.memory_tools()}
    return json.loads(await tools[name].ainvoke(args, config=_cfg(user_id)))


# -- goals ----------------------------------------------------------------------------------
async def test_goal_set_in_one_session_is_found_from_a_new_one(
        memory: MemoryService, redis_url: str, settings: Settings, user_id: str) -> None:
    res = await _tool(memory, "set_goal", {"text": "my goal is 10k steps a day"}, user_id)
    assert res["saved"] and res["goal"]["metric"] == "steps" and res["goal"]["target"] == 10000
    assert "summary" in res

    # A brand-new store + service (another thread/process) sees the same goal.
    other_store = RedisStore(redis_url)
    try:
        other = MemoryService(other_store, settings)
        await other.setup(load_facts=False)
        listed = await _tool(other, "list_goals", {}, user_id)
        assert listed["count"] == 1 and listed["goals"][0]["target"] == 10000
        assert "10,000 steps" in listed["summary"]
        found = await other.goals.search(user_id, "what is my step goal?")  # type: ignore[union-attr]
        assert found and found[0][0].metric == "steps"
    finally:
        await other_store.aclose()


async def test_users_never_see_each_others_goals(memory: MemoryService) -> None:
    alice, bob = "iso-alice-" + memory.today().isoformat(), "iso-bob-x"
    await memory.forget(alice, "all")
    await memory.forget(bob, "all")
    text = "get to 75 kg by June"
    await _tool(memory, "set_goal", {"text": text}, alice)
    await _tool(memory, "set_goal", {"text": text}, bob)
    await _tool(memory, "set_goal", {"text": "sleep 8 hours"}, alice)

    a = await _tool(memory, "list_goals", {}, alice)
    b = await _tool(memory, "list_goals", {}, bob)
    assert a["count"] == 2 and b["count"] == 1
    a_ids = {g["goal_id"] for g in a["goals"]}
    assert not a_ids & {g["goal_id"] for g in b["goals"]}
    hits = await memory.goals.search(bob, "sleep 8 hours")  # type: ignore[union-attr]
    assert all(g.user_id == bob for g, _ in hits) and all(g.metric != "sleep" for g, _ in hits)
    # Deleting everything for bob leaves alice's goals alone.
    await _tool(memory, "delete_goal", {"all": True}, bob)
    assert (await _tool(memory, "list_goals", {}, alice))["count"] == 2
    await memory.forget(alice, "all")


async def test_isolation_fails_closed_without_user(memory: MemoryService) -> None:
    with pytest.raises(ValueError):
        GoalStore._scope(None)
    with pytest.raises(ValueError):
        GoalStore._scope("")
    res = await _tool(memory, "list_goals", {}, None)
    assert res["error"] and "summary" in res


async def test_update_replaces_current_goal_and_delete_works(memory: MemoryService,
                                                             user_id: str) -> None:
    first = await _tool(memory, "set_goal", {"text": "my goal is 8000 steps a day"}, user_id)
    second = await _tool(memory, "set_goal", {"text": "10k steps a day"}, user_id)
    assert second["updated"] and second["goal"]["goal_id"] == first["goal"]["goal_id"]
    assert "was:" in second["summary"]
    await _tool(memory, "set_goal", {"text": "never skip leg day"}, user_id)
    await _tool(memory, "set_goal", {"text": "work out 3 times a week"}, user_id)
    listed = await _tool(memory, "list_goals", {}, user_id)
    by_metric = {g["metric"]: g for g in listed["goals"]}
    assert by_metric["steps"]["target"] == 10000 and None in by_metric
    assert listed["count"] == 3
    ranked = await _tool(memory, "list_goals", {"query": "how often do I want to work out"},
                         user_id)
    assert ranked["goals"][0]["metric"] == "workouts" and ranked["count"] == 3

    # Explicit update through the store, then delete by id, by metric, and all.
    gid = by_metric["workouts"]["goal_id"]
    updated = await memory.goals.update(user_id, gid, target=4)  # type: ignore[union-attr]
    assert updated is not None and updated.target == 4
    assert (await memory.goals.update("someone-else", gid, target=9)) is None  # type: ignore[union-attr]
    res = await _tool(memory, "delete_goal", {"goal_id": gid}, user_id)
    assert res["deleted"] == 1
    res = await _tool(memory, "delete_goal", {"metric": "steps"}, user_id)
    assert res["deleted"] == 1
    res = await _tool(memory, "delete_goal", {"all": True}, user_id)
    assert res["deleted"] == 1
    assert (await _tool(memory, "list_goals", {}, user_id))["count"] == 0


async def test_questions_are_not_saved_as_goals(memory: MemoryService, user_id: str) -> None:
    res = await _tool(memory, "set_goal", {"text": "I want to know my resting heart rate"},
                      user_id)
    assert res["saved"] is False
    assert (await _tool(memory, "list_goals", {}, user_id))["count"] == 0


# -- progress -------------------------------------------------------------------------------
async def _write_daily(store: RedisStore, user_id: str, metric: str,
                       values: dict[date, float], field: str = "s") -> None:
    keys = UserKeys(user_id)
    async with store.aconnection() as r:
        for d, v in values.items():
            roll = {"n": 1, "s": v, "lo": v, "hi": v, "l": v, "src": {}}
            await r.hset(keys.metric_daily(metric), d.isoformat(), json.dumps(roll))
            await r.zadd(keys.metric_days(metric), {d.isoformat(): day_ordinal(d)})
        await r.sadd(keys.metric_types, metric)


async def test_goal_progress_matches_data(memory: MemoryService, store: RedisStore,
                                          user_id: str) -> None:
    # Steps: last 7 days 9,000/day, the 21 days before 6,000/day.
    steps = {TODAY - timedelta(days=i): (9000.0 if i < 7 else 6000.0) for i in range(28)}
    await _write_daily(store, user_id, "StepCount", steps)
    # Weight: 80 kg 40 days ago falling 0.05 kg/day → 78.0 today.
    weight = {TODAY - timedelta(days=i): round(78.0 + 0.05 * i, 3) for i in range(0, 41, 2)}
    await _write_daily(store, user_id, "BodyMass", weight, "l")
    # Workouts: 2 in each of the last 4 weeks (8 total), sleep 7 h a night.
    keys = UserKeys(user_id)
    async with store.aconnection() as r:
        for i in range(8):
            d = TODAY - timedelta(days=3 * i + 1)
            wid = f"w{i:02d}"
            await r.hset(keys.workout(wid), mapping={"type": "Running", "date": d.isoformat(),
                                                     "distance_km": "5", "duration_min": "30"})
            epoch = (d.toordinal() - date(1970, 1, 1).toordinal()) * 86400 + 3600 * 8
            await r.zadd(keys.workout_by_date, {wid: epoch})
        for i in range(7):
            d = TODAY - timedelta(days=i)
            await r.hset(keys.sleep_night(d.isoformat()), mapping={"asleep_min": "420"})
            await r.zadd(keys.sleep_by_date, {d.isoformat(): day_ordinal(d)})

    await _tool(memory, "set_goal", {"text": "my goal is 10k steps a day"}, user_id)
    await _tool(memory, "set_goal", {"text": "work out 3 times a week"}, user_id)
    await _tool(memory, "set_goal", {"text": "sleep 8 hours"}, user_id)
    await _tool(memory, "set_goal", {"text": "run 10 km every week"}, user_id)
    g = await _tool(memory, "set_goal", {"text": "get to 75 kg by 2027-02-28"}, user_id)
    assert g["goal"]["deadline"] == "2027-02-28"

    p = await _tool(memory, "goal_progress", {"metric": "steps"}, user_id)
    assert p["current"] == 9000 and p["basis"] == "7-day average"
    assert p["distance_to_target"] == 1000 and p["percent_complete"] == 90.0
    assert p["on_track"] is False and p["average_28d"] == 6750
    assert "9,000" in p["summary"] and "90%" in p["summary"]

    p = await _tool(memory, "goal_progress", {"metric": "workouts"}, user_id)
    assert p["current"] == 2 and p["percent_complete"] == pytest.approx(66.7)
    assert p["basis"] == "4-week average" and p["on_track"] is False

    p = await _tool(memory, "goal_progress", {"metric": "running_distance"}, user_id)
    assert p["current"] == 10 and p["met"] is True and p["on_track"] is True

    p = await _tool(memory, "goal_progress", {"metric": "sleep"}, user_id)
    assert p["current"] == 7 and p["percent_complete"] == pytest.approx(87.5)

    p = await _tool(memory, "goal_progress", {"metric": "weight"}, user_id)
    assert p["current"] == 78.0 and p["distance_to_target"] == -3.0
    # 0.05 kg/day down, 90 days to the deadline → ~73.5 kg projected: on track.
    assert p["trend_per_day"] == pytest.approx(-0.05, abs=1e-3)
    assert p["on_track"] is True and p["projected_at_deadline"] == pytest.approx(73.5, abs=0.1)

    everything = await _tool(memory, "goal_progress", {}, user_id)
    assert len(everything["progress"]) == 5

    # "lose 2 kg" resolves its target from the latest weight.
    lose = await _tool(memory, "set_goal", {"text": "lose 2 kg"}, user_id)
    assert lose["goal"]["target"] == 76.0


async def test_progress_without_data_says_so(memory: MemoryService, user_id: str) -> None:
    await _tool(memory, "set_goal", {"text": "my goal is 10k steps a day"}, user_id)
    p = await _tool(memory, "goal_progress", {"metric": "steps"}, user_id)
    assert p["no_data"] is True and "No steps data" in p["summary"]
    p = await _tool(memory, "goal_progress", {"metric": "vo2max"}, user_id)
    assert p["no_goal"] is True


# -- facts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("question,expected", [
    ("Is 58 bpm resting normal?", "resting-hr-adult-range"),
    ("Is my BMI healthy?", "bmi-categories"),
    ("How much should I sleep?", "sleep-adults"),
    ("How fast should I lose weight?", "weight-loss-pace"),
    ("Is 94% blood oxygen ok?", "spo2-normal"),
])
async def test_facts_for_interpretive_questions(memory: MemoryService, user_id: str,
                                                question: str, expected: str) -> None:
    res = await _tool(memory, "health_facts", {"question": question}, user_id)
    assert expected in [f["id"] for f in res["facts"]]
    assert res["summary"] and res["facts"][0]["source"]


@pytest.mark.parametrize("question", [
    "How many steps did I take last week?",
    "What was my average heart rate in March?",
    "Show my sleep for the last 7 days",
    "When was my last workout?",
    "What's my resting heart rate trend?",
])
async def test_no_facts_for_plain_data_questions(memory: MemoryService, user_id: str,
                                                 question: str) -> None:
    res = await _tool(memory, "health_facts", {"question": question}, user_id)
    assert res["facts"] == []


async def test_facts_load_is_idempotent_and_category_filter(memory: MemoryService,
                                                            user_id: str) -> None:
    assert await memory.facts.load() == 0  # type: ignore[union-attr]
    n = await memory.facts.count()  # type: ignore[union-attr]
    assert n >= 30
    assert await memory.facts.load() == 0  # type: ignore[union-attr]
    assert await memory.facts.count() == n  # type: ignore[union-attr]
    res = await _tool(memory, "health_facts",
                      {"question": "Is 58 bpm resting normal?", "category": "sleep"}, user_id)
    assert all(f["category"] == "sleep" for f in res["facts"])


# -- procedural -----------------------------------------------------------------------------
def _steps_turn(question: str) -> dict:
    return {"user_id": None, "question": question,
            "tool_calls": [{"name": "metric_summary",
                            "args": {"metric": "steps", "period": "last week"},
                            "result": {"summary": "You walked 52,000 steps."}}],
            "answer": "You walked 52,000 steps last week.", "elapsed_ms": 1200}


async def test_patterns_dedupe_and_are_retrieved_for_paraphrases(memory: MemoryService,
                                                                 store: RedisStore,
                                                                 user_id: str) -> None:
    for q in ["How many steps did I take last week?", "how many steps did I walk last week",
              "How many steps did I take last week?"]:
        turn = _steps_turn(q) | {"user_id": user_id}
        rec = await memory.record_turn(**turn)
        assert rec is not None
    assert rec["usage_count"] == 3
    assert await memory.patterns.count(user_id) == 1  # type: ignore[union-attr]
    async with store.aconnection() as r:
        keys = [k async for k in r.scan_iter(match=f"{PROCEDURAL_PREFIX}:{rec['pattern_hash']}:*")]
    assert len(keys) == 1

    # A failed turn and a turn without tools are not learned.
    bad = _steps_turn("steps?") | {"user_id": user_id}
    bad["tool_calls"][0]["result"] = {"error": "store unavailable"}
    assert await memory.record_turn(**bad) is None
    assert await memory.record_turn(user_id, "hi", [], "hello", 10) is None
    assert await memory.record_turn(**(_steps_turn("x") | {"user_id": user_id}),
                                    score=0.3) is None

    hint = await memory.plan_hint("show me my steps for last week", user_id)
    assert hint and "metric_summary" in hint and "metric: str" in hint
    res = await _tool(memory, "suggest_plan", {"question": "show me my steps for last week"},
                      user_id)
    assert res["plans"][0]["tools"][0]["tool"] == "metric_summary"
    assert await memory.plan_hint("is 58 bpm resting normal?", user_id) is None
    # Another user gets nothing of this user's patterns through the per-user tool.
    other = await _tool(memory, "suggest_plan", {"question": "show me my steps for last week"},
                        user_id + "b")
    assert other["plans"] == []


# -- snapshot / forget / model change / persistence -----------------------------------------
async def test_snapshot_and_forget(memory: MemoryService, user_id: str) -> None:
    await _tool(memory, "set_goal", {"text": "sleep 8 hours"}, user_id)
    await memory.record_turn(**(_steps_turn("steps last week?") | {"user_id": user_id}))
    snap = await memory.snapshot(user_id)
    assert snap["counts"]["goals"] == 1 and snap["counts"]["patterns"] == 1
    assert snap["counts"]["facts"] >= 30
    res = await memory.forget(user_id, "patterns")
    assert res["deleted"]["patterns"] == 1
    res = await memory.forget(user_id, "all")
    assert res["deleted"]["goals"] == 1
    snap = await memory.snapshot(user_id)
    assert snap["counts"]["goals"] == 0 and snap["counts"]["patterns"] == 0
    assert snap["counts"]["facts"] >= 30  # shared facts are never "forgotten" per user


async def test_model_change_reindexes_without_mixing(store: RedisStore, settings: Settings,
                                                     user_id: str) -> None:
    svc = MemoryService(store, settings)
    await svc.setup()
    await svc.set_goal(user_id, "my goal is 10k steps a day")
    small = MemoryService(store, settings, vectorizer=HashVectorizer(256))
    try:
        await small.setup()
        assert small.reindexed
        assert await read_embedding_meta(store) == ("offline-hash-256", 256)
        hits = await small.goals.search(user_id, "step goal")  # type: ignore[union-attr]
        assert hits and hits[0][0].metric == "steps"
        res = await small.health_facts("Is my BMI healthy?")
        assert res["facts"]
    finally:
        back = MemoryService(store, settings)
        await back.setup()
        assert back.reindexed
        assert await read_embedding_meta(store) == ("offline-hash-1024", 1024)
        assert (await back.list_goals(user_id))["count"] == 1
        await back.forget(user_id, "all")
    await store.aclose()


async def test_goals_survive_a_server_restart(redis_server, redis_url: str,  # type: ignore[no-untyped-def]
                                              settings: Settings, user_id: str) -> None:
    s1 = RedisStore(redis_url)
    svc = MemoryService(s1, settings)
    await svc.setup(load_facts=False)
    await svc.set_goal(user_id, "work out 3 times a week")
    async with s1.aconnection() as r:
        await r.execute_command("BGREWRITEAOF")
    await s1.aclose()
    redis_server.stop()
    redis_server.start()
    s2 = RedisStore(redis_server.url())
    try:
        svc2 = MemoryService(s2, settings)
        await svc2.setup(load_facts=False)
        listed = await svc2.list_goals(user_id)
        assert listed["count"] == 1 and listed["goals"][0]["metric"] == "workouts"
        hits = await svc2.goals.search(user_id, "how often should I work out")  # type: ignore[union-attr]
        assert hits and hits[0][0].metric == "workouts"
        await svc2.forget(user_id, "all")
    finally:
        await s2.aclose()


# -- OpenAI-compatible embeddings (a local fake server) -------------------------------------
class _FakeEmbeddings:
    """A minimal OpenAI-compatible ``/v1/embeddings`` endpoint (like Ollama's), 64 dims."""

    def __init__(self) -> None:
        import base64
        import http.server
        import threading

        import numpy as np

        from wellness.memory.embeddings import hash_embed

        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                outer.calls += 1
                data = []
                for i, text in enumerate(inputs):
                    vec = hash_embed(str(text), 64)
                    if body.get("encoding_format") == "base64":
                        emb: object = base64.b64encode(
                            np.asarray(vec, dtype=np.float32).tobytes()).decode()
                    else:
                        emb = vec
                    data.append({"object": "embedding", "index": i, "embedding": emb})
                payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                                      "usage": {"prompt_tokens": 1, "total_tokens": 1}})
                raw = payload.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_openai_compatible_embeddings_with_cache_and_reindex(
        store: RedisStore, settings: Settings, user_id: str) -> None:
    fake = _FakeEmbeddings()
    remote = settings.with_overrides(embedding_model="fake-embed", embedding_dims=64,
                                     embedding_base_url=fake.url)
    assert remote.embedding_mode == "compatible"
    offline = MemoryService(store, settings)
    await offline.setup(load_facts=False)
    await offline.set_goal(user_id, "sleep 8 hours")
    try:
        svc = MemoryService(store, remote)
        await svc.setup()
        assert svc.reindexed and svc.vectorizer.dims == 64
        assert await read_embedding_meta(store) == ("fake-embed", 64)
        hits = await svc.goals.search(user_id, "how much do I want to sleep")  # type: ignore[union-attr]
        assert hits and hits[0][0].metric == "sleep"
        # Second identical embedding is served from the Redis embeddings cache.
        before = fake.calls
        await svc.vectorizer.aembed("a sentence for the cache")
        await svc.vectorizer.aembed("a sentence for the cache")
        assert fake.calls == before + 1
        async with store.aconnection() as r:
            assert [k async for k in r.scan_iter(match="wellness:embedcache:*", count=100)]
    finally:
        fake.close()
        back = MemoryService(store, settings)
        await back.setup()
        assert await read_embedding_meta(store) == ("offline-hash-1024", 1024)
        assert (await back.list_goals(user_id))["count"] == 1
        await back.forget(user_id, "all")
        await store.aclose()


async def test_unreachable_embedding_model_degrades_instead_of_failing(
        store: RedisStore, settings: Settings, user_id: str) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = settings.with_overrides(embedding_model="fake-embed",
                                   embedding_base_url=f"http://127.0.0.1:{port}/v1")
    svc = MemoryService(store, down)
    await svc.setup()  # does not raise: the chat keeps working without memory
    assert svc.unavailable
    res = await _tool(svc, "list_goals", {}, user_id)
    assert res["error"] == "memory unavailable" and "unavailable" in res["summary"]
    assert await svc.record_turn(**(_steps_turn("steps?") | {"user_id": user_id})) is None
    assert await svc.plan_hint("steps last week", user_id) is None
    # The stored vectors were not touched.
    assert await read_embedding_meta(store) == ("offline-hash-1024", 1024)
    await store.aclose()


async def test_memory_cli_list_and_forget(memory: MemoryService, redis_url: str, user_id: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from wellness.cli import main

    await memory.set_goal(user_id, "my goal is 10k steps a day")
    await memory.set_goal(user_id, "never skip leg day")
    monkeypatch.setenv("REDIS_URL", redis_url)

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out

    # The CLI runs its own event loop: call it from a worker thread.
    code, out = await asyncio.to_thread(run, "memory", "list", "--user", user_id, "--json")
    snap = json.loads(out)
    assert code == 0 and snap["counts"]["goals"] == 2
    code, out = await asyncio.to_thread(run, "memory", "list", "--user", user_id)
    assert code == 0 and "10,000 steps" in out and "never skip leg day" in out
    code, out = await asyncio.to_thread(run, "memory", "forget", "--user", user_id, "--kind",
                                        "goals")
    assert code == 0 and "Forgot 2 goals" in out
    assert (await memory.list_goals(user_id))["count"] == 0
    assert await read_embedding_meta(memory.store) == ("offline-hash-1024", 1024)


async def test_concurrent_identical_patterns_keep_one_key(memory: MemoryService,
                                                          user_id: str) -> None:
    import asyncio

    turns = [_steps_turn(f"steps last week {i}") | {"user_id": user_id} for i in range(4)]
    await asyncio.gather(*(memory.record_turn(**t) for t in turns))
    assert await memory.patterns.count(user_id) == 1  # type: ignore[union-attr]
    found = await memory.patterns.suggest(user_id, "steps last week")  # type: ignore[union-attr]
    assert found and found[0]["usage_count"] >= 2


async def test_module_level_memory_tools_set_up_lazily(store: RedisStore, settings: Settings,
                                                       user_id: str) -> None:
    from wellness.memory.tools import TOOL_NAMES

    tools = memory_tools(store, settings)
    assert tuple(t.name for t in tools) == TOOL_NAMES
    set_goal = next(t for t in tools if t.name == "set_goal")
    res = json.loads(await set_goal.ainvoke({"text": "sleep 8 hours"}, config=_cfg(user_id)))
    assert res["saved"] and "8 hours per night" in res["summary"]
    # The user id is never a model-visible argument.
    assert all("user_id" not in t.args for t in tools)
    await store.aclose()
