"""``import_export``: the one entry point that turns an export into the user's Redis data.

Why one orchestrator: the chat upload worker, the CLI and the tests all need the same
guarantees — caps and safety checks before parsing, bad records skipped and counted, a
cancel hook, throttled progress, and an all-or-nothing switch-over so a failed import never
touches the previous data (see :mod:`writer`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis

from wellness.config import Settings
from wellness.healthkit.aggregate import BuildResult, Collector
from wellness.healthkit.errors import ImportCancelled, NotHealthExport
from wellness.healthkit.parallel import FallbackToSerial, parse_parallel
from wellness.healthkit.parser import HealthParser
from wellness.healthkit.reader import Limits, open_export
from wellness.healthkit.safety import PrologFilter
from wellness.healthkit.sources import SourceRegistry
from wellness.healthkit.writer import (
    ImportLock,
    StagingWriter,
    commit,
    delete_pattern,
    forget_patterns,
)
from wellness.store.connection import RedisStore
from wellness.store.keys import UserKeys

log = logging.getLogger(__name__)
CHUNK = 1 << 20
PROGRESS_INTERVAL_S = 0.25
MAX_HISTORY = 50


@dataclass
class ImportProgress:
    bytes_read: int
    bytes_total: int | None
    records: int
    phase: str      # "reading" | "writing" | "committing" | "done"


@dataclass
class ImportSummary:
    user_id: str
    import_id: str
    file: str
    bytes: int
    xml_bytes: int
    records: int
    seconds: float
    date_range: dict[str, str | None]
    counts_by_type: dict[str, int]
    workouts_by_type: dict[str, int]
    sources: list[dict[str, Any]]
    priority: list[str]
    warnings: dict[str, int] = field(default_factory=dict)
    keys_written: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def mb_per_s(self) -> float:
        return round(self.xml_bytes / 1e6 / self.seconds, 2) if self.seconds > 0 else 0.0

    @property
    def records_per_s(self) -> float:
        return round(self.records / self.seconds, 1) if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["mb_per_s"] = self.mb_per_s
        d["records_per_s"] = self.records_per_s
        return d


class _Progress:
    """Throttles the callback to a few calls per second (plus first and last)."""

    def __init__(self, cb: Callable[[ImportProgress], None] | None, total: int | None) -> None:
        self.cb = cb
        self.total = total
        self._last = 0.0

    def __call__(self, read: int, records: int, phase: str, force: bool = False) -> None:
        if self.cb is None:
            return
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self.cb(ImportProgress(read, self.total, records, phase))


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ImportCancelled(detail="cancelled by the user")


PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def _auto_workers(total_bytes: int | None) -> int:
    """Two parser processes for big files on a multi-core machine, else one.

    ``WELLNESS_IMPORT_WORKERS`` overrides (1 = always serial), for benchmarks and for
    machines where the other cores are busy anyway.
    """
    forced = os.environ.get("WELLNESS_IMPORT_WORKERS", "").strip()
    if forced.isdigit() and int(forced) >= 1:
        return int(forced)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cpus or 1) < 2 or not total_bytes or total_bytes < PARALLEL_MIN_BYTES:
        return 1
    # On a busy machine a second process only adds hand-off work (measured on a shared
    # 2-vCPU VM at load ~3: +40 % CPU, no wall-clock gain), so go serial there.
    try:
        if os.getloadavg()[0] > (cpus or 1) - 0.5:
            return 1
    except OSError:
        pass
    return 2


def parse_export(path: str | Path, *, priority: tuple[str, ...] = (),
                 progress: Callable[[ImportProgress], None] | None = None,
                 cancel: threading.Event | None = None, limits: Limits | None = None,
                 on_chunk: Callable[[], None] | None = None,
                 workers: int | None = None) -> tuple[BuildResult, dict[str, Any]]:
    """Read and aggregate an export without touching Redis → (BuildResult, stats dict).

    ``workers`` > 1 parses in that many processes (default: 2 for files ≥ 16 MB on a
    multi-core machine); any doubt about the input falls back to the serial parser.
    """
    with open_export(path, limits) as es:
        n = workers if workers is not None else _auto_workers(es.total_bytes)
        if n > 1:
            sources = SourceRegistry()
            collector = Collector(sources)
            prog = _Progress(progress, es.total_bytes)
            prog(0, 0, "reading", force=True)

            def report(read: int, records: int) -> None:
                prog(read, records, "reading")
                if on_chunk is not None:
                    on_chunk()

            try:
                read, records, pwarn = parse_parallel(es, n, collector, cancel, report)
                prog(read, records, "reading", force=True)
                return _finish(collector, pwarn, priority, es.name, es.input_bytes, read,
                               records)
            except FallbackToSerial as exc:
                log.info("parallel parse not possible (%s); parsing serially", exc)
            finally:
                collector.close()
    return _parse_serial(path, priority=priority, progress=progress, cancel=cancel,
                         limits=limits, on_chunk=on_chunk)


def _finish(collector: Collector, parser_warnings: Counter[str], priority: tuple[str, ...],
            name: str, input_bytes: int, read: int, records: int
            ) -> tuple[BuildResult, dict[str, Any]]:
    t_build = time.monotonic()
    result = collector.build(priority)
    build_s = time.monotonic() - t_build
    warnings: Counter[str] = Counter(parser_warnings)
    warnings.update(collector.warnings)
    warnings = Counter({k: v for k, v in warnings.items() if v})
    stats = {"file": name, "input_bytes": input_bytes, "xml_bytes": read,
             "records": records, "warnings": dict(sorted(warnings.items())),
             "build_seconds": build_s}
    return result, stats


def _parse_serial(path: str | Path, *, priority: tuple[str, ...],
                  progress: Callable[[ImportProgress], None] | None,
                  cancel: threading.Event | None, limits: Limits | None,
                  on_chunk: Callable[[], None] | None) -> tuple[BuildResult, dict[str, Any]]:
    sources = SourceRegistry()
    collector = Collector(sources)
    try:
        return _parse_serial_into(collector, path, priority=priority, progress=progress,
                                  cancel=cancel, limits=limits, on_chunk=on_chunk)
    finally:
        collector.close()


def _parse_serial_into(collector: Collector, path: str | Path, *, priority: tuple[str, ...],
                       progress: Callable[[ImportProgress], None] | None,
                       cancel: threading.Event | None, limits: Limits | None,
                       on_chunk: Callable[[], None] | None
                       ) -> tuple[BuildResult, dict[str, Any]]:
    sources = collector.sources
    parser = HealthParser(collector, sources)
    prolog = PrologFilter()
    with open_export(path, limits) as es:
        prog = _Progress(progress, es.total_bytes)
        read = 0
        prog(0, 0, "reading", force=True)
        while True:
            _check_cancel(cancel)
            chunk = es.stream.read(CHUNK)
            if not chunk:
                break
            read += len(chunk)
            data = prolog.feed(chunk)
            if data:
                parser.feed(data)
            prog(read, parser.records, "reading")
            if on_chunk is not None:
                on_chunk()
        prolog.finish()
        parser.feed(b"", True)
        if not parser.saw_root:
            raise NotHealthExport(detail="no HealthData root")
        prog(read, parser.records, "reading", force=True)
        name, input_bytes = es.name, es.input_bytes
    return _finish(collector, parser.warnings, priority, name, input_bytes, read,
                   parser.records)


def import_export(path: str | Path, user_id: str, store: RedisStore, settings: Settings, *,
                  progress: Callable[[ImportProgress], None] | None = None,
                  cancel: threading.Event | None = None, file_name: str | None = None,
                  limits: Limits | None = None) -> ImportSummary:
    """Import ``path`` for ``user_id``; the previous data stays untouched unless this succeeds."""
    t0 = time.monotonic()
    keys = UserKeys(user_id)
    import_id = uuid.uuid4().hex[:16]
    staging = keys.staging(import_id)
    with store.connection() as r:
        lock = ImportLock(r, keys, import_id)
        lock.acquire()
        try:
            leftovers = delete_pattern(r, keys.staging_pattern())
            if leftovers:
                log.info("removed %d staging keys left by an interrupted import", leftovers)
            last_refresh = [time.monotonic()]

            def refresh() -> None:
                if time.monotonic() - last_refresh[0] > 20:
                    lock.refresh()
                    last_refresh[0] = time.monotonic()

            t_parse = time.monotonic()
            result, stats = parse_export(path, priority=settings.source_priority,
                                         progress=progress, cancel=cancel, limits=limits,
                                         on_chunk=refresh)
            _check_cancel(cancel)
            prog = _Progress(progress, stats["xml_bytes"])
            prog(stats["xml_bytes"], stats["records"], "writing", force=True)
            try:
                writer = StagingWriter(r, staging, on_batch=lambda: (_check_cancel(cancel),
                                                                     refresh()))
                t_write = time.monotonic()
                writer.write(result)
                seconds = time.monotonic() - t0
                doc = dict(result.health_data)
                doc["priority_config"] = list(settings.source_priority)
                history = _previous_imports(r, keys)
                history.append({
                    "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "file": file_name or stats["file"], "bytes": stats["input_bytes"],
                    "records": stats["records"], "seconds": round(seconds, 2),
                    "warnings": stats["warnings"],
                })
                doc["imports"] = history[-MAX_HISTORY:]
                writer.write_health_data(doc)
                _check_cancel(cancel)
                prog(stats["xml_bytes"], stats["records"], "committing", force=True)
                t_commit = time.monotonic()
                commit(r, staging, writer.staged, settings.retention_days)
                t_done = time.monotonic()
            except BaseException:
                delete_pattern(r, f"{staging.base}:*")
                raise
        finally:
            lock.release()
    seconds = time.monotonic() - t0
    hd = result.health_data
    summary = ImportSummary(
        user_id=user_id, import_id=import_id, file=file_name or stats["file"],
        bytes=stats["input_bytes"], xml_bytes=stats["xml_bytes"], records=stats["records"],
        seconds=seconds, date_range=hd["date_range"], counts_by_type=hd["counts_by_type"],
        workouts_by_type=hd["workouts_by_type"], sources=hd["sources"],
        priority=hd["priority"], warnings=stats["warnings"], keys_written=len(writer.staged),
        timings={"parse": round(t_write - t_parse - stats["build_seconds"], 3),
                 "build": round(stats["build_seconds"], 3),
                 "write": round(t_commit - t_write, 3), "commit": round(t_done - t_commit, 3)})
    if progress is not None:
        progress(ImportProgress(stats["xml_bytes"], stats["xml_bytes"], stats["records"], "done"))
    log.info("import %s: %d records in %.1fs", import_id, stats["records"], seconds)
    return summary


def _previous_imports(r: redis.Redis, keys: UserKeys) -> list[dict[str, Any]]:
    try:
        raw = r.execute_command("JSON.GET", keys.live().health_data, "$.imports")
    except redis.ResponseError:
        return []
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if data and isinstance(data[0], list):
        return list(data[0])
    return []


def forget_user_data(store: RedisStore, user_id: str) -> int:
    """Delete every key of ``user_id``: health data, staging leftovers, goals, checkpoints."""
    n = 0
    with store.connection() as r:
        for pattern in forget_patterns(user_id):
            n += delete_pattern(r, pattern)
    return n
