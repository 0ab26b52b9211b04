"""Query-layer benchmark: five years of hand-built data, p50/p95 per query and tool.

Usage: ``python bench/query_bench.py [--runs 40] [--redis-url redis://...]``
(without ``--redis-url`` an embedded server is started in a temp dir and stopped after).
Target: p95 ≤ 10 ms per query on a laptop-class machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.healthdata_builder import HealthDataBuilder  # noqa: E402
from wellness.agent.tools import make_health_tools  # noqa: E402
from wellness.config import Settings  # noqa: E402
from wellness.health.periods import parse_period  # noqa: E402
from wellness.health.queries import HealthQueries  # noqa: E402
from wellness.store.connection import RedisStore  # noqa: E402

TODAY = date(2024, 12, 31)
TZ = ZoneInfo("Europe/Berlin")
HK = "HKQuantityTypeIdentifier"
TYPES = ["Running", "Walking", "Cycling", "TraditionalStrengthTraining", "Yoga",
         "HighIntensityIntervalTraining", "Swimming"]


def build(user: str, years: int = 5) -> tuple[HealthDataBuilder, str]:
    rnd = random.Random(7)
    b = HealthDataBuilder(user)
    start = TODAY - timedelta(days=365 * years)
    wid = ""
    for i in range((TODAY - start).days + 1):
        d = start + timedelta(days=i)
        b.day_total(f"{HK}StepCount", d, rnd.randint(3000, 18000), n=rnd.randint(40, 200))
        b.day_total(f"{HK}DistanceWalkingRunning", d, rnd.uniform(2, 14), "km", n=100)
        b.day_total(f"{HK}ActiveEnergyBurned", d, rnd.uniform(200, 900), "kcal", n=300)
        b.day_total(f"{HK}BasalEnergyBurned", d, rnd.uniform(1500, 1800), "kcal", n=300)
        b.day_total(f"{HK}FlightsClimbed", d, rnd.randint(0, 30), n=10)
        b.day_total(f"{HK}AppleExerciseTime", d, rnd.randint(0, 90), "min", n=50)
        b.readings(f"{HK}HeartRate", d, [rnd.uniform(55, 160) for _ in range(60)])
        b.readings(f"{HK}RestingHeartRate", d, [rnd.uniform(50, 62)])
        b.readings(f"{HK}HeartRateVariabilitySDNN", d, [rnd.uniform(30, 90) for _ in range(5)],
                   "ms")
        b.readings(f"{HK}OxygenSaturation", d, [rnd.uniform(94, 99) for _ in range(8)], "%")
        if i % 3 == 0:
            b.readings(f"{HK}BodyMass", d, [rnd.uniform(70, 75)], "kg")
        if i % 7 == 0:
            b.readings(f"{HK}VO2Max", d, [rnd.uniform(40, 48)], "mL/min·kg")
        if rnd.random() < 0.8:
            t = datetime(d.year, d.month, d.day, rnd.choice([6, 7, 12, 17, 18, 19]), 0,
                         tzinfo=TZ)
            wid = b.workout(rnd.choice(TYPES[:-1]), t, rnd.uniform(20, 90),
                            energy_kcal=rnd.uniform(150, 800), distance_km=rnd.uniform(0, 20),
                            hr_avg=rnd.uniform(100, 160), hr_min=90, hr_max=180)
        bed = datetime(d.year, d.month, d.day, 23, rnd.randint(0, 59), tzinfo=TZ) - \
            timedelta(days=1)
        wake = datetime(d.year, d.month, d.day, 6, rnd.randint(0, 59), tzinfo=TZ)
        total = (wake - bed).total_seconds() / 60
        b.night(d, bed, wake, core=total * 0.5, deep=total * 0.15, rem=total * 0.2,
                awake=total * 0.1)
        b.rings(d, rnd.uniform(200, 900), 500, rnd.uniform(0, 90), 30, rnd.randint(6, 14), 12)
    return b, wid


async def bench(url: str, runs: int) -> None:
    store = RedisStore(url)
    user = "bench-user"
    t0 = time.perf_counter()
    b, wid = build(user)
    with store.connection() as r:
        for pattern in [f"user:{user}:*"]:
            keys = list(r.scan_iter(pattern, count=5000))
            for i in range(0, len(keys), 5000):
                r.delete(*keys[i:i + 5000])
    b.write(store)
    print(f"built and wrote 5 years ({len(b.workouts)} workouts, {len(b.nights)} nights) "
          f"in {time.perf_counter() - t0:.1f} s")
    hq = HealthQueries(store, user, today=TODAY, tz=TZ)

    def p(phrase: str) -> Any:
        return parse_period(phrase, TODAY)

    settings = Settings(today=TODAY, tz_name="Europe/Berlin")
    tools = {t.name: t for t in make_health_tools(store, settings)}
    cfg = {"configurable": {"user_id": user}}

    def tool(name: str, **args: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: tools[name].ainvoke(args, config=cfg)

    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("data_range", lambda: hq.data_range()),
        ("metric_summary steps last week", lambda: hq.metric_summary("steps", p("last week"))),
        ("metric_summary steps this year", lambda: hq.metric_summary("steps", p("this year"))),
        ("metric_summary hr all time", lambda: hq.metric_summary("heart rate", p("all time"))),
        ("metric_series steps 30 days", lambda: hq.metric_series("steps", p("last 30 days"))),
        ("metric_series rhr 5y (day→week)",
         lambda: hq.metric_series("rhr", p("all time"), "day")),
        ("metric_trend weight 12 weeks", lambda: hq.metric_trend("weight", p("last 12 weeks"))),
        ("metric_trend steps 5y month",
         lambda: hq.metric_trend("steps", p("all time"), "month")),
        ("compare steps month", lambda: hq.compare_periods("steps", p("this month"),
                                                           p("last month"))),
        ("compare workouts year", lambda: hq.compare_periods("workouts", p("this year"),
                                                             p("last year"))),
        ("list_workouts 30 days", lambda: hq.list_workouts(p("last 30 days"))),
        ("list_workouts all time longest",
         lambda: hq.list_workouts(p("all time"), sort="longest")),
        ("workout_summary year by type", lambda: hq.workout_summary(p("this year"))),
        ("workout_summary all by weekday",
         lambda: hq.workout_summary(p("all time"), group_by="weekday")),
        ("last_workout", lambda: hq.last_workout()),
        ("last_workout swimming (none)", lambda: hq.last_workout("swimming")),
        ("workout_details", lambda: hq.workout_details(wid)),
        ("workout_streaks all time", lambda: hq.workout_streaks(p("all time"))),
        ("sleep last night", lambda: hq.sleep_summary(p("last night"))),
        ("sleep 30 days", lambda: hq.sleep_summary(p("last 30 days"))),
        ("sleep year", lambda: hq.sleep_summary(p("this year"))),
        ("activity_rings week", lambda: hq.activity_rings(p("last week"))),
        ("activity_rings year", lambda: hq.activity_rings(p("this year"))),
        ("tool metric_summary", tool("metric_summary", metric="steps", period="last week")),
        ("tool workout_summary", tool("workout_summary", period="this month")),
        ("tool sleep_summary", tool("sleep_summary", period="last night")),
        ("tool compare_periods", tool("compare_periods", metric="workouts",
                                      period_a="this month")),
    ]
    import os

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(wall times include waiting for a busy CPU; cpu = this process only)")
    print(f"{'query':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8} {'bytes':>7}")
    worst = 0.0
    for name, fn in cases:
        out = await fn()  # warm-up
        size = len(out) if isinstance(out, str) else len(json.dumps(out))
        times = []
        cpu = []
        for _ in range(runs):
            t = time.perf_counter()
            c = time.process_time()
            await fn()
            cpu.append((time.process_time() - c) * 1000)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p50 = statistics.median(times)
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        worst = max(worst, p95)
        flag = "  <-- over 10 ms" if p95 > 10 else ""
        print(f"{name:40} {p50:8.2f} {p95:8.2f} {times[-1]:8.2f} "
              f"{statistics.median(cpu):8.2f} {size:7d}{flag}")
    print(f"worst p95: {worst:.2f} ms")
    with store.connection() as r:
        keys = list(r.scan_iter(f"user:{user}:*", count=5000))
        for i in range(0, len(keys), 5000):
            r.delete(*keys[i:i + 5000])
    await store.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--redis-url", default=None)
    args = ap.parse_args()
    if args.redis_url:
        asyncio.run(bench(args.redis_url, args.runs))
        return
    from wellness.store.embedded import EmbeddedRedis

    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="wellness-bench-")) / "redis",
                           started_by="bench")
    server.start()
    try:
        asyncio.run(bench(server.url(), args.runs))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
