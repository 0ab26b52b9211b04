"""Pure parsing tests: units, dates, sources, prolog safety, dedup maths, fixture exports."""

from __future__ import annotations

import sys
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from wellness.healthkit.dedup import IntervalUnion, prorate_by_priority
from wellness.healthkit.errors import (
    NotHealthExport,
    TruncatedExport,
    UnsafeInput,
    ZipBombDetected,
)
from wellness.healthkit.importer import parse_export
from wellness.healthkit.safety import PrologFilter, looks_like_health_export
from wellness.healthkit.sleep import stage_of, union_minutes
from wellness.healthkit.sources import SourceRegistry, parse_device
from wellness.healthkit.timeutil import BadDate, parse_instant
from wellness.healthkit.units import convert, parse_number_with_unit

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
IOS12 = FIXTURES / "real-ios12-export.xml"
IOS17 = FIXTURES / "sample-ios17-export.xml"

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _doc(body: str, dtd: str = "") -> bytes:
    return HEAD + dtd.encode() + b'<HealthData locale="en_US">\n' + body.encode() + \
        b"\n</HealthData>\n"


def _rec(t: str = "HKQuantityTypeIdentifierStepCount", value: str = "10", unit: str = "count",
         start: str = "2024-01-02 10:00:00 -0800", end: str = "2024-01-02 10:10:00 -0800",
         src: str = "Jane’s iPhone", extra: str = "") -> str:
    return (f' <Record type="{t}" sourceName="{src}" unit="{unit}" startDate="{start}" '
            f'endDate="{end}" value="{value}"{extra}/>')


def _parse(tmp_path: Path, data: bytes, workers: int = 1):  # noqa: ANN202
    p = tmp_path / "export.xml"
    p.write_bytes(data)
    return parse_export(p, workers=workers)


# -- units / dates / sources ---------------------------------------------------------------
@pytest.mark.parametrize("t,v,u,exp,cu", [
    ("HKQuantityTypeIdentifierBodyMass", 150.0, "lb", 68.0388555, "kg"),
    ("HKQuantityTypeIdentifierDistanceWalkingRunning", 1.0, "mi", 1.609344, "km"),
    ("HKQuantityTypeIdentifierActiveEnergyBurned", 418.4, "kJ", 100.0, "kcal"),
    ("HKQuantityTypeIdentifierActiveEnergyBurned", 12.0, "Cal", 12.0, "kcal"),
    ("HKQuantityTypeIdentifierBodyTemperature", 98.6, "degF", 37.0, "degC"),
    ("HKQuantityTypeIdentifierBloodGlucose", 5.0, "mmol<180.1558800000541>/L", 90.0779400, "mg/dL"),
    ("HKQuantityTypeIdentifierOxygenSaturation", 0.97, "%", 97.0, "%"),
    ("HKQuantityTypeIdentifierHeight", 6.0, "ft", 182.88, "cm"),
])
def test_units_convert_to_canonical(t: str, v: float, u: str, exp: float, cu: str) -> None:
    value, unit = convert(t, v, u)  # type: ignore[misc]
    assert unit == cu and value == pytest.approx(exp, rel=1e-6)


def test_unknown_unit_and_metadata_numbers() -> None:
    assert convert("HKQuantityTypeIdentifierStepCount", 1.0, "furlongs") is None
    assert parse_number_with_unit("418 cm") == (418.0, "cm")
    assert parse_number_with_unit("9.66668 kcal/hr·kg") == (9.66668, "kcal/hr·kg")


def test_dates_keep_instant_and_offset() -> None:
    ts, off = parse_instant("2024-10-22 08:15:32 -0700")
    assert ts == datetime.fromisoformat("2024-10-22T15:15:32+00:00").timestamp()
    assert off == -7 * 3600
    assert parse_instant("2024-10-22 08:15:32 +0545")[1] == 5 * 3600 + 45 * 60
    for bad in ("2024-13-22 08:15:32 -0700", "2024-10-22 08:15:32", "", "1970-01-01 00:00:00 +0000",
                "2024-10-22 24:00:00 -0700", None):
        with pytest.raises(BadDate):
            parse_instant(bad)


def test_source_key_ignores_device_address() -> None:
    reg = SourceRegistry()
    a = reg.intern("Jane’s iPhone", "<<HKDevice: 0x1>, name:iPhone, manufacturer:Apple Inc., "
                   "model:iPhone, hardware:iPhone15,2, software:17.3>")
    b = reg.intern("Jane’s iPhone", "<<HKDevice: 0x2ffff>, name:iPhone, manufacturer:Apple Inc., "
                   "model:iPhone, hardware:iPhone15,2, software:17.3>")
    w = reg.intern("Jane’s Apple Watch", "<<HKDevice: 0x3>, name:Apple Watch, model:Watch, "
                   "hardware:Watch6,2>")
    app = reg.intern("MyFitnessPal", None)
    assert a == b and reg.sources[a].key == "Jane’s iPhone|iPhone"
    assert [reg.sources[i].kind for i in (a, w, app)] == ["phone", "watch", "app"]
    assert reg.priority_keys() == ["Jane’s Apple Watch|Watch", "Jane’s iPhone|iPhone",
                                   "MyFitnessPal"]
    assert reg.priority_keys(("myfitness",))[0] == "MyFitnessPal"
    assert parse_device("<<HKDevice: 0x9>, name:AirPods, model:0x2014>")[0] == "AirPods"


# -- dedup maths -----------------------------------------------------------------------------
def test_interval_union_coverage() -> None:
    u = IntervalUnion()
    u.add(np.array([0.0, 5.0, 20.0]), np.array([10.0, 12.0, 30.0]))
    assert u.covered(np.array([8.0, 11.0, 15.0]), np.array([25.0, 21.0, 18.0])).tolist() == \
        [9.0, 2.0, 0.0]
    assert u.contains(np.array([0.0, 12.0, 29.9])).tolist() == [True, False, True]


def test_prorate_by_priority() -> None:
    start = np.array([0.0, 0.0, 50.0, 120.0, 60.0])
    end = np.array([100.0, 100.0, 150.0, 200.0, 60.0])
    value = np.array([100.0, 90.0, 60.0, 10.0, 5.0])
    rank = np.array([0, 1, 1, 2, 2])   # watch, phone, phone, app, app(point)
    frac = prorate_by_priority(start, end, value, rank)
    # phone 0-100 fully covered; phone 50-150 keeps 100-150 (half); app 120-200 is covered
    # by phone until 150 -> keeps 50/80; app point at 60 is covered -> dropped
    assert frac.tolist() == pytest.approx([1.0, 0.0, 0.5, 50 / 80, 0.0])


def test_sleep_helpers() -> None:
    assert stage_of("HKCategoryValueSleepAnalysisAsleepCore") == "core"
    assert stage_of("HKCategoryValueSleepAnalysisAsleep") == "unspecified"
    assert union_minutes([(0, 600), (300, 900), (1200, 1260)]) == 16.0


# -- prolog / safety -----------------------------------------------------------------------
def test_prolog_strips_dtd_including_ios16_broken_one() -> None:
    broken = ('<!DOCTYPE HealthData [\n<!ATTLIST VisionPrescription\n  type CDATA #REQUIRED\n'
              '<!ELEMENT RightEye EMPTY>\n>\n]>\n')
    data = _doc(_rec(), broken)
    out = PrologFilter().feed(data)
    assert b"DOCTYPE" not in out and out.startswith(b"<?xml") and b"<HealthData" in out


@pytest.mark.parametrize("dtd", [
    '<!DOCTYPE HealthData [<!ENTITY a "b">]>\n',
    '<!DOCTYPE HealthData SYSTEM "http://example.com/x.dtd">\n',
    '<!DOCTYPE HealthData [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n',
])
def test_prolog_rejects_entities_and_external_ids(dtd: str) -> None:
    with pytest.raises(UnsafeInput):
        PrologFilter().feed(_doc(_rec(), dtd))


def test_sniffing() -> None:
    assert looks_like_health_export(b'<?xml version="1.0"?>\n<!DOCTYPE HealthData [')
    assert looks_like_health_export(b"\xef\xbb\xbf<HealthData locale='x'>")
    assert not looks_like_health_export(b"<ClinicalDocument>")


# -- whole-document parsing ---------------------------------------------------------------
def test_bad_records_are_skipped_and_counted(tmp_path: Path) -> None:
    body = "\n".join([
        _rec(),
        _rec(start="2024-13-22 08:15:32 -0700"),
        _rec(value="NaN"), _rec(value="1,5"), _rec(value=""),
        _rec(unit="furlongs"),
        _rec(value="-5"),
        ' <Record type="HKQuantityTypeIdentifierStepCount" unit="count" value="1"/>',
        _rec(t="HKQuantityTypeIdentifierFooBar", value="3"),
        " <FutureThing/>",
    ])
    result, stats = _parse(tmp_path, _doc(body))
    w = stats["warnings"]
    assert w["bad_date"] == 1 and w["unknown_unit"] == 1 and w["missing_attribute"] == 1
    assert w["bad_value"] == 4
    counts = result.health_data["counts_by_type"]
    assert counts["HKQuantityTypeIdentifierStepCount"] == 1
    assert counts["HKQuantityTypeIdentifierFooBar"] == 1   # unknown types kept by real name
    assert counts["FutureThing"] == 1


@pytest.mark.parametrize("data,exc", [
    (b"", NotHealthExport),
    (b"<html><body>not health</body></html>", NotHealthExport),
    (HEAD + b'<HealthData locale="en_US">\n <Record type="HKQuantityTypeIdentifierStepCount" so',
     TruncatedExport),
    (HEAD + b'<HealthData locale="en_US">\n' + _rec().encode() + b"\n", TruncatedExport),
    (HEAD + b'<HealthData locale="en_US">&xxe;</HealthData>', UnsafeInput),
    (HEAD + b'<HealthData locale="en_US"><Record type="a" type="b"/></HealthData>',
     NotHealthExport),
    (HEAD + b"<Other><HealthData/></Other>", NotHealthExport),
])
def test_unusable_input_raises_typed_errors(tmp_path: Path, data: bytes, exc: type) -> None:
    with pytest.raises(exc) as info:
        _parse(tmp_path, data)
    assert info.value.user_message.endswith(".")


def test_ios12_fixture(tmp_path: Path) -> None:
    result, stats = parse_export(IOS12)
    counts = result.health_data["counts_by_type"]
    assert sum(v for k, v in counts.items() if k.startswith("HK")) == 3352
    assert counts["HKCategoryTypeIdentifierSleepAnalysis"] == 4
    srcs = {s["key"]: s for s in result.health_data["sources"]}
    step_sources = {s for d in result.metrics["HKQuantityTypeIdentifierStepCount"].daily.values()
                    for s in __import__("json").loads(d)["src"]}
    assert len(step_sources) == 1 and next(iter(step_sources)).endswith("|iPhone")
    assert srcs[next(iter(step_sources))]["kind"] == "phone"
    assert stats["warnings"] == {}


def test_ios17_fixture_workouts_correlations_hrv() -> None:
    from wellness.healthkit.aggregate import Collector
    from wellness.healthkit.parser import HealthParser
    from wellness.healthkit.records import HealthRecord

    seen: list[HealthRecord] = []

    class Spy(Collector):
        def quantity(self, *fields, rec=None) -> None:  # noqa: ANN001, ANN002
            seen.append(HealthRecord(*fields))
            super().quantity(*fields, rec=rec)

    reg = SourceRegistry()
    spy = Spy(reg)
    parser = HealthParser(spy, reg)
    parser.feed(PrologFilter().feed(IOS17.read_bytes()), True)
    result = spy.build(())
    hrv = [r for r in seen if r.type.endswith("HeartRateVariabilitySDNN")]
    assert hrv and hrv[0].beats == [(72.0, "7:47:41.86 PM"), (68.0, "7:47:53.78 PM")]
    # BP correlation: its nested records are not counted as top-level records
    assert spy.correlations["HKCorrelationTypeIdentifierBloodPressure"] == 1
    assert "HKQuantityTypeIdentifierBloodPressureSystolic" not in result.metrics
    walk = next(w for w in result.workouts.values() if w["type"] == "Walking")
    assert walk["energy_kcal"] == "342.5" and walk["hr_avg"] == "92.5"
    assert walk["distance_km"] == "5.234" and walk["indoor"] == "0"
    glucose = result.metrics["HKQuantityTypeIdentifierBloodGlucose"]
    assert glucose.summary["unit"] == "mg/dL"
    assert glucose.summary["last"]["raw_unit"] == "mmol<180.1558800000541>/L"


def test_workout_statistics_direct_children_only(tmp_path: Path) -> None:
    w = (' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" '
         'durationUnit="min" sourceName="Jane’s Apple Watch" startDate="2024-01-02 07:00:00 -0800" '
         'endDate="2024-01-02 07:30:00 -0800">\n'
         '  <MetadataEntry key="HKTimeZone" value="America/New_York"/>\n'
         '  <MetadataEntry key="HKElevationAscended" value="418 cm"/>\n'
         '  <WorkoutActivity uuid="x" startDate="2024-01-02 07:00:00 -0800">\n'
         '   <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" '
         'startDate="2024-01-02 07:00:00 -0800" endDate="2024-01-02 07:30:00 -0800" sum="999" unit="kcal"/>\n'
         '  </WorkoutActivity>\n'
         '  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" '
         'startDate="2024-01-02 07:00:00 -0800" endDate="2024-01-02 07:30:00 -0800" sum="1046" unit="kJ"/>\n'
         '  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" '
         'startDate="2024-01-02 07:00:00 -0800" endDate="2024-01-02 07:30:00 -0800" sum="3.1" unit="mi"/>\n'
         '  <WorkoutRoute sourceName="x" startDate="2024-01-02 07:00:00 -0800" endDate="2024-01-02 07:30:00 -0800">\n'
         '   <FileReference path="/workout-routes/route_1.gpx"/>\n  </WorkoutRoute>\n'
         ' </Workout>')
    result, _ = _parse(tmp_path, _doc(w))
    (fields,) = result.workouts.values()
    assert fields["energy_kcal"] == "250"  # 1046 kJ, never the nested 999
    assert float(fields["distance_km"]) == pytest.approx(4.989, abs=1e-3)
    assert fields["start_local"] == "2024-01-02T10:00:00-05:00"  # HKTimeZone wins
    assert fields["elevation_m"] == "4.2" and fields["routes"] == '["/workout-routes/route_1.gpx"]'


def test_zip_member_found_by_content_and_bomb_rejected(tmp_path: Path) -> None:
    z = tmp_path / "exportar.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__MACOSX/apple_health_export/._exportar.xml", b"\x00\x05\x16\x07junk")
        zf.writestr("apple_health_export/export_cda.xml", HEAD + b"<ClinicalDocument/>")
        zf.writestr("apple_health_export/导出.xml", _doc(_rec()))
    result, stats = parse_export(z)
    assert stats["file"] == "导出.xml"
    assert result.health_data["counts_by_type"]["HKQuantityTypeIdentifierStepCount"] == 1
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export.xml", HEAD + b"<HealthData>" + b" " * (64 << 20) + b"</HealthData>")
    with pytest.raises(ZipBombDetected):
        parse_export(bomb)


def test_parallel_and_serial_agree(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.healthgen import GenConfig, write_export

    p = tmp_path / "export.xml"
    write_export(p, GenConfig(seed=5, days=40, scale=0.5))
    serial, s1 = parse_export(p, workers=1)
    par, s2 = parse_export(p, workers=2)
    s1.pop("build_seconds")
    s2.pop("build_seconds")
    assert s1 == s2
    assert serial.health_data == par.health_data
    assert {t: (m.summary, m.daily) for t, m in serial.metrics.items()} == \
        {t: (m.summary, m.daily) for t, m in par.metrics.items()}
    assert serial.workouts == par.workouts and serial.sleep == par.sleep


def test_parallel_falls_back_on_odd_layout(tmp_path: Path) -> None:
    # Everything on one line: no safe cut points, and entities after the first piece.
    one_line = _doc("".join(_rec(start=f"2024-01-02 10:{i % 60:02d}:00 -0800",
                                 end=f"2024-01-02 10:{i % 60:02d}:30 -0800", value=str(i))
                            for i in range(20000)).replace("\n", ""))
    result, stats = _parse(tmp_path, one_line, workers=2)
    assert result.health_data["counts_by_type"]["HKQuantityTypeIdentifierStepCount"] > 0
    with pytest.raises(UnsafeInput):
        _parse(tmp_path, one_line.replace(b"</HealthData>", b"&x;</HealthData>"), workers=2)


def test_parallel_from_a_thread_uses_spawn_and_agrees(tmp_path: Path) -> None:
    import threading

    from tests.healthgen import GenConfig, write_export

    p = tmp_path / "export.xml"
    write_export(p, GenConfig(seed=6, days=20, scale=0.5))
    serial, _ = parse_export(p, workers=1)
    out: dict = {}

    def run() -> None:
        out["r"] = parse_export(p, workers=2)

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    par, _ = out["r"]
    assert serial.health_data == par.health_data
    assert {k: m.daily for k, m in serial.metrics.items()} == \
        {k: m.daily for k, m in par.metrics.items()}


def test_spilled_columns_give_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glob
    import tempfile

    from tests.healthgen import GenConfig, write_export
    from wellness.healthkit import aggregate

    p = tmp_path / "export.xml"
    write_export(p, GenConfig(seed=8, days=15, scale=0.4))
    ref, _ = parse_export(p, workers=1)
    monkeypatch.setattr(aggregate, "SPILL_ROWS", 997)
    import os

    mine = f"{tempfile.gettempdir()}/wellness-import-{os.getpid()}-*"  # others run imports too
    before = set(glob.glob(mine))
    for workers in (1, 2):
        got, _ = parse_export(p, workers=workers)
        assert got.health_data == ref.health_data
        assert {k: m.daily for k, m in got.metrics.items()} == \
            {k: m.daily for k, m in ref.metrics.items()}
    assert set(glob.glob(mine)) == before


def test_directory_and_gzip_inputs(tmp_path: Path) -> None:
    import gzip

    d = tmp_path / "apple_health_export"
    (d / "workout-routes").mkdir(parents=True)
    (d / "workout-routes" / "route_1.gpx").write_text("<gpx/>")
    (d / "export_cda.xml").write_bytes(HEAD + b"<ClinicalDocument/>")
    (d / "vienti.xml").write_bytes(_doc(_rec()))
    result, stats = parse_export(tmp_path)
    assert stats["file"] == "vienti.xml"
    assert result.health_data["counts_by_type"]["HKQuantityTypeIdentifierStepCount"] == 1
    gz = tmp_path / "export.xml.gz"
    gz.write_bytes(gzip.compress(_doc(_rec())))
    result, _ = parse_export(gz)
    assert result.health_data["counts_by_type"]["HKQuantityTypeIdentifierStepCount"] == 1
    with pytest.raises(NotHealthExport):
        parse_export(d / "workout-routes")
