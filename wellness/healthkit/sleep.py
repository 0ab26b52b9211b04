"""Sleep nights: one night per local date, built from a single source, never summed.

Why per source: the Watch (stages), the iPhone (InBed) and sleep apps all write overlapping
segments for the same night; adding them doubles the night (notes §1.11). Rules are in
docs/data-model.md §1 ("Sleep"): night label = local date of start + 6 h; chosen source =
highest priority with stages, else with any asleep data, else InBed only; minutes from
interval unions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from wellness.healthkit.timeutil import day_str, local_day, local_iso

_PREFIX = "HKCategoryValueSleepAnalysis"
STAGE_OF = {
    "InBed": "in_bed", "Asleep": "unspecified", "AsleepUnspecified": "unspecified",
    "AsleepCore": "core", "AsleepDeep": "deep", "AsleepREM": "rem", "Awake": "awake",
}
ASLEEP = ("unspecified", "core", "deep", "rem")
STAGES = ("core", "deep", "rem")
SIX_HOURS = 6 * 3600


def stage_of(raw_value: str | None) -> str | None:
    if not raw_value:
        return None
    v = raw_value[len(_PREFIX):] if raw_value.startswith(_PREFIX) else raw_value
    return STAGE_OF.get(v)


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    stage: str
    source: int
    offset: int     # local wall-clock offset (HKTimeZone or printed) at start


def union_minutes(intervals: list[tuple[float, float]]) -> float:
    total = 0.0
    cur_s = cur_e = None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s  # type: ignore[operator]
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s  # type: ignore[operator]
    return total / 60.0


def _r(x: float) -> float:
    r = round(x, 2)
    return int(r) if r.is_integer() else r


def build_nights(segments: list[Segment], rank: list[int]) -> dict[str, dict[str, object]]:
    """night date → hash fields for ``user:{u}:sleep:{date}``."""
    by_night: dict[int, dict[int, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    for seg in segments:
        night = local_day(seg.start + SIX_HOURS, seg.offset)
        by_night[night][seg.source].append(seg)
    out: dict[str, dict[str, object]] = {}
    for night in sorted(by_night):
        per_src = by_night[night]
        ordered = sorted(per_src, key=lambda s: rank[s])
        chosen = next((s for s in ordered if any(g.stage in STAGES for g in per_src[s])), None)
        if chosen is None:
            chosen = next((s for s in ordered if any(g.stage in ASLEEP for g in per_src[s])),
                          ordered[0])
        segs = per_src[chosen]
        by_stage: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for g in segs:
            by_stage[g.stage].append((g.start, g.end))
        asleep = union_minutes([iv for st in ASLEEP for iv in by_stage.get(st, [])])
        if by_stage.get("in_bed"):
            in_bed = union_minutes(by_stage["in_bed"])
        else:
            in_bed = (max(g.end for g in segs) - min(g.start for g in segs)) / 60.0
        first = min(segs, key=lambda g: (g.start, g.end))
        last = max(segs, key=lambda g: (g.end, g.start))
        has_stages = any(by_stage.get(st) for st in STAGES)
        out[day_str(night)] = {
            "date": day_str(night),
            "source": chosen,  # replaced by the source key by the caller
            "asleep_min": _r(asleep),
            "core_min": _r(union_minutes(by_stage.get("core", []))),
            "deep_min": _r(union_minutes(by_stage.get("deep", []))),
            "rem_min": _r(union_minutes(by_stage.get("rem", []))),
            "unspecified_min": _r(union_minutes(by_stage.get("unspecified", []))),
            "awake_min": _r(union_minutes(by_stage.get("awake", []))),
            "in_bed_min": _r(in_bed),
            "efficiency": _r(asleep / in_bed * 100.0) if in_bed > 0 else 0,
            "bed_time": local_iso(first.start, first.offset),
            "wake_time": local_iso(last.end, last.offset),
            "has_stages": 1 if has_stages else 0,
        }
    return out
