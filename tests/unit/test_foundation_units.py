"""Settings, key registry, breaker state machine and log redaction (no server needed)."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest

from wellness.config import load_settings, mask_url
from wellness.logs import RedactingFilter, redact
from wellness.store import keys
from wellness.store.connection import CircuitBreaker

pytestmark = pytest.mark.unit


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("WELLNESS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WELLNESS_TODAY", "2024-10-22")
    monkeypatch.setenv("WELLNESS_TZ", "Europe/Paris")
    monkeypatch.setenv("WELLNESS_SOURCE_PRIORITY", "Watch, iPhone ,")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    s = load_settings()
    assert s.data_dir == tmp_path and s.today == date(2024, 10, 22)
    assert str(s.tz) == "Europe/Paris"
    assert s.source_priority == ("Watch", "iPhone")
    assert s.llm_mode == "compatible"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert load_settings().llm_mode == "openai"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert load_settings().llm_mode == "offline"


@pytest.mark.parametrize("var,value", [("WELLNESS_TODAY", "22/10/2024"),
                                       ("WELLNESS_TZ", "Mars/Olympus"),
                                       ("WELLNESS_RETENTION_DAYS", "ten"),
                                       ("WELLNESS_AUTH", "ldap")])
def test_bad_settings_fail_with_the_variable_name(monkeypatch: pytest.MonkeyPatch, var: str,
                                                  value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        load_settings()


def test_mask_url_hides_password() -> None:
    assert mask_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("rediss://app:pw@host:6380") == "rediss://app:***@host:6380"
    assert mask_url("redis://localhost:6379") == "redis://localhost:6379"


def test_user_keys_follow_the_design_and_fail_closed() -> None:
    k = keys.UserKeys("alice")
    assert k.workout_days == "user:alice:workout:days"
    assert k.workout_by_date == "user:alice:workout:by_date"
    assert k.workout("w1") == "user:alice:workout:w1"
    assert k.health_data == "user:alice:health_data"
    assert k.health_metric("HKQuantityTypeIdentifierStepCount") == \
        "user:alice:health_metric:HKQuantityTypeIdentifierStepCount"
    staged = k.staging("imp1")
    assert staged.workout_days == "user:alice:staging:imp1:workout:days"
    assert staged.live() == k
    assert keys.episodic_goal("alice", "01J") == "episodic:alice:goal:01J"
    assert keys.thread_id("alice", "t-1") == "alice:t-1"
    for bad in (None, "", "a b", "x:y", "*"):
        with pytest.raises(ValueError):
            keys.UserKeys(bad)  # type: ignore[arg-type]
    assert keys.day_from_ordinal(keys.day_ordinal(date(2024, 2, 29))) == date(2024, 2, 29)


def test_breaker_opens_half_opens_and_closes() -> None:
    b = CircuitBreaker(threshold=2, cooldown_s=0.05)
    assert b.allow()
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open" and not b.allow()
    time.sleep(0.06)
    assert b.state == "half-open"
    assert b.allow()  # one probe
    assert not b.allow()  # others wait for the probe
    b.record_success()
    assert b.state == "closed" and b.allow()


def test_log_redaction() -> None:
    assert "s3cret" not in redact("connect redis://:s3cret@127.0.0.1:1/0 failed")
    assert "abcdefghijklmnop" not in redact("key sk-abcdefghijklmnop used")
    assert "hunter2" not in redact("password=hunter2")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "url %s",
                               ("redis://:pw123456@h:1",), None)
    RedactingFilter().filter(record)
    assert "pw123456" not in record.getMessage()
