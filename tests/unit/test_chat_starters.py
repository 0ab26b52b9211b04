"""Every starter prompt is understood by the offline model on a generated export.

Why: starters are the first thing a new user clicks; each must lead to a tool call and a real
answer on any export, not the "I'm not sure" fallback. Runs on the session's test Redis.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from wellness.chat.handlers import STARTERS

pytestmark = pytest.mark.integration


async def test_starters_lead_to_tool_calls(settings, redis_url: str, user_id: str,
                                           tmp_path: Path) -> None:
    from tests.healthgen import make_demo_export
    from wellness.agent.graph import AgentRuntime, collect_turn
    from wellness.healthkit import import_export
    from wellness.store.connection import RedisStore

    export = tmp_path / "demo.zip"
    make_demo_export(export, end=date(2026, 11, 30))
    store = RedisStore(redis_url)
    import_export(export, user_id, store, settings, file_name="demo.zip")
    s = settings.with_overrides(today=date(2026, 12, 1))
    runtime = await AgentRuntime.open(s, redis_url, store=store, memory=None)
    try:
        for _label, question, _icon in STARTERS:
            r = await collect_turn(runtime, user_id, "starters", question, stateless=True)
            assert r["error"] is None, question
            assert r["tool_calls"], question
            assert "not sure" not in (r["answer"] or "").lower(), question
    finally:
        await runtime.close()
        await store.aclose()
