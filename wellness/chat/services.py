"""Process-wide services the chat uses: Redis, the agent runtime and memory.

Why a holder: Chainlit handlers are module-level functions, so the objects opened once at
``on_app_startup`` need one home. Every optional piece (agent, memory, importer) is imported
lazily; when one is missing or fails to start, the chat still runs and says what is missing
instead of crashing the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wellness.config import Settings, load_settings

log = logging.getLogger(__name__)

SECRET_FILE = "chainlit_auth_secret"


def ensure_auth_secret(settings: Settings) -> str:
    """Return a persistent JWT secret for Chainlit, creating it (0600) in the data dir.

    Why: Chainlit refuses to start with an auth callback and no ``CHAINLIT_AUTH_SECRET``, and a
    secret that changes per start logs everybody out. An explicit env value wins.
    """
    existing = os.environ.get("CHAINLIT_AUTH_SECRET")
    if existing:
        return existing
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if not secret:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret)
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        path.chmod(0o600)
    os.environ["CHAINLIT_AUTH_SECRET"] = secret
    return secret


@dataclass
class Services:
    """What one Chainlit process shares across sessions."""

    settings: Settings
    endpoint: Any = None          # wellness.store.runtime.RedisEndpoint
    store: Any = None             # wellness.store.connection.RedisStore
    runtime: Any = None           # wellness.agent.graph.AgentRuntime
    memory: Any = None            # wellness.memory.MemoryService
    problems: dict[str, str] = field(default_factory=dict)
    started: bool = False
    last_attempt: float = 0.0

    @property
    def redis_url(self) -> str | None:
        return getattr(self.endpoint, "url", None)

    async def start(self) -> None:
        """Open Redis, then the agent runtime and memory; record (never raise) what failed."""
        if self.started:
            return
        self.started = True
        self.last_attempt = time.monotonic()
        from wellness.store.connection import RedisStore
        from wellness.store.runtime import resolve_redis

        try:
            # Starting the embedded server and checking modules blocks: keep it off the loop.
            self.endpoint = await asyncio.to_thread(resolve_redis, self.settings,
                                                    started_by="app")
        except Exception as exc:  # reported to users as one sentence, logged without secrets
            log.error("redis unavailable at startup: %s", type(exc).__name__)
            self.problems["redis"] = str(exc)
            self.started = False  # ensure() retries later: Redis may come back
            return
        self.problems.pop("redis", None)
        self.store = RedisStore(self.endpoint.url)
        await asyncio.to_thread(self._sweep_staging)
        await self._open_agent()
        await self._open_memory()
        try:
            from wellness.chat.charts import warm_up
            await asyncio.to_thread(warm_up)
        except Exception:  # noqa: BLE001 - charts are optional
            log.debug("chart warm-up failed", exc_info=True)

    def _sweep_staging(self) -> None:
        """Remove what imports killed mid-way (SIGKILL, OOM) left behind; never fatal."""
        try:
            from wellness.healthkit.writer import sweep_orphan_staging
            with self.store.connection(decode=True) as r:
                n = sweep_orphan_staging(r)
            if n:
                log.warning("removed %d staging keys left by interrupted imports", n)
        except Exception as exc:  # noqa: BLE001 - cleanup must not stop the app
            log.warning("staging sweep skipped: %s", type(exc).__name__)

    async def ensure(self, retry_after_s: float = 5.0) -> None:
        """Retry opening Redis (at most every few seconds) if it was down at startup."""
        if self.store is None and not self.started and \
                time.monotonic() - self.last_attempt >= retry_after_s:
            await self.start()

    async def _open_agent(self) -> None:
        try:
            from wellness.agent.graph import AgentRuntime
        except ImportError as exc:
            self.problems["agent"] = f"agent not installed ({exc.name})"
            return
        try:
            self.runtime = await AgentRuntime.open(self.settings, self.endpoint.url,
                                                  store=self.store)
        except Exception as exc:
            log.exception("agent runtime failed to open")
            self.problems["agent"] = f"agent failed to start: {type(exc).__name__}"

    async def _open_memory(self) -> None:
        memory = getattr(self.runtime, "memory", None)
        if memory is not None:
            self.memory = memory
            return
        try:
            from wellness.memory import MemoryService
        except ImportError:
            return
        try:
            service = MemoryService(self.store, self.settings)
            await service.setup()
            self.memory = service
        except Exception:
            log.exception("memory service failed to open")
            self.problems["memory"] = "memory failed to start"

    async def stop(self) -> None:
        """Close in reverse order; stop the embedded Redis only if this process started it."""
        if self.runtime is not None:
            try:
                await self.runtime.close()
            except Exception:
                log.exception("closing agent runtime")
            self.runtime = None
        if self.memory is not None and hasattr(self.memory, "aclose"):
            try:
                await self.memory.aclose()
            except Exception:
                log.exception("closing memory")
        self.memory = None
        if self.store is not None:
            try:
                await self.store.aclose()
            except Exception:
                log.exception("closing redis store")
            self.store = None
        if self.endpoint is not None:
            await asyncio.to_thread(self.endpoint.release)
            self.endpoint = None
        self.started = False


_services: Services | None = None


def get_services() -> Services:
    """The process's services (settings loaded on first use; Redis opened at app startup)."""
    global _services
    if _services is None:
        _services = Services(load_settings())
    return _services


def set_services(services: Services | None) -> None:
    """Swap the process services (tests inject fakes here)."""
    global _services
    _services = services
