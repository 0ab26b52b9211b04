"""``HealthQueries``: typed async answers over one user's imported health data.

Why: the tools, the offline model and the chat layer all need the same numbers with the same
wording. Every method is user-scoped (the constructor refuses a missing user id), reads only
the importer's indexes (daily rollups, workout / sleep / activity hashes — never raw
samples), and returns a JSON-safe dict with a ``summary`` sentence, the resolved ``range``,
units, an optional ``chart`` (≤ 400 points) and ``no_data: true`` when the range is empty.
Store outages propagate as ``StoreUnavailable``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from wellness.health import formatting as fmt
from wellness.health.base import MAX_POINTS, QueryContext, chart, first_last, zset_spans
from wellness.health.daily import choose_bucket, group, load_days
from wellness.health.metrics import CATALOGUE, MetricError, MetricInfo, friendly_name, \
    resolve_metric, short_type
from wellness.health.periods import DateRange
from wellness.store.connection import RedisStore
from wellness.store.keys import UserKeys, day_from_ordinal

STATS = ("sum", "avg", "min", "max", "last", "count", "all")

# Cumulative metrics whose quantity already names the thing ("84,210 steps").
_SELF_NAMED = {"StepCount", "FlightsClimbed", "DistanceWalkingRunning", "DistanceCycling",
               "DistanceSwimming", "DistanceWheelchair", "PushCount", "SwimmingStrokeCount"}
_SUFFIX = {"AppleExerciseTime": " of exercise", "AppleStandTime": " of standing",
           "DietaryEnergyConsumed": "", "MindfulSession": " of mindfulness",
           "AppleMoveTime": " of move time", "TimeInDaylight": " in daylight"}


def quantity(info: MetricInfo, value: float | None) -> str:
    """``"84,210 steps"``, ``"12.3 km"``, ``"56 bpm"``, ``"24.1"`` (BMI)."""
    text = fmt.num(value, fmt.smart_decimals(value, info.decimals))
    unit = info.shown_unit
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}" if unit else text


def _metric_words(info: MetricInfo, value: float | None) -> str:
    q = quantity(info, value)
    if info.type in _SELF_NAMED:
        return q
    return q + _SUFFIX.get(info.type, f" of {info.name}")


def _per_day_amount(info: MetricInfo, value: float) -> str:
    """Bare numbers where the headline already named them ("12,030 a day" after "steps"),
    with the unit otherwise ("1,976 kcal a day")."""
    if info.type in ("StepCount", "FlightsClimbed"):
        return fmt.num(value, info.decimals)
    return quantity(info, value)


def _r(info: MetricInfo, value: float | None) -> float | None:
    return fmt.rounded(value, max(info.decimals, 1) if value is not None and
                       abs(value) < 100 else info.decimals)


class HealthQueries:
    """All query-layer answers for one user. Cheap to build; build one per request."""

    def __init__(self, store: RedisStore, user_id: str | None, *, today: date | None = None,
                 tz: ZoneInfo | None = None) -> None:
        keys = UserKeys(user_id or "")  # raises ValueError without a valid user (fail closed)
        zone = tz or ZoneInfo("UTC")
        self.ctx = QueryContext(store, keys, today or datetime.now(zone).date(), zone)

    @property
    def today(self) -> date:
        return self.ctx.today

    # -- metric resolution -------------------------------------------------------------
    async def metric_types(self) -> set[str]:
        async with self.ctx.store.aconnection() as r:
            return set(await r.smembers(self.ctx.keys.metric_types))

    async def resolve(self, metric: str) -> MetricInfo:
        """Friendly name → :class:`MetricInfo` (raises :class:`MetricError`)."""
        return resolve_metric(metric, await self.metric_types())

    # -- data range --------------------------------------------------------------------
    async def data_range(self) -> dict[str, Any]:
        """What data exists: overall dates, each metric's span, workouts, sleep, activity."""
        ctx, k = self.ctx, self.ctx.keys
        types = sorted(await self.metric_types())
        zkeys = [k.metric_days(t) for t in types]
        zkeys += [k.workout_by_date, k.sleep_by_date, k.activity_by_date]
        async with ctx.store.aconnection() as r:
            spans = await zset_spans(r, zkeys)
        replies = [x for span in spans for x in span]
        metrics: list[dict[str, Any]] = []
        starts: list[date] = []
        ends: list[date] = []
        for i, t in enumerate(types):
            first, last = first_last(replies[3 * i], replies[3 * i + 1])
            if first is None or last is None:
                continue
            starts.append(first)
            ends.append(last)
            metrics.append({"metric": friendly_name(t), "type": t, "first_day": first.isoformat(),
                            "last_day": last.isoformat(), "days": int(replies[3 * i + 2])})
        base = 3 * len(types)
        extra: dict[str, Any] = {}
        for j, name in enumerate(("workouts", "sleep", "activity")):
            f_m, l_m, n = replies[base + 3 * j: base + 3 * j + 3]
            if not f_m:
                extra[name] = None
                continue
            if name == "workouts":
                f_d = datetime.fromtimestamp(float(f_m[0][1]), ctx.tz).date()
                l_d = datetime.fromtimestamp(float(l_m[0][1]), ctx.tz).date()
            else:
                f_d, l_d = day_from_ordinal(int(f_m[0][1])), day_from_ordinal(int(l_m[0][1]))
            starts.append(f_d)
            ends.append(l_d)
            extra[name] = {"first_day": f_d.isoformat(), "last_day": l_d.isoformat(),
                           "count": int(n)}
        if not starts:
            return {"no_data": True, "start": None, "end": None, "metrics": [],
                    "today": ctx.today.isoformat(),
                    "summary": "You have no health data imported yet; upload your Apple "
                               "Health export.zip to get started."}
        start, end = min(starts), max(ends)
        parts = [f"Your data covers {fmt.day(start, ctx.today)} to {fmt.day(end, ctx.today)}"]
        counts = [f"{len(metrics)} metrics"]
        if extra.get("workouts"):
            counts.append(fmt.plural(extra["workouts"]["count"], "workout"))
        if extra.get("sleep"):
            counts.append(fmt.plural(extra["sleep"]["count"], "night") + " of sleep")
        if extra.get("activity"):
            counts.append(fmt.plural(extra["activity"]["count"], "day") + " of activity rings")
        summary = f"{parts[0]} ({', '.join(counts)}); today is {fmt.day(ctx.today)}."
        # Name the common metrics first, so "what can you tell me about?" has an answer.
        order = {m.type: i for i, m in enumerate(CATALOGUE)}
        known = sorted((m for m in metrics if short_type(m["type"]) in order),
                       key=lambda m: order[short_type(m["type"])])
        if known:
            names = ", ".join(m["metric"] for m in known[:8])
            summary += f" Metrics include {names}{' and more' if len(metrics) > 8 else ''}."
        return {"start": start.isoformat(), "end": end.isoformat(), "today": ctx.today.isoformat(),
                "metrics": metrics, **extra, "summary": summary}

    # -- metric summary ----------------------------------------------------------------
    async def metric_summary(self, metric: str | MetricInfo, rng: DateRange,
                             stat: str = "all") -> dict[str, Any]:
        """sum/avg/min/max/last/count of a metric over ``rng`` (``all`` = everything)."""
        stat = (stat or "all").lower()
        stat = {"average": "avg", "mean": "avg", "total": "sum", "minimum": "min",
                "maximum": "max", "latest": "last"}.get(stat, stat)
        if stat not in STATS:
            return {"error": f"unknown stat '{stat}'; use one of {', '.join(STATS)}"}
        info = metric if isinstance(metric, MetricInfo) else await self.resolve(metric)
        md = await load_days(self.ctx, info, rng)
        info, rng, days = md.info, md.rng, md.days
        ctx = self.ctx
        head = {"metric": info.name, "type": info.type, "unit": info.unit,
                "display_unit": info.shown_unit, "kind": info.kind, "stat": stat,
                "range": ctx.range_dict(rng)}
        if not days:
            return ctx.no_data(info.name, rng, md.first, md.last, **head)
        when = fmt.from_to(rng.start, rng.end, ctx.today)
        single = rng.start == rng.end
        if info.events:
            return self._events_summary(info, rng, when, stat, days, head)
        if info.cumulative:
            total = sum(d.s for d in days)
            avg = total / len(days)
            best = max(days, key=lambda d: d.s)
            low = min(days, key=lambda d: d.s)
            last = days[-1]
            res = {**head, "total": _r(info, total), "avg_per_day": _r(info, avg),
                   "days_with_data": len(days),
                   "best_day": {"date": best.day.isoformat(), "value": _r(info, best.s)},
                   "lowest_day": {"date": low.day.isoformat(), "value": _r(info, low.s)},
                   "last_day": {"date": last.day.isoformat(), "value": _r(info, last.s)}}
            value = {"sum": total, "avg": avg, "min": low.s, "max": best.s, "last": last.s,
                     "count": len(days), "all": total}[stat]
            res["value"] = _r(info, value) if stat != "count" else len(days)
            res["summary"] = self._cumulative_sentence(info, rng, when, single, stat, total,
                                                       avg, best, low, last, len(days))
        else:
            n = sum(d.n for d in days)
            total = sum(d.s for d in days)
            mean = total / n if n else 0.0
            lo_day = min((d for d in days if d.lo is not None), key=lambda d: d.lo or 0.0,
                         default=None)
            hi_day = max((d for d in days if d.hi is not None), key=lambda d: d.hi or 0.0,
                         default=None)
            last = days[-1]
            last_val = last.last if last.last is not None else last.value(info)
            lo = lo_day.lo if lo_day else None
            hi = hi_day.hi if hi_day else None
            res = {**head, "avg": _r(info, mean), "min": _r(info, lo), "max": _r(info, hi),
                   "last": {"date": last.day.isoformat(), "value": _r(info, last_val)},
                   "readings": n, "days_with_data": len(days),
                   "min_day": lo_day.day.isoformat() if lo_day else None,
                   "max_day": hi_day.day.isoformat() if hi_day else None}
            value = {"sum": total, "avg": mean, "min": lo, "max": hi, "last": last_val,
                     "count": n, "all": mean}[stat]
            res["value"] = _r(info, value) if stat != "count" else n
            res["summary"] = self._discrete_sentence(info, rng, when, single, stat, mean, lo,
                                                     hi, lo_day, hi_day, last, last_val, n)
        return res

    def _events_summary(self, info: MetricInfo, rng: DateRange, when: str, stat: str,
                        days: list[Any], head: dict[str, Any]) -> dict[str, Any]:
        """Category types (stand hours, handwashing, rhythm events…): how many, how often."""
        t = self.ctx.today
        count = sum(d.n for d in days)
        per_day = count / len(days)
        busiest = max(days, key=lambda d: d.n)
        minutes = sum(d.s for d in days)
        value = {"sum": count, "count": count, "all": count, "avg": per_day,
                 "max": busiest.n, "min": min(d.n for d in days), "last": days[-1].n}[stat]
        summary = (f"You have {fmt.plural(count, info.name + ' entry', info.name + ' entries')} "
                   f"{when}")
        if len(days) > 1:
            summary += (f" ({fmt.num(per_day, 1)} a day on the {fmt.plural(len(days), 'day')} "
                        f"with any; most on {fmt.day(busiest.day, t)} with {busiest.n})")
        summary += "."
        return {**head, "count": count, "days_with_data": len(days),
                "avg_per_day": fmt.rounded(per_day, 2), "total_minutes": fmt.rounded(minutes, 1),
                "busiest_day": {"date": busiest.day.isoformat(), "count": busiest.n},
                "value": fmt.rounded(value, 2), "summary": summary}

    def _cumulative_sentence(self, info: MetricInfo, rng: DateRange, when: str, single: bool,
                             stat: str, total: float, avg: float, best: Any, low: Any,
                             last: Any, n_days: int) -> str:
        t = self.ctx.today
        verb = info.verb or "You logged"
        if single:
            return f"{verb} {_metric_words(info, total)} {when}."
        over = "" if n_days >= rng.days else f" over the {fmt.plural(n_days, 'day')} with data"
        if stat == "max":
            return (f"Your best day {when} was {fmt.day(best.day, t)} with "
                    f"{_metric_words(info, best.s)} (total {quantity(info, total)}; "
                    f"{quantity(info, avg)} a day on average{over}).")
        if stat == "min":
            return (f"Your lowest day {when} was {fmt.day(low.day, t)} with "
                    f"{_metric_words(info, low.s)} ({quantity(info, avg)} a day on "
                    f"average{over}).")
        if stat == "avg":
            return (f"You averaged {_metric_words(info, avg)} a day {when}{over} "
                    f"(total {quantity(info, total)}; best day {fmt.day(best.day, t)} "
                    f"with {_per_day_amount(info, best.s)}).")
        if stat == "last":
            return (f"On {fmt.day(last.day, t)}, the latest day with data {when}, you had "
                    f"{_metric_words(info, last.s)}.")
        if stat == "count":
            return (f"You have {info.name} data on {fmt.plural(n_days, 'day')} {when} "
                    f"(total {quantity(info, total)}).")
        return (f"{verb} {_metric_words(info, total)} {when} ({_per_day_amount(info, avg)} a "
                f"day on average{over}; best day {fmt.day(best.day, t)} with "
                f"{_per_day_amount(info, best.s)}).")

    def _discrete_sentence(self, info: MetricInfo, rng: DateRange, when: str, single: bool,
                           stat: str, mean: float, lo: float | None, hi: float | None,
                           lo_day: Any, hi_day: Any, last: Any, last_val: float | None,
                           n: int) -> str:
        t = self.ctx.today
        name = info.name if info.name.isupper() else info.name
        readings = fmt.plural(n, "reading")
        if stat == "last":
            return (f"Your latest {name} {when} was {quantity(info, last_val)} on "
                    f"{fmt.day(last.day, t)}.")
        if stat == "max" and hi_day is not None:
            return (f"Your highest {name} {when} was {quantity(info, hi)} on "
                    f"{fmt.day(hi_day.day, t)} (average {quantity(info, mean)} over {readings}).")
        if stat == "min" and lo_day is not None:
            return (f"Your lowest {name} {when} was {quantity(info, lo)} on "
                    f"{fmt.day(lo_day.day, t)} (average {quantity(info, mean)} over {readings}).")
        if stat == "count":
            return f"You have {readings} of {name} {when}."
        if n == 1 and single:
            return f"Your {name} was {quantity(info, mean)} {when}."
        if n == 1:
            return (f"Your {name} was {quantity(info, mean)} on {fmt.day(last.day, t)} "
                    f"(the only reading {when}).")
        rng_txt = (f"range {fmt.num(lo, fmt.smart_decimals(lo, info.decimals))}–"
                   f"{quantity(info, hi)}"
                   if lo is not None and hi is not None else "")
        latest = f"latest {quantity(info, last_val)} on {fmt.day(last.day, t)}"
        return (f"Your {name} averaged {quantity(info, mean)} {when} "
                f"({rng_txt} over {readings}; {latest}).")

    # -- metric series -----------------------------------------------------------------
    async def metric_series(self, metric: str | MetricInfo, rng: DateRange,
                            bucket: str = "day") -> dict[str, Any]:
        """Per-day/week/month values, coarsened so there are at most ~400 points."""
        bucket = (bucket or "day").lower().rstrip("s").replace("dai", "day")
        bucket = {"daily": "day", "weekly": "week", "monthly": "month"}.get(bucket, bucket)
        if bucket not in ("day", "week", "month", "year"):
            return {"error": f"unknown bucket '{bucket}'; use day, week or month"}
        info = metric if isinstance(metric, MetricInfo) else await self.resolve(metric)
        md = await load_days(self.ctx, info, rng)
        info, rng, days = md.info, md.rng, md.days
        ctx = self.ctx
        # Size the buckets by the span that actually has data, not the nominal range.
        span = DateRange(days[0].day, days[-1].day) if days else rng
        used = choose_bucket(span, bucket, MAX_POINTS)
        head = {"metric": info.name, "type": info.type, "unit": info.unit,
                "display_unit": info.shown_unit, "kind": info.kind, "bucket": used,
                "requested_bucket": bucket, "range": ctx.range_dict(rng)}
        if not days:
            return ctx.no_data(info.name, rng, md.first, md.last, **head)
        buckets = group(days, used)
        points: list[dict[str, Any]] = []
        for b in buckets:
            p: dict[str, Any] = {"start": b.start.isoformat(), "value": _r(info, b.value(info))}
            if (info.cumulative or info.events) and used != "day":
                p["avg_per_day"] = _r(info, b.per_day(info))
                p["days"] = len(b.days)
            if not info.cumulative and not info.events:
                p["min"], p["max"], p["readings"] = _r(info, b.lo()), _r(info, b.hi()), b.readings()
            points.append(p)
        best = max(buckets, key=lambda b: b.value(info))
        low = min(buckets, key=lambda b: b.value(info))
        label = {"day": "Daily", "week": "Weekly", "month": "Monthly", "year": "Yearly"}[used]
        what = "totals" if info.cumulative else "counts" if info.events else "averages"
        t = ctx.today

        def at(b: Any) -> str:
            if used == "month":
                return f"{b.start:%B %Y}"
            if used == "year":
                return str(b.start.year)
            if used == "week":
                return f"week of {fmt.day(b.start, t)}"
            return fmt.day(b.start, t)

        coarse = "" if used == bucket else f" (grouped by {used} to stay under {MAX_POINTS} points)"
        summary = (f"{label} {info.name} {what} {fmt.from_to(rng.start, rng.end, t)}: "
                   f"{fmt.plural(len(points), used)} with data{coarse}; highest {at(best)} "
                   f"({quantity(info, best.value(info))}), lowest {at(low)} "
                   f"({quantity(info, low.value(info))}).")
        ys: list[float | None] = [p["value"] for p in points]
        result = {**head, "points": points, "summary": summary,
                  "chart": chart("bar" if info.cumulative or info.events else "line",
                                 f"{label} {info.name}", [p["start"] for p in points],
                                 {info.name: ys}, info.shown_unit or info.name)}
        if used != bucket:
            result["downsampled"] = True
        return result

    # -- delegated ---------------------------------------------------------------------
    async def metric_trend(self, metric: str, rng: DateRange, bucket: str = "week"
                           ) -> dict[str, Any]:
        from wellness.health.analysis import metric_trend
        info = await self.resolve(metric)
        return await metric_trend(self.ctx, info, rng, bucket)

    async def compare_periods(self, metric: str, a: DateRange, b: DateRange) -> dict[str, Any]:
        from wellness.health.analysis import compare_periods
        return await compare_periods(self, metric, a, b)

    async def list_workouts(self, rng: DateRange, workout_type: str | None = None,
                            sort: str = "recent", limit: int = 10) -> dict[str, Any]:
        from wellness.health.workouts import list_workouts
        return await list_workouts(self.ctx, rng, workout_type, sort, limit)

    async def workout_summary(self, rng: DateRange, workout_type: str | None = None,
                              group_by: str = "type") -> dict[str, Any]:
        from wellness.health.workouts import workout_summary
        return await workout_summary(self.ctx, rng, workout_type, group_by)

    async def last_workout(self, workout_type: str | None = None) -> dict[str, Any]:
        from wellness.health.workouts import last_workout
        return await last_workout(self.ctx, workout_type)

    async def workout_details(self, workout_id: str) -> dict[str, Any]:
        from wellness.health.workouts import workout_details
        return await workout_details(self.ctx, workout_id)

    async def workout_streaks(self, rng: DateRange) -> dict[str, Any]:
        from wellness.health.workouts import workout_streaks
        return await workout_streaks(self.ctx, rng)

    async def sleep_summary(self, rng: DateRange) -> dict[str, Any]:
        from wellness.health.sleep import sleep_summary
        return await sleep_summary(self.ctx, rng)

    async def activity_rings(self, rng: DateRange) -> dict[str, Any]:
        from wellness.health.activity import activity_rings
        return await activity_rings(self.ctx, rng)


__all__ = ["HealthQueries", "MetricError", "STATS", "quantity"]
