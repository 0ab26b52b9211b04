"""Does procedural memory help? Paraphrases the rules can't map, before and after learning.

For each pair (a question the offline model answers, and a paraphrase in words its rules
don't know) we ask the paraphrase three ways on the same imported export:

1. stateless (no memory): the model has no plan hint;
2. with memory, before the seed question was ever asked (nothing learned yet);
3. with memory, after the seed question was answered once (its tool pattern stored).

It prints how many paraphrases got a data-backed answer (tool calls made), model steps per
turn and turn latency for each. Run: ``python bench/procedural_bench.py``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAIRS = [
    ("How were my workouts last month?", "How were my trainings last month?"),
    ("How many workouts did I do this year?", "Tally up my trainings this year"),
    ("Show my workouts by weekday", "On which days do my trainings land?"),
    ("How did I sleep last week?", "How was my shut-eye last week?"),
    ("What are my activity rings this week?", "Did I close the circles this week?"),
    ("When was my last workout?", "When did I last train?"),
]


async def run() -> dict[str, Any]:
    from tests.healthgen import GenConfig, write_zip
    from wellness.agent.graph import AgentRuntime, collect_turn
    from wellness.config import load_settings
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore
    from wellness.store.embedded import EmbeddedRedis

    work = Path(tempfile.mkdtemp(prefix="wellness-procbench-"))
    server = EmbeddedRedis(work / "redis", started_by="test")
    url = server.start()
    try:
        today = date(2026, 11, 28)
        export = work / "export.zip"
        write_zip(export, GenConfig(seed=9, start=today - timedelta(days=180), days=180,
                                    scale=0.3, unit_profile="metric"))
        os.environ["WELLNESS_ENV_FILE"] = str(work / "no.env")
        settings = load_settings().with_overrides(redis_url=url, today=today,
                                                  data_dir=work / "data")
        store = RedisStore(url)
        import_export(export, "bench", store, settings)
        rt = await AgentRuntime.open(settings, url, store=store, memory="auto")

        async def ask(text: str, thread: str, stateless: bool) -> dict[str, Any]:
            steps = 0
            original = rt.model.respond  # type: ignore[attr-defined]

            def counting(*a: Any, **kw: Any) -> Any:
                nonlocal steps
                steps += 1
                return original(*a, **kw)

            object.__setattr__(rt.model, "respond", counting)
            t0 = time.perf_counter()
            try:
                out = await collect_turn(rt, "bench", thread, text, stateless=stateless)
            finally:
                object.__setattr__(rt.model, "respond", original)
            return {"answered": bool(out["tool_calls"]) and not out["error"],
                    "steps": steps, "ms": (time.perf_counter() - t0) * 1000}

        rows: dict[str, list[dict[str, Any]]] = {"stateless": [], "memory, nothing learned": [],
                                                 "memory, after seed": []}
        for i, (seed, para) in enumerate(PAIRS):
            rows["stateless"].append(await ask(para, f"s{i}", True))
            rows["memory, nothing learned"].append(await ask(para, f"a{i}", False))
            await ask(seed, f"seed{i}", False)  # answered by the rules; its pattern is stored
            rows["memory, after seed"].append(await ask(para, f"b{i}", False))
        await rt.close()
        await store.aclose()
        return rows
    finally:
        server.stop()


def main() -> int:
    rows = asyncio.run(run())
    print(f"{len(PAIRS)} paraphrases the offline rules don't know, on a 180-day export")
    print(f"{'mode':26} {'answered':>9} {'model steps/turn':>17} {'turn p50 ms':>12}")
    for mode, results in rows.items():
        answered = sum(r["answered"] for r in results)
        steps = statistics.mean(r["steps"] for r in results)
        p50 = statistics.median(r["ms"] for r in results)
        print(f"{mode:26} {answered:>5}/{len(results):<3} {steps:>17.2f} {p50:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
