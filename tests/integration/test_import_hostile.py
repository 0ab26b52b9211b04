"""Hostile, broken and odd inputs (tests/healthgen/hostile.py): refuse fast or import right.

Every rejected case must end in < 2 s with a typed error whose ``user_message`` is one
sentence, and must leave the user's existing data exactly as it was (dump before/after).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.healthgen.hostile import (
    HOSTILE_CASES,
    REJECTED,
    V12_BASED,
    VALID_VARIANTS,
    base_truth,
)
from tests.integration._import_helpers import dump_user, write_generated
from wellness.healthkit import ImportError_, import_export

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_generated(tmp_path_factory.mktemp("base"), "export.xml", seed=2, days=3,
                              scale=0.1)
    return path


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_fast_and_nothing_written(case: str, hostile_dir: Path, baseline: Path,
                                           store, settings, user_id) -> None:  # noqa: ANN001
    path = HOSTILE_CASES[case](hostile_dir)
    import_export(baseline, user_id, store, settings)
    before = dump_user(store, user_id)
    t0 = time.perf_counter()
    with pytest.raises(ImportError_) as info:
        import_export(path, user_id, store, settings)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"{case} took {elapsed:.2f}s"
    msg = info.value.user_message
    assert msg.endswith(".") and "\n" not in msg and "Traceback" not in msg
    assert dump_user(store, user_id) == before


@pytest.mark.parametrize("case", sorted(VALID_VARIANTS))
def test_valid_variants_import(case: str, hostile_dir: Path, store, settings,
                               user_id) -> None:  # noqa: ANN001
    path = HOSTILE_CASES[case](hostile_dir)
    summary = import_export(path, user_id, store, settings)
    counts = {k: v for k, v in summary.counts_by_type.items()
              if k.startswith("HK") and not k.startswith("HKCorrelation") and k != "HKWorkout"}
    if case == "healthdata_empty":
        assert counts == {}
        return
    truth = base_truth(12) if case in V12_BASED else base_truth()
    assert counts == truth.records_by_type
