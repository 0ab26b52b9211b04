"""Helpers shared by the importer integration tests (dumps of a user's keys, generator files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wellness.store.connection import RedisStore


def dump_user(store: RedisStore, user_id: str, with_health_data: bool = True) -> dict[str, Any]:
    """Every key of ``user_id`` with its type, value and TTL presence (for before/after diffs)."""
    out: dict[str, Any] = {}
    with store.connection() as r:
        for key in sorted(r.scan_iter(match=f"user:{user_id}:*", count=1000)):
            t = r.type(key)
            if t == "string":
                v: Any = r.get(key)
                if not with_health_data and key.endswith(":health:version"):
                    v = "<version>"  # bookkeeping, like the import history: new per import
            elif t == "hash":
                v = r.hgetall(key)
            elif t == "zset":
                v = r.zrange(key, 0, -1, withscores=True)
            elif t == "set":
                v = sorted(r.smembers(key))
            elif t == "ReJSON-RL":
                v = r.execute_command("JSON.GET", key, "$")
                if not with_health_data:
                    v = "<json>"
            else:
                v = t
            out[key] = (t, v)
    return out


def write_generated(tmp: Path, name: str = "export.zip", **cfg: Any):  # noqa: ANN201
    from tests.healthgen import GenConfig, write_export, write_zip

    path = tmp / name
    gen_cfg = GenConfig(**cfg)
    truth = write_zip(path, gen_cfg) if name.endswith(".zip") else write_export(path, gen_cfg)
    return path, truth
