"""Slow, independent re-computation of the ground truth from an export.xml.

Why: the generator computes its ground truth analytically while writing. This module
re-derives the same numbers *only from the XML*, with a straightforward, generic reading of
``docs/data-model.md`` §1 (interval-union proration, per-source sleep nights, direct workout
statistics). If the two disagree, one of them misreads the contract — which is exactly what
the importer's tests would otherwise discover the hard way. It is also a readable executable
spec for the importer engineer. Use it on small files only (it keeps everything in memory).
"""

from __future__ import annotations

import bisect
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

_Q = "HKQuantityTypeIdentifier"
CUMULATIVE = {_Q + t for t in ("StepCount", "DistanceWalkingRunning", "DistanceCycling",
                               "ActiveEnergyBurned", "BasalEnergyBurned", "FlightsClimbed",
                               "AppleExerciseTime", "AppleStandTime", "PushCount",
                               "SwimmingStrokeCount")}
_TO_KM = {"km": 1.0, "mi": 1.609344, "m": 0.001}
_TO_KCAL = {"kcal": 1.0, "Cal": 1.0, "kJ": 1 / 4.184}
_TO_KG = {"kg": 1.0, "lb": 0.45359237}


def canonical(value: float, unit: str | None, typ: str = "") -> float:
    """data-model §1 canonical units: kg, km (height cm), kcal, degC, mg/dL, % (x100)."""
    if typ.endswith("Height"):
        return value * {"ft": 30.48, "in": 2.54, "m": 100.0}.get(unit or "", 1.0)
    if unit in _TO_KM:
        return value * _TO_KM[unit]
    if unit in _TO_KCAL:
        return value * _TO_KCAL[unit]
    if unit in _TO_KG:
        return value * _TO_KG[unit]
    if unit == "%":
        return value * 100
    if unit == "degF":
        return (value - 32) / 1.8
    if unit == "mmol<180.1558800000541>/L":
        return value * 18.01558800000541
    if unit == "mi/hr":
        return value * 1.609344
    return value


def _parse_ts(s: str) -> datetime:
    d = datetime.fromisoformat(s)
    assert d.tzinfo is not None, s
    return d


def _source_key(el: ET.Element) -> tuple[str, str]:
    name = el.get("sourceName", "")
    dev = el.get("device") or ""
    model = None
    for part in dev.split(", "):
        if part.startswith("model:"):
            model = part[6:]
    key = f"{name}|{model}" if model else name
    hint = f"{name} {model or ''}"
    kind = "watch" if "Watch" in hint else "phone" if "iPhone" in hint else "app"
    return key, kind


def _local(dt: datetime, tz: str | None) -> datetime:
    return dt.astimezone(ZoneInfo(tz)) if tz else dt


def _union(iv: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(a, b) for a, b in out]


def _covered(s: float, e: float, merged: list[tuple[float, float]], starts: list[float]) -> float:
    """Length of [s, e) covered by the merged interval list."""
    total = 0.0
    i = max(0, bisect.bisect_right(starts, s) - 1)
    while i < len(merged) and merged[i][0] < e:
        a, b = merged[i]
        lo, hi = max(a, s), min(b, e)
        if hi > lo:
            total += hi - lo
        i += 1
    return total


def _point_covered(t: float, merged: list[tuple[float, float]], starts: list[float]) -> bool:
    i = bisect.bisect_right(starts, t) - 1
    return i >= 0 and merged[i][0] <= t <= merged[i][1]


def compute(source: str | Path | IO[bytes]) -> dict:
    """Parse an export.xml and return the truth fields the importer is tested on."""
    recs: list[dict] = []
    workouts: list[dict] = []
    summaries: dict[str, dict] = {}
    corr_counts: dict[str, int] = defaultdict(int)
    raw_records = 0
    nested = 0
    stack: list[ET.Element] = []
    for ev, el in ET.iterparse(source, events=("start", "end")):
        if ev == "start":
            stack.append(el)
            continue
        stack.pop()
        parent = stack[-1].tag if stack else None
        if el.tag == "Record":
            raw_records += 1
            if parent == "Correlation":
                nested += 1
                continue
            if parent != "HealthData":
                continue
            md = {m.get("key"): m.get("value") for m in el.findall("MetadataEntry")}
            key, kind = _source_key(el)
            st, en = _parse_ts(el.get("startDate")), _parse_ts(el.get("endDate"))
            raw_v = el.get("value")
            try:
                num = float(raw_v) if raw_v is not None else None
            except ValueError:
                num = None
            recs.append({"type": el.get("type"), "key": key, "kind": kind,
                         "name": el.get("sourceName"), "start": st, "end": en,
                         "raw": raw_v, "unit": el.get("unit"), "num": num,
                         "tz": md.get("HKTimeZone")})
            el.clear()
        elif el.tag == "Correlation" and parent == "HealthData":
            corr_counts[el.get("type")] += 1
            el.clear()
        elif el.tag == "Workout":
            md = {m.get("key"): m.get("value") for m in el.findall("MetadataEntry")}
            stats = {s.get("type"): s.attrib for s in el.findall("WorkoutStatistics")}
            workouts.append({"attrib": dict(el.attrib), "md": md, "stats": stats})
            el.clear()
        elif el.tag == "ActivitySummary":
            summaries[el.get("dateComponents")] = dict(el.attrib)

    # Exact duplicates.
    seen: set = set()
    uniq: list[dict] = []
    dups = 0
    for r in recs:
        ident = (r["type"], r["key"], r["start"].astimezone(timezone.utc),
                 r["end"].astimezone(timezone.utc), r["raw"], r["unit"])
        if ident in seen:
            dups += 1
            continue
        seen.add(ident)
        uniq.append(r)
    by_type: dict[str, int] = defaultdict(int)
    for r in uniq:
        by_type[r["type"]] += 1

    def lday(r: dict) -> str:
        return _local(r["start"], r["tz"]).date().isoformat()

    # Cumulative dedup by priority.
    def dedup(typ: str) -> tuple[dict[str, float], dict[str, float]]:
        rows = [r for r in uniq if r["type"] == typ and r["num"] is not None]
        keys = sorted({(r["kind"], r["name"], r["key"]) for r in rows},
                      key=lambda k: ({"watch": 0, "phone": 1}.get(k[0], 2), k[1]))
        order = [k[2] for k in keys]
        per_src: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            per_src[r["key"]].append(r)
        kept: dict[str, float] = defaultdict(float)
        naive: dict[str, float] = defaultdict(float)
        higher: list[tuple[float, float]] = []
        for key in order:
            merged = _union(higher)
            starts = [a for a, _ in merged]
            for r in per_src[key]:
                s, e = r["start"].timestamp(), r["end"].timestamp()
                v = canonical(r["num"], r["unit"])
                naive[lday(r)] += v
                if e > s:
                    frac = 1 - _covered(s, e, merged, starts) / (e - s)
                else:
                    frac = 0.0 if _point_covered(s, merged, starts) else 1.0
                kept[lday(r)] += v * frac
            higher.extend((r["start"].timestamp(), r["end"].timestamp()) for r in per_src[key])
        return dict(kept), dict(naive)

    steps, steps_naive = dedup(_Q + "StepCount")
    dist, dist_naive = dedup(_Q + "DistanceWalkingRunning")
    ae, ae_naive = dedup(_Q + "ActiveEnergyBurned")
    basal, _ = dedup(_Q + "BasalEnergyBurned")

    # Per-type daily rollups for the types the generator reports.
    from .generator import DAILY_TYPES  # the selection only; the numbers are ours
    metric_daily: dict[str, dict[str, dict]] = {}
    for typ in sorted(DAILY_TYPES):
        rows = [r for r in uniq if r["type"] == typ and r["num"] is not None]
        if not rows:
            continue
        out: dict[str, dict] = {}
        if typ in CUMULATIVE:
            kept, _n = dedup(typ)
            for r in rows:
                out.setdefault(lday(r), {"n": 0, "s": 0.0})["n"] += 1
            for d in out:
                out[d]["s"] = kept.get(d, 0.0)
        else:
            for r in sorted(rows, key=lambda r: r["start"]):
                v = canonical(r["num"], r["unit"], typ)
                a = out.setdefault(lday(r), {"n": 0, "s": 0.0, "lo": v, "hi": v, "l": v})
                a["n"] += 1
                a["s"] += v
                a["lo"], a["hi"], a["l"] = min(a["lo"], v), max(a["hi"], v), v
        metric_daily[typ] = out
    per_source: dict[str, int] = defaultdict(int)
    for r in uniq:
        per_source[r["key"]] += 1

    # Sleep nights.
    sleep_rows = [r for r in uniq if r["type"] == "HKCategoryTypeIdentifierSleepAnalysis"]
    nights: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    src_meta: dict[str, tuple[str, str]] = {}
    for r in sleep_rows:
        label = _local(r["start"] + timedelta(hours=6), r["tz"]).date().isoformat()
        nights[label][r["key"]].append(r)
        src_meta[r["key"]] = (r["kind"], r["name"])
    sleep: dict[str, dict] = {}
    stages = {"AsleepCore", "AsleepDeep", "AsleepREM"}
    asleep_vals = stages | {"Asleep", "AsleepUnspecified"}
    for label, per in nights.items():
        ranked = sorted(per, key=lambda k: ({"watch": 0, "phone": 1}.get(src_meta[k][0], 2),
                                            src_meta[k][1]))

        def vals(k: str) -> set[str]:
            return {r["raw"].replace("HKCategoryValueSleepAnalysis", "") for r in per[k]}

        chosen = next((k for k in ranked if vals(k) & stages), None) or \
            next((k for k in ranked if vals(k) & asleep_vals), None) or ranked[0]
        rows = per[chosen]

        def minutes(want: set[str]) -> float:
            iv = [(r["start"].timestamp(), r["end"].timestamp()) for r in rows
                  if r["raw"].replace("HKCategoryValueSleepAnalysis", "") in want]
            return sum(b - a for a, b in _union(iv)) / 60

        in_bed = minutes({"InBed"})
        if not in_bed:
            in_bed = (max(r["end"] for r in rows) - min(r["start"] for r in rows)).total_seconds() / 60
        sleep[label] = {"source": src_meta[chosen][1], "asleep_min": minutes(asleep_vals),
                        "core_min": minutes({"AsleepCore"}), "deep_min": minutes({"AsleepDeep"}),
                        "rem_min": minutes({"AsleepREM"}), "awake_min": minutes({"Awake"}),
                        "unspecified_min": minutes({"Asleep", "AsleepUnspecified"}),
                        "in_bed_min": in_bed}

    # Workouts.
    hr = sorted((r["start"], r["num"]) for r in uniq if r["type"] == _Q + "HeartRate")
    hr_t = [t for t, _ in hr]
    wout: list[dict] = []
    for w in workouts:
        a, md, stats = w["attrib"], w["md"], w["stats"]
        st, en = _parse_ts(a["startDate"]), _parse_ts(a["endDate"])
        loc = _local(st, md.get("HKTimeZone"))
        energy = distance = None
        if _Q + "ActiveEnergyBurned" in stats:
            s = stats[_Q + "ActiveEnergyBurned"]
            energy = canonical(float(s["sum"]), s["unit"])
        elif "totalEnergyBurned" in a:
            energy = canonical(float(a["totalEnergyBurned"]), a["totalEnergyBurnedUnit"])
        for dt in ("DistanceWalkingRunning", "DistanceCycling", "DistanceSwimming"):
            if _Q + dt in stats:
                s = stats[_Q + dt]
                distance = canonical(float(s["sum"]), s["unit"])
        if distance is None and "totalDistance" in a:
            distance = canonical(float(a["totalDistance"]), a["totalDistanceUnit"])
        if _Q + "HeartRate" in stats:
            s = stats[_Q + "HeartRate"]
            hr_avg, hr_min, hr_max = float(s["average"]), float(s["minimum"]), float(s["maximum"])
        else:
            i0, i1 = bisect.bisect_left(hr_t, st), bisect.bisect_right(hr_t, en)
            vs = [v for _, v in hr[i0:i1]]
            hr_avg = sum(vs) / len(vs) if vs else None
            hr_min = float(min(vs)) if vs else None
            hr_max = float(max(vs)) if vs else None
        wout.append({"type": a["workoutActivityType"].replace("HKWorkoutActivityType", ""),
                     "source": a.get("sourceName"), "date": loc.date().isoformat(),
                     "weekday": loc.strftime("%A"), "hour": loc.hour,
                     "duration_min": float(a["duration"]), "energy_kcal": energy,
                     "distance_km": distance, "hr_avg": hr_avg, "hr_min": hr_min,
                     "hr_max": hr_max})

    weight: dict[str, tuple[datetime, float]] = {}
    for r in uniq:
        if r["type"] == _Q + "BodyMass":
            d = lday(r)
            if d not in weight or r["start"] >= weight[d][0]:
                weight[d] = (r["start"], canonical(r["num"], r["unit"]))
    rhr = {lday(r): r["num"] for r in uniq if r["type"] == _Q + "RestingHeartRate"}
    days = sorted(lday(r) for r in uniq)
    return {
        "steps_by_day": steps, "steps_naive_by_day": steps_naive,
        "distance_km_by_day": dist, "distance_km_naive_by_day": dist_naive,
        "active_kcal_by_day": ae, "active_kcal_naive_by_day": ae_naive,
        "basal_kcal_by_day": basal,
        "records_by_type": dict(by_type), "duplicates_dropped": dups,
        "raw_record_elements": raw_records, "nested_correlation_records": nested,
        "correlations_by_type": dict(corr_counts), "sleep_by_night": sleep,
        "workouts": sorted(wout, key=lambda w: (w["date"], w["hour"])),
        "weight_kg_by_day": {k: v[1] for k, v in weight.items()},
        "resting_hr_by_day": rhr,
        "activity_days": sorted(summaries),
        "metric_daily": metric_daily,
        "records_by_source": dict(per_source),
        "date_range": {"start": days[0], "end": days[-1]} if days else {},
    }
