"""Query layer and health tools against a hand-built dataset in a real Redis.

Today is pinned to Wed 2024-10-16 in America/New_York. The dataset (see ``dataset``):
steps Sep 1 – Oct 16, resting HR Jul 22 – Oct 16 falling 0.1 bpm a day, weight readings,
workouts in October (one late-evening run whose UTC date is the next day), a week of sleep
with bedtimes on both sides of midnight, and a week of activity rings.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.healthdata_builder import HealthDataBuilder
from wellness.agent.tools import HEALTH_TOOL_NAMES, make_health_tools
from wellness.health.periods import DateRange, PeriodError, parse_period
from wellness.health.queries import HealthQueries

pytestmark = pytest.mark.integration

TODAY = date(2024, 10, 16)
NY = ZoneInfo("America/New_York")
STEPS = "HKQuantityTypeIdentifierStepCount"
RHR = "HKQuantityTypeIdentifierRestingHeartRate"
WEIGHT = "HKQuantityTypeIdentifierBodyMass"
HR = "HKQuantityTypeIdentifierHeartRate"
SUGAR = "HKQuantityTypeIdentifierDietarySugar"
WEEK_STEPS = [10000, 11000, 9000, 12000, 8000, 18402, 15808]  # Mon Oct 7 .. Sun Oct 13


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


def build(user: str) -> tuple[HealthDataBuilder, dict[str, str]]:
    b = HealthDataBuilder(user)
    for i in range(30):
        b.day_total(STEPS, date(2024, 9, 1) + timedelta(days=i), 5000)
    for i, v in enumerate(WEEK_STEPS):
        b.day_total(STEPS, date(2024, 10, 7) + timedelta(days=i), v)
    for d, v in ((1, 6000), (2, 6000), (14, 7000), (15, 6000), (16, 3000)):
        b.day_total(STEPS, date(2024, 10, d), v)
    start = date(2024, 7, 22)
    for i in range((TODAY - start).days + 1):
        b.readings(RHR, start + timedelta(days=i), [60 - 0.1 * i])
    b.readings(WEIGHT, date(2024, 10, 1), [72.0], "kg")
    b.readings(WEIGHT, date(2024, 10, 8), [71.5, 71.2], "kg")
    b.readings(WEIGHT, date(2024, 10, 15), [70.9], "kg")
    b.readings(HR, date(2024, 10, 15), [60, 90, 150, 72])
    b.day_total(SUGAR, date(2024, 10, 15), 42, "g")
    wids = {
        "run1": b.workout("Running", at(2024, 10, 7, 7, 0), 30, energy_kcal=300,
                          distance_km=5.0, hr_avg=150, hr_min=120, hr_max=170),
        "lift": b.workout("TraditionalStrengthTraining", at(2024, 10, 8, 18, 0), 45,
                          energy_kcal=200, hr_avg=110),
        "run2": b.workout("Running", at(2024, 10, 9, 7, 0), 40, energy_kcal=400,
                          distance_km=7.0, hr_avg=152),
        "yoga": b.workout("Yoga", at(2024, 10, 10, 19, 0), 60, energy_kcal=150),
        "late": b.workout("Running", at(2024, 10, 11, 21, 30), 50, energy_kcal=500,
                          distance_km=9.0, hr_avg=155),
        "ride": b.workout("Cycling", at(2024, 10, 14, 17, 0), 90, energy_kcal=700,
                          distance_km=40.0, hr_avg=140),
        "sept": b.workout("Running", at(2024, 9, 20, 7, 0), 35, energy_kcal=320,
                          distance_km=5.5),
    }
    # Nights Oct 10..16 (labelled by the morning they end). Bedtimes 23:00, 00:30, ...
    beds = [(9, 23, 0), (11, 0, 30), (11, 23, 30), (12, 22, 30), (14, 0, 0), (14, 23, 0),
            (15, 23, 30)]
    for i, (bd, bh, bm) in enumerate(beds):
        night = date(2024, 10, 10 + i)
        bed = at(2024, 10, bd, bh, bm)
        wake = at(2024, 10, 10 + i, 6, 30)
        total = (wake - bed).total_seconds() / 60
        b.night(night, bed, wake, core=total * 0.5, deep=total * 0.15, rem=total * 0.2,
                awake=total * 0.15)
    goals = [(550, 500, 35, 30, 12, 12), (450, 500, 20, 30, 10, 12), (600, 500, 45, 30, 13, 12),
             (510, 500, 31, 30, 12, 12), (300, 500, 10, 30, 8, 12), (520, 500, 25, 30, 12, 12),
             (505, 500, 40, 30, 11, 12)]
    for i, g in enumerate(goals):
        b.rings(date(2024, 10, 10 + i), *g)
    return b, wids


@pytest.fixture()
def data(store, user_id):  # noqa: ANN001
    b, wids = build(user_id)
    b.write(store)
    return wids


@pytest.fixture()
def hq(store, user_id):  # noqa: ANN001
    return HealthQueries(store, user_id, today=TODAY, tz=NY)


def rng(phrase: str) -> DateRange:
    return parse_period(phrase, TODAY)


# ------------------------------------------------------------------------ metrics
async def test_steps_week_summary(hq, data):
    r = await hq.metric_summary("steps", rng("2024-10-07 to 2024-10-13"))
    assert r["total"] == 84210 and r["avg_per_day"] == 12030
    assert r["best_day"] == {"date": "2024-10-12", "value": 18402}
    assert r["unit"] == "count" and r["kind"] == "cumulative"
    assert r["summary"] == ("You walked 84,210 steps from Mon Oct 7 to Sun Oct 13 (12,030 a day "
                            "on average; best day Sat Oct 12 with 18,402).")


async def test_steps_stats(hq, data):
    week = rng("last week")
    assert (await hq.metric_summary("steps", week, "max"))["value"] == 18402
    assert (await hq.metric_summary("steps", week, "min"))["value"] == 8000
    assert (await hq.metric_summary("step count", week, "count"))["value"] == 7
    assert (await hq.metric_summary("Steps", week, "last"))["value"] == 15808
    avg = await hq.metric_summary("steps", week, "average")
    assert avg["value"] == 12030 and "averaged 12,030 steps a day" in avg["summary"]
    one = await hq.metric_summary("steps", rng("yesterday"))
    assert one["summary"] == "You walked 6,000 steps on Tue Oct 15."


async def test_discrete_summary(hq, data):
    r = await hq.metric_summary("rhr", rng("last week"))
    # Oct 7 is day 77 after Jul 22: 60 - 7.7 = 52.3 ... Oct 13: 51.7
    assert r["min"] == pytest.approx(51.7) and r["max"] == pytest.approx(52.3)
    assert r["avg"] == pytest.approx(52.0) and r["readings"] == 7
    assert r["last"] == {"date": "2024-10-13", "value": pytest.approx(51.7)}
    assert r["display_unit"] == "bpm" and "bpm" in r["summary"]
    w = await hq.metric_summary("weight", rng("this month"))
    assert w["readings"] == 4 and w["min"] == 70.9 and w["max"] == 72.0
    assert w["last"]["value"] == 70.9
    assert w["avg"] == pytest.approx((72.0 + 71.5 + 71.2 + 70.9) / 4, abs=0.05)
    latest = await hq.metric_summary("body weight", rng("this month"), "last")
    assert latest["value"] == 70.9 and "70.9 kg on Tue Oct 15" in latest["summary"]
    hr = await hq.metric_summary("heart rate", rng("yesterday"), "max")
    assert hr["value"] == 150 and "150 bpm" in hr["summary"]


async def test_resolver_fuzzy_and_unknown(hq, data):
    sugar = await hq.metric_summary("sugar", rng("yesterday"))
    assert sugar["total"] == 42 and sugar["type"] == "DietarySugar"
    typo = await hq.metric_summary("stpes", rng("yesterday"))
    assert typo["total"] == 6000
    from wellness.health.metrics import MetricError
    with pytest.raises(MetricError) as exc:
        await hq.metric_summary("blorbs", rng("yesterday"))
    assert "steps" in exc.value.message


async def test_no_data_message(hq, data):
    r = await hq.metric_summary("steps", parse_period("2024-03", TODAY))
    assert r["no_data"] is True and "total" not in r
    assert r["summary"] == ("No steps data between Fri Mar 1 and Sun Mar 31; your data "
                            "covers Sun Sep 1 – Wed Oct 16.")
    vo2 = await hq.metric_summary("vo2 max", rng("last week"))
    assert vo2["no_data"] and "you have no VO2 max data imported" in vo2["summary"]


async def test_all_time_is_narrowed_to_coverage(hq, data):
    r = await hq.metric_summary("steps", rng("all time"))
    assert r["range"]["start"] == "2024-09-01" and r["range"]["label"] == "all time"
    assert r["total"] == 30 * 5000 + sum(WEEK_STEPS) + 6000 + 6000 + 7000 + 6000 + 3000


async def test_series_and_downsampling(hq, data):
    r = await hq.metric_series("steps", rng("last week"))
    assert [p["value"] for p in r["points"]] == WEEK_STEPS
    assert r["chart"]["kind"] == "bar" and len(r["chart"]["x"]) == 7
    w = await hq.metric_series("steps", DateRange(date(2024, 9, 2), date(2024, 10, 13)), "week")
    assert w["points"][-1] == {"start": "2024-10-07", "value": 84210, "avg_per_day": 12030,
                               "days": 7}
    # a long nominal range with 87 days of data stays daily (buckets sized by the data)
    big = await hq.metric_series("rhr", DateRange(date(2020, 1, 1), TODAY), "day")
    assert big["bucket"] == "day" and not big.get("downsampled")
    assert len(big["points"]) == 87 and len(big["chart"]["x"]) == 87
    assert big["chart"]["kind"] == "line"


async def test_trend(hq, data):
    r = await hq.metric_trend("resting heart rate", rng("the last 12 weeks"))
    assert r["direction"] == "falling"
    assert r["slope_per_bucket"] == pytest.approx(-0.7, abs=0.02)
    assert "fell by about 0.69 bpm per week" in r["summary"]
    assert len(r["moving_average_7d"]) <= 400 and r["chart"]["kind"] == "line"
    flat = await hq.metric_trend("steps", rng("september"), "week")
    assert flat["direction"] == "flat"
    one = await hq.metric_trend("weight", rng("yesterday"))
    assert one["direction"] == "unknown"


async def test_compare_periods(hq, data):
    r = await hq.compare_periods("steps", rng("last week"), parse_period("week before last",
                                                                          TODAY))
    # week before last = Sep 30 .. Oct 6: 5000 + 6000 + 6000 (Oct 3..6 missing)
    assert r["avg_per_day"]["a"] == 12030
    assert r["avg_per_day"]["b"] == pytest.approx(17000 / 3, abs=1)
    assert r["avg_per_day"]["change_pct"] == pytest.approx((12030 - 17000 / 3) / (17000 / 3)
                                                           * 100, abs=0.1)
    w = await hq.compare_periods("workouts", rng("october"), rng("september"))
    assert w["count"] == {"a": 6, "b": 1, "change": 5, "change_pct": 500.0}
    assert w["minutes"]["a"] == 315 and w["energy_kcal"]["a"] == 2250
    assert "+5 workouts" in w["summary"]
    sl = await hq.compare_periods("sleep", DateRange(date(2024, 10, 14), TODAY),
                                  DateRange(date(2024, 10, 10), date(2024, 10, 13)))
    assert sl["asleep_min"]["a"] == pytest.approx((390 + 450 + 420) * 0.85 / 3, abs=0.2)
    assert sl["summary"].startswith("You slept ") and "bedtime" in sl["summary"]
    none = await hq.compare_periods("sleep", rng("last month"), rng("august"))
    assert none["no_data"] and "No sleep data" in none["summary"]
    rhr = await hq.compare_periods("rhr", rng("last week"), rng("2 weeks ago"))
    assert rhr["avg"]["change"] == pytest.approx(-0.7, abs=0.01)


# ------------------------------------------------------------------------ workouts
async def test_list_workouts_local_dates(hq, data):
    r = await hq.list_workouts(rng("last week"))
    assert r["count"] == 5
    late = [w for w in r["workouts"] if w["id"] == data["late"]][0]
    assert late["date"] == "2024-10-11" and late["weekday"] == "Friday"
    friday = await hq.list_workouts(rng("last friday"))
    assert friday["count"] == 1 and friday["workouts"][0]["type"] == "Running"
    longest = await hq.list_workouts(rng("october"), sort="longest", limit=2)
    assert [w["type"] for w in longest["workouts"]] == ["Cycling", "Yoga"]
    runs = await hq.list_workouts(rng("october"), workout_type="run")
    assert runs["count"] == 3
    strength = await hq.list_workouts(rng("october"), workout_type="strength")
    assert strength["count"] == 1
    none = await hq.list_workouts(rng("august"))
    assert none["no_data"] and "workout data between" in none["summary"]


async def test_workout_summary_groupings(hq, data):
    r = await hq.workout_summary(rng("october"))
    assert r["count"] == 6 and r["by_type"]["Running"] == 3
    assert r["most_common_type"] == {"type": "Running", "count": 3, "share_pct": 50.0}
    assert "3 Running" in r["summary"] and "Most common: Running (3, 50%)" in r["summary"]
    wd = await hq.workout_summary(rng("october"), group_by="weekday")
    assert [g["group"] for g in wd["groups"]] == ["Monday", "Tuesday", "Wednesday",
                                                  "Thursday", "Friday"]
    assert wd["groups"][0]["count"] == 2  # Oct 7 run + Oct 14 ride
    hr = await hq.workout_summary(rng("october"), group_by="hour")
    assert {g["group"]: g["count"] for g in hr["groups"]}["07:00"] == 2
    assert hr["chart"]["kind"] == "bar"


async def test_last_workout_and_details(hq, data):
    r = await hq.last_workout()
    assert r["workout"]["id"] == data["ride"] and r["days_ago"] == 2
    run = await hq.last_workout("running")
    assert run["workout"]["id"] == data["late"]
    assert "Your last running workout was Running on Fri Oct 11 at 9:30 PM" in run["summary"]
    d = await hq.workout_details(data["run1"])
    w = d["workout"]
    assert w["hr_avg"] == 150 and w["hr_min"] == 120 and w["hr_max"] == 170
    assert w["energy_kcal"] == 300 and w["distance_km"] == 5.0 and w["pace_min_per_km"] == 6.0
    assert "pace 6:00 min/km" in d["summary"]
    bad = await hq.workout_details("../../etc")
    assert "error" in bad
    missing = await hq.workout_details("0123456789abcdef")
    assert missing.get("no_data")
    none = await hq.last_workout("swimming")
    assert none["no_data"]


async def test_streaks(hq, data):
    r = await hq.workout_streaks(rng("all time"))
    assert r["longest_daily_streak"] == {"start": "2024-10-07", "end": "2024-10-11",
                                         "length": 5}
    assert r["current_daily_streak"] is None  # last workout Oct 14, today Oct 16
    assert r["longest_weekly_streak"]["length"] == 2  # weeks of Oct 7 and Oct 14
    assert r["current_weekly_streak"]["length"] == 2


# ------------------------------------------------------------------------ sleep & rings
async def test_sleep(hq, data):
    r = await hq.sleep_summary(rng("last night"))
    assert r["nights_count"] == 1 and r["nights"][0]["date"] == "2024-10-16"
    assert r["summary"].startswith("The night ending Wed Oct 16: you slept 5 h 57 min (core 3 h 30 min")
    assert "11:30 PM to 6:30 AM" in r["summary"]
    week = await hq.sleep_summary(DateRange(date(2024, 10, 10), TODAY))
    assert week["nights_count"] == 7
    # bedtimes 23:00, 00:30, 23:30, 22:30, 00:00, 23:00, 23:30 → mean 23:25.7 (not noon)
    assert week["avg_bedtime"] == "11:26 PM" and week["avg_wake_time"] == "6:30 AM"
    assert week["avg_stages_min"]["deep"] > 0 and week["avg_efficiency"] == pytest.approx(85)
    assert week["chart"]["kind"] == "bar"
    none = await hq.sleep_summary(rng("last month"))
    assert none["no_data"] and "No sleep data between" in none["summary"]


async def test_rings(hq, data):
    r = await hq.activity_rings(DateRange(date(2024, 10, 10), TODAY))
    assert r["closed"] == {"move": 5, "exercise": 4, "stand": 4}
    assert r["all_closed_days"] == 3
    today = await hq.activity_rings(rng("today"))
    assert today["days_count"] == 1 and "closed 2 of 3 rings" in today["summary"]


async def test_data_range(hq, data):
    r = await hq.data_range()
    assert r["start"] == "2024-07-22" and r["end"] == "2024-10-16"
    assert r["workouts"]["count"] == 7 and r["sleep"]["count"] == 7
    assert any(m["metric"] == "steps" for m in r["metrics"])


# ------------------------------------------------------------------------ isolation
async def test_other_user_sees_nothing(store, data):
    other = HealthQueries(store, "someone-else-0001", today=TODAY, tz=NY)
    r = await other.metric_summary("steps", rng("last week"))
    assert r["no_data"] and "you have no steps data imported" in r["summary"]
    assert (await other.list_workouts(rng("october")))["no_data"]
    assert (await other.last_workout())["no_data"]
    assert (await other.sleep_summary(rng("last week")))["no_data"]
    assert (await other.data_range())["no_data"]
    # a workout id from another user is just "not found"
    assert (await other.workout_details(data["run1"]))["no_data"]
    assert (await other.workout_streaks(rng("all time")))["no_data"]
    assert (await other.activity_rings(rng("last week")))["no_data"]
    assert (await other.compare_periods("workouts", rng("october"), rng("september")))[
        "no_data"]


def test_missing_user_fails_closed(store):
    for bad in (None, "", "a:b", "x" * 200):
        with pytest.raises(ValueError):
            HealthQueries(store, bad, today=TODAY)


# ------------------------------------------------------------------------ tools
@pytest.fixture()
def tools(store, settings):  # noqa: ANN001
    s = settings.with_overrides(today=TODAY, tz_name="America/New_York")
    return {t.name: t for t in make_health_tools(store, s)}


async def call(tools, name, user, **args):  # noqa: ANN001
    cfg = {"configurable": {"user_id": user}} if user else {}
    out = await tools[name].ainvoke(args, config=cfg)
    return json.loads(out)


async def test_tool_catalogue(tools):
    assert tuple(tools) == HEALTH_TOOL_NAMES
    for t in tools.values():
        schema = t.tool_call_schema.model_json_schema()
        assert "config" not in schema.get("properties", {})
        assert len(t.description) > 80


async def test_tools_answer(tools, user_id, data):
    r = await call(tools, "metric_summary", user_id, metric="steps", start="2024-10-07",
                   end="2024-10-13")
    assert r["total"] == 84210 and r["summary"].startswith("You walked 84,210 steps")
    r = await call(tools, "metric_summary", user_id, metric="steps", period="last week",
                   stat="max")
    assert r["value"] == 18402 and r["range"]["label"] == "last week"
    r = await call(tools, "metric_summary", user_id, metric="steps")
    assert r["range"]["label"] == "the last 7 days" and r["range"]["start"] == "2024-10-10"
    r = await call(tools, "metric_summary", user_id, metric="weight", stat="last")
    assert r["value"] == 70.9 and r["range"]["label"] == "all time"
    r = await call(tools, "metric_series", user_id, metric="steps", period="last week")
    assert len(r["points"]) == 7
    r = await call(tools, "metric_trend", user_id, metric="rhr")
    assert r["direction"] == "falling"
    r = await call(tools, "compare_periods", user_id, metric="workouts", period_a="this month")
    assert r["period_b"]["label"] == "last month" and r["count"]["b"] == 1
    r = await call(tools, "compare_periods", user_id, metric="steps", period_a="last week")
    assert r["period_b"]["start"] == "2024-09-30"
    r = await call(tools, "list_workouts", user_id, period="october", workout_type="cycling")
    assert r["count"] == 1
    r = await call(tools, "workout_summary", user_id, period="october", group_by="weekday")
    assert r["most_common_weekday"]["weekday"] == "Monday"
    r = await call(tools, "last_workout", user_id)
    wid = r["workout"]["id"]
    r = await call(tools, "workout_details", user_id, workout_id=wid)
    assert r["workout"]["type"] == "Cycling"
    r = await call(tools, "workout_streaks", user_id)
    assert r["longest_daily_streak"]["length"] == 5
    r = await call(tools, "sleep_summary", user_id, period="last night")
    assert r["nights_count"] == 1
    r = await call(tools, "activity_rings", user_id, period="today")
    assert r["days_count"] == 1
    r = await call(tools, "health_data_range", user_id)
    assert r["end"] == "2024-10-16"


async def test_tool_errors(tools, user_id, data):
    r = await call(tools, "metric_summary", None, metric="steps")
    assert "error" in r and "user" in r["error"]
    r = await call(tools, "metric_summary", "intruder-01", metric="steps", period="last week")
    assert r["no_data"] and "total" not in r  # another user id sees none of this data
    r = await call(tools, "last_workout", "bad:id")
    assert "error" in r
    r = await call(tools, "metric_summary", user_id, metric="steps", period="next week")
    assert "in the future" in r["error"]
    r = await call(tools, "metric_summary", user_id, metric="steps", period="blah blah")
    assert "couldn't understand" in r["error"]
    r = await call(tools, "metric_summary", user_id, metric="zorbs")
    assert "don't know a metric" in r["error"] and "steps" in r["available_metrics"]
    r = await call(tools, "metric_summary", user_id, metric="steps", start="2024-13-01")
    assert "error" in r
    # today can be pinned per call through the config
    out = await tools["metric_summary"].ainvoke(
        {"metric": "steps", "period": "today"},
        config={"configurable": {"user_id": user_id, "today": "2024-10-12"}})
    assert json.loads(out)["total"] == 18402


async def test_period_error_is_not_an_exception(tools, user_id):
    with pytest.raises(PeriodError):
        parse_period("gibberish", TODAY)
    r = await call(tools, "sleep_summary", user_id, period="gibberish")
    assert "error" in r


# ------------------------------------------------------------------------ real importer
@pytest.fixture(scope="module")
def imported_export(redis_url, settings, tmp_path_factory):  # noqa: ANN001, ANN201
    """A small generated export imported by the real importer; returns (user, truth, today)."""
    from tests.healthgen import GenConfig, write_zip
    from wellness.healthkit import import_export
    from wellness.store.connection import RedisStore

    path = tmp_path_factory.mktemp("qgen") / "export.zip"
    truth = write_zip(path, GenConfig(seed=11, start=date(2024, 3, 1), days=28, scale=0.12,
                                      unit_profile="metric"))
    user = "qimport0001"
    today = date.fromisoformat(truth.date_range["end"][:10])
    s = RedisStore(redis_url)
    try:
        import_export(path, user, s, settings.with_overrides(today=today))
    finally:
        s.close()
    return user, truth, today


async def test_imported_export_matches_ground_truth(store, imported_export):
    user, truth, today = imported_export
    hq = HealthQueries(store, user, today=today, tz=ZoneInfo(truth.config["home_tz"]))
    days = sorted(truth.steps_by_day)
    week = DateRange(date.fromisoformat(days[7]), date.fromisoformat(days[13]))
    steps = await hq.metric_summary("steps", week)
    expected = sum(v for d, v in truth.steps_by_day.items() if week.contains(date.fromisoformat(d)))
    assert steps["total"] == pytest.approx(expected, abs=1)

    rhr_days = {d: v for d, v in truth.metric_daily.get(
        "HKQuantityTypeIdentifierRestingHeartRate", {}).items()}
    if rhr_days:
        all_rng = DateRange(date.fromisoformat(min(rhr_days)), date.fromisoformat(max(rhr_days)))
        rhr = await hq.metric_summary("resting heart rate", all_rng)
        n = sum(v["n"] for v in rhr_days.values())
        assert rhr["readings"] == n
        assert rhr["avg"] == pytest.approx(sum(v["s"] for v in rhr_days.values()) / n, abs=0.1)

    everything = parse_period("all time", today)
    ws = await hq.workout_summary(everything)
    assert ws["count"] == len(truth.workouts)
    from wellness.health.workouts import type_label
    assert ws["by_type"] == {type_label(t): n for t, n in truth.workouts_by_type.items()}
    wd = await hq.workout_summary(everything, group_by="weekday")
    assert {g["group"]: g["count"] for g in wd["groups"]} == truth.workouts_by_weekday
    assert wd["weekday_counts_from"] == "workout:days"  # the seed's HINCRBY index, O(1)
    last = await hq.last_workout()
    newest = max(truth.workouts, key=lambda w: w["start_utc"])
    assert last["workout"]["date"] == newest["date"]

    nights = truth.sleep_by_night
    sl = await hq.sleep_summary(DateRange(date.fromisoformat(min(nights)),
                                          date.fromisoformat(max(nights))))
    assert sl["nights_count"] == len(nights)
    avg = sum(n["asleep_min"] for n in nights.values()) / len(nights)
    assert sl["avg_asleep_min"] == pytest.approx(avg, abs=0.2)

    act = truth.activity_by_day
    rings = await hq.activity_rings(DateRange(date.fromisoformat(min(act)),
                                              date.fromisoformat(max(act))))
    closed_move = sum(1 for a in act.values() if a["move_kcal"] >= a["move_goal_kcal"] > 0)
    assert rings["closed"]["move"] == closed_move
    rng_info = await hq.data_range()
    assert rng_info["metrics"] and not rng_info.get("no_data")


async def test_long_ranges_are_compact(store, user_id):
    """A year of nights, rings and daily steps: lists capped, charts weekly, ≤ 400 points."""
    b = HealthDataBuilder(user_id)
    start = date(2023, 8, 20)
    for i in range(424):
        d = start + timedelta(days=i)
        b.night(d, datetime(d.year, d.month, d.day, 0, 0, tzinfo=NY) - timedelta(hours=1),
                datetime(d.year, d.month, d.day, 7, 0, tzinfo=NY), core=300, deep=60, rem=60)
        b.rings(d, 500 + i % 7, 500, 30, 30, 12, 12)
        b.day_total(STEPS, d, 8000 + i)
    b.write(store)
    hq = HealthQueries(store, user_id, today=TODAY, tz=NY)
    year = DateRange(start, TODAY)
    sl = await hq.sleep_summary(year)
    assert sl["nights_count"] == 424 and len(sl["nights"]) == 31 and "nights_note" in sl
    assert "weekly average" in sl["chart"]["title"] and len(sl["chart"]["x"]) <= 64
    assert sl["avg_bedtime"] == "11:00 PM" and sl["avg_asleep_min"] == 420
    rings = await hq.activity_rings(year)
    assert len(rings["days"]) == 31 and len(rings["chart"]["x"]) <= 64
    series = await hq.metric_series("steps", DateRange(date(2010, 1, 1), TODAY), "day")
    assert series["bucket"] == "week" and series["downsampled"]
    assert len(series["points"]) <= 400 and len(series["chart"]["x"]) <= 400
    for res in (sl, rings, series):
        assert len(json.dumps(res)) < 20000


@pytest.mark.parametrize(("name", "expected"), [
    ("steps", "StepCount"), ("Step count", "StepCount"), ("rhr", "RestingHeartRate"),
    ("resting heart rate", "RestingHeartRate"), ("heart rate", "HeartRate"),
    ("HR", "HeartRate"), ("weight", "BodyMass"), ("calories", "ActiveEnergyBurned"),
    ("active energy", "ActiveEnergyBurned"), ("vo2", "VO2Max"), ("VO2 max", "VO2Max"),
    ("hrv", "HeartRateVariabilitySDNN"), ("bmi", "BodyMassIndex"),
    ("body fat", "BodyFatPercentage"), ("spo2", "OxygenSaturation"),
    ("blood oxygen", "OxygenSaturation"), ("respiratory rate", "RespiratoryRate"),
    ("flights", "FlightsClimbed"), ("distance", "DistanceWalkingRunning"),
    ("exercise minutes", "AppleExerciseTime"), ("my daily steps", "StepCount"),
    ("HKQuantityTypeIdentifierStepCount", "StepCount"), ("stpes", "StepCount"),
    ("dietary sugar", "DietarySugar"), ("time in daylight", "TimeInDaylight"),
])
def test_resolver(name: str, expected: str) -> None:
    from wellness.health.metrics import resolve_metric
    have = {STEPS, RHR, "HKQuantityTypeIdentifierDietarySugar",
            "HKQuantityTypeIdentifierTimeInDaylight"}
    info = resolve_metric(name, have)
    assert info.type == expected
    if expected == "StepCount":
        assert info.key == STEPS  # the stored (full) identifier is used for keys


@pytest.mark.parametrize(("name", "hint"), [("sleep", "sleep_summary"),
                                            ("workouts", "workout_summary"),
                                            ("move ring", "activity_rings"),
                                            ("blorbs", "Your data has")])
def test_resolver_refusals(name: str, hint: str) -> None:
    from wellness.health.metrics import MetricError, resolve_metric
    with pytest.raises(MetricError, match=hint):
        resolve_metric(name, {STEPS})


async def test_tool_args_tolerate_null_strings(tools, user_id, data):
    r = await call(tools, "metric_summary", user_id, metric="steps", start="null", end="",
                   period="last week", stat="")
    assert r["total"] == 84210


async def test_all_time_no_data_wording(hq, data):
    r = await hq.metric_summary("vo2 max", rng("all time"))
    assert r["summary"] == "No VO2 max data at all; you have no VO2 max data imported."
    w = await hq.list_workouts(rng("all time"), workout_type="swimming")
    assert w["summary"] == ("No swimming workout data at all; your data covers "
                            "Fri Sep 20 – Mon Oct 14.")


async def test_pipeline_fallback_gives_the_same_answers(hq, data, monkeypatch):
    """Servers without scripting get the same numbers through plain pipelines."""
    from wellness.health import base, daily

    async def run_all() -> list[dict]:
        return [await hq.metric_summary("steps", rng("october")),
                await hq.metric_series("rhr", rng("last 30 days")),
                await hq.workout_summary(rng("all time"), group_by="weekday"),
                await hq.last_workout("yoga"), await hq.workout_streaks(rng("all time")),
                await hq.sleep_summary(rng("last 7 days")),
                await hq.activity_rings(rng("last 7 days")), await hq.data_range()]

    with_lua = await run_all()
    monkeypatch.setattr(base, "_scripting_ok", {"fetch": False, "spans": False})
    monkeypatch.setattr(daily, "_lua_ok", [False])
    assert await run_all() == with_lua


async def test_store_outage_propagates(settings):
    from wellness.store.connection import RedisStore
    from wellness.store.errors import StoreUnavailable

    from wellness.store.embedded import free_port
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}")
    tools = {t.name: t for t in make_health_tools(dead, settings)}
    with pytest.raises(StoreUnavailable):
        await tools["metric_summary"].ainvoke({"metric": "steps"},
                                              config={"configurable": {"user_id": "u1"}})
    await dead.aclose()


async def test_category_types_and_single_readings(store, user_id):
    hand = "HKCategoryTypeIdentifierHandwashingEvent"
    mind = "HKCategoryTypeIdentifierMindfulSession"
    b = HealthDataBuilder(user_id)
    for i, n in enumerate([3, 5, 2]):
        d = date(2024, 10, 7 + i)
        b.readings(hand, d, [0.4] * n, "min")
    b.day_total(mind, date(2024, 10, 8), 10, "min")
    b.readings(WEIGHT, date(2024, 10, 9), [70.2], "kg")
    b.write(store)
    hq = HealthQueries(store, user_id, today=TODAY, tz=NY)
    r = await hq.metric_summary("handwashing", rng("last week"))
    assert r["kind"] == "events" and r["count"] == 10 and r["busiest_day"]["count"] == 5
    assert r["summary"].startswith("You have 10 handwashing event entries")
    s = await hq.metric_series("handwashing", rng("last week"))
    assert [p["value"] for p in s["points"]] == [3, 5, 2]
    m = await hq.metric_summary("meditation", rng("last week"))
    assert m["total"] == 10 and "10 min of mindfulness" in m["summary"]
    w = await hq.metric_summary("weight", rng("last week"))
    assert w["summary"] == ("Your weight was 70.2 kg on Wed Oct 9 (the only reading from "
                            "Mon Oct 7 to Sun Oct 13).")


async def test_chart_payloads(hq, data):
    """Every chart follows docs/architecture.md: kind, title, x, series {name: [..]}, y_label."""
    results = [await hq.metric_series("steps", rng("last 30 days")),
               await hq.metric_series("rhr", rng("last 30 days")),
               await hq.metric_trend("rhr", rng("the last 12 weeks")),
               await hq.compare_periods("steps", rng("last week"), rng("2 weeks ago")),
               await hq.workout_summary(rng("october"), group_by="week"),
               await hq.sleep_summary(rng("last 7 days")),
               await hq.activity_rings(rng("last 7 days"))]
    for res in results:
        c = res["chart"]
        assert set(c) == {"kind", "title", "x", "series", "y_label"}
        assert c["kind"] in ("line", "bar") and c["title"] and c["y_label"]
        assert 0 < len(c["x"]) <= 400
        for name, ys in c["series"].items():
            assert isinstance(name, str) and len(ys) == len(c["x"])
            assert all(y is None or isinstance(y, (int, float)) for y in ys)
        json.dumps(res, allow_nan=False)  # strict JSON


async def test_long_range_cache_follows_each_import(store, user_id, hq):  # noqa: ANN001
    """Year-long answers come from a per-import cache: a new import must show at once."""
    everything = rng("this year")
    b, _ = build(user_id)
    b.write(store)
    first = await hq.workout_summary(everything)
    steps_first = await hq.metric_summary("steps", everything, "sum")
    assert first["count"] == 7
    b.workout("Swimming", at(2024, 10, 15, 8, 0), 30, energy_kcal=250)
    b.day_total(STEPS, date(2024, 10, 15), 16000)
    b.write(store)  # a new data version, like a committed import
    second = await hq.workout_summary(everything)
    assert second["count"] == 8
    steps_second = await hq.metric_summary("steps", everything, "sum")
    assert steps_second["total"] == steps_first["total"] + 10000
