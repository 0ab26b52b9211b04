"""Run ``import_export`` in a child process, with the same progress/cancel contract.

Why: the chat server used to run the importer in a worker *thread*. Parsing and aggregation
are pure-Python CPU work that holds the GIL, so while a large export imported, the server's
event loop woke up hundreds of milliseconds late (measured by bench/chat_load.py: loop lag
max 1.3 s, chat turn p95 3.6 s at 5 sessions during a 60 MB import, vs 0.5 s without). In a
child process the import has its own interpreter and GIL; the server only relays progress.

The child is started with ``spawn`` (the server has threads and an event loop, which
``fork`` would copy in an inconsistent state), exits when its parent disappears (a watchdog
thread compares ``getppid``), and sends back either the summary dict or the error's class
name, ``user_message`` and detail, which are re-raised here as the same typed error.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from wellness.config import Settings
from wellness.healthkit import errors as import_errors

POLL_S = 0.1


def _watch_parent(ppid: int) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != ppid:
            os._exit(3)  # the server died (SIGKILL/OOM): stop before committing anything


def _child(path: str, user_id: str, redis_url: str, settings: Settings, file_name: str | None,
           conn: Any, cancel: Any, ppid: int) -> None:
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore

    class _Cancel:
        def is_set(self) -> bool:
            return cancel.is_set()

    def progress(p: Any) -> None:
        try:
            conn.send(("progress", (p.bytes_read, p.bytes_total, p.records, p.phase)))
        except (OSError, ValueError):
            pass

    store = RedisStore(redis_url)
    try:
        summary = import_export(path, user_id, store, settings, progress=progress,
                                cancel=_Cancel(), file_name=file_name)  # type: ignore[arg-type]
        conn.send(("done", summary.to_dict()))
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the parent
        conn.send(("error", (type(exc).__name__, getattr(exc, "user_message", None),
                             getattr(exc, "detail", None) or str(exc)[:300])))
    finally:
        store.close()
        conn.close()


class IsolatedSummary(dict):
    """The child's ``ImportSummary.to_dict()``; ``to_dict()`` keeps the caller's contract."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


def _rebuild_error(name: str, user_message: str | None, detail: str | None) -> BaseException:
    cls = getattr(import_errors, name, None)
    if isinstance(cls, type) and issubclass(cls, import_errors.ImportError_):
        return cls(user_message, detail)
    if name == "StoreUnavailable":
        from wellness.store.errors import StoreUnavailable
        return StoreUnavailable(detail or "redis unavailable")
    return RuntimeError(f"import failed in the worker process: {name}")


def import_in_process(path: str, user_id: str, redis_url: str, settings: Settings, *,
                      progress: Callable[[Any], None] | None = None,
                      cancel: threading.Event | None = None,
                      file_name: str | None = None) -> IsolatedSummary:
    """Blocking, like ``import_export`` (call it via ``asyncio.to_thread``)."""
    from wellness.healthkit.importer import ImportProgress

    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    # Not a daemon: the importer forks its own parse helpers, which daemons may not do; the
    # watchdog and the ``finally`` below make sure it never outlives the server or the call.
    proc = ctx.Process(target=_child, name="wellness-import", daemon=False,
                       args=(path, user_id, redis_url, settings, file_name, child_conn, stop,
                             os.getpid()))
    proc.start()
    child_conn.close()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                stop.set()
            if parent_conn.poll(POLL_S):
                try:
                    kind, payload = parent_conn.recv()
                except EOFError:
                    break
                if kind == "progress":
                    if progress is not None:
                        progress(ImportProgress(*payload))
                elif kind == "done":
                    return IsolatedSummary(payload)
                elif kind == "error":
                    raise _rebuild_error(*payload)
            elif not proc.is_alive() and not parent_conn.poll(0):
                break
        raise import_errors.ImportError_(
            "The import stopped unexpectedly, so nothing was changed.",
            detail=f"worker exited with code {proc.exitcode}")
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        parent_conn.close()
