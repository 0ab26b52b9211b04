"""Goal progress: compare a goal with the user's latest data.

The numbers come through a small :class:`HealthSource` protocol so the memory layer does not
depend on the query layer's internals. :class:`RedisHealthSource` reads the documented keys
(``docs/data-model.md``: per-metric daily rollups, sleep nights, workouts) directly; the
query layer reads the same keys, so both agree.

Rules (why they are what they are):
- daily-rate goals (steps/day, sleep hours/night, exercise minutes/day) compare the 7-day
  average of days that have data, with the 28-day average as the trend; a single good or
  bad day should not flip "on track";
- weekly goals (workouts/week, running km/week) compare the average of the last 4 full
  7-day windows, with the most recent 7 days reported alongside;
- level goals (weight, resting HR, VO2 max…) compare the latest reading and use the slope
  of the last 28 days to project to the deadline.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any, Protocol

from wellness.memory.goals import METRICS, Goal, MetricSpec, _fmt
from wellness.store.connection import RedisStore
from wellness.store.keys import UserKeys, day_ordinal


class HealthSource(Protocol):
    """What progress needs from the health data (per user, local dates, canonical units)."""

    async def daily(self, user_id: str, metric_type: str, start: date, end: date,
                    field: str = "s") -> dict[date, float]: ...

    async def sleep_hours(self, user_id: str, start: date, end: date) -> dict[date, float]: ...

    async def workouts(self, user_id: str, start: date, end: date,
                       workout_type: str | None = None) -> list[dict[str, Any]]: ...


class RedisHealthSource:
    """:class:`HealthSource` over the keys of ``docs/data-model.md``."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def daily(self, user_id: str, metric_type: str, start: date, end: date,
                    field: str = "s") -> dict[date, float]:
        keys = UserKeys(user_id)
        async with self.store.aconnection() as r:
            days = await r.zrangebyscore(keys.metric_days(metric_type), day_ordinal(start),
                                         day_ordinal(end))
            if not days:
                return {}
            raws = await r.hmget(keys.metric_daily(metric_type), days)
        out: dict[date, float] = {}
        for d, raw in zip(days, raws):
            if not raw:
                continue
            try:
                roll = json.loads(raw)
                value = roll.get(field)
                if value is None and field == "l" and roll.get("n"):
                    value = roll["s"] / roll["n"]
                if value is not None:
                    out[date.fromisoformat(d)] = float(value)
            except (ValueError, TypeError, KeyError):
                continue
        return out

    async def sleep_hours(self, user_id: str, start: date, end: date) -> dict[date, float]:
        keys = UserKeys(user_id)
        async with self.store.aconnection() as r:
            nights = await r.zrangebyscore(keys.sleep_by_date, day_ordinal(start),
                                           day_ordinal(end))
            out: dict[date, float] = {}
            for night in nights:
                asleep = await r.hget(keys.sleep_night(night), "asleep_min")
                if asleep not in (None, ""):
                    out[date.fromisoformat(night)] = float(asleep) / 60.0
        return out

    async def workouts(self, user_id: str, start: date, end: date,
                       workout_type: str | None = None) -> list[dict[str, Any]]:
        keys = UserKeys(user_id)
        # by_date is scored by UTC epoch seconds; widen by a day and filter on local date.
        lo = (start.toordinal() - date(1970, 1, 1).toordinal() - 1) * 86400
        hi = (end.toordinal() - date(1970, 1, 1).toordinal() + 2) * 86400
        async with self.store.aconnection() as r:
            wids = await r.zrangebyscore(keys.workout_by_date, lo, hi)
            out = []
            for wid in wids:
                h = await r.hgetall(keys.workout(wid))
                if not h or not h.get("date"):
                    continue
                d = date.fromisoformat(h["date"])
                if not (start <= d <= end):
                    continue
                if workout_type and h.get("type", "").lower() != workout_type.lower():
                    continue
                out.append({"date": d, "type": h.get("type"),
                            "distance_km": float(h.get("distance_km") or 0.0),
                            "duration_min": float(h.get("duration_min") or 0.0)})
        return out


def _avg(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _slope_per_day(points: dict[date, float]) -> float | None:
    """Least-squares slope (units per day); None with fewer than 3 points or 1 day span."""
    if len(points) < 3:
        return None
    xs = [d.toordinal() for d in points]
    ys = list(points.values())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


def _pct(current: float, target: float, direction: str, baseline: float | None) -> float:
    """% complete, capped to [0, 100]."""
    if direction in ("increase",) or (direction == "reach" and baseline is None
                                      and current <= target):
        pct = current / target * 100 if target else 100.0
    elif direction == "decrease" and baseline is None:
        pct = target / current * 100 if current else 100.0
    elif direction == "maintain":
        pct = max(0.0, 100.0 - abs(current - target) / target * 100) if target else 0.0
    else:  # reach/decrease with a baseline: share of the way from baseline to target
        span = baseline - target if baseline is not None else 0.0
        if not span:
            pct = 100.0 if math.isclose(current, target, rel_tol=0.01) else 0.0
        else:
            pct = (baseline - current) / span * 100
    return round(max(0.0, min(100.0, pct)), 1)


def _met(current: float, target: float, direction: str, baseline: float | None) -> bool:
    if direction == "increase":
        return current >= target
    if direction == "decrease":
        return current <= target
    if direction == "maintain":
        return abs(current - target) <= max(0.02 * abs(target), 0.5)
    # reach: from above → at or below; from below → at or above
    if baseline is not None and baseline > target:
        return current <= target
    if baseline is not None and baseline < target:
        return current >= target
    return math.isclose(current, target, rel_tol=0.01)


async def _window(source: HealthSource, user_id: str, spec: MetricSpec, start: date,
                  end: date) -> dict[date, float]:
    if spec.source == "sleep":
        return await source.sleep_hours(user_id, start, end)
    if spec.source.startswith("metric:"):
        return await source.daily(user_id, spec.source.split(":", 1)[1], start, end,
                                  spec.field)
    raise ValueError(spec.source)


async def _weekly_totals(source: HealthSource, user_id: str, spec: MetricSpec, today: date,
                         weeks: int = 4) -> list[float]:
    """Totals of the last ``weeks`` 7-day windows ending today, most recent first."""
    start = today - timedelta(days=7 * weeks - 1)
    if spec.source.startswith("workouts"):
        wtype = spec.source.split(":", 1)[1] if ":" in spec.source else None
        items = await source.workouts(user_id, start, today, wtype)
        totals = [0.0] * weeks
        for w in items:
            idx = (today - w["date"]).days // 7
            if 0 <= idx < weeks:
                totals[idx] += w["distance_km"] if spec.name == "running_distance" else 1.0
        return totals
    series = await _window(source, user_id, spec, start, today)
    totals = [0.0] * weeks
    for d, v in series.items():
        idx = (today - d).days // 7
        if 0 <= idx < weeks:
            totals[idx] += v
    return totals


async def goal_progress(goal: Goal, source: HealthSource, today: date) -> dict[str, Any]:
    """Progress of one goal as a JSON-safe dict with a ``summary`` sentence."""
    base: dict[str, Any] = {"goal": goal.to_public(), "as_of": today.isoformat()}
    spec = METRICS.get(goal.metric or "")
    if spec is None:
        base.update(no_data=True, summary=(
            f"Your goal \"{goal.text}\" has no measurable metric, so I can't track it "
            "from your health data."))
        return base
    target = goal.target
    direction = goal.direction or spec.direction
    unit = goal.unit or spec.unit
    label = spec.label
    period = goal.period or spec.period
    trend: float | None = None
    baseline = goal.baseline
    recent_note = ""

    if spec.kind == "level":
        start = today - timedelta(days=90)
        series = await _window(source, goal.user_id, spec, start, today)
        if not series:
            base.update(no_data=True, summary=(
                f"No {label} readings between {start} and {today}, so I can't measure "
                f"progress on your goal ({goal.describe()})."))
            return base
        last_day = max(series)
        current = series[last_day]
        recent = {d: v for d, v in series.items() if d >= today - timedelta(days=28)}
        trend = _slope_per_day(recent)
        if baseline is None:
            created = date.fromtimestamp(goal.created_at) if goal.created_at else start
            before = {d: v for d, v in series.items() if d <= created}
            baseline = before[max(before)] if before else series[min(series)]
        if target is None and goal.change is not None:
            target = round(baseline + goal.change, 1)
        recent_note = f"latest reading {_fmt(current)} {unit} on {last_day}"
        basis = "latest"
    elif spec.kind == "daily" and period != "week":
        start = today - timedelta(days=27)
        series = await _window(source, goal.user_id, spec, start, today)
        last7 = [v for d, v in series.items() if d > today - timedelta(days=7)]
        if not last7:
            base.update(no_data=True, summary=(
                f"No {label} data in the 7 days to {today}, so I can't measure progress on "
                f"your goal ({goal.describe()})."))
            return base
        current = sum(last7) / len(last7)
        avg28 = _avg(list(series.values()))
        base["average_28d"] = round(avg28, 2) if avg28 is not None else None
        base["days_with_data_7d"] = len(last7)
        trend = _slope_per_day(series)
        recent_note = (f"7-day average {_fmt(round(current, 1))} {unit}"
                       f"{f' (28-day average {_fmt(round(avg28, 1))})' if avg28 else ''}")
        basis = "7-day average"
    else:  # weekly
        totals = await _weekly_totals(source, goal.user_id, spec, today)
        if not any(totals):
            base.update(no_data=True, summary=(
                f"No {label} data in the 4 weeks to {today}, so I can't measure progress on "
                f"your goal ({goal.describe()})."))
            return base
        current = sum(totals) / len(totals)
        base["last_7_days"] = round(totals[0], 2)
        base["weekly_totals"] = [round(t, 2) for t in reversed(totals)]
        trend = (totals[0] - totals[-1]) / 21.0 if len(totals) >= 2 else None
        recent_note = (f"4-week average {_fmt(round(current, 1))} {unit} per week "
                       f"({_fmt(round(totals[0], 1))} in the last 7 days)")
        basis = "4-week average"

    base.update(current=round(current, 2), unit=unit, basis=basis,
                trend_per_day=round(trend, 4) if trend is not None else None)
    if target is None:
        base.update(summary=f"Your {label} {recent_note}; your goal has no numeric target.")
        return base
    met = _met(current, target, direction, baseline)
    pct = _pct(current, target, direction, baseline)
    remaining = round(target - current, 2)
    on_track: bool
    projection: float | None = None
    if met:
        on_track = True
    elif goal.deadline and spec.kind == "level":
        days_left = (date.fromisoformat(goal.deadline) - today).days
        projection = current + (trend or 0.0) * max(days_left, 0)
        on_track = days_left > 0 and _met(projection, target, direction, baseline)
    elif spec.kind == "level":
        toward = (trend or 0.0) * (target - current)
        on_track = toward > 0
    else:
        on_track = False
    base.update(target=target, direction=direction, baseline=baseline,
                distance_to_target=remaining, percent_complete=pct, met=met,
                on_track=on_track)
    if projection is not None:
        base["projected_at_deadline"] = round(projection, 2)
    per = f" per {period}" if period and spec.kind != "level" else ""
    gap = (f"{_fmt(abs(round(remaining, 1)))} {unit} "
           f"{'to go' if not met else 'past the target' if remaining else 'exactly on it'}")
    status = ("goal met" if met else "on track" if on_track else "not on track yet")
    deadline = f" by {goal.deadline}" if goal.deadline else ""
    base["summary"] = (
        f"{label.capitalize()} goal {_fmt(target)} {unit}{per}{deadline}: {recent_note}; "
        f"{pct:.0f}% complete, {gap} — {status}."
    )
    if projection is not None and not met:
        base["summary"] += (f" At the recent trend you would be at about "
                            f"{_fmt(round(projection, 1))} {unit} by {goal.deadline}.")
    return base


class QueryLayerHealthSource(RedisHealthSource):
    """Daily metric values through the query layer (``wellness.health``), so goal progress
    reads exactly the numbers the health tools report (same metric resolution, same
    rollup reader). Sleep and workouts use the documented keys directly.

    Falls back to :class:`RedisHealthSource` behaviour if the query layer cannot resolve a
    metric, so progress keeps working while that layer evolves.
    """

    def __init__(self, store: RedisStore, *, tz: Any = None) -> None:
        super().__init__(store)
        self.tz = tz

    async def daily(self, user_id: str, metric_type: str, start: date, end: date,
                    field: str = "s") -> dict[date, float]:
        try:
            from wellness.health.daily import load_days
            from wellness.health.periods import DateRange
            from wellness.health.queries import HealthQueries

            hq = HealthQueries(self.store, user_id, today=end, tz=self.tz)
            info = await hq.resolve(metric_type)
            md = await load_days(hq.ctx, info, DateRange(start, end, ""))
        except (ImportError, AttributeError, LookupError, TypeError):
            return await super().daily(user_id, metric_type, start, end, field)
        except Exception as exc:  # MetricError and friends: unknown metric → no data
            if type(exc).__name__.endswith("MetricError"):
                return {}
            raise
        out: dict[date, float] = {}
        for d in md.days:
            if field == "l":
                value = d.last if d.last is not None else (d.s / d.n if d.n else None)
            else:
                value = d.s
            if value is not None and start <= d.day <= end:
                out[d.day] = float(value)
        return out


def default_source(store: RedisStore, tz: Any = None) -> HealthSource:
    """The query-layer source when ``wellness.health`` is importable, else direct keys."""
    try:
        import wellness.health.queries  # noqa: F401
    except ImportError:
        return RedisHealthSource(store)
    return QueryLayerHealthSource(store, tz=tz)
