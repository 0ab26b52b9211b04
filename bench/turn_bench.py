"""Turn benchmark: tool query latency and a turn's non-model overhead, on years of data.

What it does: generates a multi-year Apple Health export (tests/healthgen), imports it with
the real importer into a throw-away embedded Redis, then

1. calls every health tool repeatedly with typical arguments (p50/p95 per tool), and
2. runs offline-model turns through ``AgentRuntime.run_turn`` (checkpointer + memory +
   tools, exactly as the chat does) and reports the whole turn minus the model's own time,
   split into checkpoint load/save, tools and memory.

Targets (design §9): tool p95 ≤ 10 ms; non-model turn overhead p50 ≤ 100 ms.

    python bench/turn_bench.py [--years 5] [--scale 0.1] [--reps 40] [--turns 40] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TOOL_CASES: list[tuple[str, dict[str, Any]]] = [
    ("health_data_range", {}),
    ("metric_summary", {"metric": "steps", "period": "last week", "stat": "sum"}),
    ("metric_summary", {"metric": "resting heart rate", "period": "this year"}),
    ("metric_summary", {"metric": "heart rate", "period": "all time", "stat": "max"}),
    ("metric_series", {"metric": "steps", "period": "this month"}),
    ("metric_series", {"metric": "weight", "period": "all time"}),
    ("metric_trend", {"metric": "weight", "period": "last 6 months"}),
    ("compare_periods", {"metric": "steps", "period_a": "this month", "period_b": "last month"}),
    ("compare_periods", {"metric": "workouts", "period_a": "this year", "period_b": "last year"}),
    ("list_workouts", {"period": "last month"}),
    ("list_workouts", {"period": "all time", "sort": "longest", "limit": 5}),
    ("workout_summary", {"period": "all time", "group_by": "weekday"}),
    ("workout_summary", {"period": "this year", "group_by": "type"}),
    ("last_workout", {}),
    ("workout_streaks", {}),
    ("sleep_summary", {"period": "last week"}),
    ("sleep_summary", {"period": "this year"}),
    ("activity_rings", {"period": "last month"}),
]

TURN_QUESTIONS = [
    "How many steps did I take last week?",
    "and the week before?",
    "What was my average resting heart rate in October?",
    "How did I sleep last week?",
    "When was my last workout?",
    "How long was it?",
    "What day of the week do I work out most?",
    "Did I close my rings yesterday?",
    "Show my weight trend this year.",
    "Compare my workouts this month vs last month",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def fmt(values: list[float]) -> str:
    return f"p50 {pct(values, 50):7.2f} ms   p95 {pct(values, 95):7.2f} ms   (n={len(values)})"


class Timers:
    """Accumulates wall time per category inside one turn."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)

    def wrap(self, obj: Any, name: str, category: str) -> None:
        original = getattr(obj, name)
        timers = self

        @functools.wraps(original)   # keeps the signature (tools inject config by it)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                timers.current[category] += (time.perf_counter() - t0) * 1000

        setattr(obj, name, timed)

    def take(self) -> dict[str, float]:
        out = dict(self.current)
        self.current.clear()
        return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.healthgen import GenConfig, write_zip
    from wellness.agent.graph import AgentRuntime
    from wellness.agent.offline import OfflineModel
    from wellness.agent.tools import make_health_tools
    from wellness.config import load_settings
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore
    from wellness.store.embedded import EmbeddedRedis

    work = Path(tempfile.mkdtemp(prefix="wellness-bench-"))
    server = EmbeddedRedis(work / "redis", started_by="test")
    url = server.start()
    report: dict[str, Any] = {"years": args.years, "scale": args.scale}
    try:
        days = int(args.years * 365)
        start = date(2026, 11, 27) - timedelta(days=days - 1)
        today = date(2026, 11, 28)
        t0 = time.perf_counter()
        export = work / "export.zip"
        write_zip(export, GenConfig(seed=5, start=start, days=days, scale=args.scale,
                                    unit_profile="metric"))
        gen_s = time.perf_counter() - t0
        os.environ["WELLNESS_ENV_FILE"] = str(work / "no.env")
        settings = load_settings().with_overrides(redis_url=url, today=today,
                                                  data_dir=work / "data")
        store = RedisStore(url)
        t0 = time.perf_counter()
        summary = import_export(export, "bench", store, settings)
        import_s = time.perf_counter() - t0
        report["data"] = {"days": days, "records": summary.to_dict().get("records"),
                          "generate_s": round(gen_s, 1), "import_s": round(import_s, 1)}
        print(f"data: {days} days, {report['data']['records']} records "
              f"(generated in {gen_s:.1f} s, imported in {import_s:.1f} s)")

        # 1. tools
        tools = {t.name: t for t in make_health_tools(store, settings)}
        config = {"configurable": {"user_id": "bench"}}
        per_tool: dict[str, list[float]] = defaultdict(list)
        for name, targs in TOOL_CASES:          # warm-up
            await tools[name].ainvoke(targs, config)
        wrapped: list[float] = []
        for _ in range(args.reps):
            for name, targs in TOOL_CASES:
                # the query itself (the tool's coroutine: period parsing, Redis, JSON)
                t0 = time.perf_counter()
                out = await tools[name].coroutine(config=config, **targs)
                per_tool[name].append((time.perf_counter() - t0) * 1000)
                if '"error"' in out[:200]:
                    raise SystemExit(f"{name}{targs} returned an error: {out[:300]}")
                # the same call through LangChain's tool machinery (validation, callbacks)
                t0 = time.perf_counter()
                await tools[name].ainvoke(targs, config)
                wrapped.append((time.perf_counter() - t0) * 1000)
        print("\ntool queries (each case x reps; the tool coroutine):")
        all_tool: list[float] = []
        report["tools"] = {}
        for name, values in per_tool.items():
            all_tool += values
            report["tools"][name] = {"p50": round(pct(values, 50), 2),
                                     "p95": round(pct(values, 95), 2)}
            print(f"  {name:18s} {fmt(values)}")
        print(f"  {'ALL':18s} {fmt(all_tool)}")
        print(f"  {'ALL via ainvoke':18s} {fmt(wrapped)}")
        report["tools_ainvoke"] = {"p50": round(pct(wrapped, 50), 2),
                                   "p95": round(pct(wrapped, 95), 2)}
        report["tools_all"] = {"p50": round(pct(all_tool, 50), 2),
                               "p95": round(pct(all_tool, 95), 2)}

        # 2. turns
        class TimedModel(OfflineModel):
            def respond(self, messages: Any, tool_specs: Any = None) -> Any:
                t0 = time.perf_counter()
                try:
                    return super().respond(messages, tool_specs)
                finally:
                    timers.current["model"] += (time.perf_counter() - t0) * 1000

        timers = Timers()
        rt = await AgentRuntime.open(settings, url, store=store,
                                     model=TimedModel(today=today),
                                     memory=None if args.no_memory else "auto")
        for name in ("aget_tuple", "aput", "aput_writes"):
            timers.wrap(rt.saver, name, "checkpoint")
        for tool in [*rt.health_tools, *rt.memory_tools]:
            coroutine = getattr(tool, "coroutine", None)
            if coroutine is not None:
                timers.wrap(tool, "coroutine", "tools")
        if rt.memory is not None:
            for name in ("plan_hint", "record_turn"):
                if hasattr(rt.memory, name):
                    timers.wrap(rt.memory, name, "memory")
        # (the graph's ToolNode holds these same tool objects, so the wrappers apply)
        totals: list[float] = []
        non_model: list[float] = []
        parts: dict[str, list[float]] = defaultdict(list)
        errors = 0
        for i in range(args.turns):
            q = TURN_QUESTIONS[i % len(TURN_QUESTIONS)]
            thread = f"bench-{i // args.thread_turns}"
            timers.take()
            t0 = time.perf_counter()
            async for event in rt.run_turn("bench", thread, q):
                if event.kind == "error":
                    errors += 1
            elapsed = (time.perf_counter() - t0) * 1000
            got = timers.take()
            if i < 2:
                continue                          # warm-up (index creation, caches)
            totals.append(elapsed)
            non_model.append(elapsed - got.get("model", 0.0))
            for cat in ("checkpoint", "tools", "memory", "model"):
                parts[cat].append(got.get(cat, 0.0))
        await rt.close()
        print(f"\nturns ({len(totals)} measured, {args.thread_turns} per thread, "
              f"memory {'off' if args.no_memory else 'on'}, errors {errors}):")
        print(f"  {'whole turn':18s} {fmt(totals)}")
        print(f"  {'minus model':18s} {fmt(non_model)}")
        for cat, values in parts.items():
            print(f"    {cat:16s} {fmt(values)}")
        report["turn"] = {"total": {"p50": round(pct(totals, 50), 2),
                                    "p95": round(pct(totals, 95), 2)},
                          "non_model": {"p50": round(pct(non_model, 50), 2),
                                        "p95": round(pct(non_model, 95), 2)},
                          "parts_p50": {k: round(pct(v, 50), 2) for k, v in parts.items()},
                          "errors": errors}
        ok_tools = report["tools_all"]["p95"] <= 10
        ok_turn = report["turn"]["non_model"]["p50"] <= 100
        print(f"\ntargets: tool p95 <= 10 ms: {'PASS' if ok_tools else 'FAIL'}; "
              f"non-model turn p50 <= 100 ms: {'PASS' if ok_turn else 'FAIL'}")
        report["targets"] = {"tool_p95_le_10ms": ok_tools, "turn_p50_le_100ms": ok_turn}
        await store.aclose()
        return report
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--years", type=float, default=5.0)
    p.add_argument("--scale", type=float, default=0.1,
                   help="per-day sample density of the generator (1.0 ≈ a real Watch)")
    p.add_argument("--reps", type=int, default=30, help="repetitions of each tool case")
    p.add_argument("--turns", type=int, default=42)
    p.add_argument("--thread-turns", type=int, default=10, help="turns per thread")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = p.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
