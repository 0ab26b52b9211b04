"""`wellness serve` with the embedded Redis: no orphan after Ctrl-C/SIGTERM, reuse after SIGKILL.

These run the README's own run command (minus the install) on a free port, with a temp data
dir and no REDIS_URL, so the app starts and stops its own redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.chainlit_server import _app_root
from wellness.store.embedded import EmbeddedRedis, pid_alive, free_port

pytestmark = pytest.mark.e2e


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CI")}
    # A private app root: Chainlit deletes <app root>/.files when it shuts down, and the
    # repository's own .files belongs to whatever else runs from the checkout.
    root = data_dir / f"app-{port}"
    root.mkdir(parents=True)
    app_root = _app_root(root)
    env.update({"WELLNESS_DATA_DIR": str(data_dir), "WELLNESS_TODAY": "2024-06-30",
                "CHAINLIT_APP_ROOT": str(app_root)})
    return subprocess.Popen([sys.executable, "-m", "wellness.cli", "serve", "--headless",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_up(port: int, data_dir: Path, timeout: float = 60) -> int:
    """Wait for the page and for the app's embedded Redis; return the Redis pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                st = EmbeddedRedis(data_dir).state()
                if st is not None:
                    return st.pid
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("wellness serve did not come up")


def _wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_app_stops_its_redis(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    app = _serve(tmp_path, port)
    try:
        redis_pid = _wait_up(port, tmp_path)
        app.send_signal(sig)
        app.wait(timeout=30)
        assert _wait_gone(redis_pid), "redis-server left running after the app stopped"
        assert EmbeddedRedis(tmp_path).running() is None
    finally:
        if app.poll() is None:
            app.kill()


def test_hard_kill_then_restart_adopts_the_orphan(tmp_path: Path) -> None:
    port = free_port()
    app = _serve(tmp_path, port)
    redis_pid = _wait_up(port, tmp_path)
    app.kill()  # SIGKILL: no shutdown hook runs, the Redis is orphaned
    app.wait(timeout=10)
    assert pid_alive(redis_pid)
    port2 = free_port()
    again = _serve(tmp_path, port2)
    try:
        assert _wait_up(port2, tmp_path) == redis_pid  # reused, not a busy-port failure
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
    assert _wait_gone(redis_pid), "the adopted orphan should stop with the app"


def test_server_started_with_cli_survives_the_app(tmp_path: Path) -> None:
    cli = EmbeddedRedis(tmp_path, started_by="cli")
    cli.start()
    redis_pid = cli.state().pid  # type: ignore[union-attr]
    port = free_port()
    app = _serve(tmp_path, port)
    try:
        assert _wait_up(port, tmp_path) == redis_pid
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
    assert EmbeddedRedis(tmp_path).running() is not None
    EmbeddedRedis(tmp_path).stop()
    assert _wait_gone(redis_pid)
