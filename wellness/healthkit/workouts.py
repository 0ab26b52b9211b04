"""Workout detail hashes, stable ids and weekday counts (seed §5, docs/data-model.md).

Why a stable id: re-importing the same export (or a newer one that contains the same
workout) must produce the same key, so the id is derived from the workout itself —
sha1(type|startUTC ISO|source name)[:16] — never from a counter or a random uuid.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from wellness.healthkit.records import Workout
from wellness.healthkit.timeutil import (
    day_str,
    local_day,
    local_iso,
    local_offset,
    utc_iso,
    weekday_name,
    zone,
)
from wellness.healthkit.units import parse_number_with_unit

HR_TYPE = "HKQuantityTypeIdentifierHeartRate"
ENERGY_TYPE = "HKQuantityTypeIdentifierActiveEnergyBurned"


def workout_id(w: Workout) -> str:
    key = f"{w.short_type}|{utc_iso(w.start)}|{w.source_name}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _num(x: float | None, nd: int = 3) -> str:
    if x is None:
        return ""
    r = round(float(x), nd)
    return str(int(r)) if r.is_integer() else repr(r)


def workout_fields(w: Workout, source_key: str,
                   hr: tuple[np.ndarray, np.ndarray] | None) -> dict[str, str]:
    """Hash fields of ``user:{u}:workout:{wid}``; ``hr`` = (sorted starts, values) of HR samples."""
    tz_name = w.metadata.get("HKTimeZone")
    off = local_offset(w.start, w.offset, zone(tz_name))
    end_off = local_offset(w.end, w.offset, zone(tz_name))
    day = local_day(w.start, off)
    energy = w.statistics.get(ENERGY_TYPE)
    energy_kcal = energy.sum if energy is not None and energy.sum is not None else w.total_energy_kcal
    distance_km = None
    for t, st in w.statistics.items():
        if t.startswith("HKQuantityTypeIdentifierDistance") and st.sum is not None:
            distance_km = st.sum
            break
    if distance_km is None:
        distance_km = w.total_distance_km
    hr_avg = hr_min = hr_max = None
    stat = w.statistics.get(HR_TYPE)
    if stat is not None and stat.average is not None:
        hr_avg, hr_min, hr_max = stat.average, stat.minimum, stat.maximum
    elif hr is not None and len(hr[0]):
        lo = np.searchsorted(hr[0], w.start, side="left")
        hi = np.searchsorted(hr[0], w.end, side="right")
        if hi > lo:
            vals = hr[1][lo:hi]
            hr_avg, hr_min, hr_max = float(vals.mean()), float(vals.min()), float(vals.max())
    duration = w.duration_min if w.duration_min is not None else (w.end - w.start) / 60.0
    indoor = w.metadata.get("HKIndoorWorkout")
    elevation = parse_number_with_unit(w.metadata.get("HKElevationAscended"))
    elevation_m = None
    if elevation is not None:
        factor = {"cm": 0.01, "m": 1.0, "ft": 0.3048, "km": 1000.0}.get(elevation[1])
        elevation_m = elevation[0] * factor if factor is not None else None
    mets = parse_number_with_unit(w.metadata.get("HKAverageMETs"))
    temp = parse_number_with_unit(w.metadata.get("HKWeatherTemperature"))
    temp_c = None
    if temp is not None:
        conv = {"degC": (1.0, 0.0), "degF": (5 / 9, -32 * 5 / 9)}.get(temp[1])
        temp_c = temp[0] * conv[0] + conv[1] if conv else None
    humidity = parse_number_with_unit(w.metadata.get("HKWeatherHumidity"))
    humidity_pct = None
    if humidity is not None:
        # Older exports print "96 %", recent ones "9600 %" (scaled ×100).
        humidity_pct = humidity[0] / 100 if humidity[0] > 100 else humidity[0]
    pauses = sum(1 for e in w.events if e.type.endswith("Pause"))
    return {
        "type": w.short_type,
        "type_raw": w.activity_type,
        "start_utc": utc_iso(w.start),
        "start_local": local_iso(w.start, off),
        "end_local": local_iso(w.end, end_off),
        "date": day_str(day),
        "weekday": weekday_name(day),
        "hour": str(int(((w.start + off) % 86400) // 3600)),
        "duration_min": _num(duration, 2),
        "energy_kcal": _num(energy_kcal, 2),
        "distance_km": _num(distance_km, 3),
        "hr_avg": _num(hr_avg, 2),
        "hr_min": _num(hr_min, 1),
        "hr_max": _num(hr_max, 1),
        "source": source_key,
        "indoor": indoor if indoor in ("0", "1") else "",
        "tz": tz_name or "",
        "elevation_m": _num(elevation_m, 1),
        "mets": _num(mets[0] if mets else None, 2),
        "routes": json.dumps(w.routes, ensure_ascii=False),
        "temp_c": _num(temp_c, 1),
        "humidity_pct": _num(humidity_pct, 1),
        "pauses": str(pauses),
        "segments": str(w.activities),
    }
