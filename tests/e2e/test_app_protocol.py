"""The real app over Chainlit's own protocol (HTTP + socket.io), no browser needed.

Why next to the browser tests: it runs where Chromium is missing and pins down the wire-level
contract the UI relies on: header login, upload → import progress → summary, tool steps
before the streamed answer, and refusal to resume another user's thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.e2e.chainlit_server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("protocol"), redis_url, "local")
    yield s
    s.stop()


class Client:
    """One browser tab, spoken in socket.io."""

    def __init__(self, base: str, cookie: str, thread_id: str = "") -> None:
        self.base, self.cookie = base, cookie
        self.session_id = str(uuid.uuid4())
        self.thread_id = thread_id
        self.events: list[tuple[str, Any]] = []
        self.sio = socketio.AsyncClient(reconnection=False)

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((event, data))

    async def connect(self) -> None:
        await self.sio.connect(
            self.base, socketio_path="/ws/socket.io", transports=["websocket"],
            headers={"Cookie": self.cookie},
            auth={"sessionId": self.session_id, "clientType": "webapp", "userEnv": "{}",
                  "threadId": self.thread_id, "chatProfile": "Coach"})
        await self.sio.emit("connection_successful")

    async def send(self, text: str, files: list[str] | None = None) -> None:
        await self.sio.emit("client_message", {
            "message": {"id": str(uuid.uuid4()), "threadId": "", "name": "User",
                        "type": "user_message", "output": text,
                        "createdAt": datetime.now(timezone.utc).isoformat()},
            "fileReferences": [{"id": f} for f in files or []]})

    async def upload(self, path: Path) -> str:
        async with httpx.AsyncClient(base_url=self.base, headers={"Cookie": self.cookie}) as h:
            r = await h.post(f"/project/file?session_id={self.session_id}",
                             files={"file": (path.name, path.read_bytes(), "application/zip")})
        r.raise_for_status()
        return r.json()["id"]

    def outputs(self) -> list[str]:
        return [d.get("output") or "" for e, d in self.events
                if e in ("new_message", "update_message") and isinstance(d, dict)]

    async def wait_for(self, predicate: Any, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if predicate():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out; last events: {self.events[-5:]}")

    async def close(self) -> None:
        await self.sio.disconnect()


async def _login(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as h:
        r = await h.post("/auth/header")
    r.raise_for_status()
    token = r.cookies.get("access_token")
    assert token
    return f"access_token={token}"


async def test_upload_then_question_over_socketio(server: Server, tmp_path: Path) -> None:
    from tests.healthgen import make_demo_export

    export = tmp_path / "export.zip"
    make_demo_export(export, end=datetime(2026, 11, 30).date())
    cookie = await _login(server.base)
    c = Client(server.base, cookie)
    await c.connect()
    try:
        file_id = await c.upload(export)
        await c.send("", [file_id])
        await c.wait_for(lambda: any("**Imported export" in o for o in c.outputs()))
        assert any("Importing" in o for o in c.outputs())
        assert any(e == "element" and d.get("type") == "plotly" for e, d in c.events)

        start = len(c.events)
        await c.send("How many workouts did I do last month?")
        await c.wait_for(lambda: any(e == "task_end" for e, _ in c.events[start:]))
        turn = c.events[start:]
        kinds = [(e, d.get("type")) for e, d in turn if isinstance(d, dict) and "type" in d]
        first_tool = kinds.index(("new_message", "tool"))
        first_answer = next(i for i, k in enumerate(kinds) if k[1] == "assistant_message")
        assert first_tool < first_answer
        assert any(e == "stream_token" for e, _ in turn)
        assert any("workouts" in o for o in c.outputs())
    finally:
        await c.close()


async def test_resuming_someone_elses_thread_is_refused(server: Server, redis_url: str) -> None:
    import redis.asyncio as aredis

    from wellness.store import keys

    # a thread that belongs to another user, written straight into the data layer's keys
    r = aredis.Redis.from_url(redis_url)
    foreign = str(uuid.uuid4())
    await r.hset(keys.cl_thread(foreign), mapping={"id": foreign, "userId": "someone",
                                                   "userIdentifier": "someone-else",
                                                   "name": "not yours"})
    await r.aclose()
    cookie = await _login(server.base)
    async with httpx.AsyncClient(base_url=server.base, headers={"Cookie": cookie}) as h:
        assert (await h.get(f"/project/thread/{foreign}")).status_code in (401, 403, 404)
    c = Client(server.base, cookie, thread_id=foreign)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect()
