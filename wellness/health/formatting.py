"""Human formatting for summaries: numbers, dates, times and durations.

Why: summaries are read as-is by the offline model and by people, so every number carries
its unit, dates read like "Tue Oct 15" (with the year only when it is not the current one)
and durations like "1 h 05 min". Nothing here touches Redis.
"""

from __future__ import annotations

import math
from datetime import date, datetime


def num(value: float | int | None, decimals: int = 0) -> str:
    """``12030.4`` → ``"12,030"``; ``72.456, 1`` → ``"72.5"``; ``None`` → ``"–"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if decimals <= 0:
        return f"{round(value):,}"
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def rounded(value: float | None, decimals: int = 1) -> float | None:
    """JSON-friendly rounding (ints stay ints when decimals is 0)."""
    if value is None:
        return None
    if decimals <= 0:
        return int(round(value))
    return round(float(value), decimals)


def day(d: date, today: date | None = None) -> str:
    """``"Tue Oct 15"``, plus the year when it differs from ``today``'s (or always without)."""
    text = f"{d:%a %b} {d.day}"
    if today is None or d.year != today.year:
        text += f", {d.year}"
    return text


def day_range(start: date, end: date, today: date | None = None) -> str:
    """``"Mon Oct 7 to Sun Oct 13"``; a one-day range is just that day."""
    if start == end:
        return day(start, today)
    return f"{day(start, today)} to {day(end, today)}"


def between(start: date, end: date, today: date | None = None) -> str:
    """``"between Mon Oct 7 and Sun Oct 13"`` or ``"on Tue Oct 15"``."""
    if start == end:
        return f"on {day(start, today)}"
    return f"between {day(start, today)} and {day(end, today)}"


def from_to(start: date, end: date, today: date | None = None) -> str:
    """``"from Mon Oct 7 to Sun Oct 13"`` or ``"on Tue Oct 15"``."""
    if start == end:
        return f"on {day(start, today)}"
    return f"from {day(start, today)} to {day(end, today)}"


def clock(dt: datetime | None) -> str:
    """``"10:42 PM"`` (local wall clock as stored)."""
    if dt is None:
        return "–"
    hour = dt.hour % 12 or 12
    return f"{hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def clock_minutes(minutes: float) -> str:
    """Minutes after midnight (may be negative or ≥ 1440) → ``"11:05 PM"``."""
    total = int(round(minutes)) % 1440
    h, m = divmod(total, 60)
    return f"{h % 12 or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def duration(minutes: float | None) -> str:
    """``45`` → ``"45 min"``; ``65`` → ``"1 h 05 min"``; ``120`` → ``"2 h"``."""
    if minutes is None:
        return "–"
    total = int(round(minutes))
    h, m = divmod(total, 60)
    if h == 0:
        return f"{m} min"
    if m == 0:
        return f"{h} h"
    return f"{h} h {m:02d} min"


def hours(minutes: float | None) -> str:
    """``452`` → ``"7 h 32 min"`` (sleep reads better as hours and minutes)."""
    return duration(minutes)


def upper_first(text: str) -> str:
    """Capitalise only the first letter (``str.capitalize`` would lower-case "Oct")."""
    return text[:1].upper() + text[1:]


def hour_label(hour: int) -> str:
    """``7`` → ``"7 AM"``, ``21`` → ``"9 PM"``."""
    return f"{hour % 12 or 12} {'AM' if hour < 12 else 'PM'}"


def smart_decimals(value: float | None, base: int) -> int:
    """``base`` decimals for round values, at least one when the value has a fraction."""
    if value is None or base >= 1 or abs(value) >= 100:
        return base
    return base if abs(value - round(value)) < 0.05 else 1


def pct(value: float | None, decimals: int = 0, signed: bool = False) -> str:
    if value is None:
        return "–"
    text = num(abs(value) if signed else value, decimals) + "%"
    if signed:
        return ("+" if value > 0 else "−" if value < 0 else "±") + text
    return text


def plural(n: int | float, word: str, words: str | None = None) -> str:
    """``plural(1, "workout")`` → ``"1 workout"``; ``plural(3, "workout")`` → ``"3 workouts"``."""
    form = word if n == 1 else (words or word + "s")
    return f"{num(n)} {form}"


def parse_local(text: str | None) -> datetime | None:
    """Stored local ISO timestamps (with offset) → aware datetime, ``None`` when unusable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
