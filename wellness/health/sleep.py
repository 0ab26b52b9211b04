"""Sleep answers from the importer's per-night hashes (never raw sleep segments).

Why: nights are already labelled by the morning they end on, built from one source and split
into stages by the importer. Here we only average them — with care for bedtimes, which wrap
around midnight (an 11 PM and a 1 AM bedtime average to midnight, not noon).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from wellness.health import formatting as fmt
from wellness.health.base import LIST_CAP, QueryContext, day_chart, to_float
from wellness.health.cache import day_indexed_rows
from wellness.health.periods import DateRange

_FIELDS = ("date", "source", "asleep_min", "core_min", "deep_min", "rem_min",
           "unspecified_min", "awake_min", "in_bed_min", "efficiency", "bed_time", "wake_time",
           "has_stages")
_NUMERIC = ("asleep_min", "core_min", "deep_min", "rem_min", "unspecified_min", "awake_min",
            "in_bed_min", "efficiency")


def _minutes_of_day(iso: str | None) -> float | None:
    dt = fmt.parse_local(iso)
    return None if dt is None else dt.hour * 60 + dt.minute + dt.second / 60


def mean_clock(values: list[float], pivot: float = 12 * 60) -> float | None:
    """Mean time of day for times clustered around midnight.

    Times before ``pivot`` (noon) are treated as "after midnight" (+24 h) so 23:00 and 01:00
    average to 00:00. The result is minutes after midnight in [0, 1440).
    """
    if not values:
        return None
    shifted = [v + 1440 if v < pivot else v for v in values]
    return (sum(shifted) / len(shifted)) % 1440


def _hhmm(iso: str | None) -> str | None:
    dt = fmt.parse_local(iso)
    return f"{dt.hour:02d}:{dt.minute:02d}" if dt else None


def _compact(n: dict[str, Any]) -> dict[str, Any]:
    """One night for the tool message: whole minutes, local HH:MM, stages only if known."""
    out: dict[str, Any] = {"date": n["date"], "asleep_min": fmt.rounded(n["asleep_min"], 0),
                           "in_bed_min": fmt.rounded(n["in_bed_min"], 0),
                           "efficiency": fmt.rounded(n["efficiency"], 0),
                           "bed": _hhmm(n["bed_time"]), "wake": _hhmm(n["wake_time"])}
    if n["has_stages"]:
        for s in ("core", "deep", "rem", "awake"):
            out[s] = fmt.rounded(n[f"{s}_min"], 0)
    return out


async def sleep_summary(ctx: QueryContext, rng: DateRange) -> dict[str, Any]:
    k = ctx.keys
    nights_ids, rows, first, last = await day_indexed_rows(
        ctx, k.sleep_by_date, k.sleep_night(""), _FIELDS, rng)
    rng = ctx.narrow_all_time(rng, first)
    head = {"range": ctx.range_dict(rng), "units": {"durations": "min", "efficiency": "%",
                                                    "bed/wake": "local HH:MM"}}
    nights: list[dict[str, Any]] = []
    for nid, values in zip(nights_ids, rows):
        rec = dict(zip(_FIELDS, values))
        if not rec.get("asleep_min") and not rec.get("in_bed_min"):
            continue
        night: dict[str, Any] = {"date": rec.get("date") or nid}
        for f in _NUMERIC:
            night[f] = fmt.rounded(to_float(rec.get(f)), 1)
        night["bed_time"] = rec.get("bed_time") or None
        night["wake_time"] = rec.get("wake_time") or None
        night["has_stages"] = rec.get("has_stages") in ("1", "true", "True")
        night["source"] = rec.get("source") or ""
        nights.append(night)
    if not nights:
        return ctx.no_data("sleep", rng, first, last, nights=[], **head)
    t = ctx.today

    def avg(field: str, only_stages: bool = False) -> float | None:
        vals = [n[field] for n in nights if n.get(field) is not None
                and (n["has_stages"] or not only_stages)]
        return sum(vals) / len(vals) if vals else None

    asleep = avg("asleep_min")
    in_bed = avg("in_bed_min")
    eff = avg("efficiency")
    staged = [n for n in nights if n["has_stages"]]
    stages = None
    if staged:
        stages = {s: fmt.rounded(avg(f"{s}_min", True), 1) for s in ("core", "deep", "rem", "awake")}
    bed = mean_clock([m for n in nights if (m := _minutes_of_day(n["bed_time"])) is not None])
    wake = mean_clock([m for n in nights if (m := _minutes_of_day(n["wake_time"])) is not None],
                      pivot=0)
    longest = max(nights, key=lambda n: n["asleep_min"] or 0)
    shortest = min(nights, key=lambda n: n["asleep_min"] or 0)

    if len(nights) == 1:
        n = nights[0]
        d = date.fromisoformat(n["date"])
        bits = [f"you slept {fmt.hours(n['asleep_min'])}"]
        if n["has_stages"]:
            bits.append(f"core {fmt.duration(n['core_min'])}, deep {fmt.duration(n['deep_min'])}, "
                        f"REM {fmt.duration(n['rem_min'])}, awake {fmt.duration(n['awake_min'])}")
        bt, wt = fmt.parse_local(n["bed_time"]), fmt.parse_local(n["wake_time"])
        tail = ""
        if bt and wt:
            tail = f"; in bed from {fmt.clock(bt)} to {fmt.clock(wt)}"
        if n["efficiency"] is not None:
            tail += f" (efficiency {fmt.pct(n['efficiency'])})"
        summary = (f"The night ending {fmt.day(d, t)}: {bits[0]}"
                   f"{' (' + bits[1] + ')' if len(bits) > 1 else ''}{tail}.")
    else:
        summary = (f"You slept {fmt.hours(asleep)} a night on average over "
                   f"{fmt.plural(len(nights), 'night')} {fmt.from_to(rng.start, rng.end, t)}")
        extras = []
        if in_bed is not None:
            extras.append(f"in bed {fmt.hours(in_bed)}")
        if eff is not None:
            extras.append(f"efficiency {fmt.pct(eff)}")
        if extras:
            summary += f" ({', '.join(extras)})"
        summary += "."
        if bed is not None and wake is not None:
            summary += (f" Average bedtime {fmt.clock_minutes(bed)}, wake-up "
                        f"{fmt.clock_minutes(wake)}.")
        if stages:
            summary += (f" Stages per night: core {fmt.duration(stages['core'])}, deep "
                        f"{fmt.duration(stages['deep'])}, REM {fmt.duration(stages['rem'])}.")
        summary += (f" Longest {fmt.day(date.fromisoformat(longest['date']), t)} "
                    f"({fmt.hours(longest['asleep_min'])}), shortest "
                    f"{fmt.day(date.fromisoformat(shortest['date']), t)} "
                    f"({fmt.hours(shortest['asleep_min'])}).")
    shown = [_compact(n) for n in nights[-LIST_CAP:]]
    result: dict[str, Any] = {
        **head, "nights_count": len(nights),
        "avg_asleep_min": fmt.rounded(asleep, 1), "avg_in_bed_min": fmt.rounded(in_bed, 1),
        "avg_efficiency": fmt.rounded(eff, 1), "avg_stages_min": stages,
        "avg_bedtime": fmt.clock_minutes(bed) if bed is not None else None,
        "avg_wake_time": fmt.clock_minutes(wake) if wake is not None else None,
        "longest": {"date": longest["date"], "asleep_min": longest["asleep_min"]},
        "shortest": {"date": shortest["date"], "asleep_min": shortest["asleep_min"]},
        "nights": shown, "summary": summary,
    }
    if len(shown) < len(nights):
        result["nights_note"] = f"listing the last {len(shown)} of {len(nights)} nights"
    if len(nights) > 1:
        result["chart"] = day_chart("bar", "Sleep per night", [n["date"] for n in nights],
                                    {"asleep (h)": [round((n["asleep_min"] or 0) / 60, 2)
                                                    for n in nights]}, "hours")
    return result
