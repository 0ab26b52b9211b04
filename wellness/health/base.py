"""Shared plumbing of the query modules: the per-user context and result helpers.

Why a context object: every query is scoped to one user (the keys come from
:class:`~wellness.store.keys.UserKeys`, which refuses a missing id), needs the same "today"
and zone, and builds the same "no data" answer. Keeping that here lets ``metrics``,
``workouts``, ``sleep``, ``activity`` and ``analysis`` stay small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wellness.health import formatting as fmt
from wellness.health.periods import ALL_TIME_START, DateRange
from wellness.store.connection import RedisStore
from wellness.store.keys import UserKeys, day_from_ordinal, day_ordinal

MAX_POINTS = 400
_MONTH_WORDS = {"january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december"}


@dataclass
class QueryContext:
    store: RedisStore
    keys: UserKeys
    today: date
    tz: ZoneInfo

    # -- ranges ------------------------------------------------------------------------
    def range_dict(self, rng: DateRange) -> dict[str, Any]:
        return {"start": rng.start.isoformat(), "end": rng.end.isoformat(),
                "label": rng.label, "days": rng.days}

    def narrow_all_time(self, rng: DateRange, first: date | None) -> DateRange:
        """"All time" (or any range starting before the data) is echoed from the data's start."""
        if first is not None and rng.start < first and (rng.start <= ALL_TIME_START
                                                        or rng.label == "all time"):
            return DateRange(first, rng.end, rng.label or "all time")
        return rng

    def day_span(self, rng: DateRange) -> list[str]:
        return [(rng.start + timedelta(days=i)).isoformat() for i in range(rng.days)]

    def utc_bounds(self, rng: DateRange, pad_hours: int = 0) -> tuple[float, float]:
        """UTC epoch seconds of local midnight at ``start`` and after ``end`` (± padding)."""
        lo = datetime.combine(rng.start, time(0), self.tz).timestamp() - pad_hours * 3600
        hi = datetime.combine(rng.end + timedelta(days=1), time(0), self.tz).timestamp()
        return lo, hi + pad_hours * 3600

    def describe(self, rng: DateRange) -> str:
        """A period for a sentence: "last week (Mon Oct 7 to Sun Oct 13)", "in October 2024
        (Tue Oct 1 to Wed Oct 16)" or "from Tue Oct 1 to Thu Oct 10"."""
        label = rng.label or ""
        span = fmt.day_range(rng.start, rng.end, self.today)
        if not label or " to " in label or "," in label:
            return fmt.from_to(rng.start, rng.end, self.today)
        first = label.split()[0].lower()
        if label.endswith(" ago"):
            return f"{label} ({span})"
        if label[0].isdigit() or first in _MONTH_WORDS or first in ("early", "mid", "late") \
                or label.startswith("the ") and " week of " in label:
            return f"in {label} ({span})"
        return f"{label} ({span})"

    # -- results -----------------------------------------------------------------------
    def coverage_text(self, first: date | None, last: date | None, what: str = "") -> str:
        if first is None or last is None:
            return f"you have no {what + ' ' if what else ''}data imported yet"
        span = f"{fmt.day(first, self.today)} – {fmt.day(last, self.today)}"
        return f"your {what + ' ' if what else ''}data covers {span}"

    def no_data(self, what: str, rng: DateRange, first: date | None, last: date | None,
                **extra: Any) -> dict[str, Any]:
        """The "No <metric> data between X and Y; your data covers A–B." answer (never 0)."""
        cover = (self.coverage_text(first, last) if first and last
                 else f"you have no {what} data imported")
        when = fmt.between(rng.start, rng.end, self.today)
        if rng.label == "all time":
            when = "at all"
        summary = f"No {what} data {when}; {cover}."
        result: dict[str, Any] = {
            "no_data": True,
            "range": self.range_dict(rng),
            "available": ({"start": first.isoformat(), "end": last.isoformat()}
                          if first and last else None),
            "summary": summary,
        }
        result.update(extra)
        return result


# One round trip and one command for "every hash indexed by this zset in a range": the
# per-command packing of a 1,500-command pipeline costs far more than the data. The hash keys
# are derived from the zset members, so this runs on a single (non-cluster) Redis, which is
# what docs/deploy.md supports; a server without scripting falls back to a pipeline.
_FETCH_LUA = """
local ids
if ARGV[1] == 'score' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3])
else
  ids = redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3])
end
local prefix = ARGV[4]
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HMGET', prefix .. id, unpack(fields))
end
return out
"""
_scripting_ok: dict[str, bool] = {}


async def fetch_indexed(r: Any, zkey: str, prefix: str, fields: Sequence[str], lo: float | int,
                        hi: float | int, mode: str = "score"
                        ) -> tuple[list[str], list[list[str | None]]]:
    """Members of ``zkey`` in [lo, hi] (by score, or by reverse rank with ``mode="revrank"``)
    and ``HMGET prefix+member fields`` for each, in one command when scripting works."""
    import redis as _redis

    if _scripting_ok.get("fetch", True):
        try:
            flat = await r.eval(_FETCH_LUA, 1, zkey, mode, lo, hi, prefix, *fields)
            return [flat[i] for i in range(0, len(flat), 2)], \
                [flat[i] for i in range(1, len(flat), 2)]
        except _redis.ResponseError:
            _scripting_ok["fetch"] = False
    if mode == "score":
        ids = await r.zrangebyscore(zkey, lo, hi)
    else:
        ids = await r.zrevrange(zkey, int(lo), int(hi))
    if not ids:
        return [], []
    pipe = r.pipeline(transaction=False)
    for member in ids:
        pipe.hmget(prefix + member, list(fields))
    return list(ids), list(await pipe.execute())


_SPANS_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = {redis.call('ZRANGE', key, 0, 0, 'WITHSCORES'),
            redis.call('ZRANGE', key, -1, -1, 'WITHSCORES'), redis.call('ZCARD', key)}
end
return out
"""


async def zset_spans(r: Any, keys: Sequence[str]) -> list[tuple[list[Any], list[Any], int]]:
    """(first [(member, score)], last [(member, score)], card) of each zset, one command."""
    import redis as _redis

    if not keys:
        return []
    if _scripting_ok.get("spans", True):
        try:
            raw = await r.eval(_SPANS_LUA, len(keys), *keys)

            def pair(flat: list[Any]) -> list[Any]:
                return [(flat[0], float(flat[1]))] if flat else []
            return [(pair(f), pair(la), int(n)) for f, la, n in raw]
        except _redis.ResponseError:
            _scripting_ok["spans"] = False
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.zrange(key, -1, -1, withscores=True)
        pipe.zcard(key)
    flat = await pipe.execute()
    return [(flat[i], flat[i + 1], int(flat[i + 2])) for i in range(0, len(flat), 3)]


def zrange_days(members: Sequence[tuple[str, float]] | Sequence[str]) -> list[str]:
    return [m[0] if isinstance(m, (tuple, list)) else m for m in members]


def first_last(first: list[Any], last: list[Any]) -> tuple[date | None, date | None]:
    """Dates from ``ZRANGE key 0 0 WITHSCORES`` / ``ZRANGE key -1 -1 WITHSCORES`` replies."""
    if not first or not last:
        return None, None
    return day_from_ordinal(int(first[0][1])), day_from_ordinal(int(last[0][1]))


def ordinal_bounds(rng: DateRange) -> tuple[int, int]:
    return day_ordinal(rng.start), day_ordinal(rng.end)


def loads(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


LIST_CAP = 31  # per-day rows returned with a result; older rows are summarised, not listed


def weekly_means(days: list[str], values: list[float | None]) -> tuple[list[str], list[float]]:
    """Average per-day values into Monday-start weeks (for long-range charts)."""
    from datetime import date as _date

    sums: dict[str, list[float]] = {}
    for d, v in zip(days, values):
        if v is None:
            continue
        day = _date.fromisoformat(d)
        week = (day - timedelta(days=day.weekday())).isoformat()
        sums.setdefault(week, []).append(v)
    x = sorted(sums)
    return x, [round(sum(sums[w]) / len(sums[w]), 2) for w in x]


def day_chart(kind: str, title: str, days: list[str], series: dict[str, list[float | None]],
              y_label: str, weekly_after: int = 92) -> dict[str, Any]:
    """A per-day chart, switched to weekly averages for long ranges (never a raw dump)."""
    if len(days) <= weekly_after:
        return chart(kind, title, days, series, y_label)
    out: dict[str, list[float | None]] = {}
    x: list[str] = []
    for name, vals in series.items():
        x, ys = weekly_means(days, vals)
        out[f"{name}, weekly average"] = list(ys)
    return chart("line" if kind == "bar" else kind, f"{title} (weekly average)", x, out, y_label)


def chart(kind: str, title: str, x: list[str], series: dict[str, list[float | None]],
          y_label: str) -> dict[str, Any]:
    """The chart payload of docs/architecture.md, capped at MAX_POINTS points."""
    if len(x) > MAX_POINTS:
        step = -(-len(x) // MAX_POINTS)
        x = x[::step]
        series = {k: v[::step] for k, v in series.items()}
    return {"kind": kind, "title": title, "x": x, "series": series, "y_label": y_label}
