"""Upload → import: sniff the file, run the importer in a worker thread, show live progress.

Why the shape: Chainlit keeps the upload under ``.files/<session>`` only until the session is
cleared, so the import starts at once from a hard link we own. The importer is synchronous and
CPU-bound, so it runs in ``asyncio.to_thread``; its progress callback (worker thread) hands the
latest figures to the event loop with ``loop.call_soon_threadsafe``, and a ticker redraws the
progress message a few times per second. Cancel is a ``threading.Event`` the importer polls.
The job runs as its own asyncio task, so the same chat stays usable while it imports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import chainlit as cl

from wellness.chat.charts import plotly_element, summary_chart
from wellness.chat.text import fmt_duration, fmt_int, fmt_mb, inert

log = logging.getLogger(__name__)

REDRAW_S = 0.3
CANCEL_ACTION = "cancel_import"
NOT_EXPORT = ("That file doesn't look like an Apple Health export: please upload the "
              "export.zip from the Health app (or the export.xml inside it). "
              "Your previous data is untouched.")


def sniff(path: str | os.PathLike[str]) -> str | None:
    """``"zip"``, ``"xml"`` or None, from the first bytes (names and MIME types lie)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"\xff\xfe") or text.startswith(b"\xfe\xff"):
        return "xml"  # UTF-16 XML: let the importer decide
    if text.startswith(b"<?xml") or text.startswith(b"<!DOCTYPE") or text.startswith(b"<Health"):
        return "xml"
    return None


@dataclass
class ImportJob:
    """One running import, findable by id for the Cancel button."""

    id: str
    user_id: str
    file_name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[Any] | None = None
    latest: Any = None
    started: float = field(default_factory=time.monotonic)


JOBS: dict[str, ImportJob] = {}


def running_job(user_id: str) -> ImportJob | None:
    for job in JOBS.values():
        if job.user_id == user_id and job.task is not None and not job.task.done():
            return job
    return None


def progress_line(job: ImportJob) -> str:
    """``Importing x.zip — 42% · 120 of 285 MB · 1,234,567 records · about 0:35 left``."""
    p = job.latest
    name = inert(job.file_name, 80)
    if p is None:
        return f"Importing **{name}** — starting…"
    done = float(getattr(p, "bytes_read", 0) or 0)
    total = float(getattr(p, "bytes_total", 0) or 0)
    records = getattr(p, "records", 0) or 0
    phase = str(getattr(p, "phase", "reading") or "reading")
    elapsed = time.monotonic() - job.started
    parts = []
    if total > 0:
        pct = min(100.0, 100.0 * done / total)
        parts.append(f"{pct:.0f}%")
        parts.append(f"{fmt_mb(done)} of {fmt_mb(total)}")
    else:
        parts.append(fmt_mb(done))
    parts.append(f"{fmt_int(records)} records")
    if phase == "reading" and total > 0 and done > 0 and elapsed > 1:
        eta = elapsed * (total - done) / done
        parts.append(f"about {fmt_duration(eta)} left")
    elif phase in ("writing", "committing"):
        parts.append(f"{phase} to Redis…")
    bar_n = int(min(1.0, done / total) * 20) if total > 0 else 0
    bar = "▰" * bar_n + "▱" * (20 - bar_n)
    return f"Importing **{name}**\n\n`{bar}`  " + " · ".join(parts)


def _date_range(s: dict[str, Any]) -> str | None:
    dr = s.get("date_range")
    start = end = None
    if isinstance(dr, dict):
        start, end = dr.get("start"), dr.get("end")
    elif isinstance(dr, (list, tuple)) and len(dr) == 2:
        start, end = dr
    start = start or s.get("start") or s.get("first_date")
    end = end or s.get("end") or s.get("last_date")
    if start and end:
        return f"{inert(start, 30)} to {inert(end, 30)}"
    return None


_HK_PREFIX = re.compile(r"^HK(?:Quantity|Category|Correlation|DataType)?(?:TypeIdentifier)?")


def friendly_type(name: str) -> str:
    """``HKQuantityTypeIdentifierStepCount`` → ``Step count`` (for display only)."""
    base = _HK_PREFIX.sub("", name) or name
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", base).split()
    if not words:
        return name
    return " ".join([words[0]] + [w if w.isupper() else w.lower() for w in words[1:]])


def _top(d: Any, n: int) -> list[tuple[str, Any]]:
    if not isinstance(d, dict):
        return []
    items = []
    for k, v in d.items():
        count = v.get("count", v.get("records")) if isinstance(v, dict) else v
        items.append((str(k), count))
    items.sort(key=lambda kv: -(kv[1] if isinstance(kv[1], (int, float)) else 0))
    return items[:n]


def summary_markdown(s: dict[str, Any], file_name: str) -> str:
    """The import summary as markdown; every value from the file is escaped."""
    lines = [f"**Imported {inert(file_name, 80)}.**"]
    rng = _date_range(s)
    if rng:
        lines.append(f"- Date range: {rng}")
    total = s.get("records") or s.get("total_records") or s.get("records_total")
    if total is not None:
        secs = s.get("seconds")
        took = f" in {float(secs):.1f} s" if isinstance(secs, (int, float)) else ""
        lines.append(f"- Records: {fmt_int(total)}{took}")
    counts = _top(s.get("counts_by_type") or s.get("counts"), 8)
    if counts:
        lines.append("- Most recorded: " + ", ".join(f"{inert(friendly_type(k), 60)} ({fmt_int(v)})"
                                                     for k, v in counts))
    workouts = _top(s.get("workouts_by_type"), 8)
    if workouts:
        n = sum(v for _, v in workouts if isinstance(v, (int, float)))
        lines.append(f"- Workouts: {fmt_int(n)} — " + ", ".join(
            f"{inert(friendly_type(k), 60)} ({fmt_int(v)})" for k, v in workouts))
    sources = s.get("sources")
    if isinstance(sources, dict):
        sources = [k for k, _ in _top(sources, 8)]
    if isinstance(sources, list) and sources:
        raw = [str(x.get("name", x) if isinstance(x, dict) else x) for x in sources]
        names = [inert(n, 60) for n in dict.fromkeys(raw)][:8]  # one phone, two models: once
        lines.append("- Sources: " + ", ".join(names))
    warnings = s.get("warnings")
    if isinstance(warnings, dict) and warnings:
        skipped = sum(v for v in warnings.values() if isinstance(v, (int, float)))
        lines.append(f"- Skipped {fmt_int(skipped)} unusable entries "
                     f"({', '.join(inert(k, 40) for k in list(warnings)[:4])})")
    lines.append("\nAsk me anything about it, e.g. *How many workouts did I do last month?*")
    return "\n".join(lines)


def _own_copy(path: str, data_dir: Path) -> tuple[str, Callable[[], None]]:
    """Hard-link the upload somewhere Chainlit won't delete it mid-import (same disk only)."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix="upload-", dir=data_dir / "uploads"))
    except OSError:
        return path, lambda: None
    target = tmp / "upload"
    try:
        os.link(path, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return path, lambda: None
    return str(target), lambda: shutil.rmtree(tmp, ignore_errors=True)


def _drop_session_copy(path: str) -> None:
    """Delete Chainlit's session copy of an upload once imported: exports can be gigabytes,
    and Chainlit would otherwise keep them on disk until the session expires."""
    p = Path(path)
    if ".files" in p.parts:
        try:
            p.unlink()
        except OSError:
            pass


async def import_chart(services: Any, user_id: str, summary: dict[str, Any]) -> dict | None:
    """Workouts per week (last 26 weeks of data) or daily steps (last 30 days of data).

    Falls back to a bar chart of the summary's counts when the query layer can't help.
    """
    from datetime import date, timedelta

    try:
        from wellness.health.periods import DateRange
        from wellness.health.queries import HealthQueries
    except ImportError:
        return summary_chart(summary)
    try:
        rng = summary.get("date_range") or {}
        end_raw = rng.get("end") if isinstance(rng, dict) else None
        start_raw = rng.get("start") if isinstance(rng, dict) else None
        end_day = date.fromisoformat(str(end_raw)[:10]) if end_raw else date.today()
        first_day = date.fromisoformat(str(start_raw)[:10]) if start_raw else end_day
        q = HealthQueries(services.store, user_id, today=services.settings.today or end_day,
                          tz=services.settings.tz)
        workouts = summary.get("workouts_by_type")
        if isinstance(workouts, dict) and sum(v for v in workouts.values()
                                              if isinstance(v, int)) >= 4:
            start = max(first_day, end_day - timedelta(weeks=26))
            res = await q.workout_summary(DateRange(start, end_day, "import"), group_by="week")
        else:
            start = max(first_day, end_day - timedelta(days=29))
            res = await q.metric_series("steps", DateRange(start, end_day, "import"), bucket="day")
        chart = res.get("chart") if isinstance(res, dict) else None
        if chart:
            return chart
    except Exception:
        log.debug("import chart query failed", exc_info=True)
    return summary_chart(summary)


async def run_import(services: Any, job: ImportJob, path: str) -> None:
    """Import ``path`` for ``job.user_id`` with a live progress message; report the outcome."""
    loop = asyncio.get_running_loop()
    actions = [cl.Action(name=CANCEL_ACTION, payload={"job": job.id}, label="Cancel import",
                         icon="circle-x")]
    msg = cl.Message(content=progress_line(job), actions=actions, author="Wellness Coach")
    await msg.send()

    def on_progress(p: Any) -> None:  # worker thread
        loop.call_soon_threadsafe(setattr, job, "latest", p)

    async def ticker() -> None:
        last = ""
        while True:
            await asyncio.sleep(REDRAW_S)
            line = progress_line(job)
            if line != last:
                msg.content = line
                await msg.update()
                last = line

    outcome_text: str
    elements: list[Any] = []
    tick = asyncio.create_task(ticker())
    local_path, cleanup = path, (lambda: None)
    try:
        # A child process, not a thread: the parse holds the GIL and starved the event loop
        # (chat p95 3.6 s during an import in bench/chat_load.py); see healthkit/isolated.py.
        from wellness.healthkit.isolated import import_in_process
        local_path, cleanup = await asyncio.to_thread(_own_copy, path, services.settings.data_dir)
        summary = await asyncio.to_thread(
            import_in_process, local_path, job.user_id, services.store.url, services.settings,
            progress=on_progress, cancel=job.cancel, file_name=job.file_name)
        data = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
        outcome_text = summary_markdown(data, job.file_name)
        chart = await import_chart(services, job.user_id, data)
        el = plotly_element(chart, name="import-chart") if chart else None
        if el is not None:
            elements.append(el)
    except ImportError as exc:  # the importer module itself is missing
        log.warning("importer unavailable: %s", exc.name)
        outcome_text = ("Importing isn't available in this installation yet. "
                        "Your previous data is untouched.")
    except Exception as exc:
        outcome_text = import_error_message(exc, job.cancel.is_set())
    finally:
        tick.cancel()
        await asyncio.to_thread(cleanup)
        await asyncio.to_thread(_drop_session_copy, path)
    await msg.remove_actions()
    msg.actions = []
    msg.content = outcome_text
    msg.elements = elements
    await msg.update()


def import_error_message(exc: BaseException, cancelled: bool) -> str:
    """One plain sentence for the user; the detail goes to the log without health values."""
    name = type(exc).__name__
    if cancelled or name == "ImportCancelled":
        return "Import cancelled. Your previous data is untouched."
    user_message = getattr(exc, "user_message", None)
    if isinstance(user_message, str) and user_message:
        text = user_message.strip()
        if not any(w in text.lower() for w in ("untouched", "not changed", "unchanged")):
            text += " Your previous data is untouched."
        return text
    log.error("import failed: %s", name)
    return ("The import failed unexpectedly, so nothing was changed. "
            "Your previous data is untouched.")


async def start_import(services: Any, user_id: str, path: str, file_name: str) -> ImportJob | None:
    """Validate and launch an import job as a background task; None if refused."""
    if services.store is None:
        from wellness.store.errors import StoreUnavailable
        await cl.Message(content=StoreUnavailable.user_message).send()
        return None
    if running_job(user_id) is not None:
        await cl.Message(content="An import is already running for you; wait for it to "
                                 "finish (or cancel it) before starting another.").send()
        return None
    kind = await asyncio.to_thread(sniff, path)
    if kind is None:
        await cl.Message(content=NOT_EXPORT).send()
        return None
    (Path(services.settings.data_dir) / "uploads").mkdir(parents=True, exist_ok=True)
    job = ImportJob(id=uuid.uuid4().hex, user_id=user_id, file_name=file_name or f"export.{kind}")
    JOBS[job.id] = job

    async def runner() -> None:
        try:
            await run_import(services, job, path)
        except Exception:
            log.exception("import job crashed")
        finally:
            JOBS.pop(job.id, None)

    job.task = asyncio.create_task(runner())
    return job


def cancel_job(job_id: str, user_id: str) -> bool:
    """Ask a running import to stop; only its owner may do so."""
    job = JOBS.get(job_id)
    if job is None or job.user_id != user_id:
        return False
    job.cancel.set()
    return True
