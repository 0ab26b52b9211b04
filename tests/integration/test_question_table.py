"""The question table: real questions through the offline model, numbers checked against the
generator's ground truth.

A generated 150-day export is imported with the real importer; every question runs through
``AgentRuntime.run_turn`` (the same graph as the chat) with the real health and memory tools.
Follow-ups share a thread. A few questions go through separate ``wellness ask`` processes to
prove follow-ups survive across processes and that another user sees none of the data.
At least 95 % of the rows must be right; every tool must be exercised.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from wellness.agent.graph import AgentRuntime, collect_turn

pytestmark = pytest.mark.integration

START = date(2026, 7, 1)
DAYS = 150
TODAY = date(2026, 11, 28)          # the day after the last generated day (a Saturday)
REPO = Path(__file__).resolve().parents[2]


# -- ground truth helpers ---------------------------------------------------------------
def days(a: date, b: date) -> list[str]:
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def total(d: dict[str, float], a: date, b: date) -> float:
    return sum(d.get(k, 0.0) for k in days(a, b))


def avg(d: dict[str, float], a: date, b: date) -> float:
    vals = [d[k] for k in days(a, b) if k in d]
    return mean(vals)


_NUM = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_DUR = re.compile(r"(\d+)\s*h(?:ours?)?\s*(\d+)?\s*(?:min)?")


def numbers(text: str) -> list[float]:
    """Numbers in an answer; "7 h 19 min" also counts as 439 (minutes)."""
    out = [float(n.replace(",", "")) for n in _NUM.findall(text) if n.replace(",", "")]
    for h, m in _DUR.findall(text):
        out.append(int(h) * 60 + int(m or 0))
    return out


def has_number(text: str, expected: float, *, rel: float = 0.005, abs_: float = 0.51) -> bool:
    return any(abs(v - expected) <= max(abs_, abs(expected) * rel) for v in numbers(text))


def nice(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{d.strftime('%b')} {d.day}"


def spaced(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", kind)


# -- the table --------------------------------------------------------------------------
Check = Callable[[str, list[dict[str, Any]], Any], bool]


@dataclass
class Row:
    thread: str
    question: str
    tool: str | None          # expected tool (None: no tool call expected)
    check: Check


def _tools(calls: list[dict[str, Any]]) -> set[str]:
    return {c["name"] for c in calls}


def build_table() -> list[Row]:
    last_week = (date(2026, 11, 16), date(2026, 11, 22))
    week_before = (date(2026, 11, 9), date(2026, 11, 15))
    this_month = (date(2026, 11, 1), TODAY)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    september = (date(2026, 9, 1), date(2026, 9, 30))
    y = "2026-11-27"

    def oct_workouts(t: Any) -> list[dict]:
        return [w for w in t.workouts if october[0].isoformat() <= w["date"] <= october[1].isoformat()]

    def last_of(t: Any, kind: str | None = None) -> dict:
        ws = [w for w in t.workouts if kind is None or w["type"] == kind]
        return max(ws, key=lambda w: w["start_utc"])

    def longest_streak(t: Any) -> int:
        ds = sorted({date.fromisoformat(w["date"]) for w in t.workouts})
        best = run = 1
        for a, b in zip(ds, ds[1:]):
            run = run + 1 if (b - a).days == 1 else 1
            best = max(best, run)
        return best

    def most_intense(t: Any, a: date, b: date) -> str:
        ws = [w for w in t.workouts if a.isoformat() <= w["date"] <= b.isoformat()]
        best = max(ws, key=lambda w: ((w["energy_kcal"] or 0) / w["duration_min"],
                                      w["hr_avg"] or 0))
        return f"{best['type']} on {date.fromisoformat(best['date']).strftime('%a %b')} " \
               f"{date.fromisoformat(best['date']).day}"

    def longest_weekday(t: Any) -> str:
        by: dict[str, list[float]] = {}
        for w in t.workouts:
            by.setdefault(w["weekday"], []).append(w["duration_min"])
        return max(by, key=lambda d: sum(by[d]) / len(by[d]))

    def sleep_avg(t: Any, key: str, a: date, b: date) -> float:
        """Mean per night; stage minutes only over nights that have stage data."""
        staged = key in ("deep_min", "rem_min", "core_min")
        nights = [t.sleep_by_night[k][key] for k in days(a, b) if k in t.sleep_by_night
                  and (t.sleep_by_night[k]["has_stages"] or not staged)]
        return mean(nights)

    rows = [
        # steps, totals, follow-ups
        Row("steps", "How many steps did I take yesterday?", "metric_summary",
            lambda a, c, t: has_number(a, round(t.steps_by_day[y]))),
        Row("steps", "How many steps did I take on October 15th?", "metric_summary",
            lambda a, c, t: has_number(a, round(t.steps_by_day["2026-10-15"]))),
        Row("steps", "What was my total step count last week?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.steps_by_day, *last_week))),
        Row("steps", "and the week before?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.steps_by_day, *week_before))),
        Row("steps", "what about yesterday?", "metric_summary",
            lambda a, c, t: has_number(a, round(t.steps_by_day[y]))),
        Row("steps2", "What's my average daily step count this month?", "metric_summary",
            lambda a, c, t: has_number(a, avg(t.steps_by_day, *this_month), rel=0.01)),
        Row("energy", "How many calories did I burn this month?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.active_kcal_by_day, *this_month))),
        Row("energy", "How far did I walk last week?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.distance_km_by_day, *last_week), abs_=0.06)),
        # resting heart rate, comparisons, interpretation
        Row("rhr", "What was my average resting heart rate in October?", "metric_summary",
            lambda a, c, t: has_number(a, avg(t.resting_hr_by_day, *october))),
        Row("rhr", "What was my average resting heart rate in October vs September?",
            "compare_periods",
            lambda a, c, t: has_number(a, avg(t.resting_hr_by_day, *october))
            and has_number(a, avg(t.resting_hr_by_day, *september))),
        Row("rhr2", "I want to know my resting heart rate", "metric_summary",
            lambda a, c, t: "set_goal" not in _tools(c) and has_number(
                a, t.resting_hr_by_day[max(t.resting_hr_by_day)])),
        Row("rhr2", "Is that good?", "health_facts",
            lambda a, c, t: "60 to 100" in a or "60-100" in a),
        Row("rhr3", "Is my resting heart rate improving?", "metric_trend",
            lambda a, c, t: bool(re.search(r"steady|ris|fell|fall|rose|up|down|flat|drop|increas|decreas", a))),
        # weight
        Row("weight", "What's my current weight?", "metric_summary",
            lambda a, c, t: has_number(a, t.weight_kg_by_day[max(t.weight_kg_by_day)], abs_=0.06)),
        Row("weight", "What was my lowest weight in October?", "metric_summary",
            lambda a, c, t: has_number(a, min(t.weight_kg_by_day[k] for k in days(*october)
                                             if k in t.weight_kg_by_day), abs_=0.06)),
        Row("weight", "and my highest?", "metric_summary",
            lambda a, c, t: has_number(a, max(t.weight_kg_by_day[k] for k in days(*october)
                                             if k in t.weight_kg_by_day), abs_=0.06)),
        Row("weight2", "Show my weight trend this year.", "metric_trend",
            lambda a, c, t: "kg" in a),
        Row("series", "Show my steps per day this month", "metric_series",
            lambda a, c, t: has_number(a, round(max(t.steps_by_day[k] for k in days(*this_month)
                                                   if k in t.steps_by_day)))),
        # workouts
        Row("w1", "How many workouts did I do last month?", "workout_summary",
            lambda a, c, t: has_number(a, len(oct_workouts(t)))),
        Row("w2", "How many workouts did I do last month, and on which days?", "list_workouts",
            lambda a, c, t: has_number(a, len(oct_workouts(t)))
            and all(nice(w["date"]) in a for w in oct_workouts(t))),
        Row("w3", "What day of the week do I work out most?", "workout_summary",
            lambda a, c, t: any(d in a for d, n in t.workouts_by_weekday.items()
                                if n == max(t.workouts_by_weekday.values()))),
        Row("w3", "What's my most common workout type?", "workout_summary",
            lambda a, c, t: any(spaced(k) in a for k, n in t.workouts_by_type.items()
                                if n == max(t.workouts_by_type.values()))),
        Row("w4", "When was my last workout?", "last_workout",
            lambda a, c, t: nice(last_of(t)["date"]) in a),
        Row("w4", "How long was it?", "last_workout",
            lambda a, c, t: has_number(a, round(last_of(t)["duration_min"]))),
        Row("w5", "When was my last cycling workout?", "last_workout",
            lambda a, c, t: nice(last_of(t, "Cycling")["date"]) in a),
        Row("w5", "How many calories did I burn?", "last_workout",
            lambda a, c, t: has_number(a, round(last_of(t, "Cycling")["energy_kcal"]))),
        Row("w5", "Tell me more about that workout", "workout_details",
            lambda a, c, t: has_number(a, round(last_of(t, "Cycling")["hr_avg"]))),
        Row("w6", "Did I work out on October 17th?", "list_workouts",
            lambda a, c, t: a.startswith("Yes") == any(w["date"] == "2026-10-17"
                                                       for w in t.workouts)),
        Row("w6", "Did I work out yesterday?", "list_workouts",
            lambda a, c, t: a.startswith("Yes") == any(w["date"] == y for w in t.workouts)),
        Row("w7", "What's my longest workout streak?", "workout_streaks",
            lambda a, c, t: has_number(a, longest_streak(t))),
        Row("w8", "Compare my workouts this month vs last month", "compare_periods",
            lambda a, c, t: has_number(a, len(oct_workouts(t))) and has_number(
                a, len([w for w in t.workouts if w["date"] >= "2026-11-01"]))),
        Row("w9", "Do I work out more in the morning or the evening?", "workout_summary",
            lambda a, c, t: "evening" in a or "morning" in a),
        # sleep
        Row("sleep", "How did I sleep last week?", "sleep_summary",
            lambda a, c, t: has_number(a, round(sleep_avg(t, "asleep_min", *last_week)),
                                       abs_=1.01)),
        Row("sleep", "How much deep sleep did I get last week?", "sleep_summary",
            lambda a, c, t: has_number(a, round(sleep_avg(t, "deep_min", *last_week)),
                                       abs_=1.01)),
        Row("sleep2", "How did I sleep last night?", "sleep_summary",
            lambda a, c, t: "no sleep data" in a.lower() and "covers" in a),
        Row("sleep3", "What was my sleep quality score last night?", "sleep_summary",
            lambda a, c, t: "doesn't record a sleep quality score" in a),
        # rings and coverage
        Row("rings", "Did I close my rings yesterday?", "activity_rings",
            lambda a, c, t: has_number(a, round(t.activity_by_day[y]["move_kcal"]))
            and has_number(a, t.activity_by_day[y]["exercise_min"])),
        Row("range", "What data do you have?", "health_data_range",
            lambda a, c, t: nice(t.date_range["start"]) in a),
        # honesty: empty, future, predictions, missing measurements
        Row("empty", "How many steps did I take in May 2026?", "metric_summary",
            lambda a, c, t: bool(re.search(r"\bno\b", a.lower())) and "covers" in a
            and not re.search(r"\b0 steps\b", a)),
        Row("future", "How many workouts did I do in December 2026?", "workout_summary",
            lambda a, c, t: "future" in a.lower()),
        Row("predict", "How many steps will I take tomorrow?", None,
            lambda a, c, t: not c and "can't predict" in a),
        Row("bp", "What was my blood pressure during my last run?", "metric_summary",
            lambda a, c, t: a.startswith("I can't tell")),
        # more wordings (anchor §6.5) with numbers
        Row("more", "Maximum steps in a single day last week?", "metric_summary",
            lambda a, c, t: has_number(a, round(max(t.steps_by_day[k] for k in days(*last_week)
                                                   if k in t.steps_by_day)))),
        Row("more", "How many total steps did I take this week?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.steps_by_day, date(2026, 11, 23), TODAY))),
        Row("more", "Sum of active energy for the last 7 days?", "metric_summary",
            lambda a, c, t: has_number(a, total(t.active_kcal_by_day, TODAY - timedelta(days=6),
                                                TODAY))),
        Row("more2", "Average calories burned per workout this month?", "workout_summary",
            lambda a, c, t: has_number(a, mean(w["energy_kcal"] or 0 for w in t.workouts
                                               if w["date"] >= "2026-11-01"), abs_=1.01)),
        Row("more2", "How many total workouts since September?", "workout_summary",
            lambda a, c, t: has_number(a, len([w for w in t.workouts
                                               if w["date"] >= "2026-09-01"]))),
        Row("more3", "What was my heart rate during my last workout?", "last_workout",
            lambda a, c, t: has_number(a, round(last_of(t)["hr_avg"]))),
        Row("more3", "Highest calories burned in a single workout?", "list_workouts",
            lambda a, c, t: has_number(a, round(max(w["energy_kcal"] or 0 for w in t.workouts)))),
        Row("more4", "What's my wt?", "metric_summary",
            lambda a, c, t: has_number(a, t.weight_kg_by_day[max(t.weight_kg_by_day)], abs_=0.06)),
        Row("more4", "What was my average sleep in October?", "sleep_summary",
            lambda a, c, t: has_number(a, round(sleep_avg(t, "asleep_min", *october)), abs_=1.01)),
        Row("more5", "How many days did I close my exercise ring last month?", "activity_rings",
            lambda a, c, t: has_number(a, sum(1 for k in days(*october) if k in t.activity_by_day
                                              and t.activity_by_day[k]["exercise_min"]
                                              >= t.activity_by_day[k]["exercise_goal_min"]))),
        Row("more5", "Did I walk 8k steps yesterday?", "metric_summary",
            lambda a, c, t: a.startswith("Yes") == (t.steps_by_day[y] >= 8000)
            and has_number(a, round(t.steps_by_day[y]))),
        Row("more5", "Did I walk today?", "metric_summary",
            lambda a, c, t: "no steps data" in a.lower()),
        Row("more6", "Which weekday has my longest workouts on average?", "workout_summary",
            lambda a, c, t: longest_weekday(t) in a),
        # multi-part, comparisons within a result, provenance, honesty about zones
        Row("multi", "Show my workouts and sleep patterns last week", "sleep_summary",
            lambda a, c, t: {"list_workouts", "sleep_summary"} <= _tools(c)
            and has_number(a, round(sleep_avg(t, "asleep_min", *last_week)), abs_=1.01)),
        Row("multi2", "Show me weight + BMI trends", "metric_trend",
            lambda a, c, t: {x["args"]["metric"] for x in c} == {"BodyMass", "BodyMassIndex"}),
        Row("which", "Show me my workouts from last week", "list_workouts",
            lambda a, c, t: has_number(a, len([w for w in t.workouts if last_week[0].isoformat()
                                               <= w["date"] <= last_week[1].isoformat()]))),
        Row("which", "Which one was more intense?", "list_workouts",
            lambda a, c, t: most_intense(t, *last_week) in a),
        Row("which", "Why did you say that?", None,
            lambda a, c, t: not c and a.startswith("I said that because")),
        Row("zones", "Which heart rate zone was I in during my last run?", "last_workout",
            lambda a, c, t: "don't include heart-rate zones" in a
            and has_number(a, round(last_of(t, "Running")["hr_avg"]))),
        Row("cmp-sleep", "Compare my sleep last week to the week before", "sleep_summary",
            lambda a, c, t: has_number(a, round(sleep_avg(t, "asleep_min", *last_week)), abs_=1.01)
            and has_number(a, round(sleep_avg(t, "asleep_min", *week_before)), abs_=1.01)),
        # goals, facts, plans (memory tools)
        Row("goals", "My goal is 10k steps a day", "set_goal",
            lambda a, c, t: "10,000" in a or "10000" in a),
        Row("goals", "What are my goals?", "list_goals",
            lambda a, c, t: "10,000" in a or "10000" in a),
        Row("goals", "Am I on track?", "goal_progress",
            lambda a, c, t: has_number(a, avg(t.steps_by_day, TODAY - timedelta(days=6), TODAY),
                                       rel=0.01)),
        Row("goals", "Delete my step goal", "delete_goal",
            lambda a, c, t: "delete" in a.lower() or "removed" in a.lower()),
        Row("facts", "How much sleep should I get?", "health_facts",
            lambda a, c, t: "Source" in a),
        Row("plan", "Suggest a plan to improve my sleep", "suggest_plan", lambda a, c, t: bool(a)),
    ]
    return rows


ALL_TOOLS = {"health_data_range", "metric_summary", "metric_series", "metric_trend",
             "compare_periods", "list_workouts", "workout_summary", "last_workout",
             "workout_details", "workout_streaks", "sleep_summary", "activity_rings",
             "set_goal", "list_goals", "delete_goal", "goal_progress", "health_facts",
             "suggest_plan"}


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def imported(redis_url, settings, tmp_path_factory):
    """A generated export imported for a fresh user; returns (user, truth, settings)."""
    from tests.healthgen import GenConfig, write_zip
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore

    path = tmp_path_factory.mktemp("qt") / "export.zip"
    truth = write_zip(path, GenConfig(seed=3, start=START, days=DAYS, scale=0.15,
                                      unit_profile="metric"))
    user = f"qt{os.getpid()}"
    s = settings.with_overrides(today=TODAY)
    store = RedisStore(redis_url)
    try:
        import_export(path, user, store, s)
    finally:
        store.close()
    return user, truth, s


@pytest.fixture(scope="module")
async def runtime(imported, redis_url):
    _, _, s = imported
    rt = await AgentRuntime.open(s, redis_url)
    yield rt
    await rt.close()


# -- tests ------------------------------------------------------------------------------
async def test_question_table(runtime, imported):
    user, truth, _ = imported
    rows = build_table()
    assert len(rows) >= 40
    failures: list[str] = []
    used: set[str] = set()
    for row in rows:
        reply = await collect_turn(runtime, user, f"table-{row.thread}", row.question)
        calls = reply["tool_calls"]
        used |= _tools(calls)
        ok = reply["error"] is None and (row.tool is None and not calls or row.tool in _tools(calls))
        try:
            ok = ok and bool(row.check(reply["answer"], calls, truth))
        except Exception as exc:  # noqa: BLE001 - a broken check counts as a wrong answer
            ok = False
            reply["answer"] += f" [check raised {type(exc).__name__}: {exc}]"
        if not ok:
            failures.append(f"{row.question!r} -> {[c['name'] for c in calls]}: "
                            f"{reply['answer'][:300]}")
    score = 1 - len(failures) / len(rows)
    print(f"\nquestion table: {len(rows) - len(failures)}/{len(rows)} right ({score:.0%})")
    for f in failures:
        print("  WRONG", f)
    assert ALL_TOOLS <= used, f"tools never exercised: {sorted(ALL_TOOLS - used)}"
    assert score >= 0.95, "\n".join(failures)


def _ask(redis_url: str, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, REDIS_URL=redis_url, WELLNESS_TODAY=TODAY.isoformat(),
               PYTHONPATH=str(REPO))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-m", "wellness.cli", "ask", *args, "--json"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_follow_ups_across_wellness_ask_processes(imported, redis_url):
    user, truth, _ = imported
    first = _ask(redis_url, ["How many steps did I take last week?", "--user", user,
                             "--thread", "cli-follow"])
    assert first["thread_id"] == "cli-follow"
    assert [c["name"] for c in first["tool_calls"]] == ["metric_summary"]
    assert has_number(first["answer"], total(truth.steps_by_day, date(2026, 11, 16),
                                             date(2026, 11, 22)))
    second = _ask(redis_url, ["and the week before?", "--user", user, "--thread", "cli-follow"])
    call = second["tool_calls"][0]
    assert (call["args"]["start"], call["args"]["end"]) == ("2026-11-09", "2026-11-15")
    assert call["result"]["summary"]
    assert has_number(second["answer"], total(truth.steps_by_day, date(2026, 11, 9),
                                              date(2026, 11, 15)))
    third = _ask(redis_url, ["When was my last run?", "--user", user, "--thread", "cli-follow"])
    assert [c["name"] for c in third["tool_calls"]] == ["last_workout"]
    fourth = _ask(redis_url, ["How long was it?", "--user", user, "--thread", "cli-follow"])
    run = max((w for w in truth.workouts if w["type"] == "Running"), key=lambda w: w["start_utc"])
    assert has_number(fourth["answer"], round(run["duration_min"]))


def test_other_user_sees_none_of_the_data(imported, redis_url):
    user, _, _ = imported
    other = f"{user}other"
    # The first user's thread (same chat id) is not visible: the follow-up has nothing to follow.
    follow = _ask(redis_url, ["and the week before?", "--user", other, "--thread", "cli-follow"])
    assert follow["tool_calls"] == []
    reply = _ask(redis_url, ["How many steps did I take last week?", "--user", other,
                             "--thread", "cli-follow"])
    result = reply["tool_calls"][0]["result"]
    assert result.get("no_data") or result.get("error")
    assert "no steps data" in reply["answer"].lower()


def test_stateless_cli_keeps_no_thread(imported, redis_url):
    user, _, _ = imported
    _ask(redis_url, ["How many steps did I take last week?", "--user", user, "--thread",
                     "cli-stateless", "--stateless"])
    follow = _ask(redis_url, ["and the week before?", "--user", user, "--thread",
                              "cli-stateless"])
    assert follow["tool_calls"] == []
