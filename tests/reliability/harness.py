"""Real-server harness for the reliability suite: a Chainlit process and a protocol client.

Why a real process: the faults issue #7 asks about (uploads through Chainlit's own HTTP path,
Redis dying under a live socket, SIGKILL mid-import, two replicas on one Redis) only exist
across process and socket boundaries, so these tests drive ``chainlit run app.py`` exactly
as a browser would (socket.io + ``POST /project/file``), never by calling handlers directly.

Every server gets its own temporary app root (``.chainlit``, ``public``, ``chainlit.md``
copied or linked), because Chainlit deletes ``<app root>/.files`` on shutdown and the
repository's own ``.files`` may belong to a colleague's running server.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import redis
import socketio

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("WELLNESS_VENV_BIN", "/work/venv/bin"))
CHAINLIT = str(VENV_BIN / "chainlit") if (VENV_BIN / "chainlit").exists() else "chainlit"
PINNED_TODAY = "2026-03-15"
#: The one sentence a rejected / failed upload must end with (the chat's promise).
UNTOUCHED = "untouched"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_app_root(parent: Path) -> Path:
    """A private app root with the repo's Chainlit config and assets (never ``.files``)."""
    root = Path(tempfile.mkdtemp(prefix="approot-", dir=parent))
    shutil.copytree(REPO / ".chainlit", root / ".chainlit")
    os.symlink(REPO / "public", root / "public")
    shutil.copy(REPO / "chainlit.md", root / "chainlit.md")
    return root


@dataclass
class AppServer:
    """One ``chainlit run app.py --headless`` process on 127.0.0.1 (CI never in its env)."""

    redis_url: str
    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    app_root: Path | None = None
    data_dir: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("CI", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL",
                            "LITERAL_API_KEY", "WELLNESS_AUTH", "PYTEST_CURRENT_TEST")}
        env.update({
            "REDIS_URL": self.redis_url,
            "WELLNESS_DATA_DIR": str(self.data_dir),
            "WELLNESS_TODAY": PINNED_TODAY,
            "WELLNESS_TZ": "UTC",
            "WELLNESS_ENV_FILE": str(self.workdir / "no.env"),
            "CHAINLIT_APP_ROOT": str(self.app_root),
            "CHAINLIT_AUTH_SECRET": "reliability-suite-secret-" + "x" * 40,
            "WELLNESS_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.env_extra)
        return env

    def start(self, timeout: float = 90.0) -> "AppServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.app_root is None:
            self.app_root = make_app_root(self.workdir)
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=self.workdir))
        if not self.port:
            self.port = free_port()
        self.log_path = self.workdir / f"server-{self.port}-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child for its life
        self.proc = subprocess.Popen(  # noqa: S603 - fixed command line
            [CHAINLIT, "run", str(REPO / "app.py"), "--headless", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env(), cwd=str(self.app_root), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chainlit exited early:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    # /health answers before on_app_startup finishes opening Redis + agent.
                    self._wait_startup(deadline)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chainlit did not start in {timeout}s:\n{self.log_text()[-3000:]}")

    def _wait_startup(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                r = httpx.get(self.base + "/project/settings?language=en-US", timeout=2,
                              cookies=self.local_cookies())
                if r.status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def local_cookies(self) -> dict[str, str]:
        """Cookie of the automatic local user (header auth mode)."""
        try:
            r = httpx.post(self.base + "/auth/header", timeout=10)
        except httpx.HTTPError:
            return {}
        return dict(r.cookies) if r.status_code == 200 else {}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 20.0) -> None:
        """SIGINT (graceful: on_app_shutdown runs), then SIGKILL the process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the whole process group (the crash the issue asks about)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def rss_mb(self) -> float:
        import psutil
        if not self.alive():
            return 0.0
        try:
            return psutil.Process(self.pid()).memory_info().rss / 1e6
        except psutil.Error:
            return 0.0


# -- protocol client --------------------------------------------------------------------------
@dataclass
class Shown:
    """One message/step as the browser would show it (content after all updates/tokens)."""

    id: str
    type: str
    name: str
    content: str
    is_error: bool = False
    updates: int = 0


class ChatClient:
    """A socket.io client speaking Chainlit's webapp protocol (chainlit-notes §5).

    Why: it reaches the same code as a browser (auth cookie, session, upload route,
    ``client_message``), records every shown message, and measures turn latency.
    """

    def __init__(self, base: str, *, cookies: dict[str, str] | None = None,
                 thread_id: str = "", chat_profile: str = "") -> None:
        self.base = base
        self.cookies = dict(cookies or {})
        self.session_id = str(uuid.uuid4())
        self.thread_id = thread_id
        self.chat_profile = chat_profile
        self.sio = socketio.AsyncClient(reconnection=False)
        self.shown: dict[str, Shown] = {}
        self.order: list[str] = []
        self.events: list[tuple[float, str, Any]] = []
        self.task_running = False
        self._task_end = asyncio.Event()
        self.first_thread: str | None = None
        self._register()

    # -- auth ---------------------------------------------------------------------------------
    @classmethod
    async def login(cls, base: str, username: str, password: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(base + "/login",
                                   data={"username": username, "password": password})

    @classmethod
    async def local(cls, base: str, **kw: Any) -> "ChatClient":
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(base + "/auth/header")
        return cls(base, cookies=dict(r.cookies), **kw)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    # -- events -------------------------------------------------------------------------------
    def _register(self) -> None:
        sio = self.sio

        def note(name: str):
            async def handler(data: Any = None) -> None:
                self.events.append((time.monotonic(), name, data))
                self._apply(name, data)
            return handler

        for name in ("new_message", "update_message", "stream_start", "stream_token",
                     "delete_message", "task_start", "task_end", "first_interaction",
                     "element", "resume_thread", "toast", "set_commands", "clear_ask",
                     "clear_call_fn", "action", "remove_action", "window_message",
                     "set_sidebar_title", "set_sidebar_elements", "chat_settings"):
            sio.on(name, note(name))

    def _apply(self, name: str, data: Any) -> None:
        if name == "task_start":
            self.task_running = True
            self._task_end.clear()
        elif name == "task_end":
            self.task_running = False
            self._task_end.set()
        elif name == "first_interaction" and isinstance(data, dict):
            self.first_thread = data.get("thread_id") or self.first_thread
        elif name in ("new_message", "update_message", "stream_start") and isinstance(data, dict):
            mid = str(data.get("id"))
            prev = self.shown.get(mid)
            content = data.get("output")
            if content is None:
                content = data.get("content", "")
            if name == "stream_start" and prev is not None and not content:
                content = prev.content
            s = Shown(mid, str(data.get("type", "")), str(data.get("name", "")),
                      str(content or ""), bool(data.get("isError")),
                      (prev.updates + 1) if prev else 0)
            if prev is None:
                self.order.append(mid)
            self.shown[mid] = s
        elif name == "stream_token" and isinstance(data, dict):
            mid = str(data.get("id"))
            if data.get("isInput"):
                return
            s = self.shown.get(mid)
            if s is None:
                s = Shown(mid, "assistant_message", "", "")
                self.shown[mid] = s
                self.order.append(mid)
            s.content = (data.get("token") or "") if data.get("isSequence") else (
                s.content + (data.get("token") or ""))
        elif name == "delete_message" and isinstance(data, dict):
            self.shown.pop(str(data.get("id")), None)

    # -- connection ---------------------------------------------------------------------------
    async def connect(self, timeout: float = 20.0) -> None:
        auth = {"sessionId": self.session_id, "clientType": "webapp", "userEnv": "{}",
                "threadId": self.thread_id, "chatProfile": self.chat_profile}
        headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        await self.sio.connect(self.base, socketio_path="/ws/socket.io",
                               transports=["websocket"], auth=auth, headers=headers,
                               wait_timeout=timeout)
        await self.sio.emit("connection_successful")
        if not self.thread_id:
            # on_chat_start runs as a task and ends with its own task_end; a message sent
            # before that finishes would take that task_end for its own answer.
            await self.wait_for(lambda: any(s.name == "on_chat_start" and s.updates >= 1
                                            for s in self.shown.values()), 15)
        await asyncio.sleep(0.05)

    async def close(self) -> None:
        try:
            await self.sio.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead socket is fine
            pass

    # -- messages -----------------------------------------------------------------------------
    def assistant_texts(self) -> list[str]:
        return [self.shown[i].content for i in self.order
                if i in self.shown and self.shown[i].type in ("assistant_message",)]

    def mark(self) -> int:
        """Index into ``order`` to look at messages shown after this point."""
        return len(self.order)

    def texts_since(self, mark: int) -> list[str]:
        return [self.shown[i].content for i in self.order[mark:]
                if i in self.shown and self.shown[i].type == "assistant_message"]

    async def send(self, text: str, *, files: Iterable[dict[str, str]] = (),
                   timeout: float = 60.0, command: str | None = None) -> float:
        """Send one message and wait for its task to end; returns the latency in seconds."""
        msg = {"id": str(uuid.uuid4()), "threadId": self.thread_id or "", "name": "User",
               "type": "user_message", "output": text,
               "createdAt": datetime.now(timezone.utc).isoformat()}
        if command:
            msg["command"] = command
        self._task_end.clear()
        t0 = time.monotonic()
        await self.sio.emit("client_message", {"message": msg, "fileReferences": list(files)})
        await asyncio.wait_for(self._task_end.wait(), timeout)
        return time.monotonic() - t0

    async def upload_bytes(self, name: str, data: bytes | Any, mime: str,
                           timeout: float = 120.0) -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout) as http:
            return await http.post(f"{self.base}/project/file",
                                   params={"session_id": self.session_id},
                                   files={"file": (name, data, mime)}, cookies=self.cookies)

    async def upload(self, path: Path, mime: str | None = None, name: str | None = None,
                     timeout: float = 120.0) -> httpx.Response:
        mime = mime or guess_mime(path)
        with open(path, "rb") as fh:
            return await self.upload_bytes(name or path.name, fh, mime, timeout)

    async def wait_for(self, predicate, timeout: float = 60.0, poll: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(poll)
        return bool(predicate())

    async def import_file(self, path: Path, *, mime: str | None = None, name: str | None = None,
                          timeout: float = 120.0) -> tuple[int, str]:
        """Upload + send like the browser; wait for the import's final sentence.

        Returns (HTTP status of the upload, final text shown). A refused upload (HTTP 4xx)
        never reaches the chat; the browser shows the error itself.
        """
        r = await self.upload(path, mime=mime, name=name, timeout=timeout)
        if r.status_code != 200:
            return r.status_code, r.text
        mark = self.mark()
        await self.send("", files=[{"id": r.json()["id"]}], timeout=timeout)
        ok = await self.wait_for(lambda: any(final_import_text(t) for t in self.texts_since(mark)),
                                 timeout)
        texts = [t for t in self.texts_since(mark) if final_import_text(t)]
        return 200, (texts[-1] if ok and texts else " | ".join(self.texts_since(mark)))


def final_import_text(text: str) -> bool:
    """The import flow's last word: an outcome, not a progress line."""
    t = text.strip()
    if not t or t.startswith("Importing ") or t.startswith("Generating"):
        return False
    return True


def guess_mime(path: Path) -> str:
    s = path.name.lower()
    if s.endswith(".zip"):
        return "application/zip"
    if s.endswith(".xml"):
        return "text/xml"
    return "application/octet-stream"


def sentences(text: str) -> int:
    """Rough sentence count of a chat message (markdown stripped)."""
    import re
    t = re.sub(r"[*_`#>]", "", text).strip()
    parts = [p for p in re.split(r"(?<=[.!?])\s+", t) if p.strip()]
    return len(parts)


# -- Redis state snapshots --------------------------------------------------------------------
def user_patterns(user_id: str) -> list[str]:
    """Every key pattern that holds something of ``user_id`` (data-model.md §2)."""
    from wellness.store import keys
    return [keys.UserKeys(user_id).all_pattern(), keys.episodic_user_pattern(user_id),
            *keys.checkpoint_user_patterns(user_id)]


def snapshot(r: redis.Redis, patterns: Iterable[str], extra_keys: Iterable[str] = ()) -> dict[str, Any]:
    """``{key: (DUMP bytes, has_ttl)}`` for every key matching ``patterns`` (byte-exact)."""
    found: set[bytes] = set()
    for p in patterns:
        found.update(r.scan_iter(match=p, count=2000))
    found.update(k.encode() if isinstance(k, str) else k for k in extra_keys)
    out: dict[str, Any] = {}
    for k in sorted(found):
        dump = r.dump(k)
        if dump is None:
            continue
        ttl = r.pttl(k)
        out[k.decode("utf-8", "replace")] = (dump, ttl > 0)
    return out


def thread_keys(r: redis.Redis, thread_id: str) -> list[str]:
    """The Chainlit data-layer keys of one thread (hash, steps zset, elements, each step)."""
    from wellness.store import keys
    out = [keys.cl_thread(thread_id), keys.cl_thread_steps(thread_id),
           keys.cl_thread_elements(thread_id)]
    for sid in r.zrange(keys.cl_thread_steps(thread_id), 0, -1):
        out.append(keys.cl_step(sid.decode() if isinstance(sid, bytes) else sid))
    return out


def raw_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=False, socket_timeout=10)


def dump_json(obj: Any) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


def logical_snapshot(r: redis.Redis, keys_: Iterable[str]) -> dict[str, Any]:
    """Type-aware content of keys (for comparisons across a restart).

    Why not DUMP there: after an AOF reload Redis may re-encode small hashes/zsets (listpack
    vs hashtable), which changes DUMP bytes while the data is identical.
    """
    out: dict[str, Any] = {}
    for k in keys_:
        t = r.type(k)
        t = t.decode() if isinstance(t, bytes) else t
        if t == "string":
            v: Any = r.get(k)
        elif t == "hash":
            v = sorted(r.hgetall(k).items())
        elif t == "zset":
            v = r.zrange(k, 0, -1, withscores=True)
        elif t == "set":
            v = sorted(r.smembers(k))
        elif t == "list":
            v = r.lrange(k, 0, -1)
        elif t == "ReJSON-RL":
            v = r.execute_command("JSON.GET", k, "$")
        elif t == "none":
            continue
        else:
            v = r.dump(k)
        out[k] = (t, v)
    return out
