"""ASGI guard in front of Chainlit's upload route (``POST /project/file``).

Why: Chainlit's route does ``await file.read()`` — the whole body into RAM (after Starlette
spooled it to disk) — and only then compares it with ``max_size_mb``. A 5 GB upload therefore
costs 5 GB of RAM and disk before it is refused, and an empty file crashes the route with a
500 (``persist_file`` treats ``b""`` as "no content"). This guard answers from the headers
(413 when ``Content-Length`` exceeds the limit), counts bytes of bodies without a length and
cuts them off at the limit, and turns any crash of the route into a 400 with one sentence the
browser shows, so neither case reaches the importer or leaves anything behind.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH = "/project/file"
#: Multipart framing on top of the file itself (boundaries, part headers).
MULTIPART_SLACK = 64 * 1024
TOO_BIG = ("This file is larger than the {limit} upload limit, so it was not uploaded. "
           "Your previous data is untouched.")
UNREADABLE = ("That file is empty or could not be read, so nothing was imported. "
              "Your previous data is untouched.")


class _TooLarge(Exception):
    pass


def configured_max_bytes() -> int | None:
    """``[features.spontaneous_file_upload] max_size_mb`` in bytes (None when unset)."""
    try:
        from chainlit.config import config
        spec = config.features.spontaneous_file_upload
        mb = getattr(spec, "max_size_mb", None) if spec else None
    except Exception:  # noqa: BLE001 - no config: no limit from us
        return None
    return int(mb) * 1024 * 1024 if mb else None


def _fmt(n: int) -> str:
    return f"{n / 1024**3:.0f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


class UploadGuard:
    """Refuse oversize uploads before their body is read; never let the route 500."""

    def __init__(self, app: ASGIApp, max_bytes: int | None | Callable[[], int | None] = None
                 ) -> None:
        self.app = app
        self._max = max_bytes if max_bytes is not None else configured_max_bytes

    @property
    def max_bytes(self) -> int | None:
        return self._max() if callable(self._max) else self._max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or \
                not str(scope.get("path", "")).endswith(UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if limit:
            cap = limit + MULTIPART_SLACK
            length = _content_length(scope)
            if length is not None and length > cap:
                log.warning("upload refused from its Content-Length (%d MB)", length >> 20)
                await _reply(send, 413, TOO_BIG.format(limit=_fmt(limit)))
                return
            receive = _counting(receive, cap)
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except _TooLarge:
            if not started:
                await _reply(send, 413, TOO_BIG.format(limit=_fmt(limit or 0)))
        except Exception as exc:  # noqa: BLE001 - the route crashed: one sentence, no 500
            if started:
                raise
            log.warning("upload route failed: %s", type(exc).__name__)
            await _reply(send, 400, UNREADABLE)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, cap: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _TooLarge()
        return message
    return wrapped


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def install(app: Any) -> None:
    """Add the guard to Chainlit's FastAPI app (call at import time, before it serves)."""
    if getattr(app, "_wellness_upload_guard", False):
        return
    app.add_middleware(UploadGuard)
    app._wellness_upload_guard = True
