"""Workout answers: list, counts by type / weekday / hour, last, details, streaks.

Why: the comparable project re-scanned every heart-rate sample per workout, used UTC
weekdays and never counted workouts per type. Here everything comes from the importer's
``workout:by_date`` zset and per-workout hashes (local ``date``/``weekday``/``hour``, totals
and HR already computed), one pipeline per question.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from wellness.health import formatting as fmt
from wellness.health.base import MAX_POINTS, QueryContext, chart, fetch_indexed, to_float
from wellness.health.cache import cached
from wellness.health.periods import DateRange

_FIELDS = ("type", "type_raw", "start_local", "end_local", "date", "weekday", "hour",
           "duration_min", "energy_kcal", "distance_km", "hr_avg", "hr_min", "hr_max",
           "source", "indoor")
_WID = re.compile(r"^[0-9a-fA-F]{6,64}$")
# Ranges longer than this are answered from the per-import cache of all workouts.
LONG_RANGE_DAYS = 120
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# What people call a workout type → words found in HealthKit activity names.
_TYPE_ALIASES = {
    "run": "running", "runs": "running", "jog": "running", "jogging": "running",
    "walk": "walking", "walks": "walking", "ride": "cycling", "rides": "cycling",
    "bike": "cycling", "biking": "cycling", "cycle": "cycling", "spin": "cycling",
    "swim": "swimming", "swims": "swimming", "lift": "strength", "lifting": "strength",
    "weights": "strength", "weight training": "strength", "gym": "strength",
    "strength training": "strength", "hiit": "highintensityintervaltraining",
    "interval": "highintensityintervaltraining", "hike": "hiking", "hikes": "hiking",
    "row": "rowing", "elliptical": "elliptical", "pilates": "pilates", "dance": "dance",
    "core": "coretraining", "stretch": "flexibility", "stretching": "flexibility",
    "cardio": "mixedcardio",
}


@lru_cache(maxsize=512)
def type_label(raw: str) -> str:
    """``TraditionalStrengthTraining`` → ``Traditional Strength Training``."""
    raw = (raw or "Other").replace("HKWorkoutActivityType", "")
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", raw).strip()


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@lru_cache(maxsize=2048)
def type_matches(wanted: str | None, actual: str) -> bool:
    """Loose match of a requested type ("run", "strength", "HIIT") against a stored type."""
    if not wanted:
        return True
    w = wanted.strip().lower()
    a = _squash(actual)
    key = _TYPE_ALIASES.get(w, w)
    k = _squash(key)
    if not k:
        return True
    if k in a or a in k:
        return True
    stem = re.sub(r"(ing|s|es)$", "", k)
    return len(stem) >= 3 and stem in a


@dataclass(slots=True)
class Workout:
    wid: str
    type: str
    day: date
    weekday: str
    hour: int | None
    start_local: str
    end_local: str
    duration_min: float
    energy_kcal: float | None
    distance_km: float | None
    hr_avg: float | None
    hr_min: float | None
    hr_max: float | None
    source: str
    indoor: str

    @property
    def label(self) -> str:
        return type_label(self.type)

    def brief(self) -> dict[str, Any]:
        return {"id": self.wid, "type": self.label, "date": self.day.isoformat(),
                "weekday": self.weekday, "start": self.start_local,
                "duration_min": fmt.rounded(self.duration_min, 1),
                "energy_kcal": fmt.rounded(self.energy_kcal, 0),
                "distance_km": fmt.rounded(self.distance_km, 2),
                "hr_avg": fmt.rounded(self.hr_avg, 0)}

    def phrase(self, today: date) -> str:
        bits = [fmt.duration(self.duration_min)]
        if self.distance_km:
            bits.append(f"{fmt.num(self.distance_km, 2)} km")
        if self.energy_kcal:
            bits.append(f"{fmt.num(self.energy_kcal)} kcal")
        start = fmt.parse_local(self.start_local)
        at = f" at {fmt.clock(start)}" if start else ""
        return f"{self.label} on {fmt.day(self.day, today)}{at} ({', '.join(bits)})"


def _fl(v: str | None) -> float | None:
    if not v:
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _parse(wid: str, values: list[str | None]) -> Workout | None:
    """One HMGET reply (``_FIELDS`` order) → Workout; hot path, so positional and plain."""
    (type_, type_raw, start_local, end_local, day, weekday, hour, duration, energy, distance,
     hr_avg, hr_min, hr_max, source, indoor) = values
    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return None
    h = _fl(hour)
    return Workout(wid, type_ or type_raw or "Other", d, weekday or _WEEKDAYS[d.weekday()],
                   int(h) if h is not None else None, start_local or "", end_local or "",
                   _fl(duration) or 0.0, _fl(energy), _fl(distance), _fl(hr_avg), _fl(hr_min),
                   _fl(hr_max), source or "", indoor or "")


_LIGHT = ("type", "type_raw", "start_local", "date", "weekday", "hour", "duration_min",
          "energy_kcal", "distance_km")


def _parse_light(wid: str, values: list[str | None]) -> Workout | None:
    """The fields totals and breakdowns need (no HR, source, end): fewer strings to build."""
    type_, type_raw, start_local, day, weekday, hour, duration, energy, distance = values
    return _parse(wid, [type_, type_raw, start_local, None, day, weekday, hour, duration,
                        energy, distance, None, None, None, None, None])


async def load_workouts(ctx: QueryContext, rng: DateRange | None,
                        workout_type: str | None = None, *, light: bool = False
                        ) -> tuple[list[Workout], date | None, date | None]:
    """Workouts whose local date is in ``rng`` (all when None), oldest first, plus coverage.

    ``light`` reads only what counts and totals need (type, times, duration, energy,
    distance), for breakdowns over years of workouts.
    """
    if rng is None or rng.days > LONG_RANGE_DAYS:
        # Years of workouts: decode them all once per import (see health/cache.py).
        everything, first, last = await cached(
            ctx, "workouts", lambda: _fetch_workouts(ctx, None, light=False))
        items = [w for w in everything
                 if (rng is None or rng.contains(w.day)) and type_matches(workout_type, w.type)]
        return items, first, last
    items, first, last = await _fetch_workouts(ctx, rng, light=light)
    return [w for w in items if type_matches(workout_type, w.type)], first, last


async def _fetch_workouts(ctx: QueryContext, rng: DateRange | None, *, light: bool
                          ) -> tuple[list[Workout], date | None, date | None]:
    k = ctx.keys
    lo, hi = ("-inf", "+inf") if rng is None else ctx.utc_bounds(rng, pad_hours=15)
    fields, parse = (_LIGHT, _parse_light) if light else (_FIELDS, _parse)
    async with ctx.store.aconnection() as r:
        wids, rows = await fetch_indexed(r, k.workout_by_date, k.workout(""), fields, lo, hi)
        pipe = r.pipeline(transaction=False)
        pipe.zrange(k.workout_by_date, 0, 0, withscores=True)
        pipe.zrange(k.workout_by_date, -1, -1, withscores=True)
        first_m, last_m = await pipe.execute()
    # Coverage only feeds the "your data covers" sentence: the start instant in the user's
    # zone is close enough and saves a round trip.
    first = _epoch_day(first_m, ctx)
    last = _epoch_day(last_m, ctx)
    out: list[Workout] = []
    for wid, values in zip(wids, rows):
        w = parse(wid, values)
        if w is None:
            continue
        if rng is not None and not rng.contains(w.day):
            continue
        out.append(w)
    out.sort(key=lambda w: (w.day, w.start_local))
    return out, first, last


def _epoch_day(reply: list[Any], ctx: QueryContext) -> date | None:
    if not reply:
        return None
    return datetime.fromtimestamp(float(reply[0][1]), ctx.tz).date()


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _what(workout_type: str | None) -> str:
    return f"{workout_type} workout" if workout_type else "workout"


async def list_workouts(ctx: QueryContext, rng: DateRange, workout_type: str | None = None,
                        sort: str = "recent", limit: int = 10) -> dict[str, Any]:
    sort = (sort or "recent").lower()
    keyf = {"recent": lambda w: (w.day, w.start_local), "longest": lambda w: w.duration_min,
            "duration": lambda w: w.duration_min, "energy": lambda w: w.energy_kcal or 0.0,
            "calories": lambda w: w.energy_kcal or 0.0,
            "distance": lambda w: w.distance_km or 0.0,
            "oldest": lambda w: (w.day, w.start_local)}
    if sort not in keyf:
        return {"error": f"unknown sort '{sort}'; use recent, longest, energy or distance"}
    limit = max(1, min(int(limit or 10), 50))
    items, first, last = await load_workouts(ctx, rng, workout_type)
    rng = ctx.narrow_all_time(rng, first)
    head = {"range": ctx.range_dict(rng), "workout_type": workout_type, "sort": sort,
            "units": {"duration": "min", "energy": "kcal", "distance": "km", "hr": "bpm"}}
    if not items:
        return ctx.no_data(_what(workout_type), rng, first, last, count=0, workouts=[], **head)
    ordered = sorted(items, key=keyf[sort], reverse=sort != "oldest")
    shown = ordered[:limit]
    t = ctx.today
    when = fmt.from_to(rng.start, rng.end, t)
    listing = "; ".join(w.phrase(t) for w in shown[:5])
    more = f" (showing {len(shown)})" if len(items) > len(shown) else ""
    order_word = {"recent": "most recent first", "longest": "longest first",
                  "duration": "longest first", "energy": "most energy first",
                  "calories": "most energy first", "distance": "longest distance first",
                  "oldest": "oldest first"}[sort]
    summary = (f"You did {fmt.plural(len(items), _what(workout_type))} {when}{more}, "
               f"{order_word}: {listing}"
               f"{f'; and {len(shown) - 5} more in the list' if len(shown) > 5 else ''}.")
    return {**head, "count": len(items), "workouts": [w.brief() for w in shown],
            "summary": summary}


def _group_key(w: Workout, group_by: str) -> str:
    if group_by == "weekday":
        return w.weekday
    if group_by == "hour":
        return f"{w.hour:02d}:00" if w.hour is not None else "unknown"
    if group_by == "week":
        return (w.day - timedelta(days=w.day.weekday())).isoformat()
    if group_by == "month":
        return w.day.strftime("%Y-%m")
    return w.label


def _totals(ws: list[Workout]) -> dict[str, Any]:
    return {"count": len(ws),
            "minutes": fmt.rounded(sum(w.duration_min for w in ws), 0),
            "energy_kcal": fmt.rounded(sum(w.energy_kcal or 0 for w in ws), 0),
            "distance_km": fmt.rounded(sum(w.distance_km or 0 for w in ws), 2)}


async def workout_summary(ctx: QueryContext, rng: DateRange, workout_type: str | None = None,
                          group_by: str = "type") -> dict[str, Any]:
    group_by = (group_by or "type").lower().replace("day_of_week", "weekday")
    group_by = {"day": "weekday", "weekdays": "weekday", "hour_of_day": "hour",
                "time": "hour", "types": "type", "sport": "type"}.get(group_by, group_by)
    if group_by not in ("type", "weekday", "hour", "week", "month"):
        return {"error": f"unknown group_by '{group_by}'; use type, weekday, hour, week or month"}
    items, first, last = await load_workouts(ctx, rng, workout_type, light=True)
    rng = ctx.narrow_all_time(rng, first)
    head = {"range": ctx.range_dict(rng), "workout_type": workout_type, "group_by": group_by,
            "units": {"minutes": "min", "energy_kcal": "kcal", "distance_km": "km"}}
    if not items:
        return ctx.no_data(_what(workout_type), rng, first, last, count=0, groups=[], **head)
    if group_by == "week" and (items[-1].day - items[0].day).days / 7 > MAX_POINTS:
        group_by = "month"  # keep the breakdown under ~400 rows
        head["group_by"] = "month"
        head["regrouped"] = "more than 400 weeks: grouped by month"
    groups: dict[str, list[Workout]] = {}
    for w in items:
        groups.setdefault(_group_key(w, group_by), []).append(w)
    if group_by == "weekday":
        order = [d for d in _WEEKDAYS if d in groups]
    elif group_by in ("hour", "week", "month"):
        order = sorted(groups)
    else:
        order = sorted(groups, key=lambda g: (-len(groups[g]), g))
    rows = [{"group": g, **_totals(groups[g])} for g in order]
    by_type = Counter(w.label for w in items)
    top_type, top_n = by_type.most_common(1)[0]
    by_weekday = Counter(w.weekday for w in items)
    if group_by == "weekday" and workout_type is None and first is not None \
            and rng.start <= first and last is not None and rng.end >= last:
        # The whole history: the importer's HINCRBY weekday hash (seed §5) answers in O(1)
        # and is the same local-weekday count; ranged questions are counted from records.
        async with ctx.store.aconnection() as r:
            hashed = await r.hgetall(ctx.keys.workout_days)
        if hashed and sum(int(v) for v in hashed.values()) == len(items):
            by_weekday = Counter({d: int(n) for d, n in hashed.items()})
            rows = [{**row, "count": by_weekday[row["group"]]} for row in rows]
            head["weekday_counts_from"] = "workout:days"
    top_day, top_day_n = by_weekday.most_common(1)[0]
    tot = _totals(items)
    t = ctx.today
    when = fmt.from_to(rng.start, rng.end, t)
    n = len(items)
    summary = (f"You did {fmt.plural(n, _what(workout_type))} {when} "
               f"({fmt.duration(tot['minutes'])} in total, {fmt.num(tot['energy_kcal'])} kcal")
    if tot["distance_km"]:
        summary += f", {fmt.num(tot['distance_km'], 1)} km"
    summary += ")."
    if group_by == "type":
        parts = ", ".join(f"{r['count']} {r['group']}" for r in rows[:6])
        summary += (f" By type: {parts}{' and more' if len(rows) > 6 else ''}. Most common: "
                    f"{top_type} ({top_n}, {fmt.pct(100 * top_n / n)}).")
    elif group_by == "weekday":
        parts = ", ".join(f"{r['group'][:3]} {r['count']}" for r in rows)
        summary += f" By weekday: {parts}. You work out most on {top_day}s ({top_day_n})."
    elif group_by == "hour":
        top = max(rows, key=lambda r: r["count"])
        top_hour = int(top["group"][:2]) if top["group"][:2].isdigit() else None
        start_txt = fmt.hour_label(top_hour) if top_hour is not None else top["group"]
        summary += f" Most often started in the {start_txt} hour ({top['count']})."
        buckets = Counter("morning" if (w.hour or 0) < 12 else "afternoon" if (w.hour or 0) < 17
                          else "evening" for w in items if w.hour is not None)
        if buckets:
            summary += " " + ", ".join(f"{c} in the {k}" for k, c in buckets.most_common()) + "."
    else:
        best = max(rows, key=lambda r: r["count"])
        unit = "week of " + fmt.day(date.fromisoformat(best["group"]), t) \
            if group_by == "week" else date.fromisoformat(best["group"] + "-01").strftime("%B %Y")
        summary += (f" Busiest {group_by}: {unit} ({fmt.plural(best['count'], 'workout')}); "
                    f"{fmt.num(n / len(rows), 1)} per {group_by} with workouts on average.")
    return {**head, "count": n, "total_minutes": tot["minutes"],
            "total_energy_kcal": tot["energy_kcal"], "total_distance_km": tot["distance_km"],
            "groups": rows, "by_type": dict(by_type.most_common()),
            "most_common_type": {"type": top_type, "count": top_n,
                                 "share_pct": fmt.rounded(100 * top_n / n, 1)},
            "most_common_weekday": {"weekday": top_day, "count": top_day_n},
            "summary": summary,
            "chart": chart("bar", f"Workouts by {group_by}", [r["group"] for r in rows],
                           {"workouts": [r["count"] for r in rows]}, "workouts")}


async def last_workout(ctx: QueryContext, workout_type: str | None = None) -> dict[str, Any]:
    """Most recent workout (optionally of a type), scanning newest first in small batches."""
    k = ctx.keys
    found: Workout | None = None
    async with ctx.store.aconnection() as r:
        total = await r.zcard(k.workout_by_date)
        offset, batch = 0, 25
        hit: str | None = None
        while offset < total and hit is None:
            # Scan type and date only; read the whole hash of the one that matches.
            wids, rows = await fetch_indexed(r, k.workout_by_date, k.workout(""),
                                             ("type", "type_raw", "date"), offset,
                                             offset + batch - 1, "revrank")
            for wid, (type_, type_raw, day) in zip(wids, rows):
                d = _date(day)
                if d is not None and d <= ctx.today and \
                        type_matches(workout_type, type_ or type_raw or "Other"):
                    hit = wid
                    break
            offset += batch
            batch = min(batch * 4, 1000)
        if hit is not None:
            found = _parse(hit, await r.hmget(k.workout(hit), _FIELDS))
    if found is None:
        what = _what(workout_type)
        return {"no_data": True, "workout_type": workout_type,
                "summary": f"I found no {what}s in your data."}
    days_ago = (ctx.today - found.day).days
    ago = "today" if days_ago == 0 else "yesterday" if days_ago == 1 else f"{days_ago} days ago"
    details = workout_dict(found)
    hr = f", average heart rate {fmt.num(found.hr_avg)} bpm" if found.hr_avg else ""
    summary = f"Your last {_what(workout_type)} was {found.phrase(ctx.today)}, {ago}{hr}."
    return {"workout": details, "days_ago": days_ago, "workout_type": workout_type,
            "summary": summary}


def workout_dict(w: Workout) -> dict[str, Any]:
    d = w.brief()
    d.update({"end": w.end_local, "hour": w.hour, "hr_min": fmt.rounded(w.hr_min, 0),
              "hr_max": fmt.rounded(w.hr_max, 0), "source": w.source,
              "indoor": {"1": True, "0": False}.get(w.indoor),
              "units": {"duration": "min", "energy": "kcal", "distance": "km", "hr": "bpm"}})
    if w.distance_km and w.duration_min:
        pace = w.duration_min / w.distance_km
        d["pace_min_per_km"] = fmt.rounded(pace, 2)
        d["speed_km_h"] = fmt.rounded(w.distance_km / (w.duration_min / 60), 1)
    return d


async def workout_details(ctx: QueryContext, workout_id: str) -> dict[str, Any]:
    wid = (workout_id or "").strip()
    if not _WID.match(wid):
        return {"error": f"'{workout_id}' is not a workout id; ids come from list_workouts "
                         "or last_workout"}
    async with ctx.store.aconnection() as r:
        raw = await r.hgetall(ctx.keys.workout(wid))
    if not raw:
        return {"error": f"no workout with id {wid}", "no_data": True,
                "summary": f"I found no workout with id {wid}."}
    w = _parse(wid, [raw.get(f) for f in _FIELDS])
    if w is None:
        return {"error": f"workout {wid} is incomplete", "no_data": True,
                "summary": f"Workout {wid} has no usable date."}
    d = workout_dict(w)
    for extra in ("elevation_m", "mets", "tz", "type_raw"):
        if raw.get(extra):
            d[extra] = to_float(raw[extra]) if extra in ("elevation_m", "mets") else raw[extra]
    parts = [w.phrase(ctx.today)]
    if w.hr_avg:
        hr = f"heart rate averaged {fmt.num(w.hr_avg)} bpm"
        if w.hr_min is not None and w.hr_max is not None:
            hr += f" (range {fmt.num(w.hr_min)}–{fmt.num(w.hr_max)} bpm)"
        parts.append(hr)
    if d.get("pace_min_per_km"):
        pace = d["pace_min_per_km"]
        parts.append(f"pace {int(pace)}:{int(round((pace % 1) * 60)):02d} min/km")
    summary = "; ".join(parts) + "."
    summary = summary[0].upper() + summary[1:]
    return {"workout": d, "summary": summary}


def _runs(days: list[date], step: int) -> list[tuple[date, date, int]]:
    """Consecutive runs in sorted unique ``days`` where neighbours are ``step`` days apart."""
    runs: list[tuple[date, date, int]] = []
    for d in days:
        if runs and (d - runs[-1][1]).days == step:
            runs[-1] = (runs[-1][0], d, runs[-1][2] + 1)
        else:
            runs.append((d, d, 1))
    return runs


async def workout_streaks(ctx: QueryContext, rng: DateRange) -> dict[str, Any]:
    """Longest and current runs of consecutive days and of consecutive weeks with a workout."""
    if rng.days > LONG_RANGE_DAYS:
        items, first, last = await load_workouts(ctx, rng)  # the per-import cache
        rng = ctx.narrow_all_time(rng, first)
        dates = [w.day for w in items]
    else:
        # Only the local dates are needed: fetch one field instead of the whole hash.
        k = ctx.keys
        lo, hi = ctx.utc_bounds(rng, pad_hours=15)
        async with ctx.store.aconnection() as r:
            _ids, rows = await fetch_indexed(r, k.workout_by_date, k.workout(""), ("date",),
                                             lo, hi)
            pipe = r.pipeline(transaction=False)
            pipe.zrange(k.workout_by_date, 0, 0, withscores=True)
            pipe.zrange(k.workout_by_date, -1, -1, withscores=True)
            first_m, last_m = await pipe.execute()
        first, last = _epoch_day(first_m, ctx), _epoch_day(last_m, ctx)
        rng = ctx.narrow_all_time(rng, first)
        dates = [d for (raw,) in rows if (d := _date(raw)) is not None and rng.contains(d)]
    head = {"range": ctx.range_dict(rng)}
    if not dates:
        return ctx.no_data("workout", rng, first, last, **head)
    t = ctx.today
    days = sorted(set(dates))
    weeks = sorted({d - timedelta(days=d.weekday()) for d in days})
    day_runs = _runs(days, 1)
    week_runs = _runs(weeks, 7)
    best_d = max(day_runs, key=lambda r: (r[2], r[1]))
    best_w = max(week_runs, key=lambda r: (r[2], r[1]))
    end_ref = min(rng.end, t)
    cur_d = day_runs[-1] if (end_ref - day_runs[-1][1]).days <= 1 else None
    this_week = end_ref - timedelta(days=end_ref.weekday())
    cur_w = week_runs[-1] if (this_week - week_runs[-1][1]).days <= 7 else None

    def span(r: tuple[date, date, int]) -> dict[str, Any]:
        return {"start": r[0].isoformat(), "end": r[1].isoformat(), "length": r[2]}

    cur_d_txt = (f"your current streak is {fmt.plural(cur_d[2], 'day')}" if cur_d
                 else "you have no current daily streak")
    cur_w_txt = (f"current run {fmt.plural(cur_w[2], 'week')}" if cur_w
                 else "no current weekly run")
    summary = (f"{fmt.upper_first(fmt.from_to(rng.start, rng.end, t))} you worked out on "
               f"{fmt.plural(len(days), 'day')}. Longest daily streak: "
               f"{fmt.plural(best_d[2], 'day')} ({fmt.day_range(best_d[0], best_d[1], t)}); "
               f"{cur_d_txt}. Longest run of weeks with a workout: "
               f"{fmt.plural(best_w[2], 'week')} (from the week of {fmt.day(best_w[0], t)}); "
               f"{cur_w_txt}.")
    return {**head, "workout_days": len(days), "workouts": len(dates),
            "longest_daily_streak": span(best_d),
            "current_daily_streak": span(cur_d) if cur_d else None,
            "longest_weekly_streak": span(best_w),
            "current_weekly_streak": span(cur_w) if cur_w else None,
            "summary": summary}
