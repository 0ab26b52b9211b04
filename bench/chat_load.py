"""Chat load benchmark: N concurrent socket.io chat sessions against a real ``chainlit run``.

What it does: starts a throw-away embedded Redis and one app process (password mode, offline
model, the event-loop lag probe on), seeds a chat user with a generated export, then drives
``--sessions`` concurrent sessions (each its own thread, all speaking Chainlit's webapp
protocol like a browser) for ``--duration`` seconds, each sending typical questions with
``--think-ms`` between turns. With ``--with-import`` a second user uploads a generated export
of about ``--import-mb`` MB of XML through the web path first, and the measurement window
runs while that import is in progress.

Reports turns/s, p50/p95/p99/max turn latency (send → task_end), errors (timeouts, error
sentences, disconnects) and the server's event-loop lag (p50/p95/p99/max, measured inside the
server process every 100 ms). Target (issue #7): 50 sessions at p95 ≤ 500 ms with zero
errors, with and without a concurrent import.

    python bench/chat_load.py --sessions 50 --duration 60 [--with-import --import-mb 500]
        [--think-ms 1000] [--json] [--out bench/results/chat_load.json]

Everything runs on 127.0.0.1 and stops by itself after the duration (hard cap 15 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.healthgen import GenConfig, write_zip  # noqa: E402
from tests.reliability.harness import AppServer, ChatClient  # noqa: E402

QUESTIONS = [
    "How many steps did I take last week?",
    "How did I sleep last week?",
    "How many workouts did I do last month?",
    "What was my average resting heart rate this month?",
    "On which weekdays do I work out most?",
    "What was my last workout?",
    "Show my daily steps for the last 30 days.",
    "What health data do I have?",
]
ERROR_MARKERS = ("went wrong", "can't reach", "didn't answer", "please try again")
HARD_CAP_S = 900


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    by_question: dict[str, list[float]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def session_loop(base: str, cookies: dict[str, str], idx: int, stop_at: float,
                       think: float, stats: Stats, timeout: float) -> None:
    c = ChatClient(base, cookies=cookies)
    try:
        await c.connect()
    except Exception:  # noqa: BLE001 - counted, not raised
        stats.error("connect")
        return
    n = idx
    try:
        await asyncio.sleep((idx % 10) * think / 10)  # spread the first turns
        while time.monotonic() < stop_at:
            q = QUESTIONS[n % len(QUESTIONS)]
            n += 1
            mark = c.mark()
            try:
                took = await c.send(q, timeout=timeout)
            except asyncio.TimeoutError:
                stats.error("timeout")
                continue
            except Exception:  # noqa: BLE001
                stats.error("socket")
                break
            texts = c.texts_since(mark)
            if not texts or not texts[-1].strip():
                stats.error("empty answer")
                if len(stats.samples) < 5:
                    stats.samples.append({"q": q, "shown": [
                        (c.shown[i].type, c.shown[i].name, c.shown[i].content[:80])
                        for i in c.order[mark:] if i in c.shown]})
            elif any(m in texts[-1].lower() for m in ERROR_MARKERS):
                stats.error("error sentence")
            else:
                stats.latencies.append(took)
                stats.by_question.setdefault(q, []).append(took)
            if think > 0:
                await asyncio.sleep(think)
    finally:
        await c.close()


async def import_loop(importer: ChatClient, path: Path, stop: list[float],
                      runs: list[tuple[float, float, str]]) -> None:
    """Import ``path`` again and again (through the web path) until ``stop[0]`` passes, so
    an import is in progress for the whole measurement window."""
    while time.monotonic() < stop[0]:
        t0 = time.time()
        try:
            _, text = await importer.import_file(path, timeout=900)
        except Exception as exc:  # noqa: BLE001 - recorded, the load goes on
            text = f"import failed: {type(exc).__name__}"
        runs.append((t0, time.time(), text))


def read_lag(path: Path, since: float, until: float) -> list[float]:
    from wellness.diagnostics import read_probe
    return [row["lag_ms"] for row in read_probe(str(path), since, until)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from wellness.chat.auth import add_user
    from wellness.store.embedded import EmbeddedRedis

    work = Path(tempfile.mkdtemp(prefix="chat-load-"))
    own = None
    redis_url = args.redis_url
    if not redis_url:
        own = EmbeddedRedis(work / "redis", started_by="test")
        redis_url = own.start()
    probe = work / "probe.jsonl"
    env = {"WELLNESS_AUTH": "password", "WELLNESS_PROBE_FILE": str(probe),
           "WELLNESS_LOG_LEVEL": "WARNING"}
    if args.profile:
        env["WELLNESS_PROFILE_FILE"] = str(Path(args.profile).resolve())
    if args.import_workers:
        env["WELLNESS_IMPORT_WORKERS"] = str(args.import_workers)
    server = AppServer(redis_url, work / "app", env_extra=env)
    result: dict[str, Any] = {"sessions": args.sessions, "duration_s": args.duration,
                              "import_workers": args.import_workers or "default",
                              "think_ms": args.think_ms, "with_import": args.with_import,
                              "import_mb": args.import_mb if args.with_import else None}
    try:
        t_setup = time.monotonic()
        import redis as _redis
        r = _redis.Redis.from_url(redis_url, decode_responses=True)
        add_user(r, "loadchat", "load-chat-password")
        add_user(r, "loadimport", "load-import-password")
        r.close()
        seed = work / "seed.zip"
        write_zip(seed, GenConfig(seed=41, start=date(2025, 9, 1), days=180, scale=0.3))
        big = None
        if args.with_import:
            big = work / "big.zip"
            # The generator writes ~0.24 MB of XML per day at scale 1: size to --import-mb.
            days = 365
            scale = max(0.05, args.import_mb / (days * 0.24))
            write_zip(big, GenConfig(seed=42, start=date(2024, 1, 1), days=days, scale=scale,
                                     travel=False))
        server.start()
        login = await ChatClient.login(server.base, "loadchat", "load-chat-password")
        cookies = dict(login.cookies)
        seeder = ChatClient(server.base, cookies=cookies)
        await seeder.connect()
        status, text = await seeder.import_file(seed, timeout=300)
        await seeder.close()
        if not text.startswith("**Imported"):
            raise RuntimeError(f"seed import failed: {text[:200]}")
        importer = None
        import_state: dict[str, Any] = {"runs": []}
        import_task = None
        loop_stop = [float("inf")]
        if big is not None:
            ilogin = await ChatClient.login(server.base, "loadimport", "load-import-password")
            importer = ChatClient(server.base, cookies=dict(ilogin.cookies))
            await importer.connect()
            import_state["zip_mb"] = round(big.stat().st_size / 1e6, 1)
            import_task = asyncio.ensure_future(
                import_loop(importer, big, loop_stop, import_state["runs"]))
            await importer.wait_for(lambda: any(t.startswith("Importing")
                                                for t in importer.texts_since(0)), 120)
        result["setup_s"] = round(time.monotonic() - t_setup, 1)
        stats = Stats()
        import psutil
        proc = psutil.Process(server.pid())
        cpu0 = sum(proc.cpu_times()[:2])
        duration = min(args.duration, HARD_CAP_S)
        since = time.time()
        t0 = time.monotonic()
        stop_at = t0 + duration
        await asyncio.gather(*(session_loop(server.base, cookies, i, stop_at,
                                            args.think_ms / 1000, stats, args.turn_timeout)
                               for i in range(args.sessions)))
        wall = time.monotonic() - t0
        until = time.time()
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        lags = read_lag(probe, since, until)
        if import_task is not None and importer is not None:
            loop_stop[0] = 0.0  # finish the import in progress, start no new one
            try:
                await asyncio.wait_for(import_task, args.import_wait)
            except asyncio.TimeoutError:
                import_task.cancel()
            runs = import_state.pop("runs")
            overlap = sum(max(0.0, min(e, until) - max(st, since)) for st, e, _ in runs)
            import_state["imports_run"] = len(runs)
            import_state["imports_ok"] = sum(1 for _, _, t in runs if t.startswith("**Imported"))
            import_state["window_covered_pct"] = round(100 * overlap / max(until - since, 1e-9))
            import re as _re
            for _, _, t in runs:
                m = _re.search(r"Records: ([\d,]+) in ([\d.]+) s", t)
                if m:
                    import_state["records"] = int(m.group(1).replace(",", ""))
                    import_state["import_s"] = float(m.group(2))
                    break
            import_state["outcome"] = runs[-1][2].splitlines()[0][:120] if runs else ""
            await importer.close()
            result["import"] = import_state
        lat = stats.latencies
        n_err = sum(stats.errors.values())
        result.update({
            "turns": len(lat), "errors": n_err, "error_kinds": stats.errors,
            "wall_s": round(wall, 1), "turns_per_s": round(len(lat) / wall, 2) if wall else 0,
            "latency_ms": {k: (round(v * 1000, 1) if v is not None else None) for k, v in {
                "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
                "max": max(lat) if lat else None,
                "mean": statistics.fmean(lat) if lat else None}.items()},
            "loop_lag_ms": {"samples": len(lags), "p50": pct(lags, 50), "p95": pct(lags, 95),
                            "p99": pct(lags, 99), "max": max(lags) if lags else None},
            "server_rss_mb": round(server.rss_mb(), 1),
            # CPU of the app process only (imports run in child processes): what one turn
            # costs the server; turns/s can't exceed (free cores) / this.
            "server_cpu_s": round(cpu, 1),
            "server_cpu_ms_per_turn": round(cpu / len(lat) * 1000, 1) if lat else None,
            "error_samples": stats.samples,
            "by_question_ms": {q: {"n": len(v), "p50": round(pct(v, 50) * 1000, 1),
                                   "p95": round(pct(v, 95) * 1000, 1)}
                               for q, v in sorted(stats.by_question.items())},
        })
        p95 = result["latency_ms"]["p95"]
        result["target_met"] = bool(p95 is not None and p95 <= 500 and n_err == 0)
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return result
    finally:
        server.stop()
        if own is not None:
            own.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--duration", type=float, default=30.0, help="measurement seconds")
    p.add_argument("--think-ms", type=float, default=1000.0,
                   help="pause between a session's turns (a person reading)")
    p.add_argument("--with-import", action="store_true")
    p.add_argument("--import-mb", type=float, default=500.0, help="XML size of the import")
    p.add_argument("--import-wait", type=float, default=120.0,
                   help="seconds to wait for the import to finish after the window")
    p.add_argument("--turn-timeout", type=float, default=60.0)
    p.add_argument("--import-workers", type=int, default=0,
                   help="WELLNESS_IMPORT_WORKERS for the server (0 = the app's default)")
    p.add_argument("--profile", default=None,
                   help="write a cProfile of the server's event-loop thread here")
    p.add_argument("--redis-url", default=None, help="default: a throw-away embedded Redis")
    p.add_argument("--out", default=None, help="write the JSON result here")
    p.add_argument("--json", action="store_true", help="print JSON only")
    args = p.parse_args(argv)
    if not 1 <= args.sessions <= 500:
        p.error("--sessions must be 1..500")
    result = asyncio.run(run(args))
    out = Path(args.out) if args.out else (
        REPO / "bench" / "results" /
        f"chat_load-{'import' if args.with_import else 'plain'}-{args.sessions}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        lm, lag = result["latency_ms"], result["loop_lag_ms"]
        print(f"{result['sessions']} sessions, {result['wall_s']} s"
              f"{' + import' if args.with_import else ''}: {result['turns']} turns "
              f"({result['turns_per_s']}/s), errors {result['errors']} {result['error_kinds']}")
        print(f"turn latency ms: p50 {lm['p50']}  p95 {lm['p95']}  p99 {lm['p99']}  "
              f"max {lm['max']}")
        print(f"server CPU {result['server_cpu_s']} s = {result['server_cpu_ms_per_turn']} ms "
              f"per turn")
        print(f"server loop lag ms: p50 {lag['p50']}  p95 {lag['p95']}  p99 {lag['p99']}  "
              f"max {lag['max']} ({lag['samples']} samples)")
        if "import" in result:
            print(f"import: {result['import']}")
        print(f"target (p95 ≤ 500 ms, 0 errors): {'met' if result['target_met'] else 'NOT met'}"
              f"  → {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
