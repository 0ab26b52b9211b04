"""Import generated exports into a real Redis and compare every number with ground truth."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.integration._import_helpers import dump_user, write_generated
from wellness.healthkit import ImportCancelled, forget_user_data, import_export
from wellness.store.keys import UserKeys

pytestmark = pytest.mark.integration

STEPS = "HKQuantityTypeIdentifierStepCount"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    tmp = tmp_path_factory.mktemp("gen")
    return write_generated(tmp, "export.zip", seed=3, days=45, scale=0.4)


def _daily(r, keys: UserKeys, metric: str) -> dict[str, dict]:  # noqa: ANN001
    return {d: json.loads(v) for d, v in r.hgetall(keys.metric_daily(metric)).items()}


def test_import_matches_ground_truth(generated, store, settings, user_id) -> None:  # noqa: ANN001
    path, truth = generated
    summary = import_export(path, user_id, store, settings)
    keys = UserKeys(user_id)
    with store.connection() as r:
        steps = _daily(r, keys, STEPS)
        assert {d: v["s"] for d, v in steps.items()} == truth.steps_by_day
        for metric, expected in (
            ("HKQuantityTypeIdentifierDistanceWalkingRunning", truth.distance_km_by_day),
            ("HKQuantityTypeIdentifierActiveEnergyBurned", truth.active_kcal_by_day),
            ("HKQuantityTypeIdentifierBasalEnergyBurned", truth.basal_kcal_by_day),
        ):
            got = {d: v["s"] for d, v in _daily(r, keys, metric).items()}
            assert got.keys() == expected.keys()
            for d, v in expected.items():
                assert got[d] == pytest.approx(v, abs=1e-5), (metric, d)
        # naive sum is what a non-deduplicating importer would show: ours must be lower
        assert sum(truth.steps_naive_by_day.values()) > sum(truth.steps_by_day.values())
        days_z = r.zrange(keys.metric_days(STEPS), 0, -1)
        assert days_z == sorted(truth.steps_by_day)

        assert r.hgetall(keys.workout_days) == {k: str(v) for k, v in
                                               truth.workouts_by_weekday.items()}
        wids = r.zrange(keys.workout_by_date, 0, -1)
        assert len(wids) == len(truth.workouts)
        by_start = {}
        for wid in wids:
            h = r.hgetall(keys.workout(wid))
            by_start[h["start_utc"]] = h
        for w in truth.workouts:
            h = by_start[w["start_utc"]]
            assert h["type"] == w["type"] and h["weekday"] == w["weekday"]
            assert h["date"] == w["date"] and h["start_local"] == w["start_local"]
            if w["energy_kcal"] is None:
                assert h["energy_kcal"] == ""
            else:
                assert float(h["energy_kcal"]) == pytest.approx(w["energy_kcal"], abs=0.01)
            if w["distance_km"] is not None:
                assert float(h["distance_km"]) == pytest.approx(w["distance_km"], abs=0.001)
            assert float(h["duration_min"]) == pytest.approx(w["duration_min"], abs=0.01)
            if w["hr_avg"] is not None:
                assert float(h["hr_avg"]) == pytest.approx(w["hr_avg"], abs=0.01)

        nights = r.zrange(keys.sleep_by_date, 0, -1)
        assert nights == sorted(truth.sleep_by_night)
        for night, exp in truth.sleep_by_night.items():
            h = r.hgetall(keys.sleep_night(night))
            for f in ("asleep_min", "core_min", "deep_min", "rem_min", "awake_min", "in_bed_min"):
                assert float(h[f]) == pytest.approx(exp[f], abs=0.01), (night, f)
            assert h["source"] == exp["source_key"]
            assert h["bed_time"] == exp["bed_time_local"]

        hd = json.loads(r.execute_command("JSON.GET", keys.health_data, "$"))[0]
    counts = {k: v for k, v in hd["counts_by_type"].items() if k.startswith("HK")
              and not k.startswith("HKCorrelation") and k != "HKWorkout"}
    assert counts == truth.records_by_type
    assert hd["date_range"]["end"] == truth.date_range["end"]
    assert hd["date_range"]["start"] <= truth.date_range["start"]  # see test_import_cli.py
    assert hd["priority"][0].startswith("Jane’s Apple Watch")
    assert summary.warnings.get("duplicate") == truth.duplicates_dropped
    assert summary.to_dict()["records_per_s"] > 0


def test_reimport_is_idempotent_and_newer_export_replaces(generated, store, settings, user_id,
                                                         tmp_path: Path) -> None:  # noqa: ANN001
    path, _ = generated
    import_export(path, user_id, store, settings)
    first = dump_user(store, user_id, with_health_data=False)
    import_export(path, user_id, store, settings)
    second = dump_user(store, user_id, with_health_data=False)
    assert first == second
    keys = UserKeys(user_id)
    with store.connection() as r:
        hd = json.loads(r.execute_command("JSON.GET", keys.health_data, "$"))[0]
    assert len(hd["imports"]) == 2

    # A different export: no stale workout hashes from the first one survive.
    newer, truth2 = write_generated(tmp_path, "export2.xml", seed=11, days=20, scale=0.2,
                                    start=__import__("datetime").date(2024, 6, 1))
    import_export(newer, user_id, store, settings)
    with store.connection() as r:
        wids = set(r.zrange(keys.workout_by_date, 0, -1))
        hashes = {k.rsplit(":", 1)[1] for k in r.scan_iter(match=f"user:{user_id}:workout:*")
                  if not k.endswith((":days", ":by_date"))}
        assert wids == hashes and len(wids) == len(truth2.workouts)
        assert not list(r.scan_iter(match=f"user:{user_id}:staging:*"))
        assert r.get(keys.import_lock) is None


def test_cancel_leaves_previous_data(generated, store, settings, user_id) -> None:  # noqa: ANN001
    path, _ = generated
    import_export(path, user_id, store, settings)
    before = dump_user(store, user_id)
    cancel = threading.Event()
    calls = []

    def progress(p) -> None:  # noqa: ANN001
        calls.append(p)
        if p.phase == "reading" and p.bytes_read > 0:
            cancel.set()

    with pytest.raises(ImportCancelled):
        import_export(path, user_id, store, settings, progress=progress, cancel=cancel)
    assert dump_user(store, user_id) == before
    assert calls and calls[0].phase == "reading"


def test_leftover_staging_cleaned_and_forget(generated, store, settings, user_id) -> None:  # noqa: ANN001
    path, _ = generated
    keys = UserKeys(user_id)
    with store.connection() as r:
        r.set(keys.staging("dead").health_metric("X"), "1")
        r.hset(f"episodic:{user_id}:goal:01ABC", mapping={"text": "walk"})
        r.set(f"checkpoint:{user_id}:thread1::abc", "x")
        r.set("user:someoneelse:health_data:keep", "1")
    import_export(path, user_id, store, settings)
    with store.connection() as r:
        assert not list(r.scan_iter(match=keys.staging_pattern()))
    n = forget_user_data(store, user_id)
    assert n > 10
    with store.connection() as r:
        assert not list(r.scan_iter(match=f"user:{user_id}:*"))
        assert not list(r.scan_iter(match=f"episodic:{user_id}:*"))
        assert not list(r.scan_iter(match=f"checkpoint:{user_id}:*"))
        assert r.get("user:someoneelse:health_data:keep") == "1"
        r.delete("user:someoneelse:health_data:keep")


def test_retention_ttl_applied(generated, store, settings, user_id) -> None:  # noqa: ANN001
    path, _ = generated
    import_export(path, user_id, store, settings.with_overrides(retention_days=7))
    with store.connection() as r:
        ttls = [r.ttl(k) for k in r.scan_iter(match=f"user:{user_id}:*")]
    assert ttls and all(0 < t <= 7 * 86400 for t in ttls)


def test_daily_rollups_match_ground_truth(generated, store, settings, user_id) -> None:  # noqa: ANN001
    path, truth = generated
    metric_daily = getattr(truth, "metric_daily", None)
    if not metric_daily:
        pytest.skip("generator without metric_daily")
    import_export(path, user_id, store, settings)
    keys = UserKeys(user_id)
    with store.connection() as r:
        for metric, rows in metric_daily.items():
            got = _daily(r, keys, metric)
            assert got.keys() == rows.keys(), metric
            for day, exp in rows.items():
                for f, v in exp.items():
                    assert got[day][f] == pytest.approx(v, rel=1e-6, abs=1e-6), (metric, day, f)
            unit = truth.metric_units.get(metric)
            if unit:
                assert json.loads(r.get(keys.health_metric(metric)))["unit"] == unit


def test_concurrent_import_refused_and_dead_lock_taken_over(generated, store, settings,
                                                            user_id) -> None:  # noqa: ANN001
    from wellness.healthkit import ImportInProgress

    path, _ = generated
    keys = UserKeys(user_id)
    with store.connection() as r:
        r.set(keys.import_lock, "otherhost:1:abc", ex=60)
    with pytest.raises(ImportInProgress):
        import_export(path, user_id, store, settings)
    with store.connection() as r:
        assert not list(r.scan_iter(match=f"user:{user_id}:health*"))
        # a lock left by a dead process on this host is taken over
        import socket
        r.set(keys.import_lock, f"{socket.gethostname()}:999999:dead", ex=60)
    import_export(path, user_id, store, settings)
    with store.connection() as r:
        assert r.get(keys.import_lock) is None


@pytest.mark.parametrize("cfg", [
    {"seed": 21, "days": 12, "scale": 0.2, "unit_profile": "metric", "export_offset": "+0545",
     "home_tz": "Asia/Kathmandu"},
    {"seed": 22, "days": 12, "scale": 0.2, "unit_profile": "kj", "export_version": 11,
     "start": __import__("datetime").date(2024, 3, 5)},   # crosses the US DST change
])
def test_matches_independent_reference_oracle(cfg, tmp_path: Path) -> None:  # noqa: ANN001
    from tests.healthgen.reference import compute
    from wellness.healthkit.importer import parse_export

    path, _ = write_generated(tmp_path, "export.xml", **cfg)
    ref = compute(path)
    result, stats = parse_export(path)
    got_steps = {d: json.loads(v)["s"] for d, v in
                 result.metrics[STEPS].daily.items()}
    assert got_steps.keys() == ref["steps_by_day"].keys()
    for d, v in ref["steps_by_day"].items():
        assert got_steps[d] == pytest.approx(v, abs=1e-6)
    assert stats["warnings"].get("duplicate", 0) == ref["duplicates_dropped"]
    for night, exp in ref["sleep_by_night"].items():
        got = result.sleep[night]
        assert float(got["asleep_min"]) == pytest.approx(exp["asleep_min"], abs=0.01)
        assert float(got["in_bed_min"]) == pytest.approx(exp["in_bed_min"], abs=0.01)


def test_spilling_to_disk_gives_identical_data(generated, store, settings, user_id,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Huge exports spill columns to temp files past SPILL_ROWS; the result must not change.

    (A stray line on the spill path crashed every serial import of more than a million
    numeric records; the 1 GB benchmark found it.)
    """
    import wellness.healthkit.aggregate as aggregate

    path, _ = generated
    monkeypatch.setenv("WELLNESS_IMPORT_WORKERS", "1")
    import_export(path, user_id, store, settings)
    whole = dump_user(store, user_id, with_health_data=False)
    monkeypatch.setattr(aggregate, "SPILL_ROWS", 997)
    import_export(path, user_id, store, settings)
    assert dump_user(store, user_id, with_health_data=False) == whole
