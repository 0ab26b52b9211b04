"""Fixtures for the reliability suite and the recorder behind ``docs/reliability.md``.

Why a recorder: the report must not drift from the truth, so every test states what it tried
and what happened through the ``record`` fixture; the records (plus the test's pass/fail
outcome and duration) are merged into ``docs/reliability-results.json`` keyed by test id, and
``python -m tests.reliability_report`` renders the markdown from that file only.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import REPO, AppServer
from wellness.store.embedded import EmbeddedRedis

RESULTS = Path(os.environ.get("WELLNESS_RELIABILITY_RESULTS")
               or REPO / "docs" / "reliability-results.json")
_PENDING: dict[str, dict[str, Any]] = {}
_COLLECTED: set[str] = set()


def pytest_itemcollected(item: pytest.Item) -> None:
    """Every collected test id (before -k/-m deselection), to spot stale records."""
    _COLLECTED.add(item.nodeid)


class Recorder:
    """What one test tried and observed; serialised with the test outcome at teardown."""

    def __init__(self, nodeid: str, category: str) -> None:
        self.nodeid = nodeid
        self.category = category
        self.cases: list[dict[str, Any]] = []
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []

    def case(self, name: str, result: str, ok: bool, **details: Any) -> None:
        self.cases.append({"case": name, "result": result, "ok": bool(ok), **details})

    def figure(self, name: str, value: Any) -> None:
        self.figures[name] = value

    def note(self, text: str) -> None:
        self.notes.append(text)


def _category(item: pytest.Item) -> str:
    name = Path(str(item.fspath)).stem
    return name.removeprefix("test_")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):  # noqa: ANN201
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
        rec: Recorder | None = getattr(item, "_reliability_recorder", None)
        if rec is None:
            return
        entry = _PENDING.setdefault(item.nodeid, {})
        entry.update({
            "test": item.nodeid, "category": rec.category,
            "doc": (item.function.__doc__ or "").strip().split("\n\n")[0]  # type: ignore[attr-defined]
            if getattr(item, "function", None) else "",
            "outcome": rep.outcome if not hasattr(rep, "wasxfail") else "xfail",
            "seconds": round(rep.duration, 2),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })


@pytest.fixture()
def record(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    rec = Recorder(request.node.nodeid, _category(request.node))
    request.node._reliability_recorder = rec
    yield rec
    entry = _PENDING.setdefault(request.node.nodeid, {"test": request.node.nodeid,
                                                      "category": rec.category})
    entry.update({"cases": rec.cases, "figures": rec.figures, "notes": rec.notes})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Merge this run's records into the results file (tests not run keep their last record)."""
    if not _PENDING:
        return
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {"records": {}}
    # Records of tests that no longer exist in a file collected by this run are stale.
    collected = set(_COLLECTED)
    files = {n.split("::", 1)[0] for n in collected}
    for nodeid in list(data["records"]):
        if nodeid.split("::", 1)[0] in files and nodeid not in collected:
            del data["records"][nodeid]
    for nodeid, entry in _PENDING.items():
        if "outcome" not in entry:
            continue  # setup never finished (e.g. interrupted): keep the previous record
        data["records"][nodeid] = entry
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


# -- servers ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rel")


@pytest.fixture(scope="module")
def app_server(redis_url: str, module_tmp: Path) -> Iterator[AppServer]:
    """One app on the session Redis for a whole module (local single-user mode)."""
    user = f"rel{uuid.uuid4().hex[:10]}"
    server = AppServer(redis_url, module_tmp / "app", env_extra={"WELLNESS_USER": user}).start()
    server.user = user  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private embedded Redis (stoppable; reuses its port on restart)."""
    server = EmbeddedRedis(tmp_path / "own", started_by="test")
    server.start()
    yield server
    EmbeddedRedis(tmp_path / "own", started_by="test").stop()
    server.stop()
