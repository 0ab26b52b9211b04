"""The two shared fixtures (a real iOS 12 export, an iOS 17 sample) through Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wellness.healthkit import import_export
from wellness.store.keys import UserKeys

pytestmark = pytest.mark.integration


def test_ios12_export(shared_fixtures: Path, store, settings, user_id) -> None:  # noqa: ANN001
    summary = import_export(shared_fixtures / "real-ios12-export.xml", user_id, store, settings)
    assert sum(v for k, v in summary.counts_by_type.items() if k.startswith("HK")) == 3352
    assert summary.counts_by_type["HKCategoryTypeIdentifierSleepAnalysis"] == 4
    keys = UserKeys(user_id)
    with store.connection() as r:
        daily = {d: json.loads(v) for d, v in
                 r.hgetall(keys.metric_daily("HKQuantityTypeIdentifierStepCount")).items()}
        assert daily and all(len(v["src"]) == 1 for v in daily.values())
        assert sum(v["n"] for v in daily.values()) == 1588
        # one iPhone, nothing to dedup: the day total is the plain sum of its records
        assert all(v["s"] == sum(v["src"].values()) for v in daily.values())
        nights = r.zrange(keys.sleep_by_date, 0, -1)
        assert nights and all(r.hget(keys.sleep_night(n), "source") for n in nights)
        assert r.smembers(keys.metric_types) >= {"HKQuantityTypeIdentifierStepCount",
                                                 "HKQuantityTypeIdentifierDistanceWalkingRunning"}


def test_ios17_sample(shared_fixtures: Path, store, settings, user_id) -> None:  # noqa: ANN001
    summary = import_export(shared_fixtures / "sample-ios17-export.xml", user_id, store, settings)
    assert summary.workouts_by_type == {"Cycling": 1, "Walking": 1}
    assert summary.counts_by_type["HKCorrelationTypeIdentifierBloodPressure"] == 1
    keys = UserKeys(user_id)
    with store.connection() as r:
        assert r.hgetall(keys.workout_days) == {"Thursday": "1", "Friday": "1"}
        wids = r.zrange(keys.workout_by_date, 0, -1)
        walk = r.hgetall(keys.workout(wids[0]))
        assert walk["type"] == "Walking" and walk["energy_kcal"] == "342.5"
        assert walk["mets"] == "5.43" and walk["indoor"] == "0"
        glucose = json.loads(r.get(keys.health_metric("HKQuantityTypeIdentifierBloodGlucose")))
        assert glucose["unit"] == "mg/dL"
        assert glucose["last"]["value"] == pytest.approx(5.23 * 18.01558800000541, abs=1e-4)
        act = r.hgetall(keys.activity_day("2025-05-09"))
        assert act["move_kcal"] == "732.037" and act["exercise_min"] == "55"
        hd = json.loads(r.execute_command("JSON.GET", keys.health_data, "$"))[0]
        assert hd["profile"]["biological_sex"] == "HKBiologicalSexMale"
        assert hd["export_date"] == "2025-06-17T12:00:00+01:00"
        assert hd["priority"][0] == "Guillaume's Apple Watch|Watch"
