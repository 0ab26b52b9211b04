"""Apple date strings → UTC instants, original offsets and local days.

Why: every number we store is bucketed by local day, and Apple prints every timestamp with
the *export-time* offset (docs/data-model.md §1). We keep the UTC instant for comparing and
hashing, the printed offset for display, and let ``HKTimeZone`` override the local day.
``datetime.fromisoformat`` parses Apple's format ~30× faster than ``strptime``; a small cache
makes repeated strings (the end of one sample is the start of the next) nearly free.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MIN_TS = datetime(1990, 1, 1, tzinfo=timezone.utc).timestamp()
_MAX_TS = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class BadDate(ValueError):
    """A timestamp that is missing, naive, unparseable or out of range."""


_day_cache: dict[str, tuple[float, int]] = {}
_recent: dict[str, tuple[float, int]] = {}
_CACHE_MAX = 100_000
def _hms_table() -> dict[str, int]:
    """'HH:MM:SS' → seconds for every valid time of day (86,400 entries, ~8 MB, built once
    at import so forked parser processes share it)."""
    return {f"{h:02d}:{m:02d}:{sec:02d}": h * 3600 + m * 60 + sec
            for h in range(24) for m in range(60) for sec in range(60)}


_HMS: dict[str, int] = _hms_table()


def _parse_full(text: str) -> tuple[float, int]:
    try:
        dt = datetime.fromisoformat(text)
    except (ValueError, TypeError) as exc:
        raise BadDate("unparseable date") from exc
    off = dt.utcoffset()
    if off is None:
        raise BadDate("date without offset")
    ts = dt.timestamp()
    if not _MIN_TS <= ts < _MAX_TS:
        raise BadDate("date out of range")
    return ts, int(off.total_seconds())


def parse_instant(text: str | None) -> tuple[float, int]:
    """``'2024-10-22 08:15:32 -0700'`` → (UTC epoch seconds, offset seconds).

    Raises BadDate for naive, malformed or implausible values (before 1990 / after 2100).
    Apple's fixed layout lets us parse (with ``fromisoformat``) once per distinct
    date+offset and add the time of day from a lookup table, so ``fromisoformat`` runs once
    per distinct day instead of ~3 times per record.
    """
    if text is None:
        raise BadDate("missing date")
    hit = _recent.get(text)
    if hit is not None:
        return hit
    if len(text) == 25 and text[10] == " " and text[19] == " ":
        secs = _HMS.get(text[11:19])
        if secs is not None:
            key = text[:10] + text[19:]
            base = _day_cache.get(key)
            if base is None:
                base = _parse_full(text[:10] + " 00:00:00" + text[19:])
                if len(_day_cache) >= _CACHE_MAX:
                    _day_cache.clear()
                _day_cache[key] = base
            # A DST-free sum is exact here: the offset is fixed by the string itself.
            result = (base[0] + secs, base[1])
            if len(_recent) >= 8192:
                _recent.clear()
            _recent[text] = result   # the end of one sample is often the start of the next
            return result
    return _parse_full(text)


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone for an ``HKTimeZone`` value, or None when unknown/absent."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_offset(ts: float, own_offset: int, tz: ZoneInfo | None) -> int:
    """Offset (seconds) of the local wall clock: the HKTimeZone zone if any, else the printed one."""
    if tz is None:
        return own_offset
    off = datetime.fromtimestamp(ts, tz).utcoffset()
    return int(off.total_seconds()) if off is not None else own_offset


def local_day(ts: float, offset: int) -> int:
    """Days since 1970-01-01 of the local date of ``ts`` under ``offset``."""
    return int((ts + offset) // 86400)


def day_str(day_ord: int) -> str:
    return date.fromordinal(day_ord + EPOCH_ORDINAL).isoformat()


def local_iso(ts: float, offset: int) -> str:
    """ISO-8601 local wall clock with its offset, e.g. ``2024-10-22T08:15:32-07:00``."""
    tz = timezone(timedelta(seconds=offset))
    return datetime.fromtimestamp(ts, tz).isoformat()


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def weekday_name(day_ord: int) -> str:
    return WEEKDAYS[date.fromordinal(day_ord + EPOCH_ORDINAL).weekday()]
