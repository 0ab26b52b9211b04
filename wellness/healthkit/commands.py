"""CLI: ``wellness import PATH`` and ``wellness data forget``.

Why here: feature packages own their subcommands (see wellness/cli.py). Unusable input ends
with exit code 2 and exactly one sentence on stderr — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from wellness.config import Settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import", help="import an Apple Health export (zip, xml or folder)")
    p.add_argument("path", help="export.zip, export.xml or the unzipped folder")
    p.add_argument("--user", default=None, help="user id (default: WELLNESS_USER or 'local')")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)

    d = subparsers.add_parser("data", help="manage stored data")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("forget", help="delete every key of a user")
    f.add_argument("--user", default=None)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_forget)


class _Bar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if p.bytes_total:
            frac = min(1.0, p.bytes_read / p.bytes_total)
            bar = "#" * int(frac * 30)
            line = f"\r{p.phase:<10} [{bar:<30}] {frac*100:5.1f}%  {p.records:,} records"
        else:
            line = f"\r{p.phase:<10} {p.bytes_read/1e6:,.1f} MB  {p.records:,} records"
        sys.stderr.write(line)
        if p.phase == "done":
            sys.stderr.write("\n")
        sys.stderr.flush()


def _open_store(settings: Settings):  # noqa: ANN202
    from wellness.store.connection import RedisStore
    from wellness.store.runtime import resolve_redis

    endpoint = resolve_redis(settings, started_by="cli")
    return endpoint, RedisStore(endpoint.url)


def human_summary(s: dict[str, Any]) -> str:
    lines = [f"Imported {s['records']:,} records from {s['file']} "
             f"({s['xml_bytes']/1e6:,.1f} MB) in {s['seconds']:.1f} s "
             f"({s['mb_per_s']} MB/s, {s['records_per_s']:,.0f} records/s)."]
    dr = s["date_range"]
    lines.append(f"Date range: {dr.get('start')} to {dr.get('end')}")
    lines.append("Records by type:")
    for t, n in sorted(s["counts_by_type"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n:>9,}  {t}")
    if s["workouts_by_type"]:
        lines.append("Workouts by type:")
        for t, n in sorted(s["workouts_by_type"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:>9,}  {t}")
    lines.append("Sources (highest priority first):")
    for src in s["sources"]:
        lines.append(f"  {src['name']} [{src['kind']}]: {src['records']:,} records")
    if s["warnings"]:
        lines.append("Skipped or merged:")
        for reason, n in sorted(s["warnings"].items()):
            lines.append(f"  {n:>9,}  {reason}")
    return "\n".join(lines)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.healthkit.errors import ImportError_
    from wellness.healthkit.importer import import_export

    user = args.user or settings.default_user
    endpoint, store = _open_store(settings)
    cancel = threading.Event()
    try:
        summary = import_export(args.path, user, store, settings,
                                progress=_Bar(not (args.quiet or args.json)), cancel=cancel)
    except ImportError_ as exc:
        print(f"wellness: {exc.user_message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        cancel.set()
        print("wellness: import cancelled; your previous data was not changed.", file=sys.stderr)
        return 130
    finally:
        store.close()
        endpoint.release()
    data = summary.to_dict()
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else human_summary(data))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.healthkit.importer import forget_user_data

    user = args.user or settings.default_user
    endpoint, store = _open_store(settings)
    try:
        n = forget_user_data(store, user)
    finally:
        store.close()
        endpoint.release()
    if args.json:
        print(json.dumps({"user": user, "keys_deleted": n}))
    else:
        print(f"Deleted {n} keys of user {user}.")
    return 0
