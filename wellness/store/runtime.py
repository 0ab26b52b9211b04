"""Which Redis to use: ``REDIS_URL`` when set, otherwise the embedded server.

Both paths end in the same check: the server must have the Search and JSON modules
(Redis 8+, Redis Stack, or the embedded combination), or we stop with a clear message.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass

import redis

from wellness.config import Settings, mask_url
from wellness.store.embedded import EmbeddedRedis
from wellness.store.errors import ModulesMissing, StoreUnavailable

REQUIRED_MODULES = {"search": "RediSearch (search)", "rejson": "RedisJSON (ReJSON)"}


@dataclass
class RedisEndpoint:
    """A resolved Redis: its URL, and the embedded server object if we manage one."""

    url: str
    embedded: EmbeddedRedis | None = None

    @property
    def masked_url(self) -> str:
        return mask_url(self.url) or ""

    def release(self) -> None:
        """Stop the embedded server if this process started it (never a shared one)."""
        if self.embedded is not None and self.embedded.owned:
            self.embedded.stop()


def server_info(url: str) -> dict[str, object]:
    """Version and module list of the server at ``url`` (raises StoreUnavailable)."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                  decode_responses=True)
    try:
        info = client.info("server")
        modules = client.module_list()
    except redis.AuthenticationError as exc:
        raise StoreUnavailable(f"Redis refused the credentials in REDIS_URL: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}") from exc
    finally:
        client.close()
    names = []
    for m in modules:
        name = m.get("name") if isinstance(m, dict) else None
        if name:
            names.append({"name": name, "ver": m.get("ver")})
    return {"version": info.get("redis_version"), "modules": names}


def check_modules(url: str) -> dict[str, object]:
    """Fail with an actionable message unless Search and JSON are loaded."""
    info = server_info(url)
    have = {str(m["name"]).lower() for m in info["modules"]}  # type: ignore[index]
    missing = [label for key, label in REQUIRED_MODULES.items() if key not in have]
    if missing:
        raise ModulesMissing(
            f"The Redis at {mask_url(url)} (version {info['version']}) lacks "
            f"{' and '.join(missing)}. wellness needs Redis 8 or newer, Redis Stack, or a "
            "managed Redis with Search and JSON enabled. Point REDIS_URL at such a server, "
            "or unset REDIS_URL to use the embedded one."
        )
    return info


def resolve_redis(settings: Settings, *, started_by: str = "app",
                  stop_at_exit: bool = True) -> RedisEndpoint:
    """Return a ready endpoint: the external REDIS_URL, or a started/reused embedded server."""
    if settings.redis_url:
        check_modules(settings.redis_url)
        return RedisEndpoint(settings.redis_url)
    server = EmbeddedRedis(settings.data_dir, started_by=started_by)
    url = server.start()
    endpoint = RedisEndpoint(url, server)
    if stop_at_exit and server.owned:
        atexit.register(endpoint.release)
    check_modules(url)
    return endpoint
