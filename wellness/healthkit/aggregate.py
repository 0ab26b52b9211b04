"""The record sink: compact per-metric columns during parsing, rollups at the end.

Why columns: the data model stores daily rollups, not raw samples, so each numeric record
only needs (start, end, value, source, local day, identity) until the end of the parse —
40 bytes in ``array`` columns instead of a ~400-byte Python object. Exact duplicates,
cumulative dedup and daily rollups then run vectorised per metric with numpy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wellness.healthkit.dedup import first_occurrence, is_cumulative, prorate_by_priority
from wellness.healthkit.records import (
    ActivitySummary,
    Correlation,
    HealthRecord,
    Profile,
    Workout,
)
from wellness.healthkit.sleep import Segment, build_nights, stage_of
from wellness.healthkit.sources import SourceRegistry
from wellness.healthkit.timeutil import day_str, local_day, local_iso, local_offset, zone
from wellness.healthkit.workouts import HR_TYPE, workout_fields, workout_id

SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
_SYNC = "HKMetadataKeySyncIdentifier"


def num(x: float) -> float | int:
    """JSON number: rounded to 6 decimals, integral values as ints (stable, compact)."""
    r = round(float(x), 6)
    if r == 0:
        return 0
    return int(r) if r.is_integer() else r


# On-disk layout of a spilled part: start, end, value, ident, src, day (column after column).
_LAYOUT = ((np.float64, 8), (np.float64, 8), (np.float64, 8), (np.int64, 8), (np.int32, 4),
           (np.int32, 4))
SPILL_ROWS = 1_000_000   # ~40 MB of columns in memory before they go to a temp file


def _remove_stale_spill_dirs() -> None:
    """Delete spill dirs of import processes that died (killed imports leave them behind)."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith("wellness-import-"):
            continue
        pid_s = name[len("wellness-import-"):].split("-", 1)[0]
        if not pid_s.isdigit():
            continue
        try:
            os.kill(int(pid_s), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except OSError:
            pass


def _nums(arr: np.ndarray) -> list[str]:
    """JSON texts of :func:`num` for a whole array (vectorised rounding)."""
    out = []
    for x in np.round(arr.astype(np.float64), 6).tolist():
        if x == 0:
            out.append("0")
        elif x.is_integer():
            out.append(str(int(x)))
        else:
            out.append(repr(x))
    return out


@dataclass(slots=True)
class _Columns:
    unit: str
    cumulative: bool = False
    start: array = field(default_factory=lambda: array("d"))
    end: array = field(default_factory=lambda: array("d"))
    value: array = field(default_factory=lambda: array("d"))
    src: array = field(default_factory=lambda: array("i"))
    day: array = field(default_factory=lambda: array("i"))
    ident: array = field(default_factory=lambda: array("q"))
    latest: tuple[float, float, int, str | None, str | None] | None = None
    # Spilled parts, in order: (file, rows, source remap table or None).
    segments: list[tuple[str, int, np.ndarray | None]] = field(default_factory=list)

    def take(self) -> tuple[array, ...]:
        """Hand over the in-memory arrays and start fresh ones."""
        out = (self.start, self.end, self.value, self.ident, self.src, self.day)
        self.start, self.end, self.value = array("d"), array("d"), array("d")
        self.ident, self.src, self.day = array("q"), array("i"), array("i")
        return out

    def load(self) -> tuple[np.ndarray, ...]:
        """All rows (spilled parts first, then memory) as numpy arrays; files are removed."""
        parts = []
        for path, n, remap in self.segments:
            raw = np.fromfile(path, dtype=np.uint8)
            os.unlink(path)
            o = 0
            cols = []
            for dt, size in _LAYOUT:
                cols.append(raw[o:o + n * size].view(dt))
                o += n * size
            if remap is not None and n:
                cols[4] = remap[cols[4]]
            parts.append(cols)
        mem = self.take()
        parts.append([np.frombuffer(a, dtype=dt) for a, (dt, _) in zip(mem, _LAYOUT)])
        self.segments = []
        return tuple(np.concatenate([p[i] for p in parts]) if len(parts) > 1 else parts[0][i]
                     for i in range(len(_LAYOUT)))


@dataclass
class MetricResult:
    summary: dict[str, Any]
    daily: dict[str, str]          # day → JSON
    days: dict[str, int]           # day → ordinal


@dataclass
class BuildResult:
    metrics: dict[str, MetricResult]
    workouts: dict[str, dict[str, str]]   # wid → hash fields
    workout_scores: dict[str, float]
    workout_days: Counter[str]
    sleep: dict[str, dict[str, object]]
    activity: dict[str, dict[str, float]]
    health_data: dict[str, Any]


class Collector:
    """Implements the parser's ``RecordSink``."""

    def __init__(self, sources: SourceRegistry, spill_dir: str | None = None) -> None:
        self.sources = sources
        self.cols: dict[str, _Columns] = {}
        self.warnings: Counter[str] = Counter()
        self.sleep: list[Segment] = []
        self._sleep_seen: set[tuple[str, float, float, str]] = set()
        self.workouts: list[Workout] = []
        self.activities: dict[str, ActivitySummary] = {}
        self.correlations: Counter[str] = Counter()
        self.other: Counter[str] = Counter()
        self.category_counts: Counter[str] = Counter()
        self._profile: Profile | None = None
        self._export: tuple[float, int] | None = None
        self._locale: str | None = None
        self.records_seen = 0
        self._pending = 0
        self._spill_dir: str | None = spill_dir
        self._own_dir = spill_dir is None
        self._spills = 0

    # -- bounded memory: columns go to temp files past SPILL_ROWS ----------------------
    def spill(self) -> None:
        """Write every type's in-memory rows to a temp file (keeps RSS flat on huge exports)."""
        spill_dir = self.spill_dir()
        for c in self.cols.values():
            n = len(c.start)
            if not n:
                continue
            path = os.path.join(spill_dir, f"{os.getpid()}-{self._spills}.bin")
            self._spills += 1
            with open(path, "wb") as fh:
                for a in c.take():
                    fh.write(a.tobytes())
            c.segments.append((path, n, None))
        self._pending = 0

    def spill_dir(self) -> str:
        """The temp dir for spilled columns (created on demand; helpers write here too)."""
        if self._spill_dir is None:
            _remove_stale_spill_dirs()
            self._spill_dir = tempfile.mkdtemp(prefix=f"wellness-import-{os.getpid()}-")
        return self._spill_dir

    def close(self) -> None:
        """Remove temp files (idempotent; also called after failures)."""
        if self._spill_dir and self._own_dir:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    # -- RecordSink ------------------------------------------------------------------
    def record(self, rec: HealthRecord) -> None:
        self.quantity(rec.type, rec.source, rec.start, rec.end, rec.offset, rec.raw_value,
                      rec.raw_unit, rec.value, rec.unit, rec.metadata, rec.beats, rec=rec)

    def quantity(self, t: str, source: int, start: float, end: float, offset: int,
                 raw_value: str | None, raw_unit: str | None, value: float | None,
                 unit: str | None, meta: dict[str, str] | None,
                 beats: list[tuple[float, str]] | None, rec: HealthRecord | None = None
                 ) -> None:
        """The parser's fast path: the fields of a HealthRecord without building one.

        Runs once per record, so it avoids object creation on the numeric path; category
        records (sleep, events) still become HealthRecord objects.
        """
        self.records_seen += 1
        tz = meta.get("HKTimeZone") if meta else None
        off = local_offset(start, offset, zone(tz)) if tz else offset
        if value is None:
            if rec is None:
                rec = HealthRecord(t, source, start, end, offset, raw_value, raw_unit, value,
                                   unit, meta, beats)
            self._category(rec, off)
            return
        c = self.cols.get(t)
        if c is None:
            c = self.cols[t] = _Columns(unit or "", is_cumulative(t))
        elif c.unit != unit:
            self.warnings["unit_mismatch"] += 1
            return
        if value < 0 and c.cumulative:
            self.warnings["bad_value"] += 1
            return
        c.start.append(start)
        c.end.append(end)
        c.value.append(value)
        c.src.append(source)
        c.day.append(int((start + off) // 86400))
        if meta and (_SYNC in meta or "HKExternalUUID" in meta):
            # Strings go through blake2b: str hashes are salted per process.
            sid = meta.get(_SYNC)
            text = f"sync|{sid}|{meta.get('HKMetadataKeySyncVersion')}" if sid else \
                f"ext|{meta['HKExternalUUID']}"
            ident = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(),
                                   "big", signed=True)
        else:
            ident = 0   # identity = (source, start, end, value): compared in bulk at build
        c.ident.append(ident)
        latest = c.latest
        if latest is None or start >= latest[0]:
            # (start, canonical value, local offset, raw value, raw unit)
            c.latest = (start, value, off, raw_value, raw_unit)
        self._pending += 1
        if self._pending >= SPILL_ROWS:
            self.spill()

    def _category(self, rec: HealthRecord, off: int) -> None:
        if rec.type == SLEEP_TYPE:
            stage = stage_of(rec.raw_value)
            if stage is None:
                self.warnings["bad_value"] += 1
                return
            key = (self.sources.sources[rec.source].key, rec.start, rec.end, stage)
            if key in self._sleep_seen:
                self.warnings["duplicate"] += 1
                return
            self._sleep_seen.add(key)
            self.sleep.append(Segment(rec.start, rec.end, stage, rec.source, off))
            self.category_counts[rec.type] += 1
            self.sources.sources[rec.source].records += 1
            return
        # Other category types (stand hours, mindful minutes, events): count + duration.
        if rec.raw_value and rec.raw_value.endswith("Idle"):
            self.category_counts[rec.type] += 1
            self.sources.sources[rec.source].records += 1
            return
        minutes = (rec.end - rec.start) / 60.0
        rec2 = HealthRecord(rec.type, rec.source, rec.start, rec.end, rec.offset, rec.raw_value,
                            None, minutes, "min", rec.metadata)
        self.records_seen -= 1
        self.record(rec2)

    def correlation(self, corr: Correlation) -> None:
        self.correlations[corr.type] += 1

    def workout(self, w: Workout) -> None:
        self.workouts.append(w)

    def activity(self, a: ActivitySummary) -> None:
        self.activities[a.day] = a

    def profile(self, p: Profile) -> None:
        self._profile = p

    def export_date(self, ts: float, offset: int) -> None:
        self._export = (ts, offset)

    def locale(self, locale: str | None) -> None:
        self._locale = locale

    def other_element(self, name: str) -> None:
        self.other[name] += 1

    # -- parallel parsing support -------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Everything a helper process collected, picklable; columns travel as temp files."""
        self.spill()
        return {
            "sources": [(s.key, s.name, s.kind, s.model, s.records) for s in self.sources.sources],
            "cols": {t: (c.unit, c.segments, c.latest) for t, c in self.cols.items()},
            "warnings": self.warnings, "sleep": self.sleep, "workouts": self.workouts,
            "activities": self.activities, "correlations": self.correlations,
            "other": self.other, "category_counts": self.category_counts,
            "profile": self._profile, "export": self._export, "locale": self._locale,
            "records_seen": self.records_seen,
        }

    def absorb(self, state: dict[str, Any]) -> None:
        """Merge a worker's state; source indices are remapped onto this registry by key."""
        remap = [self.sources.adopt(*src) for src in state["sources"]]
        table = np.asarray(remap, dtype=np.int32) if remap else np.zeros(0, np.int32)
        for t, (unit, segments, latest) in state["cols"].items():
            c = self.cols.get(t)
            if c is None:
                c = self.cols[t] = _Columns(unit, is_cumulative(t))
            elif c.unit != unit:
                self.warnings["unit_mismatch"] += sum(n for _, n, _ in segments)
                for path, _, _ in segments:
                    os.unlink(path)
                continue
            c.segments.extend((path, n, table) for path, n, _ in segments)
            if latest is not None:
                if c.latest is None or latest[0] >= c.latest[0]:
                    c.latest = latest
        for seg in state["sleep"]:
            key = (self.sources.sources[remap[seg.source]].key, seg.start, seg.end, seg.stage)
            if key in self._sleep_seen:
                self.warnings["duplicate"] += 1
                self.category_counts[SLEEP_TYPE] -= 1
                self.sources.sources[remap[seg.source]].records -= 1
                continue
            self._sleep_seen.add(key)
            self.sleep.append(Segment(seg.start, seg.end, seg.stage, remap[seg.source],
                                      seg.offset))
        for w in state["workouts"]:
            w.source = remap[w.source]
            self.workouts.append(w)
        self.activities.update(state["activities"])
        self.warnings.update(state["warnings"])
        self.correlations.update(state["correlations"])
        self.other.update(state["other"])
        self.category_counts.update(state["category_counts"])
        self._profile = self._profile or state["profile"]
        self._export = self._export or state["export"]
        self._locale = self._locale or state["locale"]
        self.records_seen += state["records_seen"]

    # -- build -------------------------------------------------------------------------
    def build(self, priority: tuple[str, ...]) -> BuildResult:
        rank_list = self.sources.ranks(priority)
        rank = np.asarray(rank_list, dtype=np.int64) if rank_list else np.zeros(0, np.int64)
        nsrc = len(self.sources.sources)
        metrics: dict[str, MetricResult] = {}
        counts: Counter[str] = Counter()
        src_records = np.zeros(nsrc, dtype=np.int64)
        day_min: int | None = None
        day_max: int | None = None
        hr_series: tuple[np.ndarray, np.ndarray] | None = None
        for t in sorted(self.cols):
            c = self.cols.pop(t)
            start, end, value, ident, src32, day32 = c.load()
            keep = first_occurrence(ident, src32, start, end, value)
            del ident
            dups = len(start) - len(keep)
            if dups:
                self.warnings["duplicate"] += dups
            start, end, value = start[keep], end[keep], value[keep]
            src = src32[keep].astype(np.int64)
            day = day32[keep].astype(np.int64)
            del src32, day32, keep
            counts[t] += len(start)
            src_records += np.bincount(src, minlength=nsrc)
            cumulative = is_cumulative(t)
            all_days = day
            if cumulative and len(start):
                frac = prorate_by_priority(start, end, value, rank[src])
                alive = frac > 0
                value = (value * frac)[alive]
                start, end, src, day = start[alive], end[alive], src[alive], day[alive]
            if t == HR_TYPE and len(start):
                order = np.argsort(start, kind="stable")
                hr_series = (start[order], value[order])
            if len(day):
                lo, hi = int(day.min()), int(day.max())
                day_min = lo if day_min is None else min(day_min, lo)
                day_max = hi if day_max is None else max(day_max, hi)
            metrics[t] = self._rollup(t, c.unit, cumulative, start, value, src, day, c.latest,
                                     all_days)
        for t, n in self.category_counts.items():
            counts[t] += n
        for i, n in enumerate(src_records.tolist()):
            self.sources.sources[i].records += int(n)

        # Workouts (duplicates by stable id dropped).
        workouts: dict[str, dict[str, str]] = {}
        scores: dict[str, float] = {}
        weekdays: Counter[str] = Counter()
        by_type: Counter[str] = Counter()
        for w in self.workouts:
            wid = workout_id(w)
            if wid in workouts:
                self.warnings["duplicate_workout"] += 1
                continue
            f = workout_fields(w, self.sources.sources[w.source].name, hr_series)
            workouts[wid] = f
            scores[wid] = w.start
            weekdays[f["weekday"]] += 1
            by_type[f["type"]] += 1
            d = local_day(w.start, local_offset(w.start, w.offset, zone(w.metadata.get("HKTimeZone"))))
            day_min = d if day_min is None else min(day_min, d)
            day_max = d if day_max is None else max(day_max, d)
        if workouts:
            counts["HKWorkout"] = len(workouts)

        for seg in self.sleep:
            d = local_day(seg.start, seg.offset)
            day_min = d if day_min is None else min(day_min, d)
            day_max = d if day_max is None else max(day_max, d)
        nights = build_nights(self.sleep, rank_list)
        for fields in nights.values():
            fields["source"] = self.sources.sources[int(fields["source"])].key  # type: ignore[arg-type]
        activity = {d: a.fields for d, a in sorted(self.activities.items())}
        if activity:
            counts["ActivitySummary"] = len(activity)
        for t, n in self.correlations.items():
            counts[t] += n
        for name, n in self.other.items():
            counts[name] += n

        priority_keys = self.sources.priority_keys(priority)
        used = [s for s in self.sources.sources if s.records > 0]
        health_data: dict[str, Any] = {
            "profile": self._profile.to_dict() if self._profile else None,
            "export_date": local_iso(*self._export) if self._export else None,
            "locale": self._locale,
            "date_range": {"start": day_str(day_min) if day_min is not None else None,
                           "end": day_str(day_max) if day_max is not None else None},
            "counts_by_type": dict(sorted(counts.items())),
            "workouts_by_type": dict(sorted(by_type.items())),
            "sources": [{"key": s.key, "name": s.name, "kind": s.kind, "records": s.records}
                        for s in sorted(used, key=lambda s: priority_keys.index(s.key))],
            "priority": [k for k in priority_keys if any(s.key == k for s in used)],
            "units": {t: m.summary["unit"] for t, m in sorted(metrics.items())},
        }
        return BuildResult(metrics, workouts, scores, weekdays, nights, activity, health_data)

    def _rollup(self, t: str, unit: str, cumulative: bool, start: np.ndarray, value: np.ndarray,
                src: np.ndarray, day: np.ndarray,
                latest: tuple[float, float, int, str | None, str | None] | None,
                all_days: np.ndarray) -> MetricResult:
        """Daily rollups + summary. For cumulative types ``n`` counts every record starting
        that day (exact duplicates removed, before priority dedup) while s/lo/hi/l and the
        per-source sums use what survives the priority dedup."""
        daily: dict[str, str] = {}
        days: dict[str, int] = {}
        n = len(start)
        summary: dict[str, Any] = {"type": t, "unit": unit, "count": int(len(all_days)),
                                   "aggregation": "cumulative" if cumulative else "discrete"}
        if n:
            order = np.lexsort((start, day))
            d, v, s = day[order], value[order], src[order]
            bounds = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            ends = np.r_[bounds[1:], n]
            sums = np.add.reduceat(v, bounds)
            mins = np.minimum.reduceat(v, bounds)
            maxs = np.maximum.reduceat(v, bounds)
            lasts = v[ends - 1]
            counts = ends - bounds
            if cumulative:
                udays, ucounts = np.unique(all_days, return_counts=True)
                by_day = dict(zip(udays.tolist(), ucounts.tolist()))
                counts = np.array([by_day[int(d[b])] for b in bounds.tolist()])
            # per (day, source): sums for cumulative metrics, counts for discrete ones
            nsrc = int(s.max()) + 1
            pair = d * nsrc + s
            upair, inv = np.unique(pair, return_inverse=True)
            per = np.bincount(inv, weights=v if cumulative else None)
            # Rows are formatted by hand (same output as json.dumps with compact separators):
            # tens of thousands of tiny dicts through the json module dominated build time.
            src_parts: dict[int, list[str]] = {}
            keys_json = [json.dumps(x.key, ensure_ascii=False) for x in self.sources.sources]
            per_vals = _nums(per) if cumulative else [str(int(x)) for x in per.tolist()]
            for p, val in zip(upair.tolist(), per_vals):
                dd, ss = divmod(p, nsrc)
                src_parts.setdefault(dd, []).append(f"{keys_json[ss]}:{val}")
            s_l, lo_l, hi_l, l_l = _nums(sums), _nums(mins), _nums(maxs), _nums(lasts)
            for i, b in enumerate(bounds.tolist()):
                dd = int(d[b])
                ds = day_str(dd)
                days[ds] = dd
                daily[ds] = (f'{{"n":{int(counts[i])},"s":{s_l[i]},"lo":{lo_l[i]},'
                             f'"hi":{hi_l[i]},"l":{l_l[i]},'
                             f'"src":{{{",".join(src_parts.get(dd, ()))}}}}}')
            if cumulative:
                for dd, cnt in by_day.items():
                    ds = day_str(dd)
                    if ds not in daily:  # every record of the day was covered by a better source
                        days[ds] = dd
                        daily[ds] = json.dumps({"n": cnt, "s": 0, "lo": 0, "hi": 0, "l": 0,
                                                "src": {}}, separators=(",", ":"))
                daily = dict(sorted(daily.items()))
            stat = sums if cumulative else v
            summary.update({
                "first_day": day_str(int(d[0])), "last_day": day_str(int(d[-1])),
                "min": num(stat.min()), "max": num(stat.max()), "mean": num(stat.mean()),
                "days": len(bounds),
            })
        if latest is not None:
            at, val, off, raw_value, raw_unit = latest
            summary["last"] = {"value": num(val), "unit": unit, "at": local_iso(at, off),
                               "raw_value": raw_value, "raw_unit": raw_unit}
        return MetricResult(summary, daily, days)
