"""CLI: ``python -m tests.healthgen OUT.zip|OUT.xml --days N --scale S --seed N``.

Writes the export and its ground truth next to it (``OUT.truth.json``) and prints the
ground-truth path on stdout (benchmarks and demos read it); a size/speed line goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from .generator import GenConfig, config_for_size, write_export, write_zip


def _size(text: str) -> int:
    """'300MB', '1.5GB', '800k' or plain bytes -> bytes (decimal units)."""
    t = text.strip().upper().removesuffix("B")
    mult = {"K": 10**3, "M": 10**6, "G": 10**9}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.healthgen",
                                 description="Generate a synthetic Apple Health export.")
    ap.add_argument("out", type=Path, help="OUT.zip or OUT.xml")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    ap.add_argument("--version", type=int, default=14, dest="export_version")
    ap.add_argument("--offset", default="-0800", dest="export_offset")
    ap.add_argument("--units", default="us", choices=["us", "metric", "kj"])
    ap.add_argument("--locale", default="en_US")
    ap.add_argument("--xml-name", default="export.xml")
    ap.add_argument("--layout", default="nested", choices=["nested", "flat", "double"])
    ap.add_argument("--no-travel", action="store_true")
    ap.add_argument("--malformed-dtd", action="store_true")
    ap.add_argument("--size", type=_size, default=None,
                    help="target XML size (e.g. 300MB): picks --days/--scale for you")
    a = ap.parse_args(argv)
    cfg = GenConfig(seed=a.seed, start=a.start, days=a.days, export_version=a.export_version,
                    export_offset=a.export_offset, unit_profile=a.units, locale=a.locale,
                    scale=a.scale, travel=not a.no_travel, malformed_dtd=a.malformed_dtd,
                    xml_name=a.xml_name)
    if a.size:
        fitted = config_for_size(a.size, **{k: v for k, v in cfg.__dict__.items()
                                            if k not in ("days", "scale")})
        cfg.days, cfg.scale = fitted.days, fitted.scale
    t0 = time.perf_counter()
    if a.out.suffix.lower() == ".zip":
        truth = write_zip(a.out, cfg, layout=a.layout)
    else:
        truth = write_export(a.out, cfg)
    dt = time.perf_counter() - t0
    tp = a.out.with_name(a.out.name + ".truth.json")
    truth.save(tp)
    print(f"{truth.xml_bytes / 1e6:.1f} MB XML, {truth.records_total} records, "
          f"{dt:.2f} s, {truth.xml_bytes / 1e6 / max(dt, 1e-9):.0f} MB/s", file=sys.stderr)
    print(tp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
