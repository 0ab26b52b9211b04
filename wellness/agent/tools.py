"""LangChain health tools: the catalogue of docs/architecture.md over ``HealthQueries``.

Why this shape: the user id comes only from the injected ``RunnableConfig``
(``config["configurable"]["user_id"]``), never from model arguments, so a model can't ask
for someone else's data; a missing id returns an error result. Every tool takes explicit
``start``/``end`` ISO dates plus an optional ``period`` phrase, states its default range in
the result (no silent fallback), and returns compact JSON with a ``summary`` sentence.
Period and metric mistakes come back as ``{"error": ...}`` results the model can fix;
``StoreUnavailable`` propagates so the graph can answer with a friendly message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool

from wellness.config import Settings
from wellness.health.metrics import MetricError
from wellness.health.periods import DateRange, PeriodError, parse_period, resolve_range, \
    shift_range
from wellness.health.queries import HealthQueries
from wellness.store.connection import RedisStore

HEALTH_TOOL_NAMES: tuple[str, ...] = (
    "health_data_range", "metric_summary", "metric_series", "metric_trend", "compare_periods",
    "list_workouts", "workout_summary", "last_workout", "workout_details", "workout_streaks",
    "sleep_summary", "activity_rings",
)

# Default ranges, echoed in every result's range label.
DEFAULTS = {
    "metric_summary": "the last 7 days",
    "metric_series": "the last 30 days",
    "metric_trend_week": "the last 12 weeks",
    "metric_trend_month": "the last 12 months",
    "compare_periods": "this month",
    "list_workouts": "the last 30 days",
    "workout_summary": "the last 30 days",
    "workout_streaks": "all time",
    "sleep_summary": "the last 7 days",
    "activity_rings": "the last 7 days",
}
_CURRENT_TO_PREVIOUS = {"this week": "last week", "this month": "last month",
                        "this year": "last year", "today": "yesterday"}


def dumps(result: dict[str, Any]) -> str:
    """Compact, strict JSON for a tool message (NaN/inf become null)."""
    try:
        return json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str,
                          allow_nan=False)
    except ValueError:
        return json.dumps(_finite(result), ensure_ascii=False, separators=(",", ":"),
                          default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _configurable(config: RunnableConfig | None) -> dict[str, Any]:
    return dict((config or {}).get("configurable") or {})


def make_health_tools(store: RedisStore, settings: Settings) -> list[BaseTool]:
    """The twelve health tools bound to ``store``; the user comes from each call's config."""

    def today_for(conf: dict[str, Any]) -> date:
        raw = conf.get("today")
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str) and raw:
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        return settings.today or datetime.now(settings.tz).date()

    async def run(config: RunnableConfig | None,
                  body: Callable[[HealthQueries, date], Awaitable[dict[str, Any]]]) -> str:
        conf = _configurable(config)
        user_id = conf.get("user_id")
        if not user_id:
            return dumps({"error": "no user is signed in, so I can't read any health data"})
        try:
            hq = HealthQueries(store, str(user_id), today=today_for(conf), tz=settings.tz)
        except ValueError:
            return dumps({"error": "the user id is not valid, so I can't read any health data"})
        try:
            return dumps(await body(hq, hq.today))
        except PeriodError as exc:
            return dumps({"error": exc.message})
        except MetricError as exc:
            return dumps({"error": exc.message, "available_metrics": exc.suggestions[:40]})

    def rng(today: date, start: str | None, end: str | None, period: str | None,
            default: str) -> DateRange:
        return resolve_range(start, end, period, today=today, default=default)

    @tool
    async def health_data_range(config: RunnableConfig) -> str:
        """Show which health data the user has and the dates it covers.

        Use it first when you don't know whether data exists, when another tool reports
        no data, or when the user asks "what data do you have?". Returns the overall date
        range, each metric with its first and last day, and workout / sleep / activity
        counts. Takes no arguments.
        """
        return await run(config, lambda hq, t: hq.data_range())

    @tool(parse_docstring=True)
    async def metric_summary(metric: str, config: RunnableConfig, start: str | None = None,
                             end: str | None = None, period: str | None = None,
                             stat: str = "all") -> str:
        """One number (or all statistics) for a health metric over a date range.

        Use for "how many steps did I walk last week", "average resting heart rate in
        October", "what's my latest weight", "max heart rate yesterday". Cumulative metrics
        (steps, distance, active energy/calories, flights, exercise minutes) give the total,
        the average per day and the best day; discrete ones (heart rate, resting heart
        rate, HRV, VO2 max, weight, BMI, body fat, blood oxygen, respiratory rate) give the
        mean of readings, min, max and the latest reading. Default range: the last 7 days
        (with stat="last" and no range: all data, so "what's my weight?" finds the latest).

        Args:
            metric: Metric name in plain words, e.g. "steps", "resting heart rate", "rhr",
                "weight", "calories", "hrv", "vo2 max", "blood oxygen", or any imported type.
            start: First day, YYYY-MM-DD (optional; wins over period).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase instead of dates, e.g. "last week", "yesterday",
                "in October", "the last 30 days", "since June", "2024".
            stat: One of sum, avg, min, max, last, count, all (default all).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            # "What's my weight?" = the latest reading, however old: search all data.
            latest = (stat or "").lower() in ("last", "latest")
            default = "all time" if latest else DEFAULTS["metric_summary"]
            r = rng(t, start, end, period, default)
            return await hq.metric_summary(metric, r, stat)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def metric_series(metric: str, config: RunnableConfig, start: str | None = None,
                            end: str | None = None, period: str | None = None,
                            bucket: str = "day") -> str:
        """A metric's values per day, week or month, with a chart, for "show me" questions.

        Use for "show my steps per day this month", "weekly distance since June", "plot my
        weight this year". Values are totals for cumulative metrics and averages for
        discrete ones; long ranges are grouped into weeks or months automatically (at most
        ~400 points). Default range: the last 30 days.

        Args:
            metric: Metric name, e.g. "steps", "weight", "resting heart rate".
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "this month", "the last 3 months", "in 2024".
            bucket: day, week or month (default day).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["metric_series"])
            return await hq.metric_series(metric, r, bucket)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def metric_trend(metric: str, config: RunnableConfig, start: str | None = None,
                           end: str | None = None, period: str | None = None,
                           bucket: str = "week") -> str:
        """Is a metric going up or down? Least-squares slope per week or month + 7-day average.

        Use for "is my weight going down?", "is my resting heart rate improving?", "trend
        of my steps over the last 6 months". Returns direction (rising / falling / flat),
        slope per bucket, first and last bucket averages and a 7-day moving average chart.
        Default range: the last 12 weeks (or 12 months with bucket=month).

        Args:
            metric: Metric name, e.g. "weight", "resting heart rate", "steps", "hrv".
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "the last 6 months", "this year", "since March".
            bucket: week or month (default week).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            key = "metric_trend_month" if (bucket or "").startswith("month") else \
                "metric_trend_week"
            r = rng(t, start, end, period, DEFAULTS[key])
            return await hq.metric_trend(metric, r, bucket)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def compare_periods(metric: str, config: RunnableConfig,
                              period_a: str | None = None, period_b: str | None = None,
                              a_start: str | None = None, a_end: str | None = None,
                              b_start: str | None = None, b_end: str | None = None) -> str:
        """Compare a metric (or workouts) between two periods: values, change and % change.

        Use for "this month vs last month", "compare my steps this week with last week",
        "did I work out more in October than September", "am I sleeping more this month?".
        Period A is the one asked about (usually the more recent), B the baseline;
        change = A − B. metric="workouts" compares workout counts, minutes and kcal;
        metric="sleep" compares sleep per night, efficiency and bedtime. If B is missing it is the period just
        before A ("this month" → "last month"). Default A: this month.

        Args:
            metric: Metric name (e.g. "steps", "resting heart rate"), "workouts" or "sleep".
            period_a: Period phrase for A, e.g. "this month", "last week", "October".
            period_b: Period phrase for B, e.g. "last month", "September".
            a_start: First day of A, YYYY-MM-DD (optional, wins over period_a).
            a_end: Last day of A, YYYY-MM-DD (optional).
            b_start: First day of B, YYYY-MM-DD (optional, wins over period_b).
            b_end: Last day of B, YYYY-MM-DD (optional).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            a = rng(t, a_start, a_end, period_a, DEFAULTS["compare_periods"])
            if b_start or b_end or (period_b and period_b.strip()):
                b = resolve_range(b_start, b_end, period_b, today=t, reference=a)
            elif a.label in _CURRENT_TO_PREVIOUS:
                b = parse_period(_CURRENT_TO_PREVIOUS[a.label], t)
            else:
                b = shift_range(a, "previous", today=t)
            return await hq.compare_periods(metric, a, b)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def list_workouts(config: RunnableConfig, start: str | None = None,
                            end: str | None = None, period: str | None = None,
                            workout_type: str | None = None, sort: str = "recent",
                            limit: int = 10) -> str:
        """List individual workouts (date, type, duration, kcal, distance, avg HR, id).

        Use for "show my workouts last week", "what did I do on Friday?", "my longest
        runs this year", "which ride burned the most calories?". Each workout has an "id"
        you can pass to workout_details. For counts and breakdowns use workout_summary.
        Default range: the last 30 days.

        Args:
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "last Friday", "this week", "in October".
            workout_type: Filter such as "running", "cycling", "strength", "yoga", "walk".
            sort: recent, longest, energy or distance (default recent).
            limit: How many to return, 1-50 (default 10).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["list_workouts"])
            return await hq.list_workouts(r, workout_type, sort, limit)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def workout_summary(config: RunnableConfig, start: str | None = None,
                              end: str | None = None, period: str | None = None,
                              workout_type: str | None = None, group_by: str = "type") -> str:
        """Count and totals of workouts, broken down by type, weekday, hour, week or month.

        Use for "how many workouts did I do this month?", "what's my most common workout?",
        "which day do I train most?" (group_by=weekday), "do I work out in the morning or
        evening?" (group_by=hour), "workouts per week this year" (group_by=week). Always
        includes the count per type and the most common type. Default range: the last 30 days;
        use period="all time" for everything.

        Args:
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "this month", "2024", "all time".
            workout_type: Optional filter such as "running" or "strength".
            group_by: type, weekday, hour, week or month (default type).
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["workout_summary"])
            return await hq.workout_summary(r, workout_type, group_by)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def last_workout(config: RunnableConfig, workout_type: str | None = None) -> str:
        """The most recent workout (optionally of one type) with date, duration, kcal and HR.

        Use for "when did I last work out?", "when was my last run?", "how long was my last
        ride?". The result has the workout "id" for workout_details.

        Args:
            workout_type: Optional type such as "running", "cycling", "strength", "swim".
        """
        return await run(config, lambda hq, t: hq.last_workout(workout_type))

    @tool(parse_docstring=True)
    async def workout_details(workout_id: str, config: RunnableConfig) -> str:
        """Everything about one workout: time, duration, energy, distance, pace, heart rate.

        Use after list_workouts or last_workout when the user asks about that workout
        ("what was my heart rate during it?", "how fast was that run?").

        Args:
            workout_id: The "id" from list_workouts or last_workout (16 hex characters).
        """
        return await run(config, lambda hq, t: hq.workout_details(workout_id))

    @tool(parse_docstring=True)
    async def workout_streaks(config: RunnableConfig, start: str | None = None,
                              end: str | None = None, period: str | None = None) -> str:
        """Workout streaks: longest and current runs of consecutive days and weeks with a workout.

        Use for "what's my longest streak?", "how many days in a row have I worked out?",
        "how consistent am I?". Default range: all time.

        Args:
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "this year", "since June".
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["workout_streaks"])
            return await hq.workout_streaks(r)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def sleep_summary(config: RunnableConfig, start: str | None = None,
                            end: str | None = None, period: str | None = None) -> str:
        """Sleep per night and on average: time asleep, in bed, stages, efficiency, bed/wake times.

        Use for "how did I sleep last night?" (period="last night"), "average sleep this
        week", "what time do I go to bed?", "how much deep sleep do I get?". Nights are
        labelled by the morning they end. Default range: the last 7 nights.

        Args:
            start: First night (morning date), YYYY-MM-DD (optional).
            end: Last night (morning date), YYYY-MM-DD (optional).
            period: Period phrase, e.g. "last night", "this week", "in October".
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["sleep_summary"])
            return await hq.sleep_summary(r)
        return await run(config, body)

    @tool(parse_docstring=True)
    async def activity_rings(config: RunnableConfig, start: str | None = None,
                             end: str | None = None, period: str | None = None) -> str:
        """Apple activity rings: Move (kcal), Exercise (min), Stand (h) vs goals, closed counts.

        Use for "did I close my rings today?", "how many days did I close my move ring this
        month?". Default range: the last 7 days.

        Args:
            start: First day, YYYY-MM-DD (optional).
            end: Last day, YYYY-MM-DD (optional).
            period: Period phrase, e.g. "today", "this week", "last month".
        """
        async def body(hq: HealthQueries, t: date) -> dict[str, Any]:
            r = rng(t, start, end, period, DEFAULTS["activity_rings"])
            return await hq.activity_rings(r)
        return await run(config, body)

    tools: list[BaseTool] = [health_data_range, metric_summary, metric_series, metric_trend,
                             compare_periods, list_workouts, workout_summary, last_workout,
                             workout_details, workout_streaks, sleep_summary, activity_rings]
    assert tuple(t.name for t in tools) == HEALTH_TOOL_NAMES
    return tools


__all__ = ["HEALTH_TOOL_NAMES", "make_health_tools", "dumps"]
