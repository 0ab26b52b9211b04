"""The `wellness` command.

Core commands live here (serve, doctor, redis). Feature packages add their own subcommands
through a ``register(subparsers)`` function in a ``commands`` module, so each package owns its
CLI without everyone editing this file:

- ``wellness.healthkit.commands``: ``import``, ``data forget``
- ``wellness.agent.commands``: ``ask``
- ``wellness.memory.commands``: ``memory list|forget``
- ``wellness.chat.commands``: ``users add|remove|list``
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

from wellness.config import Settings, load_settings, mask_url

FEATURE_COMMANDS = (
    "wellness.healthkit.commands",
    "wellness.agent.commands",
    "wellness.memory.commands",
    "wellness.chat.commands",
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str, code: int = 1) -> int:
    print(f"wellness: {message}", file=sys.stderr)
    return code


# -- doctor ---------------------------------------------------------------------------
def doctor_report(settings: Settings) -> dict[str, object]:
    """What a user (or a bug report) needs to know about this installation."""
    from wellness.store.embedded import EmbeddedRedis
    from wellness.store.errors import ModulesMissing, StoreUnavailable
    from wellness.store.runtime import check_modules

    report: dict[str, object] = {
        "data_dir": str(settings.data_dir),
        "llm_mode": settings.llm_mode,
        "llm_model": settings.model if settings.llm_mode != "offline" else "offline-rules",
        "llm_base_url": settings.openai_base_url,
        "embedding_mode": settings.embedding_mode,
        "embedding_model": settings.embedding_model or "offline-hash-1024",
        "timezone": str(settings.tz),
        "today": settings.today.isoformat() if settings.today else None,
        "auth_mode": settings.auth_mode,
    }
    if settings.redis_url:
        url, kind = settings.redis_url, "external"
    else:
        server = EmbeddedRedis(settings.data_dir)
        st = server.running()
        url = server.url(st.port) if st else None
        kind = "embedded" if st else "embedded (not running)"
    report["redis"] = {"kind": kind, "url": mask_url(url)}
    if url:
        try:
            info = check_modules(url)
            report["redis"].update({"ok": True, "version": info["version"],  # type: ignore[union-attr]
                                    "modules": [m["name"] for m in info["modules"]]})  # type: ignore[index]
        except (StoreUnavailable, ModulesMissing) as exc:
            report["redis"].update({"ok": False, "error": str(exc)})  # type: ignore[union-attr]
    return report


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    start_server = not settings.redis_url
    endpoint = None
    if start_server:
        from wellness.store.runtime import resolve_redis
        endpoint = resolve_redis(settings, started_by="app")
    try:
        report = doctor_report(settings)
    finally:
        if endpoint is not None:
            endpoint.release()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        r = report["redis"]
        print(f"Data dir:     {report['data_dir']}")
        print(f"Redis:        {r['kind']} {r.get('url')}")  # type: ignore[index]
        if r.get("ok"):  # type: ignore[union-attr]
            print(f"              version {r['version']}, modules {', '.join(r['modules'])}")  # type: ignore[index]
        else:
            print(f"              PROBLEM: {r.get('error')}")  # type: ignore[union-attr]
        print(f"LLM:          {report['llm_mode']} ({report['llm_model']})")
        print(f"Embeddings:   {report['embedding_mode']} ({report['embedding_model']})")
        print(f"Time zone:    {report['timezone']}")
    return 0 if report["redis"].get("ok") else 1  # type: ignore[union-attr]


# -- redis ------------------------------------------------------------------------------
def cmd_redis(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.store.embedded import EmbeddedRedis

    if settings.redis_url:
        return _fail("REDIS_URL is set, so there is no embedded server to manage.")
    server = EmbeddedRedis(settings.data_dir, started_by="cli")
    if args.action == "start":
        url = server.start()
        state = server.state()
        print(f"Embedded Redis running (pid {state.pid if state else '?'}): {mask_url(url)}")
        print(f"Password file: {server.dir / 'password'}")
        return 0
    if args.action == "stop":
        print("Stopped." if server.running() and server.stop() else "Not running.")
        return 0
    st = server.running()
    if st is None:
        print("Not running.")
        return 3
    print(f"Running: pid {st.pid}, port {st.port}, started by {st.started_by}; "
          f"{mask_url(server.url(st.port))}")
    return 0


# -- serve ------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Start the Chainlit app (embedded Redis is started and stopped by the app itself)."""
    env = dict(os.environ)
    # chainlit treats CI=true as its own --ci flag and replaces OPENAI_API_KEY: never pass it.
    env.pop("CI", None)
    env.setdefault("CHAINLIT_APP_ROOT", str(REPO_ROOT))
    chainlit = shutil.which("chainlit", path=str(Path(sys.executable).parent)) or "chainlit"
    cmd = [chainlit, "run", str(REPO_ROOT / "app.py"), "--host", args.host, "--port",
           str(args.port)]
    if args.headless:
        cmd.append("--headless")
    print(f"Starting wellness at http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    # Replace this process with chainlit, so Ctrl-C and SIGTERM reach uvicorn directly: its
    # lifespan shutdown runs on_app_shutdown, which stops the embedded Redis we started.
    os.chdir(REPO_ROOT)
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wellness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the chat app in your browser")
    p.add_argument("--host", default=os.environ.get("CHAINLIT_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("CHAINLIT_PORT", "8000")))
    p.add_argument("--headless", action="store_true", help="don't open a browser")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("doctor", help="check Redis, modules, LLM and embedding setup")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("redis", help="run the embedded Redis on its own")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=cmd_redis)

    for module_name in FEATURE_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        return _fail(str(exc), 2)
    from wellness.logs import setup_logging

    setup_logging(settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear sentence, never a traceback, for known failures
        from wellness.store.errors import EmbeddedServerError, ModulesMissing, StoreUnavailable

        if isinstance(exc, (StoreUnavailable, ModulesMissing, EmbeddedServerError)):
            return _fail(str(exc))
        raise


if __name__ == "__main__":
    sys.exit(main())
