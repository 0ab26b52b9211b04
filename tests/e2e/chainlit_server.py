"""Start the real Chainlit app for end-to-end tests (browser or socket.io protocol).

Each server gets a private app root (own ``.files`` and translations) that reuses the repo's
app files, the session's test Redis, a temp data dir, a pinned today, and CI unset (chainlit's
CI mode replaces OPENAI_API_KEY).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TODAY = "2026-12-01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_root(tmp: Path) -> Path:
    """A private app root (own .files and translations) that reuses the repo's app files."""
    root = tmp / "approot"
    (root / ".chainlit").mkdir(parents=True)
    shutil.copy(REPO / ".chainlit" / "config.toml", root / ".chainlit" / "config.toml")
    for name in ("app.py", "chainlit.md", "public"):
        (root / name).symlink_to(REPO / name)
    return root


class Server:
    def __init__(self, tmp: Path, redis_url: str, auth: str = "local") -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        root = _app_root(tmp)
        env = {k: v for k, v in os.environ.items()
               if k not in ("CI", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL",
                            "LITERAL_API_KEY", "CHAINLIT_AUTH_SECRET")}
        env.update({"REDIS_URL": redis_url, "WELLNESS_DATA_DIR": str(tmp / "data"),
                    "WELLNESS_TODAY": TODAY, "WELLNESS_AUTH": auth, "WELLNESS_TZ": "America/Los_Angeles",
                    "WELLNESS_ENV_FILE": str(tmp / "no.env"), "CHAINLIT_APP_ROOT": str(root),
                    "PYTHONPATH": str(REPO)})
        chainlit = str(Path(sys.executable).parent / "chainlit")
        self.log = open(tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            [chainlit, "run", str(root / "app.py"), "--headless", "--port", str(self.port)],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chainlit exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("chainlit did not start within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
