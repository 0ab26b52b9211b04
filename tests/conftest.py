"""Shared fixtures: one real embedded Redis per test session, never a user's data.

The server runs on a free port under a temp dir. Tests isolate themselves by user id
(``user_id`` fixture) instead of FLUSHALL, so they can share one server safely.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Never read a developer's .env or data dir, and never call a real LLM from tests.
_TEST_ROOT = Path(os.environ.get("WELLNESS_TEST_TMP") or
                  Path(__import__("tempfile").mkdtemp(prefix="wellness-tests-")))
os.environ["WELLNESS_ENV_FILE"] = str(_TEST_ROOT / "no.env")
os.environ["WELLNESS_DATA_DIR"] = str(_TEST_ROOT / "data")
for _var in ("REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "WELLNESS_EMBEDDING_MODEL",
             "DATABASE_URL", "LITERAL_API_KEY"):
    os.environ.pop(_var, None)

from wellness.config import Settings, load_settings  # noqa: E402
from wellness.store.connection import RedisStore  # noqa: E402
from wellness.store.embedded import EmbeddedRedis  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def test_root() -> Path:
    return _TEST_ROOT


@pytest.fixture(scope="session")
def redis_server(test_root: Path) -> Iterator[EmbeddedRedis]:
    """A real redis-server with Search + JSON for the whole session."""
    server = EmbeddedRedis(test_root / "redis-session", started_by="test")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url()


@pytest.fixture(scope="session")
def settings(redis_url: str, test_root: Path) -> Settings:
    os.environ["REDIS_URL"] = redis_url
    try:
        return load_settings().with_overrides(redis_url=redis_url,
                                              data_dir=test_root / "data")
    finally:
        os.environ.pop("REDIS_URL", None)


@pytest.fixture()
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url)
    yield s
    s.close()


@pytest.fixture()
def user_id() -> str:
    """A fresh user per test: tests never see each other's keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    return FIXTURES
