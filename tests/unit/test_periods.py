"""Period parser: a broad table of phrases, word-boundary traps, year inference, refusals."""

from __future__ import annotations

from datetime import date

import pytest

from wellness.health.periods import (
    DateRange,
    PeriodError,
    find_period,
    find_periods,
    parse_period,
    resolve_range,
    shift_range,
)

pytestmark = pytest.mark.unit

TODAY = date(2024, 10, 16)  # a Wednesday


def d(s: str) -> date:
    return date.fromisoformat(s)


TABLE = [
    # phrase, start, end
    ("today", "2024-10-16", "2024-10-16"),
    ("Today?", "2024-10-16", "2024-10-16"),
    ("this morning", "2024-10-16", "2024-10-16"),
    ("yesterday", "2024-10-15", "2024-10-15"),
    ("the day before yesterday", "2024-10-14", "2024-10-14"),
    ("last night", "2024-10-16", "2024-10-16"),
    ("the night before last", "2024-10-15", "2024-10-15"),
    ("this week", "2024-10-14", "2024-10-16"),
    ("last week", "2024-10-07", "2024-10-13"),
    ("previous week", "2024-10-07", "2024-10-13"),
    ("the week before last", "2024-09-30", "2024-10-06"),
    ("past week", "2024-10-10", "2024-10-16"),
    ("over the past week", "2024-10-10", "2024-10-16"),
    ("this past week", "2024-10-10", "2024-10-16"),
    ("this month", "2024-10-01", "2024-10-16"),
    ("last month", "2024-09-01", "2024-09-30"),
    ("month to date", "2024-10-01", "2024-10-16"),
    ("this year", "2024-01-01", "2024-10-16"),
    ("last year", "2023-01-01", "2023-12-31"),
    ("the last 7 days", "2024-10-10", "2024-10-16"),
    ("last 30 days", "2024-09-17", "2024-10-16"),
    ("in the last 2 weeks", "2024-10-03", "2024-10-16"),
    ("past 3 months", "2024-07-17", "2024-10-16"),
    ("the last twelve months", "2023-10-17", "2024-10-16"),
    ("last two days", "2024-10-15", "2024-10-16"),
    ("the past few days", "2024-10-14", "2024-10-16"),
    ("the past fortnight", "2024-10-03", "2024-10-16"),
    ("3 days ago", "2024-10-13", "2024-10-13"),
    ("2 weeks ago", "2024-09-30", "2024-10-06"),
    ("a week ago", "2024-10-07", "2024-10-13"),
    ("two months ago", "2024-08-01", "2024-08-31"),
    ("a year ago", "2023-01-01", "2023-12-31"),
    ("in October", "2024-10-01", "2024-10-16"),
    ("October", "2024-10-01", "2024-10-16"),
    ("in November", "2023-11-01", "2023-11-30"),  # most recent one not in the future
    ("December", "2023-12-01", "2023-12-31"),
    ("in Sept", "2024-09-01", "2024-09-30"),
    ("last May", "2024-05-01", "2024-05-31"),
    ("in may", "2024-05-01", "2024-05-31"),
    ("October 2023", "2023-10-01", "2023-10-31"),
    ("oct. 2022", "2022-10-01", "2022-10-31"),
    ("on Oct 15", "2024-10-15", "2024-10-15"),
    ("October 15th", "2024-10-15", "2024-10-15"),
    ("Oct 17", "2023-10-17", "2023-10-17"),  # tomorrow's date → last year's
    ("the 3rd of March", "2024-03-03", "2024-03-03"),
    ("15 October 2023", "2023-10-15", "2023-10-15"),
    ("Oct 15, 2023", "2023-10-15", "2023-10-15"),
    ("on Friday", "2024-10-11", "2024-10-11"),
    ("Wednesday", "2024-10-16", "2024-10-16"),
    ("last Wednesday", "2024-10-09", "2024-10-09"),
    ("last Friday", "2024-10-11", "2024-10-11"),
    ("last sat", "2024-10-12", "2024-10-12"),
    ("since June", "2024-06-01", "2024-10-16"),
    ("since last week", "2024-10-07", "2024-10-16"),
    ("since 2023", "2023-01-01", "2024-10-16"),
    ("since Oct 1", "2024-10-01", "2024-10-16"),
    ("in 2023", "2023-01-01", "2023-12-31"),
    ("2024", "2024-01-01", "2024-10-16"),
    ("2024-02", "2024-02-01", "2024-02-29"),
    ("first week of October", "2024-10-01", "2024-10-07"),
    ("the second week of September", "2024-09-08", "2024-09-14"),
    ("last week of September", "2024-09-24", "2024-09-30"),
    ("the week of Oct 9", "2024-10-07", "2024-10-13"),
    ("early October", "2024-10-01", "2024-10-10"),
    ("mid September", "2024-09-11", "2024-09-20"),
    ("late September", "2024-09-21", "2024-09-30"),
    ("end of august", "2024-08-21", "2024-08-31"),
    ("last weekend", "2024-10-12", "2024-10-13"),
    ("this past weekend", "2024-10-12", "2024-10-13"),
    ("on the weekend", "2024-10-12", "2024-10-13"),
    ("2024-10-01", "2024-10-01", "2024-10-01"),
    ("from 2024-10-01 to 2024-10-07", "2024-10-01", "2024-10-07"),
    ("2024-09-01 - 2024-09-30", "2024-09-01", "2024-09-30"),
    ("between June and August", "2024-06-01", "2024-08-31"),
    ("from Oct 1 to Oct 10", "2024-10-01", "2024-10-10"),
    ("from Dec 20 to Jan 5", "2023-12-20", "2024-01-05"),
    ("from September to now", None, None),  # handled below: 'now' is not a period
    ("from Oct 1 to today", "2024-10-01", "2024-10-16"),
    ("all time", "2000-01-01", "2024-10-16"),
    ("feb 29", "2024-02-29", "2024-02-29"),
    ("for the last 90 days", "2024-07-19", "2024-10-16"),
    ("Oct 1-15", "2024-10-01", "2024-10-15"),
    ("October 1st to 15th", "2024-10-01", "2024-10-15"),
    ("between Sep 3 and 9", "2024-09-03", "2024-09-09"),
    ("the last 24 hours", "2024-10-15", "2024-10-16"),
    ("on the 5th", "2024-10-05", "2024-10-05"),
    ("the 20th", "2024-09-20", "2024-09-20"),
    ("Friday night", "2024-10-12", "2024-10-12"),  # the night ending Saturday morning
    ("the night of Oct 14", "2024-10-15", "2024-10-15"),
    ("the night before Oct 15", "2024-10-15", "2024-10-15"),
    ("Q1", "2024-01-01", "2024-03-31"),
    ("q4 2023", "2023-10-01", "2023-12-31"),
    ("last quarter", "2024-07-01", "2024-09-30"),
    ("this quarter", "2024-10-01", "2024-10-16"),
    ("the second quarter of 2023", "2023-04-01", "2023-06-30"),
    ("summer", "2024-06-01", "2024-08-31"),
    ("last winter", "2023-12-01", "2024-02-29"),
    ("spring 2023", "2023-03-01", "2023-05-31"),
]


@pytest.mark.parametrize(("phrase", "start", "end"), [t for t in TABLE if t[1]])
def test_table(phrase: str, start: str, end: str) -> None:
    r = parse_period(phrase, TODAY)
    assert (r.start, r.end) == (d(start), d(end)), r
    assert r.label


def test_table_is_broad() -> None:
    assert len([t for t in TABLE if t[1]]) >= 60


@pytest.mark.parametrize("phrase", [
    "next week", "tomorrow", "next month", "2025", "in 2030", "wednesday night",
    "this weekend"
    # Wed Oct 16: this weekend (Oct 19-20) has not started
])
def test_future_is_refused(phrase: str) -> None:
    with pytest.raises(PeriodError, match="in the future"):
        parse_period(phrase, TODAY)


def test_range_reaching_past_today_is_clamped() -> None:
    r = parse_period("this week", date(2024, 10, 14))
    assert (r.start, r.end) == (d("2024-10-14"), d("2024-10-14"))
    r = parse_period("October", TODAY)
    assert r.end == TODAY


@pytest.mark.parametrize("phrase", ["", "   ", "blah", "the thing", "from blah to bleh",
                                    "from September to now", "last fortnightly", "maybe"])
def test_unparseable(phrase: str) -> None:
    with pytest.raises(PeriodError) as exc:
        parse_period(phrase, TODAY)
    assert "last week" in exc.value.message  # helpful, with examples


def test_leap_years() -> None:
    # Feb 29 without a year from a non-leap year goes back to the last leap year.
    r = parse_period("Feb 29", date(2026, 6, 1))
    assert r.start == d("2024-02-29")
    with pytest.raises(PeriodError):
        parse_period("Feb 29 2023", TODAY)
    r = parse_period("last month", date(2024, 3, 31))
    assert (r.start, r.end) == (d("2024-02-01"), d("2024-02-29"))
    r = parse_period("past month", date(2024, 3, 31))
    assert r.start == d("2024-03-01")
    r = parse_period("the last 12 months", date(2024, 2, 29))
    assert r.start == d("2023-03-01")


def test_dst_irrelevant() -> None:
    # Dates only: the week containing the US DST change (Nov 3 2024) is still 7 days.
    r = parse_period("last week", date(2024, 11, 6))
    assert (r.start, r.end, r.days) == (d("2024-10-28"), d("2024-11-03"), 7)
    r = parse_period("last 7 days", date(2024, 3, 12))
    assert r.days == 7


def test_year_boundaries() -> None:
    jan = date(2025, 1, 2)
    assert parse_period("last month", jan).start == d("2024-12-01")
    assert parse_period("December", jan).start == d("2024-12-01")
    assert parse_period("last week", jan).start == d("2024-12-23")
    assert parse_period("this weekend", date(2024, 10, 14)).start == d("2024-10-12")  # Monday


def test_relative_to_reference() -> None:
    ref = parse_period("last week", TODAY)
    r = parse_period("the week before", TODAY, reference=ref)
    assert (r.start, r.end) == (d("2024-09-30"), d("2024-10-06"))
    r = parse_period("the month before", TODAY, reference=parse_period("September", TODAY))
    assert (r.start, r.end) == (d("2024-08-01"), d("2024-08-31"))
    r = parse_period("the day before", TODAY, reference=parse_period("Oct 10", TODAY))
    assert r.start == d("2024-10-09")
    with pytest.raises(PeriodError, match="relative"):
        parse_period("the week before", TODAY)
    r = parse_period("the week after", TODAY, reference=parse_period("2 weeks ago", TODAY))
    assert (r.start, r.end) == (d("2024-10-07"), d("2024-10-13"))
    r = parse_period("the following month", TODAY, reference=parse_period("August", TODAY))
    assert (r.start, r.end) == (d("2024-09-01"), d("2024-09-30"))
    with pytest.raises(PeriodError, match="future"):
        parse_period("the week after", TODAY, reference=parse_period("this week", TODAY))


def test_shift_range() -> None:
    sept = parse_period("September", TODAY)
    prev = shift_range(sept, "previous")
    assert (prev.start, prev.end) == (d("2024-08-01"), d("2024-08-31"))
    week = parse_period("last week", TODAY)
    prev = shift_range(week, "previous")
    assert (prev.start, prev.end) == (d("2024-09-30"), d("2024-10-06"))
    nxt = shift_range(week, "next", today=TODAY)
    assert (nxt.start, nxt.end) == (d("2024-10-14"), d("2024-10-16"))  # clamped
    with pytest.raises(PeriodError):
        shift_range(parse_period("this week", TODAY), "next", today=TODAY)
    octo = parse_period("October", TODAY)  # Oct 1-16 so far
    prev = shift_range(octo, "previous", today=TODAY)
    assert (prev.start, prev.end) == (d("2024-09-01"), d("2024-09-30"))
    prev = shift_range(parse_period("this week", TODAY), "previous", today=TODAY)
    assert (prev.start, prev.end) == (d("2024-10-07"), d("2024-10-13"))
    prev = shift_range(parse_period("this year", TODAY), "previous", today=TODAY)
    assert (prev.start, prev.end) == (d("2023-01-01"), d("2023-12-31"))
    prev = shift_range(parse_period("this quarter", TODAY), "previous", today=TODAY)
    assert (prev.start, prev.end) == (d("2024-07-01"), d("2024-09-30"))
    jan = date(2024, 1, 20)
    prev = shift_range(parse_period("this month", jan), "previous", today=jan)
    assert (prev.start, prev.end) == (d("2023-12-01"), d("2023-12-31"))
    prev = shift_range(parse_period("this year", jan), "previous", today=jan)
    assert (prev.start, prev.end) == (d("2023-01-01"), d("2023-12-31"))
    prev = shift_range(parse_period("the last 7 days", TODAY), "previous", today=TODAY)
    assert (prev.start, prev.end) == (d("2024-10-03"), d("2024-10-09"))
    q = shift_range(DateRange(d("2024-07-01"), d("2024-09-30")), "previous")
    assert (q.start, q.end) == (d("2024-04-01"), d("2024-06-30"))


def test_resolve_range() -> None:
    r = resolve_range("2024-10-01", "2024-10-05", "last year", today=TODAY)
    assert (r.start, r.end) == (d("2024-10-01"), d("2024-10-05"))  # dates win
    r = resolve_range("2024-10-10", None, today=TODAY)
    assert r.end == TODAY
    r = resolve_range(period="yesterday", today=TODAY)
    assert r.start == d("2024-10-15")
    r = resolve_range(today=TODAY, default="the last 7 days")
    assert r.label == "the last 7 days" and r.days == 7
    with pytest.raises(PeriodError):
        resolve_range(today=TODAY)  # no silent fallback
    with pytest.raises(PeriodError):
        resolve_range("2024-10-10", "2024-10-01", today=TODAY)
    with pytest.raises(PeriodError):
        resolve_range("yesterday-ish", today=TODAY)
    with pytest.raises(PeriodError, match="future"):
        resolve_range("2025-01-01", "2025-01-31", today=TODAY)


@pytest.mark.parametrize(("question", "phrase"), [
    ("How many steps did I take last week?", "last week"),
    ("What was my resting heart rate in October?", "october"),
    ("did my weight decrease?", None),
    ("is my resting hr on a decreasing trend", None),
    ("how is my marathon training going", None),
    ("I may have overdone it", None),
    ("You may want to check my sleep", None),
    ("marathon training in May", "may"),
    ("steps on May 5", "may 5"),
    ("steps in may 2023", "may 2023"),
    ("Show workouts from Oct 1 to Oct 10", "from oct 1 to oct 10"),
    ("how did I sleep last night?", "last night"),
    ("workouts since June", "since june"),
    ("What was my heart rate on Oct 15?", "oct 15"),
    ("What did I do last Friday?", "last friday"),
    ("first week of October steps", "first week of october"),
    ("how active was I last weekend", "last weekend"),
    ("any runs 2 weeks ago", "2 weeks ago"),
    ("Compare my steps in the last 30 days", "the last 30 days"),
    ("hello there", None),
    ("What's my sunday routine", "sunday"),
    ("is it sat or sun", None),
    ("I wed my partner in march", "march"),
    ("what about the week before", "the week before"),
    ("steps between 2024-10-01 and 2024-10-05", "between 2024-10-01 and 2024-10-05"),
    ("my goal is 2000 steps a day", None),
    ("I burned 1950 kcal", None),
    ("how active was I in 2023?", "2023"),
    ("what did I do on the 5th?", "on the 5th"),
    ("steps Oct 1-15", "oct 1 to oct 15"),
    ("steps today vs yesterday", "today"),
    ("how did I sleep on Friday night?", "friday night"),
    ("what's my longest run ever?", "ever"),
    ("however I count every step", None),
    ("did I fall asleep early?", None),
    ("steps over the summer", "summer"),
    ("compare this quarter with last quarter", "this quarter"),
    ("my spring 2023 runs", "spring 2023"),
])
def test_find_period(question: str, phrase: str | None) -> None:
    found = find_period(question, TODAY)
    assert found == phrase
    if phrase is not None and "before" not in phrase:
        parse_period(found, TODAY)


def test_find_period_returns_future_phrase_for_a_clear_error() -> None:
    phrase = find_period("how many steps next week?", TODAY)
    assert phrase == "next week"
    with pytest.raises(PeriodError, match="future"):
        parse_period(phrase, TODAY)


def test_previous_week_follow_up() -> None:
    ref = parse_period("September", TODAY)
    r = parse_period("the previous month", TODAY, reference=ref)
    assert (r.start, r.end) == (d("2024-08-01"), d("2024-08-31"))
    r = parse_period("previous week", TODAY)  # nothing to be relative to: last week
    assert r.start == d("2024-10-07")


def test_find_periods_in_order() -> None:
    assert find_periods("compare this month with last month", TODAY) == ["this month",
                                                                          "last month"]
    assert find_periods("steps in October vs September 2023", TODAY) == [
        "october", "september 2023"]
    assert find_periods("from Oct 1 to Oct 10 and last week", TODAY) == [
        "from oct 1 to oct 10", "last week"]
    assert find_periods("nothing here", TODAY) == []
