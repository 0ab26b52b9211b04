"""The Redis Chainlit data layer on the real test Redis: users, threads, steps, feedback,
elements, pagination, search, ownership."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import User

from tests.unit.test_chat_helpers import make_context
from wellness.chat.datalayer import RedisDataLayer
from wellness.store import keys

pytestmark = pytest.mark.integration


@pytest.fixture()
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    c = aredis.Redis.from_url(redis_url)
    yield c
    await c.aclose()


@pytest.fixture()
def dl(client: aredis.Redis) -> RedisDataLayer:
    return RedisDataLayer(client)


def _ident() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def _step(thread_id: str, type_: str = "assistant_message", output: str = "hi",
          **extra: object) -> dict:
    return {"id": str(uuid.uuid4()), "threadId": thread_id, "type": type_, "name": "x",
            "output": output, "createdAt": "2026-12-01T10:00:00.000Z", **extra}


async def _new_thread(dl: RedisDataLayer, ident: str, name: str | None = None) -> tuple[str, str]:
    user = await dl.create_user(User(identifier=ident))
    assert user is not None
    tid = str(uuid.uuid4())
    make_context(user=ident, thread_id=tid)
    await dl.update_thread(tid, name=name, user_id=user.id)
    return user.id, tid


async def test_users_are_created_once_and_found(dl: RedisDataLayer) -> None:
    ident = _ident()
    assert await dl.get_user(ident) is None
    u1 = await dl.create_user(User(identifier=ident, metadata={"provider": "local"}))
    u2 = await dl.create_user(User(identifier=ident, metadata={"provider": "password"}))
    assert u1 and u2 and u1.id == u2.id
    got = await dl.get_user(ident)
    assert got is not None and got.id == u1.id and got.metadata == {"provider": "password"}


async def test_thread_roundtrip_with_ordered_steps_and_feedback(dl: RedisDataLayer) -> None:
    ident = _ident()
    uid, tid = await _new_thread(dl, ident, "Sleep questions")
    s1 = _step(tid, "user_message", "How did I sleep?")
    s2 = _step(tid, "tool", "{}", parentId=s1["id"])
    s3 = _step(tid, "assistant_message", "7 h 10 min on average.")
    for s in (s1, s2, s3):
        await dl.create_step(s)
    await dl.update_step({**s3, "output": "7 h 12 min on average."})
    fid = await dl.upsert_feedback(Feedback(forId=s3["id"], value=1, comment="great"))
    await dl.update_step({**s3, "output": "7 h 12 min on average (edited)."})
    t = await dl.get_thread(tid)
    assert t is not None
    assert t["name"] == "Sleep questions" and t["userIdentifier"] == ident and t["userId"] == uid
    assert [s["id"] for s in t["steps"]] == [s1["id"], s2["id"], s3["id"]]
    last = t["steps"][-1]
    assert last["output"] == "7 h 12 min on average (edited)."
    assert last["feedback"]["id"] == fid and last["feedback"]["value"] == 1
    assert await dl.get_thread_author(tid) == ident
    assert await dl.delete_feedback(fid)
    t = await dl.get_thread(tid)
    assert "feedback" not in t["steps"][-1]
    await dl.delete_step(s2["id"])
    t = await dl.get_thread(tid)
    assert [s["id"] for s in t["steps"]] == [s1["id"], s3["id"]]


async def test_first_user_message_names_an_unnamed_thread(dl: RedisDataLayer) -> None:
    _, tid = await _new_thread(dl, _ident())
    await dl.update_thread(tid, name="")
    await dl.create_step(_step(tid, "user_message", ""))
    assert (await dl.get_thread(tid))["name"] == "Health data import"
    _, tid2 = await _new_thread(dl, _ident())
    await dl.create_step(_step(tid2, "user_message", "How many   workouts last month?"))
    assert (await dl.get_thread(tid2))["name"] == "How many workouts last month?"


async def test_pagination_newest_first_and_search(dl: RedisDataLayer) -> None:
    ident = _ident()
    user = await dl.create_user(User(identifier=ident))
    ids = []
    for i in range(7):
        tid = f"{uuid.uuid4()}"
        make_context(user=ident, thread_id=tid)
        await dl.update_thread(tid, name=f"Question {i} about {'sleep' if i % 2 else 'steps'}",
                               user_id=user.id)
        ids.append(tid)
    seen: list[str] = []
    cursor = None
    while True:
        page = await dl.list_threads(Pagination(first=3, cursor=cursor),
                                     ThreadFilter(userId=user.id))
        seen += [t["id"] for t in page.data]
        if not page.pageInfo.hasNextPage:
            break
        cursor = page.pageInfo.endCursor
    assert seen == list(reversed(ids))
    found = await dl.list_threads(Pagination(first=10), ThreadFilter(userId=user.id,
                                                                     search="SLEEP"))
    assert {t["name"] for t in found.data} == {"Question 1 about sleep", "Question 3 about sleep",
                                               "Question 5 about sleep"}
    # activity moves a thread to the top
    make_context(user=ident, thread_id=ids[0])
    await dl.create_step(_step(ids[0]))
    top = await dl.list_threads(Pagination(first=1), ThreadFilter(userId=user.id))
    assert top.data[0]["id"] == ids[0] and top.pageInfo.hasNextPage


async def test_feedback_filter(dl: RedisDataLayer) -> None:
    ident = _ident()
    uid, tid = await _new_thread(dl, ident, "liked")
    s = _step(tid)
    await dl.create_step(s)
    await dl.upsert_feedback(Feedback(forId=s["id"], value=1, threadId=tid))
    make_context(user=ident)
    await dl.update_thread(str(uuid.uuid4()), name="other", user_id=uid)
    res = await dl.list_threads(Pagination(first=10), ThreadFilter(userId=uid, feedback=1))
    assert [t["name"] for t in res.data] == ["liked"]


async def test_no_user_filter_lists_nothing(dl: RedisDataLayer) -> None:
    res = await dl.list_threads(Pagination(first=10), ThreadFilter())
    assert res.data == []


async def test_threads_are_isolated_between_users(dl: RedisDataLayer) -> None:
    alice, bob = _ident(), _ident()
    a_id, a_thread = await _new_thread(dl, alice, "alice's")
    await dl.create_step(_step(a_thread, "user_message", "alice secret"))
    b_user = await dl.create_user(User(identifier=bob))
    res = await dl.list_threads(Pagination(first=10), ThreadFilter(userId=b_user.id))
    assert res.data == []
    # bob cannot take the thread over, nor write into it
    make_context(user=bob, thread_id=a_thread)
    await dl.update_thread(a_thread, user_id=b_user.id)
    await dl.create_step(_step(a_thread, "user_message", "bob was here"))
    t = await dl.get_thread(a_thread)
    assert t["userIdentifier"] == alice
    assert [s["output"] for s in t["steps"]] == ["alice secret"]
    with pytest.raises(PermissionError):
        await dl.upsert_feedback(Feedback(forId=t["steps"][0]["id"], value=0, threadId=a_thread))


async def test_elements_store_metadata_only_and_charts_inline(dl: RedisDataLayer,
                                                              client: aredis.Redis,
                                                              tmp_path) -> None:
    import chainlit as cl
    import plotly.graph_objects as go

    ident = _ident()
    _, tid = await _new_thread(dl, ident, "uploads")
    big = tmp_path / "export.zip"
    big.write_bytes(b"PK\x03\x04" + b"x" * 200_000)
    f = cl.File(name="export.zip", path=str(big), mime="application/zip", thread_id=tid)
    await dl.create_element(f)
    p = cl.Plotly(name="chart", figure=go.Figure(go.Bar(x=["a"], y=[1])), thread_id=tid)
    await dl.create_element(p)
    raw = await client.get(keys.cl_element(f.id))
    assert raw is not None and len(raw) < 2000 and b"xxxx" not in raw
    got = await dl.get_element(tid, f.id)
    assert got["name"] == "export.zip" and "path" not in got
    chart = await dl.get_element(tid, p.id)
    assert chart["url"].startswith("data:application/json;base64,")
    assert await dl.get_element("another-thread", f.id) is None
    t = await dl.get_thread(tid)
    assert {e["id"] for e in t["elements"]} == {f.id, p.id}
    await dl.delete_element(f.id, tid)
    assert await dl.get_element(tid, f.id) is None


async def test_delete_thread_removes_everything_and_calls_hook(client: aredis.Redis) -> None:
    dropped: list[tuple[str, str]] = []

    async def hook(user: str, thread: str) -> None:
        dropped.append((user, thread))

    dl = RedisDataLayer(lambda: client, on_thread_deleted=hook)
    ident = _ident()
    uid, tid = await _new_thread(dl, ident, "to delete")
    s = _step(tid)
    await dl.create_step(s)
    fid = await dl.upsert_feedback(Feedback(forId=s["id"], value=0))
    await dl.delete_thread(tid)
    assert await dl.get_thread(tid) is None
    assert not await client.exists(keys.cl_step(s["id"]), keys.cl_feedback(fid),
                                   keys.cl_thread_steps(tid))
    res = await dl.list_threads(Pagination(first=10), ThreadFilter(userId=uid))
    assert res.data == []
    assert dropped == [(ident, tid)]


async def test_metadata_merges(dl: RedisDataLayer) -> None:
    _, tid = await _new_thread(dl, _ident(), "m")
    await dl.update_thread(tid, metadata={"chat_profile": "Coach", "a": 1})
    await dl.update_thread(tid, metadata={"a": 2}, tags=["Coach"])
    t = await dl.get_thread(tid)
    assert t["metadata"] == {"chat_profile": "Coach", "a": 2} and t["tags"] == ["Coach"]
