"""The soak test records into the reliability report like the suite in tests/reliability."""

from tests.reliability.conftest import (  # noqa: F401 - fixtures and hooks re-exported
    Recorder,
    own_redis,
    pytest_itemcollected,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    record,
)
