"""Password hashing, login throttling, user management and the persistent JWT secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from wellness.chat import auth
from wellness.chat.services import SECRET_FILE, ensure_auth_secret
from wellness.config import Settings

pytestmark = pytest.mark.unit

FAST = {"n": 2**10}


class FakeAsyncRedis:
    """Just enough of redis.asyncio for the login path."""

    def __init__(self) -> None:
        self.kv: dict[str, Any] = {}

    async def get(self, k: str) -> Any:
        return self.kv.get(k)

    async def hget(self, k: str, f: str) -> Any:
        return (self.kv.get(k) or {}).get(f)

    async def delete(self, *ks: str) -> int:
        return sum(1 for k in ks if self.kv.pop(k, None) is not None)

    def pipeline(self) -> "FakeAsyncRedis":
        self._ops: list[tuple[str, str]] = []
        return self

    def incr(self, k: str) -> None:
        self._ops.append(("incr", k))

    def expire(self, k: str, s: int) -> None:
        self._ops.append(("expire", k))

    async def execute(self) -> None:
        for op, k in self._ops:
            if op == "incr":
                self.kv[k] = int(self.kv.get(k) or 0) + 1


class FakeSyncRedis:
    def __init__(self) -> None:
        self.kv: dict[str, Any] = {}

    def hset(self, k: str, mapping: dict[str, str]) -> None:
        self.kv.setdefault(k, {}).update(mapping)

    def delete(self, *ks: str) -> int:
        return sum(1 for k in ks if self.kv.pop(k, None) is not None)

    def scan_iter(self, match: str, count: int) -> list[str]:
        prefix = match.rstrip("*")
        return [k for k in self.kv if k.startswith(prefix)]


def test_hash_roundtrip_and_salting() -> None:
    h1 = auth.hash_password("correct horse", **FAST)
    h2 = auth.hash_password("correct horse", **FAST)
    assert h1 != h2 and h1.startswith("scrypt$")
    assert auth.verify_password("correct horse", h1)
    assert not auth.verify_password("wrong horse", h1)
    assert not auth.verify_password("x", "garbage")
    assert not auth.verify_password("x", "bcrypt$1$2$3$YQ==$YQ==")


def test_user_management() -> None:
    r = FakeSyncRedis()
    auth.add_user(r, "alice", "long enough")
    auth.add_user(r, "bob@example.com", "long enough")
    assert auth.list_users(r) == ["alice", "bob@example.com"]
    assert auth.remove_user(r, "alice") and not auth.remove_user(r, "alice")
    with pytest.raises(ValueError):
        auth.add_user(r, "bad name!", "long enough")
    with pytest.raises(ValueError):
        auth.add_user(r, "carol", "short")


async def test_login_checks_password_and_throttles() -> None:
    r = FakeAsyncRedis()
    r.kv["cl:password:alice"] = {"hash": auth.hash_password("right password", **FAST)}
    assert await auth.check_login(r, "alice", "right password")
    for _ in range(auth.MAX_FAILURES):
        assert not await auth.check_login(r, "alice", "wrong")
    # even the right password is refused while throttled
    assert not await auth.check_login(r, "alice", "right password")
    assert not await auth.check_login(r, "nobody", "whatever")
    assert not await auth.check_login(r, "../etc", "whatever")


def test_auth_secret_is_persistent_and_private(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET", raising=False)
    s = Settings(data_dir=tmp_path)
    first = ensure_auth_secret(s)
    assert os.environ["CHAINLIT_AUTH_SECRET"] == first and len(first) > 40
    mode = stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET")
    assert ensure_auth_secret(s) == first
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "from-env")
    assert ensure_auth_secret(s) == "from-env"
