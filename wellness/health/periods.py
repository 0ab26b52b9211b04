"""Period phrases → inclusive local date ranges, relative to the user's "today".

Why one shared module: the comparable project parsed dates in several places, matched month
names inside words ("decrease" → December, "marathon" → March), used UTC days and silently
fell back to "the last 30 days" for anything it did not understand. Here:

* every token is matched on word boundaries, and the verb "may" is only the month May when
  it is preceded by a preposition ("in May", "since may") or followed by a day or a year;
* a named month or day without a year is the most recent one that is not in the future;
* a range wholly in the future raises :class:`PeriodError`; one reaching past today is
  clamped to today;
* anything we cannot read raises :class:`PeriodError` with a helpful message.

Dates are plain ``datetime.date`` values in the user's zone: the caller passes "today"
(``Settings.today`` or the local date in ``Settings.tz``), so DST never enters the math.
Weeks start on Monday.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

__all__ = [
    "DateRange",
    "PeriodError",
    "parse_period",
    "resolve_range",
    "shift_range",
    "find_period",
    "find_periods",
    "parse_iso_date",
    "ALL_TIME_START",
]

# "all time" starts before any Apple Health data can exist; the query layer narrows it to the
# user's coverage before echoing it.
ALL_TIME_START = date(2000, 1, 1)


class PeriodError(ValueError):
    """A period phrase we cannot turn into dates (or one wholly in the future)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DateRange:
    """Inclusive local-date range with the phrase it came from."""

    start: date
    end: date
    label: str = ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "label": self.label}

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


# --------------------------------------------------------------------------- vocabulary
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}
_MONTH_RE = (r"(?:january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|"
             r"august|aug|september|sept|sep|october|oct|november|nov|december|dec)")
_WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5,
    "sat": 5, "sunday": 6, "sun": 6,
}
_WEEKDAY_FULL_RE = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_WEEKDAY_ANY_RE = (r"(?:monday|mon|tuesday|tues|tue|wednesday|wed|thursday|thurs|thur|thu|"
                   r"friday|fri|saturday|sat|sunday|sun)")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "couple": 2, "a couple": 2, "a couple of": 2,
    "couple of": 2, "three": 3, "few": 3, "a few": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fourteen": 14, "thirty": 30, "ninety": 90,
}
_NUM_RE = (r"(?:\d{1,4}|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|"
           r"five|six|seven|eight|nine|ten|eleven|twelve|fourteen|thirty|ninety)")
_UNIT_RE = r"(?:days?|weeks?|months?|years?|hours?|hrs?)"
_ORD_WORDS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
              "fourth": 4, "4th": 4, "last": 5, "final": 5}
_DAY_RE = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR_RE = r"(?:19|20)\d{2}"
_ISO_RE = r"\d{4}-\d{2}-\d{2}"

# A month name that is safe on its own; "may" only counts after one of these words.
_MAY_PREFIXES = {"in", "since", "during", "of", "early", "late", "mid", "from", "until",
                 "till", "through", "thru", "to", "and", "between", "before", "after", "end",
                 "beginning", "start", "this", "last", "past", "previous", "for", "over",
                 "throughout", "whole", "all", "entire", "middle", "the"}


# --------------------------------------------------------------------------- date helpers
def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    idx = day.year * 12 + (day.month - 1) + months
    year, month = divmod(idx, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _num(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    return _NUMBER_WORDS[text]


def _fmt(day: date) -> str:
    return f"{day:%a %b} {day.day}, {day.year}"


def parse_iso_date(text: str) -> date:
    """``YYYY-MM-DD`` → date, or :class:`PeriodError` with the bad value."""
    try:
        return date.fromisoformat(text.strip()[:10])
    except (ValueError, AttributeError) as exc:
        raise PeriodError(f"'{text}' is not a date; use YYYY-MM-DD, e.g. 2024-10-15") from exc


def _recent_month(month: int, today: date) -> int:
    """Year of the most recent ``month`` whose first day is not in the future."""
    return today.year if month <= today.month else today.year - 1


def _recent_day(month: int, day: int, today: date) -> date:
    """Most recent ``month``/``day`` not after today (Feb 29 goes back to a leap year)."""
    year = today.year
    for _ in range(9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            year -= 1
            continue
        if candidate <= today:
            return candidate
        year -= 1
    raise PeriodError(f"{calendar.month_name[month]} {day} is not a real date")


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise PeriodError(f"{calendar.month_name[month]} {day}, {year} is not a real date") \
            from exc


# --------------------------------------------------------------------------- normalising
_PREFIX = re.compile(
    r"^(?:(?:in|on|during|for|over|at|throughout|within|of|across)\s+)?(?:the\s+)?")


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("–", " to ").replace("—", " to ")
    text = re.sub(r"[?!;:\"()]", " ", text)
    text = re.sub(r",", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(rf"\b({_MONTH_RE}) ({_DAY_RE}) ?(?:-|to|through|thru|until|and) ?"
                  rf"({_DAY_RE})\b(?! {_MONTH_RE}\b)(?!-)",
                  lambda m: f"{m.group(1)} {m.group(2)} "
                            f"{'and' if ' and' in m.group(0) else 'to'} {m.group(1)} {m.group(3)}",
                  text)
    return text


# --------------------------------------------------------------------------- patterns
Handler = Callable[[re.Match[str], date], tuple[date, date, str]]


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    handler: Handler
    name: str


_PATTERNS: list[_Pattern] = []


def _pattern(regex: str, name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _PATTERNS.append(_Pattern(re.compile(regex), fn, name))
        return fn
    return register


@_pattern(r"all time|all my data|ever|overall|since (?:the beginning|i started)|"
          r"everything|all of it|all data|entire history|my whole history", "all")
def _all_time(m: re.Match[str], today: date) -> tuple[date, date, str]:
    return ALL_TIME_START, today, "all time"


@_pattern(r"today|this morning|this afternoon|this evening|tonight|so far today", "today")
def _today(m: re.Match[str], today: date) -> tuple[date, date, str]:
    return today, today, "today"


@_pattern(r"(?:the )?day before yesterday", "dby")
def _day_before_yesterday(m: re.Match[str], today: date) -> tuple[date, date, str]:
    d = today - timedelta(days=2)
    return d, d, "the day before yesterday"


@_pattern(r"yesterday(?: morning| afternoon| evening)?", "yesterday")
def _yesterday(m: re.Match[str], today: date) -> tuple[date, date, str]:
    d = today - timedelta(days=1)
    return d, d, "yesterday"


@_pattern(r"last night|overnight", "last_night")
def _last_night(m: re.Match[str], today: date) -> tuple[date, date, str]:
    # Nights are labelled by the morning they end on (docs/data-model.md), so the night
    # that ended this morning carries today's date.
    return today, today, "last night"


@_pattern(r"(?:the )?night before last", "night_before_last")
def _night_before_last(m: re.Match[str], today: date) -> tuple[date, date, str]:
    d = today - timedelta(days=1)
    return d, d, "the night before last"


@_pattern(r"(this|current) (week|month|year)|(week|month|year) to date|"
          r"so far this (week|month|year)", "this_unit")
def _this_unit(m: re.Match[str], today: date) -> tuple[date, date, str]:
    unit = m.group(2) or m.group(3) or m.group(4)
    if unit == "week":
        return _week_start(today), today, "this week"
    if unit == "month":
        return today.replace(day=1), today, "this month"
    return date(today.year, 1, 1), today, "this year"


def _whole_unit(today: date, unit: str, offset: int) -> tuple[date, date]:
    """The whole calendar week/month/year ``offset`` units away from the one holding today."""
    if unit == "week":
        start = _week_start(today) + timedelta(days=7 * offset)
        return start, start + timedelta(days=6)
    if unit == "month":
        first = _add_months(today.replace(day=1), offset)
        return first, _month_end(first.year, first.month)
    y = today.year + offset
    return date(y, 1, 1), date(y, 12, 31)


@_pattern(r"(last|previous|prior) (week|month|year)", "last_unit")
def _last_unit(m: re.Match[str], today: date) -> tuple[date, date, str]:
    unit = m.group(2)
    return (*_whole_unit(today, unit, -1), f"last {unit}")


@_pattern(r"next (week|month|year)|tomorrow", "next_unit")
def _next_unit(m: re.Match[str], today: date) -> tuple[date, date, str]:
    unit = m.group(1)
    if unit is None:
        d = today + timedelta(days=1)
        return d, d, "tomorrow"
    return (*_whole_unit(today, unit, 1), f"next {unit}")


@_pattern(r"(?:the )?(week|month|year) before last", "before_last")
def _before_last(m: re.Match[str], today: date) -> tuple[date, date, str]:
    unit = m.group(1)
    return (*_whole_unit(today, unit, -2), f"the {unit} before last")


@_pattern(rf"(?:(?:last|past|previous|recent|prior) )({_NUM_RE}) ({_UNIT_RE})", "last_n")
def _last_n(m: re.Match[str], today: date) -> tuple[date, date, str]:
    n = _num(m.group(1))
    unit = m.group(2).rstrip("s")
    if n <= 0:
        raise PeriodError("the number of days/weeks/months must be at least 1")
    if unit in ("hour", "hr"):
        # Data is per local day: "the last 24 hours" covers yesterday and today.
        back = -(-n // 24)
        return today - timedelta(days=back if n >= 24 else 0), today, f"the last {n} hours"
    if unit == "day":
        start = today - timedelta(days=n - 1)
    elif unit == "week":
        start = today - timedelta(days=7 * n - 1)
    elif unit == "month":
        start = _add_months(today, -n) + timedelta(days=1)
    else:
        start = _add_months(today, -12 * n) + timedelta(days=1)
    plural = "" if n == 1 else "s"
    return start, today, f"the last {n} {unit}{plural}"


@_pattern(r"(?:this )?past (day|week|month|year)|(?:last|past) (fortnight)", "past_unit")
def _past_unit(m: re.Match[str], today: date) -> tuple[date, date, str]:
    unit = m.group(1) or m.group(2)
    if unit == "day":
        return today, today, "the past day"
    if unit == "week":
        return today - timedelta(days=6), today, "the past 7 days"
    if unit == "fortnight":
        return today - timedelta(days=13), today, "the past 14 days"
    if unit == "month":
        return _add_months(today, -1) + timedelta(days=1), today, "the past month"
    return _add_months(today, -12) + timedelta(days=1), today, "the past year"


@_pattern(r"(?:last|past|recent) few days|recently|lately|these days", "recent")
def _recent(m: re.Match[str], today: date) -> tuple[date, date, str]:
    if "few" in m.group(0):
        return today - timedelta(days=2), today, "the last 3 days"
    return today - timedelta(days=13), today, "the last 14 days"


@_pattern(rf"({_NUM_RE}) ({_UNIT_RE}) ago", "ago")
def _ago(m: re.Match[str], today: date) -> tuple[date, date, str]:
    n = _num(m.group(1))
    unit = m.group(2).rstrip("s")
    if unit in ("hour", "hr"):
        d = today - timedelta(days=n // 24)
        return d, d, f"{n} hours ago"
    phrase = f"{n} {unit}{'' if n == 1 else 's'} ago"
    if unit == "day":
        d = today - timedelta(days=n)
        return d, d, phrase
    if unit == "week":
        start = _week_start(today) - timedelta(days=7 * n)
        return start, start + timedelta(days=6), phrase
    if unit == "month":
        first = _add_months(today.replace(day=1), -n)
        return first, _month_end(first.year, first.month), phrase
    y = today.year - n
    return date(y, 1, 1), date(y, 12, 31), phrase


@_pattern(r"(this past|this|last|past|previous|the) weekend|weekend", "weekend")
def _weekend(m: re.Match[str], today: date) -> tuple[date, date, str]:
    which = m.group(1)
    this_sat = _week_start(today) + timedelta(days=5)
    last_sat = this_sat - timedelta(days=7)
    if which in ("last", "past", "previous", "this past"):
        sat, label = last_sat, "last weekend"
    elif which == "this":
        # On a Monday "this weekend" can only mean the one that just ended.
        sat = last_sat if today.weekday() == 0 else this_sat
        label = "this weekend"
    else:  # "the weekend" / "weekend": the most recent one that has started
        sat = this_sat if today.weekday() >= 5 else last_sat
        label = "the weekend"
    return sat, sat + timedelta(days=1), label


@_pattern(rf"(last|this|past|previous)? ?({_WEEKDAY_ANY_RE})(?: (morning|afternoon|evening|night))?",
          "weekday")
def _weekday(m: re.Match[str], today: date) -> tuple[date, date, str]:
    which, name = m.group(1), m.group(2)
    wd = _WEEKDAYS[name]
    back = (today.weekday() - wd) % 7
    if which in ("last", "past", "previous") and back == 0:
        back = 7
    d = today - timedelta(days=back)
    full = calendar.day_name[wd]
    label = f"last {full}" if which in ("last", "past", "previous") else full
    if m.group(3) == "night":
        # "Friday night" is the night that ends on Saturday morning (nights are labelled
        # by the morning they end on, docs/data-model.md).
        n = d + timedelta(days=1)
        return n, n, f"{label} night (the night ending {_fmt(n)})"
    return d, d, f"{label} ({_fmt(d)})"


_PART_RE = (r"(early|beginning of|start of|the start of|the beginning of|mid|middle of|"
            r"the middle of|late|end of|the end of)")


@_pattern(rf"{_PART_RE}[ -]({_MONTH_RE})(?: ({_YEAR_RE}))?", "month_part")
def _month_part(m: re.Match[str], today: date) -> tuple[date, date, str]:
    part, month = m.group(1), _MONTHS[m.group(2)]
    year = int(m.group(3)) if m.group(3) else _recent_month(month, today)
    end_day = calendar.monthrange(year, month)[1]
    if "early" in part or "beginning" in part or "start" in part:
        lo, hi, word = 1, 10, "early"
    elif "mid" in part:
        lo, hi, word = 11, 20, "mid"
    else:
        lo, hi, word = 21, end_day, "late"
    return (date(year, month, lo), date(year, month, hi),
            f"{word} {calendar.month_name[month]} {year}")


@_pattern(rf"(first|1st|second|2nd|third|3rd|fourth|4th|last|final) week of "
          rf"({_MONTH_RE})(?: ({_YEAR_RE}))?", "week_of_month")
def _week_of_month(m: re.Match[str], today: date) -> tuple[date, date, str]:
    nth, month = _ORD_WORDS[m.group(1)], _MONTHS[m.group(2)]
    year = int(m.group(3)) if m.group(3) else _recent_month(month, today)
    end_day = calendar.monthrange(year, month)[1]
    if nth == 5:
        lo, hi = end_day - 6, end_day
        word = "last"
    else:
        lo, hi = 7 * (nth - 1) + 1, 7 * nth
        word = m.group(1)
    return (date(year, month, lo), date(year, month, hi),
            f"the {word} week of {calendar.month_name[month]} {year}")


@_pattern(rf"(?:the )?week of ({_MONTH_RE}) ({_DAY_RE})(?: ({_YEAR_RE}))?", "week_of_day")
def _week_of_day(m: re.Match[str], today: date) -> tuple[date, date, str]:
    month, day = _MONTHS[m.group(1)], int(re.sub(r"\D", "", m.group(2)))
    d = _make_date(int(m.group(3)), month, day) if m.group(3) else _recent_day(month, day, today)
    start = _week_start(d)
    return start, start + timedelta(days=6), f"the week of {_fmt(d)}"


@_pattern(r"(?:the )?([12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)(?: of (?:this|the) month)?",
          "day_of_month")
def _day_of_month(m: re.Match[str], today: date) -> tuple[date, date, str]:
    """"the 5th": this month's 5th if it has passed, else last month's."""
    day = int(m.group(1))
    first = today.replace(day=1)
    for back in range(0, 3):
        month_start = _add_months(first, -back)
        try:
            d = month_start.replace(day=day)
        except ValueError:
            continue
        if d <= today:
            return d, d, _fmt(d)
    raise PeriodError(f"there is no day {day} in recent months")


@_pattern(rf"({_MONTH_RE}) ({_DAY_RE})(?: ({_YEAR_RE}))?", "month_day")
def _month_day(m: re.Match[str], today: date) -> tuple[date, date, str]:
    month, day = _MONTHS[m.group(1)], int(re.sub(r"\D", "", m.group(2)))
    d = _make_date(int(m.group(3)), month, day) if m.group(3) else _recent_day(month, day, today)
    return d, d, _fmt(d)


@_pattern(rf"(?:the )?({_DAY_RE}) (?:of )?({_MONTH_RE})(?: ({_YEAR_RE}))?", "day_month")
def _day_month(m: re.Match[str], today: date) -> tuple[date, date, str]:
    day, month = int(re.sub(r"\D", "", m.group(1))), _MONTHS[m.group(2)]
    d = _make_date(int(m.group(3)), month, day) if m.group(3) else _recent_day(month, day, today)
    return d, d, _fmt(d)


@_pattern(rf"(this|last|previous|past)? ?({_MONTH_RE})(?: (?:of )?({_YEAR_RE}))?", "month")
def _month(m: re.Match[str], today: date) -> tuple[date, date, str]:
    which, month = m.group(1), _MONTHS[m.group(2)]
    if m.group(3):
        year = int(m.group(3))
    else:
        year = _recent_month(month, today)
        if which in ("last", "previous", "past") and year == today.year and month == today.month:
            year -= 1
    start = date(year, month, 1)
    return start, _month_end(year, month), f"{calendar.month_name[month]} {year}"


_QUARTER_WORDS = {"q1": 1, "first": 1, "1st": 1, "q2": 2, "second": 2, "2nd": 2, "q3": 3,
                  "third": 3, "3rd": 3, "q4": 4, "fourth": 4, "4th": 4, "last": 0, "this": -1}


@_pattern(rf"(?:(q[1-4])|(?:the )?(first|1st|second|2nd|third|3rd|fourth|4th) quarter)"
          rf"(?: (?:of )?({_YEAR_RE}))?|(this|last|previous) quarter", "quarter")
def _quarter(m: re.Match[str], today: date) -> tuple[date, date, str]:
    current_q = (today.month - 1) // 3 + 1
    if m.group(4):
        q, year = current_q, today.year
        if m.group(4) != "this":
            q -= 1
            if q == 0:
                q, year = 4, year - 1
    else:
        q = _QUARTER_WORDS[m.group(1) or m.group(2)]
        if m.group(3):
            year = int(m.group(3))
        else:  # the most recent such quarter that has started
            year = today.year if q <= current_q else today.year - 1
    start = date(year, 3 * (q - 1) + 1, 1)
    return start, _month_end(year, 3 * q), f"Q{q} {year}"


_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}


@_pattern(rf"(this|last|past|previous)? ?(spring|summer|fall|autumn|winter)(?: (?:of )?({_YEAR_RE}))?",
          "season")
def _season(m: re.Match[str], today: date) -> tuple[date, date, str]:
    """Meteorological seasons (northern hemisphere); winter starts in December."""
    which, name = m.group(1), m.group(2)
    month = _SEASONS[name]
    if m.group(3):
        year = int(m.group(3))
    else:
        year = today.year if date(today.year, month, 1) <= today else today.year - 1
        if which in ("last", "past", "previous"):
            start_this = date(year, month, 1)
            end_this = _add_months(start_this, 3) - timedelta(days=1)
            if end_this >= today:  # we are still in it: the one before
                year -= 1
    start = date(year, month, 1)
    end = _add_months(start, 3) - timedelta(days=1)
    label = f"{name} {year}" if month != 12 else f"winter {year}–{str(year + 1)[2:]}"
    return start, end, label


@_pattern(r"(\d{4})-(\d{2})", "year_month")
def _year_month(m: re.Match[str], today: date) -> tuple[date, date, str]:
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise PeriodError(f"'{m.group(0)}' is not a month; use YYYY-MM")
    return date(year, month, 1), _month_end(year, month), f"{calendar.month_name[month]} {year}"


@_pattern(rf"(?:the year )?({_YEAR_RE})", "year")
def _year(m: re.Match[str], today: date) -> tuple[date, date, str]:
    y = int(m.group(1))
    return date(y, 1, 1), date(y, 12, 31), str(y)


@_pattern(_ISO_RE, "iso")
def _iso(m: re.Match[str], today: date) -> tuple[date, date, str]:
    d = parse_iso_date(m.group(0))
    return d, d, _fmt(d)


# --------------------------------------------------------------------------- parsing
_RANGE = re.compile(r"^(?:from |between )?(.+?) (?:to|until|till|through|thru|and|-) (.+)$")
_SINCE = re.compile(r"^(?:ever )?since (.+)$")
_RELATIVE = re.compile(r"^(?:the )?(day|night|week|month|year) (?:before|earlier|prior)$|"
                       r"^(?:the )?(?:previous|preceding|prior) (day|night|week|month|year)$"
                       r"(?#relative to the reference)")
_RELATIVE_AFTER = re.compile(r"^(?:the )?(day|night|week|month|year) (?:after|later)$|"
                             r"^(?:the )?following (day|night|week|month|year)$")


def _match_single(text: str, today: date) -> tuple[date, date, str] | None:
    body = _PREFIX.sub("", text, count=1).strip()
    for candidate in (text, body):
        for pat in _PATTERNS:
            m = pat.regex.fullmatch(candidate)
            if m:
                return pat.handler(m, today)
    return None


def _clamp(start: date, end: date, label: str, today: date) -> DateRange:
    if start > end:
        raise PeriodError(f"'{label}' ends before it starts")
    if start > today:
        span = _fmt(start) if start == end else f"{_fmt(start)} – {_fmt(end)}"
        what = label if span in label else f"{label} ({span})"
        raise PeriodError(f"{what} is in the future; today is {_fmt(today)}")
    return DateRange(start, min(end, today), label)


def _has_year(text: str) -> bool:
    return bool(re.search(rf"\b{_YEAR_RE}\b|\d{{4}}-\d{{2}}", text))


def parse_period(text: str, today: date, *, reference: DateRange | None = None) -> DateRange:
    """Turn a period phrase into an inclusive :class:`DateRange` ending no later than today.

    ``reference`` is the range of the previous question, for follow-ups such as
    "the week before". Raises :class:`PeriodError` for anything unparseable or wholly in the
    future (never falls back to a default).
    """
    if not text or not text.strip():
        raise PeriodError("no period given; try 'last week', 'in October' or 2024-10-01")
    if len(text) > 200:
        raise PeriodError("that is too long to be a period; use e.g. 'last week' or "
                          "2024-10-01 to 2024-10-31")
    norm = _normalise(text)
    norm = re.sub(r"^(?:my|for my|during my) ", "", norm)

    rel = _RELATIVE.match(norm)
    if rel and reference is None and not rel.group(1):
        rel = None  # "previous week" with nothing to be relative to is simply last week
    if rel:
        if reference is None:
            raise PeriodError(f"'{text}' needs a period to be relative to; "
                              "ask about a specific period first")
        unit = rel.group(1) or rel.group(2)
        return _clamp(*_before(reference, unit), today)

    after = _RELATIVE_AFTER.match(norm)
    if after:
        if reference is None:
            raise PeriodError(f"'{text}' needs a period to be relative to; "
                              "ask about a specific period first")
        return _clamp(*_after(reference, after.group(1) or after.group(2)), today)

    night_of = re.match(r"^(?:on |for )?(?:the )?night (?:of|before) (.+)$", norm)
    if night_of and night_of.group(1) != "last":
        got = _match_single(night_of.group(1), today)
        if got is None or got[0] != got[1]:
            raise _unknown(text)
        if "before" in norm.split(night_of.group(1))[0]:
            n = got[0]  # the night before Oct 15 ends on the morning of Oct 15
        else:
            n = got[0] + timedelta(days=1)
        return _clamp(n, n, f"the night ending {_fmt(n)}", today)

    since = _SINCE.match(_PREFIX.sub("", norm, count=1))
    if since:
        got = _match_single(since.group(1), today)
        if got is None:
            raise _unknown(text)
        start, _end, label = got
        if label == "all time":
            return _clamp(start, today, "all time", today)
        return _clamp(start, today, f"since {label}", today)

    single = _match_single(norm, today)
    if single is not None:
        return _clamp(*single, today)

    rng = _RANGE.match(_PREFIX.sub("", norm, count=1))
    if rng:
        left = _match_single(rng.group(1), today)
        right = _match_single(rng.group(2), today)
        if left is not None and right is not None:
            start, end = left[0], right[1]
            if end < start and not _has_year(rng.group(2)):
                # "from Nov 20 to Dec 5" early in December: the right side is this year.
                for yr in (start.year, start.year + 1):
                    b = _match_single(f"{rng.group(2)} {yr}", today)
                    if b is not None and b[1] >= start:
                        end = b[1]
                        break
            if end < start and not _has_year(rng.group(1)):
                for yr in (end.year, end.year - 1):
                    b = _match_single(f"{rng.group(1)} {yr}", today)
                    if b is not None and b[0] <= end:
                        start = b[0]
                        break
            if end < start:
                raise PeriodError(f"'{text}' ends before it starts")
            return _clamp(start, end, f"{_fmt(start)} to {_fmt(end)}", today)
    raise _unknown(text)


def _unknown(text: str) -> PeriodError:
    return PeriodError(
        f"I couldn't understand the period '{text.strip()}'. Try e.g. 'last week', "
        "'the last 30 days', 'in October', 'on Oct 15', 'since June', 'in 2024', "
        "'last weekend', or dates like 2024-10-01 to 2024-10-31.")


def _before(ref: DateRange, unit: str) -> tuple[date, date, str]:
    if unit in ("day", "night"):
        d = ref.start - timedelta(days=1)
        return d, d, f"the {unit} before"
    if unit == "week":
        return ref.start - timedelta(days=7), ref.start - timedelta(days=1), "the week before"
    if unit == "month":
        first = _add_months(ref.start.replace(day=1), -1)
        return first, _month_end(first.year, first.month), "the month before"
    y = ref.start.year - 1
    return date(y, 1, 1), date(y, 12, 31), "the year before"


def _after(ref: DateRange, unit: str) -> tuple[date, date, str]:
    if unit in ("day", "night"):
        d = ref.end + timedelta(days=1)
        return d, d, f"the {unit} after"
    if unit == "week":
        return ref.end + timedelta(days=1), ref.end + timedelta(days=7), "the week after"
    if unit == "month":
        first = _add_months(ref.end.replace(day=1), 1)
        return first, _month_end(first.year, first.month), "the month after"
    y = ref.end.year + 1
    return date(y, 1, 1), date(y, 12, 31), "the year after"


def _is_whole_months(r: DateRange) -> int:
    """Number of whole calendar months ``r`` spans (0 when it is not month-aligned)."""
    if r.start.day != 1 or r.end != _month_end(r.end.year, r.end.month):
        return 0
    return (r.end.year - r.start.year) * 12 + r.end.month - r.start.month + 1


def shift_range(rng: DateRange, direction: str = "previous", *,
                today: date | None = None) -> DateRange:
    """The equally long range just before (``"previous"``) or after (``"next"``) ``rng``.

    Whole calendar months shift by months ("October" → "September"), everything else by its
    length in days ("last week" → the week before). A calendar period cut short by today
    ("this month", "October" on Oct 16, "this week", "this year") shifts as the whole
    period, so the month before October 1–16 is all of September. With ``today``, the result
    is clamped and refused when wholly in the future.
    """
    step = -1 if direction in ("previous", "prev", "before", "earlier") else 1
    months = _is_whole_months(rng)
    cut_short = today is not None and rng.end == today
    if not months and cut_short and rng.start.day == 1:
        months = (rng.end.year - rng.start.year) * 12 + rng.end.month - rng.start.month + 1
        if re.match(r"^(?:Q[1-4]|spring|summer|fall|autumn|winter) ", rng.label or ""):
            months = 3  # "this quarter" / "this fall" so far → the whole quarter before
        elif rng.label == "this year" or re.fullmatch(r"(?:19|20)\d{2}", rng.label or ""):
            months = 12  # "this year" / "2024" so far → the whole year before
    if not months and cut_short and rng.start.weekday() == 0 and rng.days < 7:
        rng = DateRange(rng.start, rng.start + timedelta(days=6), rng.label)  # "this week"
    if months:
        start = _add_months(rng.start, step * months)
        last = _add_months(start, months - 1)
        end = _month_end(last.year, last.month)
    else:
        delta = timedelta(days=rng.days * step)
        start, end = rng.start + delta, rng.end + delta
    word = "before" if step < 0 else "after"
    label = f"the period {word} {rng.label}" if rng.label else f"the period {word}"
    if today is not None:
        return _clamp(start, end, label, today)
    return DateRange(start, end, label)


_NOTHING = {"", "none", "null", "nil", "n/a", "na", "any", "default", "unspecified"}


def _blank(value: Any) -> Any:
    """Models sometimes send "null" or "none" for an absent argument."""
    if isinstance(value, str) and value.strip().lower() in _NOTHING:
        return None
    return value


def resolve_range(start: str | date | None = None, end: str | date | None = None,
                  period: str | None = None, *, today: date,
                  default: str | DateRange | None = None,
                  reference: DateRange | None = None) -> DateRange:
    """Explicit ``start``/``end`` (ISO) win over ``period``; ``default`` only when neither.

    A lone ``start`` runs to today; a lone ``end`` gets the default's length (or one day).
    The default is explicit and echoed in the label, so it is never a silent fallback.
    """
    start, end, period = _blank(start), _blank(end), _blank(period)
    s = parse_iso_date(start) if isinstance(start, str) and start.strip() else start
    e = parse_iso_date(end) if isinstance(end, str) and end.strip() else end
    if isinstance(s, str):
        s = None
    if isinstance(e, str):
        e = None
    if s is not None or e is not None:
        if s is None:
            s = e
        if e is None:
            e = today
        assert isinstance(s, date) and isinstance(e, date)
        if e < s:
            raise PeriodError(f"the end date {e.isoformat()} is before the start date "
                              f"{s.isoformat()}")
        return _clamp(s, e, f"{_fmt(s)} to {_fmt(e)}" if s != e else _fmt(s), today)
    if period and period.strip():
        return parse_period(period, today, reference=reference)
    if isinstance(default, DateRange):
        return default
    if default:
        return parse_period(default, today)
    raise PeriodError("no period given; pass start/end dates (YYYY-MM-DD) or a phrase "
                      "like 'last week'")


# --------------------------------------------------------------------------- finding
_SEARCH_ATOMS = [
    _ISO_RE,
    rf"(?:the )?(?:first|1st|second|2nd|third|3rd|fourth|4th|last|final) week of "
    rf"{_MONTH_RE}(?: {_YEAR_RE})?",
    rf"{_PART_RE}[ -]{_MONTH_RE}(?: {_YEAR_RE})?",
    rf"(?:the )?week of {_MONTH_RE} {_DAY_RE}(?: {_YEAR_RE})?",
    rf"{_MONTH_RE} {_DAY_RE}(?: {_YEAR_RE})?",
    rf"(?:the )?{_DAY_RE} (?:of )?{_MONTH_RE}(?: {_YEAR_RE})?",
    rf"(?:this |last |previous |past )?{_MONTH_RE}(?: (?:of )?{_YEAR_RE})?",
    r"\d{4}-\d{2}",
    rf"(?:the year )?{_YEAR_RE}",
    r"(?:the )?day before yesterday|yesterday(?: morning| afternoon| evening)?",
    r"today|this morning|this afternoon|this evening|tonight",
    r"last night|(?:the )?night before last",
    rf"(?:the )?night (?:of|before) (?:{_MONTH_RE} {_DAY_RE}(?: {_YEAR_RE})?|{_ISO_RE}|"
    rf"(?:last )?{_WEEKDAY_FULL_RE})",
    rf"(?:last )?{_WEEKDAY_FULL_RE} night",
    r"(?:this|current|last|previous|prior|next) (?:week|month|year)|(?:week|month|year) to date",
    r"(?:the )?(?:week|month|year) before last",
    rf"(?:the )?(?:last|past|previous|recent|prior) {_NUM_RE} {_UNIT_RE}",
    r"(?:the )?(?:this )?past (?:day|week|month|year)|(?:the )?(?:last|past) fortnight",
    r"(?:the )?(?:last|past|recent) few days|recently|lately",
    rf"{_NUM_RE} {_UNIT_RE} ago",
    r"(?:this past|this|last|past|previous|the) weekend|weekend",
    rf"(?:last|this|past|previous) {_WEEKDAY_ANY_RE}",
    _WEEKDAY_FULL_RE,
    r"all time|all my data|since the beginning|since i started|my whole history|ever",
    rf"(?:the )?(?:first|1st|second|2nd|third|3rd|fourth|4th) quarter(?: (?:of )?{_YEAR_RE})?|"
    rf"q[1-4](?: {_YEAR_RE})?|(?:this|last|previous) quarter",
    rf"(?:this |last |past |previous )?(?:spring|summer|fall|autumn|winter)"
    rf"(?: (?:of )?{_YEAR_RE})?",
    r"on the (?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)",
    r"(?:the )?(?:day|week|month|year) before|(?:the )?(?:previous|preceding) (?:day|week|month|year)",
    r"(?:the )?(?:day|week|month|year) after|(?:the )?following (?:day|week|month|year)",
]
_ATOM = "(?:" + "|".join(_SEARCH_ATOMS) + ")"
_MD_RE = rf"{_MONTH_RE} {_DAY_RE}(?: {_YEAR_RE})?"
_FIND = re.compile(
    rf"\b(?:(?:from|between) {_ATOM} (?:to|until|till|through|thru|and|-) {_ATOM}|"
    rf"{_ISO_RE} (?:to|until|through|-) {_ISO_RE}|"
    rf"{_MD_RE} (?:to|until|till|through|thru) {_MD_RE}|"
    rf"(?:ever )?since {_ATOM}|{_ATOM})\b")


def _may_ok(norm: str, m: re.Match[str]) -> bool:
    """Words that are usually not dates ("may", "fall", "spring", …) count only when a
    preposition precedes them or a day/year follows."""
    phrase = m.group(0)
    word = re.search(r"\b(may|fall|spring|summer|winter|autumn)\b", phrase)
    if not word:
        return True
    if re.search(rf"\b{word.group(1)} (?:of )?(?:{_DAY_RE}|{_YEAR_RE})\b", phrase):
        return True
    if re.match(r"(?:from|between|since|early|late|mid|this|last|past|previous|the|"
                r"beginning|start|end|middle|first|second|third|fourth|final)\b", phrase):
        return True
    before = norm[: m.start()].split()
    return bool(before) and before[-1] in _MAY_PREFIXES


_YEAR_CONTEXT = {"in", "since", "during", "for", "of", "from", "to", "until", "till",
                 "through", "thru", "and", "between", "year", "before", "after", "early",
                 "late", "mid", "vs", "versus", "compared", "than"}


def _year_ok(norm: str, m: re.Match[str]) -> bool:
    """A bare year ("2000") is a period only after a preposition: "2000 steps" is not."""
    if not re.fullmatch(rf"(?:the year )?{_YEAR_RE}", m.group(0)):
        return True
    if m.group(0).startswith("the year"):
        return True
    before = norm[: m.start()].split()
    after = norm[m.end():].split()
    if after and re.fullmatch(r"(?:steps?|kcal|cal|calories|km|m|meters|miles|mi|kg|lbs?|"
                              r"minutes?|min|bpm|ms|times|workouts?)", after[0]):
        return False
    return bool(before) and before[-1] in _YEAR_CONTEXT


def find_periods(text: str, today: date | None = None) -> list[str]:
    """Every period phrase in ``text``, in order, without overlaps (longest wins).

    "compare this month with last month" → ["this month", "last month"]. Phrases are
    normalised and accepted by :func:`parse_period`; with ``today``, phrases that do not
    parse are dropped (except future ones, so the caller can say "that's in the future").
    """
    if not text:
        return []
    norm = _normalise(text[:2000])  # questions are short; bound the work on huge pastes
    found: list[tuple[int, int, str]] = []
    pos = 0
    while pos <= len(norm):
        m = _FIND.search(norm, pos)
        if not m:
            break
        pos = m.start() + 1
        phrase = m.group(0).strip()
        if not (_may_ok(norm, m) and _year_ok(norm, m)):
            continue
        if today is not None:
            try:
                parse_period(phrase, today, reference=DateRange(today, today))
            except PeriodError as exc:
                if "future" not in exc.message:
                    continue
        found.append((m.start(), m.end(), phrase))
    # keep maximal spans: drop any match inside a longer one, then any overlap (first wins)
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    out: list[tuple[int, int, str]] = []
    for f in found:
        if out and f[0] < out[-1][1]:
            if f[1] - f[0] > out[-1][1] - out[-1][0] and f[0] >= out[-1][0] \
                    and f[1] > out[-1][1]:
                out[-1] = f  # a longer phrase starting inside the previous one
            continue
        out.append(f)
    return [f[2] for f in out]


def find_period(text: str, today: date | None = None) -> str | None:
    """The (first) period phrase inside a whole question, or ``None`` when it names none.

    The returned phrase is normalised (lower case, no punctuation) and accepted by
    :func:`parse_period`. With ``today``, phrases that do not parse are skipped.
    """
    phrases = find_periods(text, today)
    return phrases[0] if phrases else None
