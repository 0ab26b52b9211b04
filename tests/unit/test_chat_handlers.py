"""Handlers with a recording emitter: routing, agent turns, uploads, profiles, failures."""

from __future__ import annotations

import asyncio
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import chainlit as cl
import pytest

from tests.unit.test_chat_helpers import make_context
from wellness.agent.graph import TurnEvent
from wellness.chat import handlers, upload
from wellness.chat.services import Services, set_services
from wellness.config import Settings
from wellness.store.errors import StoreUnavailable

pytestmark = pytest.mark.unit


class FakeRedis:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {}

    async def exists(self, *keys: str) -> int:
        return sum(1 for k in keys if k in self.data)

    async def execute_command(self, *args: Any) -> Any:
        if args[0] == "JSON.GET":
            return self.data.get(args[1])
        raise NotImplementedError(args)


class FakeStore:
    url = "redis://fake"

    def __init__(self, redis: FakeRedis | None = None, down: bool = False) -> None:
        self.redis = redis or FakeRedis()
        self.down = down

    @asynccontextmanager
    async def aconnection(self, decode: bool = True):
        if self.down:
            raise StoreUnavailable("down")
        yield self.redis


class FakeRuntime:
    def __init__(self, events: list[TurnEvent] | None = None, exc: Exception | None = None):
        self.calls: list[tuple[str, str, str, bool]] = []
        self.events = events or [TurnEvent.token("Hello."), TurnEvent.done("Hello.", [])]
        self.exc = exc
        self.forgotten: list[tuple[str, str]] = []

    async def run_turn(self, user_id: str, thread_id: str, text: str, *, stateless: bool = False):
        self.calls.append((user_id, thread_id, text, stateless))
        if self.exc:
            raise self.exc
        for ev in self.events:
            yield ev

    async def forget_thread(self, user_id: str, thread_id: str) -> None:
        self.forgotten.append((user_id, thread_id))


@pytest.fixture()
def services(tmp_path: Path):
    s = Services(Settings(data_dir=tmp_path / "data", redis_url="redis://unused"))
    s.store = FakeStore()
    s.runtime = FakeRuntime()
    s.started = True
    set_services(s)
    yield s
    set_services(None)


def user_message(text: str = "", elements: list[Any] | None = None) -> cl.Message:
    m = cl.Message(content=text, type="user_message")
    m.elements = elements or []
    return m


async def test_text_goes_to_the_agent_on_the_chainlit_thread_id(services: Services) -> None:
    ctx = make_context(user="local")
    await handlers.on_message(user_message("How did I sleep?"))
    assert services.runtime.calls == [("local", ctx.session.thread_id, "How did I sleep?", False)]
    assert ctx.session.thread_id != ctx.session.id
    assert ctx.emitter.texts() == ["Hello."]


async def test_stateless_profile_runs_without_memory(services: Services) -> None:
    make_context(user="local", profile=handlers.STATELESS)
    await handlers.on_message(user_message("steps today?"))
    assert services.runtime.calls[0][3] is True


async def test_store_unavailable_is_a_friendly_sentence(services: Services) -> None:
    services.runtime = FakeRuntime(exc=StoreUnavailable("ConnectionError: refused"))
    ctx = make_context()
    await handlers.on_message(user_message("steps?"))
    assert ctx.emitter.texts() == [StoreUnavailable.user_message]


async def test_unexpected_failure_never_shows_a_traceback(services: Services) -> None:
    services.runtime = FakeRuntime(exc=RuntimeError("Traceback: secret internals"))
    ctx = make_context()
    await handlers.on_message(user_message("steps?"))
    assert ctx.emitter.texts() == [handlers.GENERIC_FAILURE]


async def test_no_redis_at_all(services: Services) -> None:
    services.store = None
    ctx = make_context()
    await handlers.on_message(user_message("steps?"))
    assert ctx.emitter.texts() == [StoreUnavailable.user_message]


async def test_missing_agent_gives_status(services: Services) -> None:
    services.runtime = None
    services.problems["agent"] = "agent not installed (wellness.agent.tools)"
    ctx = make_context()
    await handlers.on_message(user_message("steps?"))
    text = ctx.emitter.texts()[0]
    assert "Coach: not available" in text and "import" in text


async def test_status_command_reports_data_range(services: Services) -> None:
    services.store = FakeStore(FakeRedis({"user:local:health_data":
                                          '{"date_range": {"start": "2026-01-01", '
                                          '"end": "2026-11-30"}, "records": 1234}'}))
    ctx = make_context()
    msg = user_message("")
    msg.command = "Status"
    await handlers.on_message(msg)
    text = ctx.emitter.texts()[0]
    assert "2026\\-01\\-01 to 2026\\-11\\-30" in text and "1,234" in text


async def test_welcome_with_demo_button_only_without_data(services: Services) -> None:
    ctx = make_context()
    await handlers.chat_start()
    assert "export.zip" in ctx.emitter.texts()[0]
    actions = [d for e, d in ctx.emitter.events if e == "action"]
    assert actions and actions[0]["name"] == handlers.DEMO_ACTION
    assert ctx.emitter.of("set_commands")
    services.store = FakeStore(FakeRedis({"user:local:health_data": "{}"}))
    ctx2 = make_context()
    await handlers.chat_start()
    assert ctx2.emitter.texts() == []  # starters stay visible


async def test_resume_of_someone_elses_thread_is_refused(services: Services) -> None:
    make_context(user="bob")
    with pytest.raises(PermissionError):
        await handlers.chat_resume({"id": "t1", "userIdentifier": "alice"})
    await handlers.chat_resume({"id": "t2", "userIdentifier": "bob"})


def test_local_user_is_the_configured_default(services: Services) -> None:
    assert handlers.local_user().identifier == "local"


def test_profiles_and_starters() -> None:
    names = [p.name for p in handlers.chat_profiles()]
    assert names == ["Coach", "Stateless"]
    assert 4 <= len(handlers.starters()) <= 6


# -- uploads -------------------------------------------------------------------------------
class FakeSummary:
    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d

    def to_dict(self) -> dict[str, Any]:
        return self.d


SUMMARY = {"date_range": {"start": "2025-01-01", "end": "2026-11-30"}, "records": 5000,
           "seconds": 1.5, "counts_by_type": {"HKQuantityTypeIdentifierStepCount": 4000},
           "workouts_by_type": {"Running": 12},
           "sources": [{"name": "<img src=x onerror=alert(1)>", "records": 10}],
           "warnings": {}}


@pytest.fixture()
def zip_upload(tmp_path: Path) -> Path:
    p = tmp_path / "upload.bin"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 1000)
    return p


def patch_importer(monkeypatch: pytest.MonkeyPatch, fn: Any) -> None:
    """Replace the importer whichever way the chat calls it (in-thread or child process);
    both take (path, user_id, store-or-url, settings, *, progress, cancel, file_name)."""
    import wellness.healthkit as hk

    monkeypatch.setattr(hk, "import_export", fn)
    try:
        import wellness.healthkit.isolated as iso
    except ImportError:
        return
    monkeypatch.setattr(iso, "import_in_process", fn)


async def _wait_job(user: str = "local") -> None:
    for _ in range(200):
        if upload.running_job(user) is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("import did not finish")


async def test_upload_imports_in_a_worker_with_progress_and_summary(
        services: Services, zip_upload: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.healthkit as hk
    from wellness.healthkit import ImportProgress

    loop_thread = threading.get_ident()
    seen: dict[str, Any] = {}

    def fake_import(path, user_id, store, settings, *, progress=None, cancel=None,
                    file_name=None):
        import time
        seen.update(thread=threading.get_ident(), user=user_id, name=file_name,
                    exists=Path(path).exists())
        for i in range(1, 5):
            progress(ImportProgress(i * 250, 1000, i * 1000, "reading"))
            time.sleep(0.15)
        return FakeSummary(SUMMARY)

    patch_importer(monkeypatch, fake_import)
    monkeypatch.setattr(upload, "import_chart",
                        lambda *a: _const({"kind": "bar", "title": "t", "x": ["a"],
                                           "series": {"n": [1]}, "y_label": "n"}))
    ctx = make_context()
    f = cl.File(name="export.zip", path=str(zip_upload), mime="application/zip")
    await handlers.on_message(user_message("", [f]))
    await _wait_job()
    assert ctx.emitter.of("first_interaction")[0]["interaction"] == "Health data import"
    assert seen["thread"] != loop_thread and seen["user"] == "local"
    assert seen["name"] == "export.zip" and seen["exists"]
    texts = [d.get("output", "") for e, d in ctx.emitter.events if e == "update_message"]
    assert any("records" in t and "%" in t for t in texts), texts
    final = ctx.emitter.texts()[-1]
    assert "2025\\-01\\-01 to 2026\\-11\\-30" in final
    assert "Step count" in final and "Running (12)" in final
    assert "\\<img" in final and not re.search(r"(?<!\\)<img", final)  # inert names
    assert [e for e in ctx.emitter.of("element") if e["type"] == "plotly"]
    assert not list((services.settings.data_dir / "uploads").iterdir())  # our link is gone


async def _const(v: Any) -> Any:
    return v


async def test_not_an_export_is_refused_before_importing(
        services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.healthkit as hk

    called = []
    monkeypatch.setattr(hk, "import_export", lambda *a, **k: called.append(1))
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    ctx = make_context()
    await handlers.on_message(user_message("", [cl.File(name="export.zip", path=str(bad))]))
    assert ctx.emitter.texts() == [upload.NOT_EXPORT] and not called


async def test_import_errors_become_one_sentence(services: Services, zip_upload: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.healthkit as hk
    from wellness.healthkit import ZipBombDetected

    def boom(*a: Any, **k: Any) -> None:
        raise ZipBombDetected(detail="ratio 1:5000")

    patch_importer(monkeypatch, boom)
    ctx = make_context()
    await handlers.on_message(user_message("", [cl.File(name="x.zip", path=str(zip_upload))]))
    await _wait_job()
    final = ctx.emitter.texts()[-1]
    assert final.startswith(ZipBombDetected.user_message)
    assert "untouched" in final and "ratio" not in final


async def test_cancel_button_stops_the_import(services: Services, zip_upload: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.healthkit as hk
    from wellness.healthkit import ImportCancelled

    def slow(path, user_id, store, settings, *, progress=None, cancel=None, file_name=None):
        assert cancel.wait(5)
        raise ImportCancelled()

    patch_importer(monkeypatch, slow)
    ctx = make_context()
    await handlers.on_message(user_message("", [cl.File(name="x.zip", path=str(zip_upload))]))
    job = upload.running_job("local")
    assert job is not None
    # another user cannot cancel it
    make_context(user="mallory")
    await handlers.on_cancel_import(cl.Action(name=upload.CANCEL_ACTION, payload={"job": job.id}))
    assert not job.cancel.is_set()
    make_context(user="local")
    await handlers.on_cancel_import(cl.Action(name=upload.CANCEL_ACTION, payload={"job": job.id}))
    await _wait_job()
    assert ctx.emitter.texts()[-1] == "Import cancelled. Your previous data is untouched."


async def test_chat_stays_responsive_during_an_import(services: Services, zip_upload: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.healthkit as hk

    release = threading.Event()

    def slow(path, user_id, store, settings, *, progress=None, cancel=None, file_name=None):
        release.wait(5)
        return FakeSummary(SUMMARY)

    patch_importer(monkeypatch, slow)
    monkeypatch.setattr(upload, "import_chart", lambda *a: _const(None))
    ctx = make_context()
    await handlers.on_message(user_message("", [cl.File(name="x.zip", path=str(zip_upload))]))
    await asyncio.wait_for(handlers.on_message(user_message("hello?")), 2)
    assert "Hello." in ctx.emitter.texts()
    # a second import for the same user is refused while the first runs
    await handlers.on_message(user_message("", [cl.File(name="y.zip", path=str(zip_upload))]))
    assert "already running" in ctx.emitter.texts()[-1]
    release.set()
    await _wait_job()


def test_sniff(tmp_path: Path) -> None:
    cases = {"a": b"PK\x03\x04rest", "b": b"\xef\xbb\xbf  <?xml version='1.0'?>",
             "c": b"<!DOCTYPE HealthData>", "d": b"\x89PNG", "e": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert [upload.sniff(tmp_path / n) for n in "abcde"] == ["zip", "xml", "xml", None, None]
    assert upload.sniff(tmp_path / "missing") is None


async def test_redis_down_at_startup_is_retried(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import wellness.store.runtime as rt

    calls = []

    def down(settings: Any, **kw: Any) -> Any:
        calls.append(1)
        raise StoreUnavailable("cannot reach Redis")

    monkeypatch.setattr(rt, "resolve_redis", down)
    s = Services(Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1"))
    set_services(s)
    try:
        await s.start()
        assert s.store is None and "redis" in s.problems
        ctx = make_context()
        await handlers.chat_start()
        assert ctx.emitter.texts() == [StoreUnavailable.user_message]
        s.last_attempt -= 10
        await handlers.on_message(user_message("hello"))
        assert len(calls) == 2  # retried, still down: friendly sentence again
        assert ctx.emitter.texts()[-1] == StoreUnavailable.user_message
    finally:
        set_services(None)


async def test_stop_mid_turn_leaves_the_chat_usable(services: Services) -> None:
    class Slow(FakeRuntime):
        async def run_turn(self, user_id, thread_id, text, *, stateless=False):
            self.calls.append((user_id, thread_id, text, stateless))
            if text == "slow":
                yield TurnEvent.tool_start("c1", "metric_series", {"metric": "steps"})
                await asyncio.sleep(30)
            yield TurnEvent.token("fine")
            yield TurnEvent.done("fine", [])

    services.runtime = Slow()
    ctx = make_context()
    task = asyncio.create_task(handlers.on_message(user_message("slow")))
    await asyncio.sleep(0.1)
    task.cancel()  # what Chainlit's Stop button does
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctx.emitter.steps("tool")[0]["output"] == "stopped"
    await handlers.on_message(user_message("again"))
    assert ctx.emitter.texts()[-1] == "fine"
