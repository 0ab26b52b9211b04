"""Hand-built health data written straight into Redis in the docs/data-model.md layout.

Why independent of the importer: the query layer is tested (and benchmarked) against exact
numbers we choose, and must not break when the importer changes its parsing. Every key comes
from ``UserKeys``, so the layout is the same one the importer writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from wellness.store.connection import RedisStore
from wellness.store.keys import UserKeys, day_ordinal

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def wid_for(type_: str, start_utc: datetime, source: str) -> str:
    text = f"{type_}|{start_utc.isoformat()}|{source}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class HealthDataBuilder:
    user_id: str
    metric_units: dict[str, str] = field(default_factory=dict)
    daily: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    workouts: dict[str, dict[str, str]] = field(default_factory=dict)
    workout_scores: dict[str, float] = field(default_factory=dict)
    nights: dict[str, dict[str, str]] = field(default_factory=dict)
    activity: dict[str, dict[str, str]] = field(default_factory=dict)

    # -- metrics ---------------------------------------------------------------------
    def day_total(self, type_: str, day: date, total: float, unit: str = "count",
                  n: int = 1, source: str = "Watch") -> "HealthDataBuilder":
        """A cumulative metric's deduplicated day total."""
        self.metric_units[type_] = unit
        self.daily.setdefault(type_, {})[day.isoformat()] = {
            "n": n, "s": total, "lo": total / n, "hi": total / n, "l": total / n,
            "src": {source: total}}
        return self

    def readings(self, type_: str, day: date, values: list[float], unit: str = "count/min",
                 source: str = "Watch") -> "HealthDataBuilder":
        """Discrete readings of one day (in time order; the last one is ``l``)."""
        self.metric_units[type_] = unit
        self.daily.setdefault(type_, {})[day.isoformat()] = {
            "n": len(values), "s": sum(values), "lo": min(values), "hi": max(values),
            "l": values[-1], "src": {source: len(values)}}
        return self

    # -- workouts --------------------------------------------------------------------
    def workout(self, type_: str, start: datetime, duration_min: float, *,
                energy_kcal: float | None = None, distance_km: float | None = None,
                hr_avg: float | None = None, hr_min: float | None = None,
                hr_max: float | None = None, source: str = "Apple Watch",
                indoor: str = "") -> str:
        """``start`` is local wall clock with its offset; returns the wid."""
        assert start.tzinfo is not None
        start_utc = start.astimezone(timezone.utc)
        wid = wid_for(type_, start_utc, source)
        end = start + timedelta(minutes=duration_min)
        self.workouts[wid] = {
            "type": type_, "type_raw": f"HKWorkoutActivityType{type_}",
            "start_utc": start_utc.isoformat(), "start_local": start.isoformat(),
            "end_local": end.isoformat(), "date": start.date().isoformat(),
            "weekday": WEEKDAYS[start.weekday()], "hour": str(start.hour),
            "duration_min": str(duration_min),
            "energy_kcal": "" if energy_kcal is None else str(energy_kcal),
            "distance_km": "" if distance_km is None else str(distance_km),
            "hr_avg": "" if hr_avg is None else str(hr_avg),
            "hr_min": "" if hr_min is None else str(hr_min),
            "hr_max": "" if hr_max is None else str(hr_max),
            "source": source, "indoor": indoor, "tz": str(start.tzinfo),
            "elevation_m": "", "mets": "", "routes": "[]"}
        self.workout_scores[wid] = start_utc.timestamp()
        return wid

    # -- sleep -----------------------------------------------------------------------
    def night(self, night: date, bed: datetime, wake: datetime, *, core: float = 0,
              deep: float = 0, rem: float = 0, unspecified: float = 0, awake: float = 0,
              in_bed: float | None = None, source: str = "Apple Watch") -> "HealthDataBuilder":
        asleep = core + deep + rem + unspecified
        in_bed_min = in_bed if in_bed is not None else (wake - bed).total_seconds() / 60
        self.nights[night.isoformat()] = {
            "date": night.isoformat(), "source": source, "asleep_min": str(asleep),
            "core_min": str(core), "deep_min": str(deep), "rem_min": str(rem),
            "unspecified_min": str(unspecified), "awake_min": str(awake),
            "in_bed_min": str(in_bed_min),
            "efficiency": str(round(asleep / in_bed_min * 100, 1)) if in_bed_min else "",
            "bed_time": bed.isoformat(), "wake_time": wake.isoformat(),
            "has_stages": "1" if (core or deep or rem) else "0"}
        return self

    # -- activity --------------------------------------------------------------------
    def rings(self, day: date, move: float, move_goal: float, exercise: float,
              exercise_goal: float, stand: float, stand_goal: float) -> "HealthDataBuilder":
        self.activity[day.isoformat()] = {
            "move_kcal": str(move), "move_goal_kcal": str(move_goal),
            "exercise_min": str(exercise), "exercise_goal_min": str(exercise_goal),
            "stand_hours": str(stand), "stand_goal_hours": str(stand_goal),
            "move_time_min": "0", "move_time_goal_min": "0"}
        return self

    # -- write -----------------------------------------------------------------------
    def write(self, store: RedisStore) -> None:
        k = UserKeys(self.user_id)
        with store.connection() as r:
            pipe = r.pipeline(transaction=False)
            all_days: list[str] = []
            for type_, days in self.daily.items():
                pipe.sadd(k.metric_types, type_)
                for i in range(0, len(days), 5000):
                    chunk = dict(list(days.items())[i:i + 5000])
                    pipe.hset(k.metric_daily(type_), mapping={d: json.dumps(v)
                                                              for d, v in chunk.items()})
                    pipe.zadd(k.metric_days(type_),
                              {d: day_ordinal(date.fromisoformat(d)) for d in chunk})
                ordered = sorted(days)
                all_days += [ordered[0], ordered[-1]]
                n = sum(v["n"] for v in days.values())
                last_day = ordered[-1]
                pipe.set(k.health_metric(type_), json.dumps({
                    "type": type_, "unit": self.metric_units[type_], "count": n,
                    "first_day": ordered[0], "last_day": last_day,
                    "last": {"value": days[last_day]["l"], "unit": self.metric_units[type_],
                             "at": f"{last_day}T12:00:00+00:00"},
                    "min": min(v["lo"] for v in days.values()),
                    "max": max(v["hi"] for v in days.values()),
                    "mean": sum(v["s"] for v in days.values()) / n if n else None}))
            weekday_counts: dict[str, int] = {}
            for wid, rec in self.workouts.items():
                pipe.hset(k.workout(wid), mapping=rec)
                weekday_counts[rec["weekday"]] = weekday_counts.get(rec["weekday"], 0) + 1
            if self.workout_scores:
                pipe.zadd(k.workout_by_date, self.workout_scores)
            for day_name, count in weekday_counts.items():
                pipe.hincrby(k.workout_days, day_name, count)
            for night, rec in self.nights.items():
                pipe.hset(k.sleep_night(night), mapping=rec)
                pipe.zadd(k.sleep_by_date, {night: day_ordinal(date.fromisoformat(night))})
            for day, rec in self.activity.items():
                pipe.hset(k.activity_day(day), mapping=rec)
                pipe.zadd(k.activity_by_date, {day: day_ordinal(date.fromisoformat(day))})
            # Like a committed import: a new data version (query caches are keyed on it).
            pipe.set(k.health_version, __import__("uuid").uuid4().hex)
            pipe.execute()
            all_days += list(self.nights) + list(self.activity)
            all_days += [w["date"] for w in self.workouts.values()]
            if all_days:
                summary = {"date_range": {"start": min(all_days), "end": max(all_days)},
                           "counts_by_type": {t: len(d) for t, d in self.daily.items()},
                           "units": dict(self.metric_units)}
                try:
                    r.json().set(k.health_data, "$", summary)
                except Exception:  # noqa: BLE001 - JSON module missing: plain string is fine
                    r.set(k.health_data, json.dumps(summary))
