"""Opt-in event-loop lag probe for load, soak and fault tests (``WELLNESS_PROBE_FILE``).

Why inside the server: lag measured by a client includes the network and the client's own
loop; the number that matters is how late the *server's* loop wakes up while it streams
turns and an import runs. When ``WELLNESS_PROBE_FILE`` is set, a task sleeps
``WELLNESS_PROBE_INTERVAL_MS`` (default 100) at a time and appends one JSON line per wake-up:
``{"t": epoch, "lag_ms": how late, "breaker": state, "failures": n, "rss_mb": …}``. Off by
default: nothing runs and nothing is written unless the variable is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)

_task: asyncio.Task[None] | None = None


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)
    except (OSError, ValueError, IndexError):
        return 0.0


async def _run(path: str, interval: float, services: Any) -> None:
    with open(path, "a", encoding="utf-8", buffering=1) as fh:
        n = 0
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(interval)
            lag = (time.perf_counter() - t0 - interval) * 1000
            store = getattr(services, "store", None)
            breaker = getattr(store, "breaker", None)
            row: dict[str, Any] = {"t": round(time.time(), 3), "lag_ms": round(max(lag, 0), 2),
                                   "pid": os.getpid()}
            if breaker is not None:
                row["breaker"] = breaker.state
                row["failures"] = breaker.failures
            n += 1
            if n % 10 == 1:
                row["rss_mb"] = _rss_mb()
            fh.write(json.dumps(row) + "\n")


async def _profile(path: str, every_s: float) -> None:
    """cProfile of the event-loop thread, dumped to ``path`` every ``every_s`` seconds."""
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    while True:
        await asyncio.sleep(every_s)
        prof.dump_stats(path)  # create_stats() disables the profiler: turn it back on
        prof.enable()


def start_if_enabled(services: Any) -> bool:
    """Start the probe when ``WELLNESS_PROBE_FILE`` is set (call from app startup).

    ``WELLNESS_PROFILE_FILE`` additionally profiles the event-loop thread (load tests only:
    cProfile slows every call down).
    """
    global _task
    prof_path = os.environ.get("WELLNESS_PROFILE_FILE")
    if prof_path:
        asyncio.get_running_loop().create_task(_profile(prof_path, 5.0))
    path = os.environ.get("WELLNESS_PROBE_FILE")
    if not path or (_task is not None and not _task.done()):
        return False
    interval = float(os.environ.get("WELLNESS_PROBE_INTERVAL_MS", "100")) / 1000
    _task = asyncio.get_running_loop().create_task(_run(path, interval, services))
    log.info("event-loop lag probe on")
    return True


def read_probe(path: str, since: float = 0.0, until: float | None = None) -> list[dict[str, Any]]:
    """Rows of a probe file between two wall-clock times (for tests and the load script)."""
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row.get("t", 0) >= since and (until is None or row["t"] <= until):
                    rows.append(row)
    except OSError:
        return []
    return rows
