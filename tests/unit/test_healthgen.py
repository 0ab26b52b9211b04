"""Tests of the synthetic export generator itself (tests/healthgen).

The importer's tests trust the generator's ground truth, so here we check that the truth is
(1) deterministic, (2) produced with flat memory at speed, and (3) equal to an independent
re-computation from the XML (tests/healthgen/reference.py) under data-model §1 rules.
"""

from __future__ import annotations

import io
import math
import os
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import psutil
import pytest

from tests.healthgen import GenConfig, GroundTruth, make_demo_export, write_export, write_zip
from tests.healthgen import hostile
from tests.healthgen.__main__ import main as cli_main
from tests.healthgen.generator import (SOURCE_EMOJI, SOURCE_PHONE, SOURCE_WATCH,
                                       config_for_size, measure)
from tests.healthgen.reference import compute

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
SMALL = GenConfig(days=12, scale=0.3)


def _xml(cfg: GenConfig) -> tuple[bytes, GroundTruth]:
    buf = io.BytesIO()
    truth = write_export(buf, cfg)
    return buf.getvalue(), truth


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


# ---------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_bytes() -> None:
    a, ta = _xml(SMALL)
    b, tb = _xml(GenConfig(days=12, scale=0.3))
    assert a == b
    assert ta.to_json() == tb.to_json()
    c, _ = _xml(GenConfig(days=12, scale=0.3, seed=2))
    assert c != a


def test_zip_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_zip(tmp_path / "a.zip", SMALL)

    class _Clock:  # zipfile stamps members with time.localtime(time.time()) by default
        localtime = staticmethod(time.localtime)

        @staticmethod
        def time() -> float:
            return 1e9

    monkeypatch.setattr(zipfile, "time", _Clock)
    write_zip(tmp_path / "b.zip", SMALL)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


# ---------------------------------------------------------------------------------------
# Ground truth == independent recomputation from the XML


CONFIGS = {
    "us_v14_travel": GenConfig(days=16, scale=0.3),
    "metric_v11_old_style": GenConfig(days=20, scale=0.3, unit_profile="metric",
                                      export_version=11, seed=3, export_offset="+0100",
                                      home_tz="Europe/Paris", locale="en_GB"),
    "kj_dst_fr": GenConfig(days=22, scale=0.2, unit_profile="kj", start=date(2024, 2, 25),
                           export_offset="-0700", seed=5, locale="fr_FR"),
    "v12_malformed_dtd_nepal": GenConfig(days=8, scale=0.2, export_version=12,
                                         export_offset="+0545", home_tz="Asia/Kathmandu",
                                         malformed_dtd=True, seed=9),
    "v3_mixed_units": GenConfig(days=6, scale=0.2, export_version=3, mixed_units=True,
                                seed=13, travel=False),
}


def _strip_doctype(x: bytes) -> bytes:
    i = x.find(b"<!DOCTYPE")
    if i < 0:
        return x
    j = x.index(b"]>", i) + 2
    return x[:i] + x[j:]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_truth_matches_reference(name: str) -> None:
    cfg = CONFIGS[name]
    x, g = _xml(cfg)
    r = compute(io.BytesIO(_strip_doctype(x)))
    for f in ("steps_by_day", "steps_naive_by_day", "distance_km_by_day",
              "distance_km_naive_by_day", "active_kcal_by_day", "active_kcal_naive_by_day",
              "basal_kcal_by_day", "weight_kg_by_day", "resting_hr_by_day"):
        mine = getattr(g, f)
        ref = {k: v for k, v in r[f].items() if abs(v) > 1e-9 or k in mine}
        assert set(mine) == set(ref), f
        bad = {k: (mine[k], ref[k]) for k in mine if not _close(mine[k], ref[k])}
        assert not bad, (f, bad)
    assert g.records_by_type == r["records_by_type"]
    for f in ("duplicates_dropped", "raw_record_elements", "nested_correlation_records",
              "correlations_by_type", "date_range"):
        assert getattr(g, f) == r[f], f
    assert set(g.sleep_by_night) == set(r["sleep_by_night"])
    for night, ref in r["sleep_by_night"].items():
        mine = g.sleep_by_night[night]
        for k, v in ref.items():
            assert (mine[k] == v) if isinstance(v, str) else _close(mine[k], v), (night, k)
    mine_w = sorted(g.workouts, key=lambda w: (w["date"], w["hour"]))
    assert len(mine_w) == len(r["workouts"]) > 0
    for a, b in zip(mine_w, r["workouts"]):
        for k, v in b.items():
            ok = _close(a[k], v) if isinstance(v, float) or v is None else a[k] == v
            assert ok, (a["date"], k, a[k], v)
    assert sorted(g.activity_by_day) == r["activity_days"]
    assert set(g.metric_daily) == set(r["metric_daily"])
    for typ, rows in r["metric_daily"].items():
        assert set(g.metric_daily[typ]) == set(rows), typ
        for day, ref in rows.items():
            mine = g.metric_daily[typ][day]
            assert set(mine) == set(ref), (typ, day)
            assert all(_close(mine[k], ref[k]) for k in ref), (typ, day, mine, ref)
    assert {s["key"]: s["records"] for s in g.sources if s["records"]} == r["records_by_source"]


# ---------------------------------------------------------------------------------------
# Self-consistency of the truth


def test_dedup_semantics() -> None:
    x, g = _xml(GenConfig(days=20, scale=0.5))
    assert sum(g.steps_by_day.values()) < sum(g.steps_naive_by_day.values())
    ratio = sum(g.steps_naive_by_day.values()) / sum(g.steps_by_day.values())
    assert 1.5 < ratio < 2.3, ratio  # iPhone duplicates most Watch bouts
    assert sum(g.distance_km_by_day.values()) < sum(g.distance_km_naive_by_day.values())
    assert sum(g.active_kcal_by_day.values()) < sum(g.active_kcal_naive_by_day.values())
    # Steps are integers except where proration applies.
    assert all(isinstance(v, int) for v in g.steps_by_day.values())
    po = g.partial_overlap
    assert po["steps_kept"] == po["steps_value"] / 2 and po["covered_fraction"] == 0.5
    assert po["date"] in g.steps_by_day
    srcs = {s["name"]: s for s in g.sources}
    assert srcs[SOURCE_WATCH]["key"] == f"{SOURCE_WATCH}|Watch"
    assert srcs[SOURCE_PHONE]["kind"] == "phone" and srcs[SOURCE_EMOJI]["kind"] == "app"
    assert g.duplicates_dropped == 3  # BodyMass x3 (2 dropped) + one HR with another 0x
    assert g.raw_top_level_records == g.records_total + 3
    assert g.raw_record_elements == x.count(b"<Record ")
    assert len(g.bp_correlations) == g.correlations_by_type[
        "HKCorrelationTypeIdentifierBloodPressure"]
    assert any(b["diastolic_first"] for b in g.bp_correlations)
    assert all(25 <= h["beats"] <= 35 for h in g.hrv_records)
    assert g.workouts_by_weekday and sum(g.workouts_by_weekday.values()) == len(g.workouts)
    assert len(g.activity_by_day) == 20


def test_every_workout_is_in_the_xml() -> None:
    x, g = _xml(SMALL)
    starts = []
    for _, el in ET.iterparse(io.BytesIO(x)):
        if el.tag == "Workout":
            starts.append((datetime.fromisoformat(el.get("startDate")).astimezone(timezone.utc),
                           el.get("workoutActivityType")))
    mine = [(datetime.fromisoformat(w["start_utc"]), w["type_raw"]) for w in g.workouts]
    assert sorted(starts) == sorted(mine)
    styles = {w["style"] for w in g.workouts}
    assert {"interval", "thirdparty", "new"} <= styles
    # Evening US workouts: the UTC date is the next day.
    evening = [w for w in g.workouts if w["tz"] == "America/Los_Angeles" and w["hour"] >= 18]
    assert evening and all(w["start_utc"][:10] != w["date"] for w in evening if w["hour"] >= 16)
    travel = _xml(CONFIGS["us_v14_travel"])[1]
    assert any(w["tz"] == "Asia/Tokyo" for w in travel.workouts)


def test_printed_offset_and_true_zone() -> None:
    x, g = _xml(CONFIGS["kj_dst_fr"])
    body = x[x.index(b"<HealthData"):]
    # every timestamp printed with the export offset, HKTimeZone names the real zone
    assert b" -0800\"" not in body and b" -0700\"" in body
    assert b'key="HKTimeZone" value="America/Los_Angeles"' in body
    # the night of the US DST change (2024-03-10) is there and measured in real minutes
    night = g.sleep_by_night["2024-03-10"]
    assert night["bed_time_local"].endswith("-08:00") and night["wake_time_local"].endswith("-07:00")


# ---------------------------------------------------------------------------------------
# Streaming, speed, sizes


def test_streaming_memory_is_flat_and_fast(tmp_path: Path) -> None:
    cfg = GenConfig(days=30, scale=9.0)  # ~50 MB
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    truth = write_export(tmp_path / "big.xml", cfg)
    dt = time.perf_counter() - t0
    stop.set()
    th.join()
    mb = truth.xml_bytes / 1e6
    growth = (peak[0] - base) / 1e6
    print(f"\nhealthgen: {mb:.1f} MB in {dt:.2f} s = {mb / dt:.1f} MB/s, "
          f"{truth.records_total / dt:,.0f} records/s, RSS growth {growth:.1f} MB")
    assert mb > 40
    assert growth < 40, growth
    assert mb / dt > 5  # loose: the box is shared (20-70 MB/s measured depending on load)
    assert os.path.getsize(tmp_path / "big.xml") == truth.xml_bytes


@pytest.mark.parametrize("fixture", ["sample-ios17-export.xml", "real-ios12-export.xml"])
def test_can_match_fixture_sizes(fixture: str) -> None:
    p = FIXTURES / fixture
    if not p.exists():
        pytest.skip("shared fixtures not present")
    target = p.stat().st_size
    cfg = config_for_size(target)
    n = measure(cfg)
    assert 0.65 * target <= n <= 1.5 * target, (target, n, cfg)


def test_zip_layouts_and_members(tmp_path: Path) -> None:
    for layout, prefix in (("nested", "apple_health_export/"), ("flat", ""),
                           ("double", "export/apple_health_export/")):
        p = tmp_path / f"{layout}.zip"
        t = write_zip(p, GenConfig(days=6, scale=0.1, xml_name="exportar.xml"), layout=layout)
        names = zipfile.ZipFile(p).namelist()
        assert prefix + "exportar.xml" in names
        assert f"__MACOSX/{prefix}._exportar.xml" in names
        assert any(n.endswith(".gpx") for n in names) == bool(t.routes_written)
        with zipfile.ZipFile(p).open(prefix + "exportar.xml") as f:
            assert len(f.read()) == t.xml_bytes


# ---------------------------------------------------------------------------------------
# CLI and demo


def test_cli_prints_truth_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.zip"
    assert cli_main([str(out), "--days", "5", "--scale", "0.2", "--seed", "4"]) == 0
    tp = Path(capsys.readouterr().out.strip())
    assert tp.exists() and out.exists()
    truth = GroundTruth.load(tp)
    assert truth.config["seed"] == 4 and len(truth.activity_by_day) == 5


def test_make_demo_export(tmp_path: Path) -> None:
    t = make_demo_export(tmp_path / "demo.zip", end=date(2025, 6, 30))
    assert len(t.activity_by_day) == 90
    assert max(t.activity_by_day) == "2025-06-30"
    assert t.config["export_offset"] == "-0700"  # PDT on export day


# ---------------------------------------------------------------------------------------
# Hostile builders


def _top_level_records(x: bytes) -> int:
    x = _strip_doctype(x).replace(b"\x0b", b"")
    n = 0
    depth = 0
    for ev, el in ET.iterparse(io.BytesIO(x), events=("start", "end")):
        if ev == "start":
            depth += 1
            if el.tag == "Record" and depth == 2:
                n += 1
        else:
            depth -= 1
    return n


def _sniff_zip(p: Path) -> bytes:
    with zipfile.ZipFile(p) as zf:
        for info in zf.infolist():
            if info.filename.startswith("__MACOSX/") or info.filename.count("/") > 2:
                continue
            with zf.open(info) as f:
                head = f.read(4096)
            if b"<HealthData" in head or b"<!DOCTYPE HealthData" in head:
                return zf.read(info)
    raise LookupError("no HealthData member")


def test_hostile_registry_partitions() -> None:
    parts = (hostile.VALID_VARIANTS, hostile.REJECTED, hostile.PARTIAL)
    assert set().union(*parts) == set(hostile.HOSTILE_CASES)
    assert sum(map(len, parts)) == len(hostile.HOSTILE_CASES)
    assert set(hostile.EXPECTED) == set(hostile.HOSTILE_CASES)


def test_valid_variants_contain_the_base_data(tmp_path: Path) -> None:
    base = hostile.base_truth()
    for name in sorted(hostile.VALID_VARIANTS):
        p = hostile.HOSTILE_CASES[name](tmp_path)
        x = _sniff_zip(p) if p.suffix == ".zip" else p.read_bytes()
        if x.startswith(b"\xef\xbb\xbf"):
            x = x[3:]
        want = 0 if name == "healthdata_empty" else (
            hostile.base_truth(12) if name in hostile.V12_BASED else base).raw_top_level_records
        assert _top_level_records(x) == want, name


def test_bad_records_are_injected_at_top_level(tmp_path: Path) -> None:
    x = hostile.bad_records(tmp_path).read_bytes()
    base = hostile.base_truth()
    assert _top_level_records(x) == base.raw_top_level_records + len(hostile.BAD_RECORDS)
    lo, hi = hostile.bad_records_count_bounds()
    assert lo == base.records_by_type and sum(hi.values()) - sum(lo.values()) == 4
    assert {p for _, _, p in hostile.BAD_RECORDS} == {"skip", "skip_or_keep"}


def test_rejected_cases_are_what_they_claim(tmp_path: Path) -> None:
    d = tmp_path
    b = hostile.HOSTILE_CASES
    for name in ("billion_laughs", "quadratic_blowup", "xxe_file", "xxe_http",
                 "parameter_entity"):
        assert b"<!ENTITY" in b[name](d).read_bytes()
    assert b'SYSTEM "http' in b["external_dtd"](d).read_bytes()
    t0 = time.perf_counter()
    with pytest.raises(ET.ParseError):  # expat refuses the amplification
        ET.parse(b["billion_laughs"](d))
    assert time.perf_counter() - t0 < 2
    for name in ("truncated_mid_attribute", "truncated_mid_element", "truncated_no_root_close",
                 "zero_byte", "prolog_dtd_only", "duplicate_attribute", "attribute_with_space"):
        with pytest.raises(ET.ParseError):
            ET.parse(io.BytesIO(_strip_doctype(b[name](d).read_bytes())))
    with zipfile.ZipFile(b["zip_bad_crc"](d)) as zf, pytest.raises(zipfile.BadZipFile):
        zf.read("apple_health_export/export.xml")
    with zipfile.ZipFile(b["zip_encrypted_flag"](d)) as zf, pytest.raises(RuntimeError):
        zf.read("apple_health_export/export.xml")
    with zipfile.ZipFile(b["zip_unsupported_method"](d)) as zf, \
            pytest.raises(NotImplementedError):
        zf.read("apple_health_export/export.xml")
    for name in ("html_renamed_zip", "one_byte_zip", "png_renamed_zip"):
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(b[name](d))
    assert zipfile.ZipFile(b["empty_zip"](d)).namelist() == []
    assert len(zipfile.ZipFile(b["zip_10k_entries"](d)).infolist()) == 10_000
    names = zipfile.ZipFile(b["zip_slip"](d)).namelist()
    assert any(n.startswith("../") for n in names) and any(n.startswith("/") for n in names)
    inner = zipfile.ZipFile(b["zip_nested_zip"](d)).namelist()
    assert inner == ["export.zip"]
    sp = b["sparse_5gb"](d)
    assert sp.stat().st_size == 5 << 30 and sp.stat().st_blocks * 512 < 1 << 20
    utf16 = b["utf16"](d).read_bytes()
    assert utf16[:2] in (b"\xff\xfe", b"\xfe\xff")


def test_zip_bomb_is_small_and_huge(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    p = hostile.zip_bomb(tmp_path)
    built = time.perf_counter() - t0
    info = zipfile.ZipFile(p).getinfo("apple_health_export/export.xml")
    assert info.file_size > 2 << 30
    assert p.stat().st_size < 4 << 20
    assert built < 5
    with zipfile.ZipFile(p).open(info) as f:  # a valid deflate stream with an XML head
        assert f.read(64).startswith(b"<?xml")


def test_zip64_bomb_headers(tmp_path: Path) -> None:
    p = hostile.zip_bomb_zip64(tmp_path)
    info = zipfile.ZipFile(p).getinfo("apple_health_export/export.xml")
    assert info.file_size == 5 << 30 and p.stat().st_size < 8 << 20
    with zipfile.ZipFile(p).open(info) as f:
        assert f.read(5) == b"<?xml"


def test_cn_names_with_and_without_utf8_flag(tmp_path: Path) -> None:
    with zipfile.ZipFile(hostile.zip_cn_utf8_flag(tmp_path)) as zf:
        (info,) = zf.infolist()
        assert info.filename.endswith("导出.xml") and info.flag_bits & 0x800
    with zipfile.ZipFile(hostile.zip_cn_no_utf8_flag(tmp_path)) as zf:
        (info,) = zf.infolist()
        assert not info.flag_bits & 0x800
        assert info.filename.encode("cp437").decode("utf-8").endswith("导出.xml")
