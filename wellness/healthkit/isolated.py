"""Run ``import_export`` in a child process, with the same progress/cancel contract.

Why: the chat server used to run the importer in a worker *thread*. Parsing and aggregation
are pure-Python CPU work that holds the GIL, so while a large export imported, the server's
event loop woke up hundreds of milliseconds late (measured by bench/chat_load.py: loop lag
max 1.3 s, chat turn p95 3.6 s at 5 sessions during a 60 MB import, vs 0.5 s without). In a
child process the import has its own interpreter and GIL; the server only relays progress.

The child comes from a ``forkserver`` (the server has threads and an event loop, which a
plain ``fork`` would copy in an inconsistent state; ``spawn`` re-imports everything and cost
2-3 s per import on a busy host). The fork server preloads the importer once, so each import
starts in milliseconds. The child exits when the server process disappears (a watchdog
thread polls its pid), and sends back either the summary dict or the error's class
name, ``user_message`` and detail, which are re-raised here as the same typed error.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from wellness.config import Settings
from wellness.healthkit import errors as import_errors

POLL_S = 0.1
log = logging.getLogger(__name__)


def _watch_parent(server_pid: int) -> None:
    while True:
        time.sleep(0.2)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(3)  # the server died (SIGKILL/OOM): stop before committing anything
        except PermissionError:
            pass


def _child(path: str, user_id: str, redis_url: str, settings: Settings, file_name: str | None,
           conn: Any, ppid: int) -> None:
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()
    try:
        # Chats first: on a small machine the import (and the parse helpers it forks, which
        # inherit this) would otherwise take the cores the server needs to answer turns.
        os.nice(int(os.environ.get("WELLNESS_IMPORT_NICE", "10")))
    except (OSError, ValueError):
        pass
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore

    class _Cancel:
        """The parent's "cancel" arrives on the same duplex pipe (no shared semaphores)."""

        cancelled = False

        def is_set(self) -> bool:
            try:
                while not self.cancelled and conn.poll():
                    self.cancelled = conn.recv() == "cancel"
            except (EOFError, OSError):
                self.cancelled = True
            return self.cancelled

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


_CTX: Any = None
_MAIN_LOCK = threading.Lock()


def _context() -> Any:
    """The forkserver context, preloading the importer once."""
    global _CTX
    if _CTX is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["wellness.healthkit.importer",
                                    "wellness.healthkit.isolated",
                                    "wellness.store.connection"])
        _CTX = ctx
    return _CTX


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

    t0 = time.monotonic()
    ctx = _context()
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    cancel_sent = False
    # Not a daemon: the importer forks its own parse helpers, which daemons may not do; the
    # watchdog and the ``finally`` below make sure it never outlives the server or the call.
    proc = ctx.Process(target=_child, name="wellness-import", daemon=False,
                       args=(path, user_id, redis_url, settings, file_name, child_conn,
                             os.getpid()))
    with _MAIN_LOCK:
        # multiprocessing re-runs the parent's main *script* in every child when __main__ has
        # a __file__ (here the ``chainlit`` launcher: ~1.5 s of imports per import). The
        # child only needs this module, so hide the path while the child is launched.
        main = sys.modules.get("__main__")
        hidden = main.__dict__.pop("__file__", None) if main is not None else None
        try:
            proc.start()
        finally:
            if hidden is not None and main is not None:
                main.__file__ = hidden
    log.info("import worker started in %.2fs", time.monotonic() - t0)
    child_conn.close()
    try:
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent:
                parent_conn.send("cancel")
                cancel_sent = True
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
        t1 = time.monotonic()
        proc.join(5)
        log.info("import worker ran %.2fs, exit took %.2fs", t1 - t0, time.monotonic() - t1)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        parent_conn.close()
