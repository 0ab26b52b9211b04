"""Import benchmark: bare lxml iterparse vs our full import into Redis vs healthkit-to-sqlite.

Why in one run on one file: machines differ wildly (and this one is shared), so only ratios
measured back to back on the same bytes mean anything. Each contender runs in its own
subprocess so wall time and peak RSS (``ru_maxrss``) are its own.

    python bench/import_bench.py                   # 300 MB export (the lead's run)
    python bench/import_bench.py --size-mb 30      # quick check while developing

(b) uses the automatic choice (2 parser processes on an idle multi-core machine, serial
when the load average says the cores are busy); (b1)/(b2) force serial / parallel.

Targets (issue #3): (b) ≤ 2 × (a) seconds; (b) ≥ 5 × faster than (c); peak RSS of (b)
≤ 300 MB whatever the size; hostile inputs rejected in < 2 s (checked at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Bytes per generated day at scale 1.0 (measured: ~300 KB/day incl. fixed parts); used to hit --size-mb.
BYTES_PER_DAY_AT_SCALE_1 = 300_000


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (less load-sensitive than wall)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# -- phases (each runs in a fresh subprocess) --------------------------------------------
def phase_lxml(path: Path) -> dict:
    from lxml import etree

    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("export.xml"))
        size = zf.getinfo(name).file_size
        t0 = time.perf_counter()
        c0 = _cpu_s()
        n = 0
        with zf.open(name) as fh:
            for _, el in etree.iterparse(fh, events=("end",), tag="Record"):
                n += 1
                el.clear(keep_tail=True)
                while el.getprevious() is not None:
                    del el.getparent()[0]
        secs = time.perf_counter() - t0
    return {"seconds": secs, "cpu_s": _cpu_s() - c0, "records": n, "xml_bytes": size,
            "peak_rss_mb": _maxrss_mb(resource.RUSAGE_SELF)}


def phase_ours(path: Path, redis_url: str) -> dict:
    from wellness.config import load_settings
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore

    settings = load_settings().with_overrides(redis_url=redis_url)
    store = RedisStore(redis_url)
    t0 = time.perf_counter()
    c0 = _cpu_s()
    summary = import_export(path, "bench", store, settings)
    secs = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    store.close()
    # Parser worker processes (if used) are children: report the larger of the two peaks,
    # and both, since main + 2 workers are alive at the same time.
    main_rss = _maxrss_mb(resource.RUSAGE_SELF)
    worker_rss = _maxrss_mb(resource.RUSAGE_CHILDREN)
    return {"seconds": secs, "cpu_s": cpu, "records": summary.records,
            "xml_bytes": summary.xml_bytes,
            "peak_rss_mb": max(main_rss, worker_rss), "main_rss_mb": main_rss,
            "worker_rss_mb": worker_rss, "warnings": summary.warnings,
            "timings": summary.timings}


def phase_sqlite(path: Path, out_db: Path) -> dict:
    exe = shutil.which("healthkit-to-sqlite", path=str(Path(sys.executable).parent)) \
        or "healthkit-to-sqlite"
    t0 = time.perf_counter()
    c0 = _cpu_s()
    proc = subprocess.run([exe, str(path), str(out_db), "--silent"], capture_output=True,
                          text=True)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "cpu_s": _cpu_s() - c0, "returncode": proc.returncode, "stderr": proc.stderr[-400:],
            "peak_rss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN)}


REPEAT = 1


def run_phase(args: list[str], workers: int | None = None) -> dict:
    """Best (lowest wall time) of REPEAT fresh-interpreter runs of one phase."""
    best: dict = {}
    for _ in range(max(1, REPEAT)):
        r = _run_phase_once(args, workers)
        if "error" in r:
            return r
        if not best or r["seconds"] < best["seconds"]:
            best = r
    return best


def _run_phase_once(args: list[str], workers: int | None = None) -> dict:
    """Run one phase in a fresh interpreter; its JSON line is the result."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if workers:
        env["WELLNESS_IMPORT_WORKERS"] = str(workers)
    proc = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- hostile inputs ------------------------------------------------------------------------
def hostile_check(tmp: Path, redis_url: str) -> list[dict]:
    from wellness.config import load_settings
    from wellness.healthkit.errors import ImportError_
    from wellness.healthkit.importer import import_export
    from wellness.store.connection import RedisStore

    cases: dict[str, bytes] = {
        "billion_laughs": (b'<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n'
                           b'<!ENTITY lol "lol">\n'
                           + b"".join(b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1)) * 10
                                                                   if i > 1 else b"&lol;" * 10)
                                      for i in range(1, 10))
                           + b']>\n<HealthData locale="en_US">&lol9;</HealthData>\n'),
        "xxe": (b'<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n<!ENTITY x SYSTEM '
                b'"file:///etc/passwd">\n]>\n<HealthData>&x;</HealthData>\n'),
        "not_xml": b"<html><body>hello</body></html>",
        "truncated": (b'<?xml version="1.0"?>\n<HealthData locale="en_US">\n <Record type="HKQuan'),
    }
    results = []
    settings = load_settings().with_overrides(redis_url=redis_url)
    store = RedisStore(redis_url)
    for name, data in cases.items():
        p = tmp / f"{name}.xml"
        p.write_bytes(data)
        t0 = time.perf_counter()
        try:
            import_export(p, "benchhostile", store, settings)
            outcome = "ACCEPTED"
        except ImportError_ as exc:
            outcome = type(exc).__name__
        results.append({"case": name, "outcome": outcome,
                        "seconds": round(time.perf_counter() - t0, 3)})
    bomb = tmp / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("apple_health_export/export.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0"?>\n<HealthData locale="en_US">')
            block = b" " * (1 << 20)
            for _ in range(2048):
                fh.write(block)
    t0 = time.perf_counter()
    try:
        import_export(bomb, "benchhostile", store, settings)
        outcome = "ACCEPTED"
    except ImportError_ as exc:
        outcome = type(exc).__name__
    results.append({"case": "zip_bomb_2GB", "outcome": outcome,
                    "seconds": round(time.perf_counter() - t0, 3)})
    store.close()
    return results


# -- main ------------------------------------------------------------------------------------
def generate(path: Path, size_mb: float, seed: int) -> dict:
    from tests.healthgen import GenConfig, write_zip

    import io

    from tests.healthgen import write_export

    days = 365
    # Calibrate bytes per day at scale 1 on a small sample (the generator evolves).
    def per_day(scale: float) -> float:
        sample = io.BytesIO()
        write_export(sample, GenConfig(seed=seed, days=14, scale=scale))
        return len(sample.getvalue()) / 14 or BYTES_PER_DAY_AT_SCALE_1

    target = size_mb * 1e6 / days
    scale = max(0.05, target / per_day(1.0))
    for _ in range(2):  # per-day size is not linear in scale (fixed daily content)
        scale = max(0.05, scale * target / per_day(scale))
    t0 = time.perf_counter()
    truth = write_zip(path, GenConfig(seed=seed, days=days, scale=scale))
    return {"xml_mb": truth.xml_bytes / 1e6, "zip_mb": path.stat().st_size / 1e6,
            "records": truth.raw_record_elements, "seconds": time.perf_counter() - t0}


def _fmt(name: str, r: dict, xml_bytes: int, records: int) -> str:
    if "error" in r:
        return f"{name:<34} ERROR: {r['error']}"
    s = r["seconds"]
    return (f"{name:<34} {s:8.2f} s {xml_bytes / 1e6 / s:8.1f} MB/s {records / s:10,.0f} rec/s "
            f"{r['peak_rss_mb']:8.1f} MB peak RSS {r.get('cpu_s', 0):8.2f} s CPU")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=300.0, help="uncompressed XML size")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--file", type=Path, help="use this export.zip instead of generating one")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="best of N runs for (a) and (b) (the machine may be shared)")
    ap.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:
        kind, file = args.phase[0], Path(args.phase[1])
        if kind == "lxml":
            out = phase_lxml(file)
        elif kind == "ours":
            out = phase_ours(file, args.phase[2])
        else:
            out = phase_sqlite(file, Path(args.phase[2]))
        print(json.dumps(out))
        return 0

    from wellness.store.embedded import EmbeddedRedis

    global REPEAT
    REPEAT = args.repeat

    with tempfile.TemporaryDirectory(prefix="wellness-bench-") as tmpd:
        tmp = Path(tmpd)
        report: dict = {}
        if args.file:
            export = args.file
        else:
            export = tmp / "export.zip"
            print(f"generating a {args.size_mb:.0f} MB export ...", flush=True)
            report["generate"] = generate(export, args.size_mb, args.seed)
            g = report["generate"]
            print(f"  {g['xml_mb']:.1f} MB XML, {g['zip_mb']:.1f} MB zip, "
                  f"{g['records']:,} records, {g['seconds']:.1f} s", flush=True)
        server = EmbeddedRedis(tmp / "redis", started_by="bench")
        url = server.start()
        try:
            print("(a) lxml iterparse ...", flush=True)
            report["lxml"] = run_phase(["lxml", str(export)])
            print("(b) wellness import -> Redis ...", flush=True)
            report["ours"] = run_phase(["ours", str(export), url])
            print("(b1) wellness import, serial parser ...", flush=True)
            report["ours_serial"] = run_phase(["ours", str(export), url], workers=1)
            print("(b2) wellness import, 2 parser processes ...", flush=True)
            report["ours_parallel"] = run_phase(["ours", str(export), url], workers=2)
            if not args.skip_sqlite:
                print("(c) healthkit-to-sqlite ...", flush=True)
                report["sqlite"] = run_phase(["sqlite", str(export), str(tmp / "out.db")])
            print("hostile inputs ...", flush=True)
            report["hostile"] = hostile_check(tmp, url)
        finally:
            server.stop()

    a, b = report["lxml"], report["ours"]
    xml_bytes = a.get("xml_bytes") or b.get("xml_bytes", 0)
    records = a.get("records", 0)
    print()
    print(_fmt("(a) lxml iterparse + clear", a, xml_bytes, records))
    print(_fmt("(b) wellness import into Redis", b, xml_bytes, records))
    if "ours_serial" in report:
        print(_fmt("(b1) same, serial parser", report["ours_serial"], xml_bytes, records))
    if "ours_parallel" in report:
        print(_fmt("(b2) same, 2 parser processes", report["ours_parallel"], xml_bytes,
                   records))
    for name in ("ours", "ours_serial", "ours_parallel"):
        if "timings" in report.get(name, {}):
            print(f"     {name} phases: {report[name]['timings']}")
    if "sqlite" in report:
        print(_fmt("(c) healthkit-to-sqlite", report["sqlite"], xml_bytes, records))
    ratios: dict = {}
    if "error" not in a and "error" not in b:
        ratios["b_over_a"] = round(b["seconds"] / a["seconds"], 2)
        print(f"\n(b)/(a) time ratio: {ratios['b_over_a']}  (target <= 2.0)")
        if a.get("cpu_s"):
            ratios["b_over_a_cpu"] = round(b["cpu_s"] / a["cpu_s"], 2)
            print(f"(b)/(a) CPU ratio:  {ratios['b_over_a_cpu']}  (both cores' work, for a "
                  "shared machine)")
        b1 = report.get("ours_serial", {})
        if "seconds" in b1:
            ratios["b1_over_a"] = round(b1["seconds"] / a["seconds"], 2)
            print(f"(b1)/(a) serial:    {ratios['b1_over_a']}")
        b2 = report.get("ours_parallel", {})
        if "seconds" in b2:
            ratios["b2_over_a"] = round(b2["seconds"] / a["seconds"], 2)
            print(f"(b2)/(a) parallel:  {ratios['b2_over_a']}")
    if "sqlite" in report and "error" not in report["sqlite"] and "error" not in b:
        ratios["c_over_b"] = round(report["sqlite"]["seconds"] / b["seconds"], 2)
        print(f"(c)/(b) speed-up:   {ratios['c_over_b']}  (target >= 5.0)")
    if "error" not in b:
        print(f"(b) peak RSS:       {b['peak_rss_mb']:.0f} MB per process (main "
              f"{b['main_rss_mb']:.0f} MB, largest parser worker {b['worker_rss_mb']:.0f} MB; "
              "target <= 300)")
    for h in report["hostile"]:
        ok = h["outcome"] != "ACCEPTED" and h["seconds"] < 2
        print(f"hostile {h['case']:<16} {h['outcome']:<18} {h['seconds']:.3f} s "
              f"{'ok' if ok else 'FAIL'}")
    report["ratios"] = ratios
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
