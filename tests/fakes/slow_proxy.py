"""A delaying TCP proxy on 127.0.0.1 for "slow Redis" tests.

Why a proxy and not ``DEBUG SLEEP``: Redis 7+ disables DEBUG unless ``enable-debug-command``
is set (the embedded server does not set it), and DEBUG SLEEP freezes the server for every
client including the test itself. The proxy delays only the app's traffic, can be switched
slow/fast at runtime, and can also drop all connections (``blackhole``) to mimic a network
partition where the peer never answers.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class SlowProxy:
    """``with SlowProxy(upstream_port) as p: p.port``; set ``p.delay_s`` / ``p.blackhole``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = 0.0
        self.blackhole = False
        self.port = 0
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    delayed: bool) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.blackhole:
                    await asyncio.sleep(0.05)
                if delayed and self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already closed
                pass

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, up_w))
        await asyncio.gather(self._pipe(client_r, up_w, False), self._pipe(up_r, client_w, True))
        self._writers.difference_update((client_w, up_w))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port or 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        loop.run_until_complete(start())
        loop.run_forever()
        loop.close()

    def __enter__(self) -> "SlowProxy":
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-proxy")
        self._thread.start()
        self._ready.wait(10)
        return self

    def drop_all(self) -> None:
        """Close every proxied connection (clients see a reset)."""
        if self._loop is None:
            return

        def close() -> None:
            for w in list(self._writers):
                w.close()
        self._loop.call_soon_threadsafe(close)

    def __exit__(self, *exc: Any) -> None:
        if self._loop is None:
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()

        fut = asyncio.run_coroutine_threadsafe(stop(), self._loop)
        try:
            fut.result(5)
        except Exception:  # noqa: BLE001 - best effort
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
