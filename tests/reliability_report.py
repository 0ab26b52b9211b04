"""Render ``docs/reliability.md`` from what the reliability suite actually observed.

Why generated: a hand-written reliability page drifts from the truth the day after it is
written. The suite (``tests/reliability``, ``tests/soak``) records every case it tried and
what happened into ``docs/reliability-results.json`` (see ``tests/reliability/conftest.py``)
and ``bench/chat_load.py`` writes ``bench/results/chat_load-*.json``; this script only formats
those files, so every figure on the page comes from a run.

    python -m tests.reliability_report            # writes docs/reliability.md
    python -m tests.reliability_report --check    # exit 1 if the page is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "reliability-results.json"
BENCH = REPO / "bench" / "results"
OUT = REPO / "docs" / "reliability.md"

SECTIONS = [
    ("hostile_uploads", "1. Hostile uploads through the web path",
     "Each file goes through `POST /project/file` and a `client_message`, exactly like the "
     "browser, against `chainlit run app.py` on a seeded user. A case passes when the chat "
     "shows one short message that says the previous data is untouched (or the upload route "
     "refuses it with one sentence), the next message is answered, and a `DUMP` of every key "
     "of the user (health data, goals, checkpoints, earlier chat steps) is byte-identical "
     "before and after. Valid-but-odd exports must import."),
    ("faults", "2. Faults", "Redis stopped, killed, restarted and slowed down under a live "
     "chat; the app SIGKILLed mid-import; the LLM endpoint down, failing or garbled."),
    ("security", "3. Security", "Password mode, users created with `wellness users add`; "
     "user B attacks user A's things through every route; tokens, hashing, throttling, "
     "hostile names in a real Chromium, log contents, the embedded Redis."),
    ("scale_out", "6. Scale-out", "Two app processes on two ports sharing one Redis."),
    ("soak", "5. Soak", "Bounded loop of imports, chats and Redis restarts "
     "(`WELLNESS_SOAK_MINUTES`, marker `soak`, not in CI)."),
]

#: Bugs the suite found, the fix, and the commit subject that fixed it (kept by hand: history,
#: not measurements).
BUGS = [
    ("A 5 GB upload was read whole into RAM (and spooled to disk) before Chainlit compared it "
     "with `max_size_mb`; a 0-byte upload crashed `/project/file` with a 500.",
     "`wellness/chat/upload_guard.py` (ASGI guard installed in `app.py`): 413 from "
     "`Content-Length`, byte-counting cap for bodies without one, one-sentence 400 instead of "
     "a 500.", "9ac592b"),
    ("Zips with path-traversal member names (`../`, `/abs`, `C:`) were imported instead of "
     "refused as hostile (the `hostile.py` contract).",
     "`wellness/healthkit/reader.py` `_escapes()` → `UnsafeInput`.", "ef15f36"),
    ("The circuit breaker never opened during a Redis outage: the LangGraph checkpointer "
     "talks to Redis outside `store.aconnection()`.",
     "`AgentRuntime.run_turn` fails fast while the breaker is open, treats half-open as the "
     "probe, records failures/successes.", "6c268ba"),
    ("A model stream cut off mid-way (no `finish_reason`) was shown and saved as a complete "
     "answer.", "`IncompleteModelResponse` in `wellness/agent/graph.py` → the model-error "
     "sentence, turn rolled back.", "1633104"),
    ("An app killed during an import left its staging keys and lock in Redis until that "
     "user's next import.", "`sweep_orphan_staging()` in `wellness/healthkit/writer.py`, run "
     "at app startup (`Services.start`).", "81c5790 / 840ed8f (landed with colleagues' commits)"),
    ("`:word` in untrusted names was eaten by the markdown directive syntax (a source "
     "`[x](javascript:window…)` lost `window`).", "`inert()` also escapes `:` "
     "(`wellness/chat/text.py`).", "7a8db24 (landed with a chat commit)"),
    ("Chat stalled while an import ran: the importer ran in a thread of the server and held "
     "the GIL (5 sessions during a 60 MB import: turn p95 3.6 s, event-loop lag max 1.3 s).",
     "`wellness/healthkit/isolated.py`: import in a forkserver child process with the same "
     "progress/cancel/typed-error contract; plotly warmed up at startup.",
     "43de05d, 9cd7ff5"),
    ("Async Redis clients never retried (the sync `Retry` was passed to `redis.asyncio`), so "
     "the first turn after every Redis restart failed with 'Connection closed by server'.",
     "`wellness/store/connection.py` uses `redis.asyncio.retry.Retry` for async clients.",
     "13234fd"),
    ("At 50 chat sessions the async Redis pool raised `MaxConnectionsError` ('Too many "
     "connections') instead of waiting, failing turns and chat-history writes and tripping "
     "the breaker (42 errors in 30 s).", "Async clients use a `BlockingConnectionPool` "
     "(waits up to the socket timeout for a free connection).", "2849045"),
    ("With Redis answering slowly, a turn took 41 s to fail: async clients retried timed-out "
     "commands (5 s × 4 attempts per command).", "Async clients retry only broken "
     "connections; the importer's sync client still retries timeouts. Now ~10 s.", "2849045"),
    ("During a continuous import, 10 chat sessions saw p95 1.5 s: the import worker and its "
     "parse helper took both cores.", "The import worker runs at `nice 10` "
     "(`WELLNESS_IMPORT_NICE`); p95 1.0 s on the shared host (target still not met, see "
     "known limits).", "2e78704"),
    ("(test harness) The first message of a session could take `on_chat_start`'s `task_end` "
     "for its own and report an empty answer.", "`ChatClient.connect` waits for "
     "`on_chat_start` to finish.", "68377fa"),
]


def cell(v: Any, limit: int = 260) -> str:
    s = str(v).replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


def load_results() -> dict[str, Any]:
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {"records": {}}


def load_bench() -> list[dict[str, Any]]:
    runs = []
    for p in sorted(BENCH.glob("chat_load-*.json")):
        try:
            d = json.loads(p.read_text())
        except ValueError:
            continue
        d["_file"] = p.name
        runs.append(d)
    return runs


def render(results: dict[str, Any], bench: list[dict[str, Any]]) -> str:
    records = results.get("records", {})
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for rec in records.values():
        by_cat.setdefault(rec.get("category", "other"), []).append(rec)
    total = len(records)
    passed = sum(1 for r in records.values() if r.get("outcome") == "passed")
    cases = [c for r in records.values() for c in r.get("cases", [])]
    ok_cases = sum(1 for c in cases if c.get("ok"))
    lines = [
        "# Reliability report",
        "",
        "<!-- Generated by `python -m tests.reliability_report` from "
        "docs/reliability-results.json and bench/results/*.json. Do not edit by hand. -->",
        "",
        f"Last suite update: {results.get('updated', 'never')}. **{passed} of {total}** "
        f"recorded tests passed; **{ok_cases} of {len(cases)}** individual cases held.",
        "",
        "What this covers (issue #7): hostile uploads through the real web path, faults "
        "(Redis down/killed/slow, app SIGKILLed mid-import, LLM down or garbled), security "
        "(cross-user access, sessions, passwords, throttling, XSS, logs, embedded Redis), "
        "load (`bench/chat_load.py`), soak (`tests/soak`) and scale-out (two replicas on one "
        "Redis). Everything runs against 127.0.0.1 only and stops by itself.",
        "",
        "Run it: `pytest tests/reliability` (CI portion), `WELLNESS_SOAK_MINUTES=10 pytest -m "
        "soak tests/soak`, `python bench/chat_load.py --sessions 50 --duration 60 "
        "[--with-import --import-mb 500]`, then `python -m tests.reliability_report`.",
        "",
    ]
    for cat, title, intro in SECTIONS[:3]:
        lines += _section(by_cat.get(cat, []), title, intro)
    lines += _load_section(bench)
    for cat, title, intro in SECTIONS[4:]:
        lines += _section(by_cat.get(cat, []), title, intro)
    lines += _section(by_cat.get("scale_out", []), SECTIONS[3][1], SECTIONS[3][2])
    lines += ["## 7. Bugs the suite found (and their fixes)", "",
              "| # | Bug | Fix | Commit |", "|---|---|---|---|"]
    for i, (bug, fix, commit) in enumerate(BUGS, 1):
        lines.append(f"| {i} | {cell(bug, 400)} | {cell(fix, 400)} | {cell(commit)} |")
    lines += ["", "## Known limits (documented, not fixed)", "",
              "- Chainlit's upload route still reads an accepted upload (≤ `max_size_mb`, "
              "4 GB) fully into RAM and writes a copy under `.files/`; the guard only stops "
              "larger or broken uploads early. Refused uploads are reported by the browser's "
              "upload error (HTTP 413/400 with one sentence), not as a chat message.",
              "- When Redis is unreachable, Chainlit's own data-layer writes (chat history "
              "steps) fail in background tasks and are logged as 'Task exception was never "
              "retrieved'; the turn itself answers with the friendly sentence and nothing "
              "partial is saved.",
              "- A garbled (non-JSON) LLM response is reported with the generic 'Something "
              "went wrong… try again' sentence rather than the model-specific one.",
              "- Load: one offline-model turn costs the app process ~45 ms of CPU "
              "(`server_cpu_ms_per_turn` in the load table: Chainlit emits, data-layer "
              "writes, LangGraph + checkpoint, memory). On 2 shared cores that caps the app "
              "near 15–20 turns/s, so 50 sessions with a 1 s think time queue and miss the "
              "p95 ≤ 500 ms target although nothing fails; 10 sessions meet it. Reaching 50 "
              "needs that per-turn cost roughly halved (profile the turn path) or more cores "
              "/ replicas (see scale-out). While an import runs continuously it competes "
              "for the same 2 cores and Redis (its pipelines and the commit transaction), so "
              "chat p95 rises further even with the import niced.",
              ""]
    return "\n".join(lines) + "\n"


def _section(recs: list[dict[str, Any]], title: str, intro: str) -> list[str]:
    out = [f"## {title}", "", intro, ""]
    if not recs:
        return out + ["_Not run yet._", ""]
    rows = []
    figures: list[tuple[str, str, Any]] = []
    for rec in sorted(recs, key=lambda r: r["test"]):
        name = rec["test"].split("::", 1)[-1]
        for c in rec.get("cases", []):
            rows.append((c.get("case", name), c.get("expected", ""), c.get("result", ""),
                         c.get("seconds", ""), "✅" if c.get("ok") and rec.get("outcome") ==
                         "passed" else "❌"))
        if not rec.get("cases"):
            rows.append((name, "", rec.get("doc", ""), rec.get("seconds", ""),
                         "✅" if rec.get("outcome") == "passed" else "❌"))
        for k, v in (rec.get("figures") or {}).items():
            figures.append((name, k, v))
    has_expected = any(r[1] for r in rows)
    if has_expected:
        out += ["| Case | Expected | What happened | s | OK |", "|---|---|---|---|---|"]
        out += [f"| {cell(a, 60)} | {cell(b, 120)} | {cell(c)} | {cell(d)} | {e} |"
                for a, b, c, d, e in rows]
    else:
        out += ["| Case | What happened | OK |", "|---|---|---|"]
        out += [f"| {cell(a, 80)} | {cell(c, 400)} | {e} |" for a, b, c, d, e in rows]
    if figures:
        out += ["", "Figures: " + "; ".join(f"{cell(k)} = {cell(v)}" for _, k, v in figures)]
    return out + [""]


def _load_section(runs: list[dict[str, Any]]) -> list[str]:
    out = ["## 4. Load (`bench/chat_load.py`)", "",
           "N concurrent socket.io sessions (offline model, password mode, each its own thread) "
           "ask typical questions with a think time between turns; latency is send → "
           "`task_end`; event-loop lag is measured inside the server process every 100 ms "
           "(`WELLNESS_PROBE_FILE`). Target: 50 sessions at p95 ≤ 500 ms with zero errors, "
           "with and without a concurrent ~500 MB import. Figures below are whatever was run "
           "last on this machine (2 shared cores); small-N development runs are marked by "
           "their session count. `--profile FILE` adds a cProfile of the server's event-loop "
           "thread (a 10-session profile put ~35 % of busy loop time in rendering turns, of "
           "which plotly figures ~16 %, ~14 % in chat-history persistence, ~14 % in Redis "
           "client calls, ~11 % in LangGraph, ~8 % in socket sends: no single hotspot).", ""]
    if not runs:
        return out + ["_No benchmark results yet._", ""]
    out += ["| Run | Sessions | Think ms | Import | Turns/s | p50 ms | p95 ms | p99 ms | Errors "
            "| Loop lag p95 / max ms | App CPU ms/turn | Target | When |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in runs:
        lm, lag = d.get("latency_ms", {}), d.get("loop_lag_ms", {})
        imp = d.get("import") or {}
        imp_txt = "–"
        if d.get("with_import"):
            if "window_covered_pct" in imp:
                imp_txt = (f"{imp.get('imports_ok')}/{imp.get('imports_run')} imports of "
                           f"{imp.get('records', '?')} records ({imp.get('zip_mb')} MB zip, "
                           f"{imp.get('import_s', '?')} s each) back to back: an import was "
                           f"running for {imp['window_covered_pct']}% of the window")
            else:
                imp_txt = (f"{imp.get('records', '?')} records in {imp.get('import_s', '?')} "
                           f"s, {imp.get('overlap_s', '?')} s inside the window")
        out.append(f"| {cell(d['_file'])} | {d.get('sessions')} | {d.get('think_ms')} | "
                   f"{cell(imp_txt)} | {d.get('turns_per_s')} | {lm.get('p50')} | "
                   f"{lm.get('p95')} | {lm.get('p99')} | {d.get('errors')} | "
                   f"{lag.get('p95')} / {lag.get('max')} | {d.get('server_cpu_ms_per_turn', '–')} | "
                   f"{'met' if d.get('target_met') else 'not met'} | {d.get('when', '')} |")
    return out + [""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail if docs/reliability.md is stale")
    args = p.parse_args(argv)
    text = render(load_results(), load_bench())
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print("docs/reliability.md is stale: run python -m tests.reliability_report")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
