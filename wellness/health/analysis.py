"""Trend (least-squares slope, 7-day moving average) and comparison of two periods.

Why: "am I improving?" and "this month vs last month" were the most asked questions the
comparable project could not answer (its trend and comparison code was never exposed). Both
work from daily rollups / workout hashes, so any range costs a couple of round trips.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from wellness.health import formatting as fmt
from wellness.health.base import MAX_POINTS, QueryContext, chart
from wellness.health.daily import group, load_days
from wellness.health.metrics import MetricInfo
from wellness.health.periods import DateRange

if TYPE_CHECKING:
    from wellness.health.queries import HealthQueries


def _covered_days(start: date, bucket: str, rng: DateRange) -> tuple[int, int]:
    """(days of the bucket inside the range, days in the bucket)."""
    if bucket == "week":
        end = start + timedelta(days=6)
    else:
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        end = nxt - timedelta(days=1)
    lo, hi = max(start, rng.start), min(end, rng.end)
    return max(0, (hi - lo).days + 1), (end - start).days + 1


def _trim_partial(buckets: list[Any], rng: DateRange, bucket: str) -> list[Any]:
    """Drop a first/last bucket that the range covers for less than half its length.

    "The last 12 weeks" usually starts mid-week: a one-day first "week" would swing the
    slope on a single day's value.
    """
    out = list(buckets)
    for idx in (0, -1):
        if len(out) > 2:
            inside, size = _covered_days(out[idx].start, bucket, rng)
            if inside * 2 < size:
                out.pop(idx)
    return out


def least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through (xs, ys)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def moving_average(points: list[tuple[date, float]], window: int = 7
                   ) -> list[tuple[date, float]]:
    """Trailing ``window``-calendar-day mean at each day that has data."""
    out: list[tuple[date, float]] = []
    lo = 0
    total = 0.0
    for hi, (d, v) in enumerate(points):
        total += v
        while points[lo][0] <= d - timedelta(days=window):
            total -= points[lo][1]
            lo += 1
        out.append((d, total / (hi - lo + 1)))
    return out


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


async def metric_trend(ctx: QueryContext, info: MetricInfo, rng: DateRange,
                       bucket: str = "week") -> dict[str, Any]:
    bucket = (bucket or "week").lower().rstrip("s")
    bucket = {"weekly": "week", "monthly": "month", "wk": "week", "mo": "month"}.get(bucket, bucket)
    if bucket not in ("week", "month"):
        return {"error": f"unknown bucket '{bucket}'; use week or month"}
    md = await load_days(ctx, info, rng)
    info, rng, days = md.info, md.rng, md.days
    head = {"metric": info.name, "type": info.type, "unit": info.unit,
            "display_unit": info.shown_unit, "kind": info.kind, "bucket": bucket,
            "range": ctx.range_dict(rng)}
    if not days:
        return ctx.no_data(info.name, rng, md.first, md.last, **head)
    buckets = _trim_partial(group(days, bucket), rng, bucket)
    # Cumulative metrics trend on the per-day average so partial weeks do not look like dips.
    per_day = info.cumulative or info.events
    values = [b.per_day(info) if per_day else b.value(info) for b in buckets]
    if bucket == "week":
        xs = [(b.start - buckets[0].start).days / 7 for b in buckets]
    else:
        xs = [float(_months_between(buckets[0].start, b.start)) for b in buckets]
    daily = [(d.day, d.value(info)) for d in days]
    ma = moving_average(daily)
    t = ctx.today
    q = _q(info)
    per = "a day" if per_day else ""
    points = [{"start": b.start.isoformat(), "value": fmt.rounded(v, max(info.decimals, 1))}
              for b, v in zip(buckets, values)]
    result: dict[str, Any] = {**head, "buckets": len(buckets), "points": points[-MAX_POINTS:]}
    if len(buckets) < 2:
        result.update({"slope_per_bucket": None, "direction": "unknown",
                       "summary": (f"Only one {bucket} of {info.name} data "
                                   f"{fmt.from_to(rng.start, rng.end, t)} "
                                   f"({q(values[0])}{' ' + per if per else ''}); I need at "
                                   f"least two {bucket}s to see a trend.")})
        return result
    slope, intercept = least_squares(xs, values)
    mean = sum(values) / len(values)
    fitted_first = intercept + slope * xs[0]
    fitted_last = intercept + slope * xs[-1]
    change = fitted_last - fitted_first
    rel = (change / abs(mean) * 100) if mean else 0.0
    t_stat = slope_t(xs, values, slope, intercept)
    # A trend needs a slope that stands out of the week-to-week noise (|t| ≥ 2) and a
    # change worth mentioning (≥ 0.5 % of the mean); two buckets can only use the size.
    if t_stat is None:
        steady = abs(rel) < 2
    else:
        steady = abs(t_stat) < 2 or abs(rel) < 0.5
    direction = "flat" if steady else ("rising" if slope > 0 else "falling")
    verb = {"rising": "rose", "falling": "fell", "flat": "held steady"}[direction]
    label = "weekly" if bucket == "week" else "monthly"
    when = fmt.from_to(rng.start, rng.end, t)
    what = f"daily {info.name}" if per_day else info.name
    if direction == "flat":
        summary = (f"Your {what} held steady {when} ({label} average {_bare(info, values[0])} → "
                   f"{q(values[-1])}{' ' + per if per else ''}; no clear trend over "
                   f"{fmt.plural(len(buckets), bucket)}, slope "
                   f"{'+' if slope >= 0 else '−'}{_slope_text(info, abs(slope))} per {bucket}).")
    else:
        amount = _slope_text(info, abs(slope), with_unit=not per_day)
        summary = (f"Your {what} {verb} by about {amount} per {bucket} {when} "
                   f"({label} average {_bare(info, values[0])} → {q(values[-1])}"
                   f"{' ' + per if per else ''} over {fmt.plural(len(buckets), bucket)}; "
                   f"{fmt.pct(rel, 0, signed=True)} overall).")
    step = max(1, -(-len(ma) // MAX_POINTS))
    ma_pts = ma[::step]
    dec = max(info.decimals, 1)
    result.update({
        "slope_per_bucket": fmt.rounded(slope, dec + 1),
        "t_stat": (fmt.rounded(max(min(t_stat, 1e6), -1e6), 2)
                   if t_stat is not None else None),
        "change_over_range": fmt.rounded(change, dec), "change_pct": fmt.rounded(rel, 1),
        "direction": direction, "first_value": fmt.rounded(values[0], dec),
        "last_value": fmt.rounded(values[-1], dec), "mean": fmt.rounded(mean, dec),
        "moving_average_7d": [{"date": d.isoformat(), "value": fmt.rounded(v, dec)}
                              for d, v in ma_pts],
        "summary": summary,
        "chart": chart("line", f"{info.name}: 7-day average", [d.isoformat() for d, _ in ma_pts],
                       {"7-day average": [fmt.rounded(v, dec) for _, v in ma_pts]},
                       info.shown_unit or info.name),
    })
    return result


def slope_t(xs: list[float], ys: list[float], slope: float, intercept: float) -> float | None:
    """t statistic of the least-squares slope (None with fewer than 3 points)."""
    n = len(xs)
    if n < 3:
        return None
    mx = sum(xs) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sse = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    if sxx == 0:
        return None
    if sse == 0:
        return float("inf") if slope else 0.0
    se = (sse / (n - 2) / sxx) ** 0.5
    return slope / se


def _slope_text(info: MetricInfo, v: float, with_unit: bool = True) -> str:
    """Slopes are small numbers: keep two significant decimals ("0.04 kg", "350")."""
    if v >= 10:
        dec = 0
    elif v >= 1:
        dec = 1
    else:
        dec = 2
    text = fmt.num(v, dec)
    unit = info.shown_unit if with_unit else ""
    if unit == "%":
        return text + "%"
    return f"{text} {unit}" if unit else text


def _q(info: MetricInfo) -> Any:
    def q(v: float | None) -> str:
        text = fmt.num(v, fmt.smart_decimals(v, info.decimals) if v is None or abs(v) >= 10
                       else max(info.decimals, 1))
        unit = info.shown_unit
        if unit == "%":
            return f"{text}%"
        return f"{text} {unit}" if unit else text
    return q


def _bare(info: MetricInfo, v: float) -> str:
    return fmt.num(v, fmt.smart_decimals(v, info.decimals))


def _signed(info: MetricInfo, v: float) -> str:
    return ("+" if v >= 0 else "−") + _q(info)(abs(v))


def _change(a: float | None, b: float | None, decimals: int = 1) -> dict[str, Any]:
    if a is None or b is None:
        return {"a": a, "b": b, "change": None, "change_pct": None}
    pct = (a - b) / abs(b) * 100 if b else None
    return {"a": fmt.rounded(a, decimals), "b": fmt.rounded(b, decimals),
            "change": fmt.rounded(a - b, decimals),
            "change_pct": fmt.rounded(pct, 1) if pct is not None else None}


def _pct_text(pct: float | None) -> str:
    return "" if pct is None else f", {fmt.pct(pct, 0, signed=True)}"


async def compare_periods(hq: "HealthQueries", metric: str, a: DateRange, b: DateRange
                          ) -> dict[str, Any]:
    """Period ``a`` against period ``b`` (change = a − b, % relative to b)."""
    ctx = hq.ctx
    t = ctx.today
    wa, wb = ctx.describe(a), ctx.describe(b)
    head = {"period_a": ctx.range_dict(a), "period_b": ctx.range_dict(b)}
    if (metric or "").strip().lower() in ("sleep", "sleep duration", "hours of sleep"):
        return await _compare_sleep(ctx, a, b, wa, wb, head)
    if (metric or "").strip().lower() in ("workouts", "workout", "exercise sessions",
                                          "training"):
        from wellness.health.workouts import load_workouts

        items_a, first, last = await load_workouts(ctx, a, light=True)
        items_b, _f, _l = await load_workouts(ctx, b, light=True)
        if not items_a and not items_b:
            nd = ctx.no_data("workout", a, first, last, metric="workouts", **head)
            nd["summary"] = (f"No workouts in either period, {wa} or {wb}; "
                             f"{ctx.coverage_text(first, last)}.")
            return nd
        res = {"metric": "workouts", **head,
               "count": _change(len(items_a), len(items_b), 0),
               "minutes": _change(sum(w.duration_min for w in items_a),
                                  sum(w.duration_min for w in items_b), 0),
               "energy_kcal": _change(sum(w.energy_kcal or 0 for w in items_a),
                                      sum(w.energy_kcal or 0 for w in items_b), 0),
               "distance_km": _change(sum(w.distance_km or 0 for w in items_a),
                                      sum(w.distance_km or 0 for w in items_b), 1),
               "units": {"minutes": "min", "energy_kcal": "kcal", "distance_km": "km"}}
        c, m, e = res["count"], res["minutes"], res["energy_kcal"]
        res["summary"] = (
            f"Workouts {wa}: {fmt.plural(len(items_a), 'workout')}, "
            f"{fmt.duration(m['a'])}, {fmt.num(e['a'])} kcal; {wb}: "
            f"{fmt.plural(len(items_b), 'workout')}, {fmt.duration(m['b'])}, "
            f"{fmt.num(e['b'])} kcal. Change: {_signed_int(c['change'])} workouts"
            f"{_pct_text(c['change_pct'])}; {_signed_int(m['change'])} min"
            f"{_pct_text(m['change_pct'])}; {_signed_int(e['change'])} kcal"
            f"{_pct_text(e['change_pct'])}.")
        return res

    info = await hq.resolve(metric)
    sa = await hq.metric_summary(info, a)
    sb = await hq.metric_summary(info, b)
    unit = {"unit": info.unit, "display_unit": sa.get("display_unit", info.shown_unit)}
    res = {"metric": info.name, "type": info.type, "kind": info.kind, **unit, **head,
           "a": sa, "b": sb}
    if sa.get("no_data") and sb.get("no_data"):
        res["no_data"] = True
        res["summary"] = (f"No {info.name} data in either period, {wa} or {wb}; "
                          f"{sa['summary'].split('; ', 1)[-1]}")
        return res
    if sa.get("no_data") or sb.get("no_data"):
        missing, other = (wa, sb) if sa.get("no_data") else (wb, sa)
        res["summary"] = (f"No {info.name} data {missing}, so there is nothing to compare; "
                          f"for the other period: {other['summary']}")
        res["partial"] = True
        return res
    dec = max(info.decimals, 1)
    q = _q(info)
    if info.cumulative:
        res["avg_per_day"] = _change(sa["avg_per_day"], sb["avg_per_day"], dec)
        res["total"] = _change(sa["total"], sb["total"], dec)
        ch = res["avg_per_day"]
        res["summary"] = (
            f"{fmt.upper_first(info.name)}: {q(sa['avg_per_day'])} a day {wa} vs "
            f"{q(sb['avg_per_day'])} a day {wb} ({_signed(info, ch['change'])}"
            f"{_pct_text(ch['change_pct'])}). Totals: {q(sa['total'])} vs {q(sb['total'])}.")
    else:
        res["avg"] = _change(sa["avg"], sb["avg"], dec)
        ch = res["avg"]
        res["summary"] = (
            f"Your {info.name} averaged {q(sa['avg'])} {wa} vs {q(sb['avg'])} {wb} "
            f"({_signed(info, ch['change'])}{_pct_text(ch['change_pct'])}).")
    res["chart"] = chart("bar", f"{info.name}: {a.label or 'A'} vs {b.label or 'B'}",
                         [a.label or "A", b.label or "B"],
                         {info.name: [ch["a"], ch["b"]]}, info.shown_unit or info.name)
    return res


async def _compare_sleep(ctx: QueryContext, a: DateRange, b: DateRange, wa: str, wb: str,
                         head: dict[str, Any]) -> dict[str, Any]:
    """Average sleep per night, time in bed and efficiency of two periods."""
    from wellness.health.sleep import sleep_summary

    sa, sb = await sleep_summary(ctx, a), await sleep_summary(ctx, b)
    res: dict[str, Any] = {"metric": "sleep", **head,
                           "units": {"asleep": "min", "in_bed": "min", "efficiency": "%"}}
    if sa.get("no_data") or sb.get("no_data"):
        res["no_data"] = bool(sa.get("no_data") and sb.get("no_data"))
        res["partial"] = not res["no_data"]
        missing = [w for w, s in ((wa, sa), (wb, sb)) if s.get("no_data")]
        cover = (sa if sa.get("no_data") else sb)["summary"].split("; ", 1)[-1]
        res["summary"] = f"No sleep data {' or '.join(missing)}; {cover}"
        return res
    res["asleep_min"] = _change(sa["avg_asleep_min"], sb["avg_asleep_min"], 1)
    res["in_bed_min"] = _change(sa["avg_in_bed_min"], sb["avg_in_bed_min"], 1)
    res["efficiency"] = _change(sa["avg_efficiency"], sb["avg_efficiency"], 1)
    res["bedtime"] = {"a": sa["avg_bedtime"], "b": sb["avg_bedtime"]}
    ch = res["asleep_min"]
    diff = ch["change"] or 0
    sign = "+" if diff > 0 else "−" if diff < 0 else "±"
    res["summary"] = (
        f"You slept {fmt.hours(sa['avg_asleep_min'])} a night {wa} vs "
        f"{fmt.hours(sb['avg_asleep_min'])} {wb} ({sign}{fmt.duration(abs(diff))}"
        f"{_pct_text(ch['change_pct'])}); efficiency {fmt.pct(sa['avg_efficiency'])} vs "
        f"{fmt.pct(sb['avg_efficiency'])}, average bedtime {sa['avg_bedtime']} vs "
        f"{sb['avg_bedtime']}.")
    return res


def _signed_int(v: float | None) -> str:
    if v is None:
        return "–"
    return ("+" if v > 0 else "−" if v < 0 else "±") + fmt.num(abs(v))
