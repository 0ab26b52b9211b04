"""Activity rings (Move / Exercise / Stand) from the importer's per-day activity hashes.

Why: "did I close my rings?" was unanswerable in the comparable project because it dropped
``ActivitySummary``. A ring counts as closed when the day's value reaches a positive goal.
"""

from __future__ import annotations

from typing import Any

from wellness.health import formatting as fmt
from wellness.health.base import LIST_CAP, QueryContext, day_chart, to_float
from wellness.health.cache import day_indexed_rows
from wellness.health.periods import DateRange

_FIELDS = ("move_kcal", "move_goal_kcal", "exercise_min", "exercise_goal_min", "stand_hours",
           "stand_goal_hours", "move_time_min", "move_time_goal_min")
_RINGS = (("move", "move_kcal", "move_goal_kcal", "kcal"),
          ("exercise", "exercise_min", "exercise_goal_min", "min"),
          ("stand", "stand_hours", "stand_goal_hours", "h"))


def _closed(value: float | None, goal: float | None) -> bool:
    return value is not None and goal is not None and goal > 0 and value >= goal


async def activity_rings(ctx: QueryContext, rng: DateRange) -> dict[str, Any]:
    k = ctx.keys
    day_ids, rows, first, last = await day_indexed_rows(
        ctx, k.activity_by_date, k.activity_day(""), _FIELDS, rng)
    rng = ctx.narrow_all_time(rng, first)
    head = {"range": ctx.range_dict(rng),
            "units": {"move": "kcal", "exercise": "min", "stand": "hours"}}
    days: list[dict[str, Any]] = []
    for d, values in zip(day_ids, rows):
        rec = {f: to_float(v) for f, v in zip(_FIELDS, values)}
        if all(v is None for v in rec.values()):
            continue
        day: dict[str, Any] = {"date": d}
        for ring, val_f, goal_f, _unit in _RINGS:
            day[ring] = fmt.rounded(rec[val_f], 1)
            day[f"{ring}_goal"] = fmt.rounded(rec[goal_f], 1)
            day[f"{ring}_closed"] = _closed(rec[val_f], rec[goal_f])
        day["all_closed"] = all(day[f"{r[0]}_closed"] for r in _RINGS)
        days.append(day)
    if not days:
        return ctx.no_data("activity ring", rng, first, last, days=[], **head)
    n = len(days)
    closed = {ring: sum(1 for d in days if d[f"{ring}_closed"]) for ring, *_ in _RINGS}
    all_closed = sum(1 for d in days if d["all_closed"])

    def avg(field: str) -> float | None:
        vals = [d[field] for d in days if d.get(field) is not None]
        return sum(vals) / len(vals) if vals else None

    averages = {ring: {"avg": fmt.rounded(avg(ring), 1), "avg_goal": fmt.rounded(avg(f"{ring}_goal"), 1),
                       "unit": unit} for ring, _v, _g, unit in _RINGS}
    t = ctx.today
    when = fmt.from_to(rng.start, rng.end, t)
    if n == 1:
        d = days[0]
        state = ", ".join(f"{ring.capitalize()} {fmt.num(d[ring])}/{fmt.num(d[ring + '_goal'])} "
                          f"{unit}{' ✓' if d[ring + '_closed'] else ''}"
                          for ring, _v, _g, unit in _RINGS)
        verdict = "you closed all three rings" if d["all_closed"] else (
            f"you closed {sum(d[r[0] + '_closed'] for r in _RINGS)} of 3 rings")
        summary = f"{fmt.upper_first(when)} {verdict}: {state}."
    else:
        summary = (f"{fmt.upper_first(when)} ({fmt.plural(n, 'day')} with ring data) you closed "
                   f"Move on {closed['move']}, Exercise on {closed['exercise']} and Stand on "
                   f"{closed['stand']} days; all three on {fmt.plural(all_closed, 'day')}. "
                   f"Average Move {fmt.num(averages['move']['avg'])} of "
                   f"{fmt.num(averages['move']['avg_goal'])} kcal, Exercise "
                   f"{fmt.num(averages['exercise']['avg'])} of "
                   f"{fmt.num(averages['exercise']['avg_goal'])} min, Stand "
                   f"{fmt.num(averages['stand']['avg'], 1)} of "
                   f"{fmt.num(averages['stand']['avg_goal'])} h.")
    shown = days[-LIST_CAP:]
    result = {**head, "days_count": n, "closed": closed, "all_closed_days": all_closed,
              "averages": averages, "days": shown, "summary": summary}
    if len(shown) < n:
        result["days_note"] = f"listing the last {len(shown)} of {n} days"
    if n > 1:
        result["chart"] = day_chart("bar", "Move ring", [d["date"] for d in days],
                                {"move kcal": [d["move"] for d in days],
                                 "goal": [d["move_goal"] for d in days]}, "kcal")
    return result
