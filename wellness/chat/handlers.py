"""Chainlit handlers: the logic behind the thin decorators in ``app.py``.

Why split: handlers here are plain async functions, so unit tests call them directly with a
recording emitter, and ``app.py`` only wires decorators. Everything user-facing fails soft:
a missing piece or an unreachable Redis becomes one friendly sentence, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import chainlit as cl

from wellness.chat import upload
from wellness.chat.services import Services, get_services
from wellness.chat.streaming import render_turn
from wellness.chat.text import fmt_int, inert
from wellness.store import keys

log = logging.getLogger(__name__)

COACH = "Coach"
STATELESS = "Stateless"
AUTHOR = "Wellness Coach"
DEMO_ACTION = "load_demo"

GENERIC_FAILURE = ("Sorry, something went wrong while answering. "
                   "Your data is safe; please try again.")

COMMANDS = [
    {"id": "Memory", "icon": "brain", "description": "Show your goals and what I remember",
     "button": True, "persistent": False},
    {"id": "Status", "icon": "activity", "description": "What data I have and how I'm set up",
     "button": False, "persistent": False},
    {"id": "Demo", "icon": "flask-conical", "description": "Load a generated demo export",
     "button": False, "persistent": False},
]

STARTERS = [
    ("What data do I have?", "What date range does my health data cover?", "database"),
    ("Workouts last month", "How many workouts did I do last month, and on which days?",
     "dumbbell"),
    ("Sleep last week", "How did I sleep last week?", "moon"),
    ("Daily steps", "Show my daily steps for the last 30 days.", "footprints"),
    ("Best workout days", "On which weekdays do I work out most?", "calendar-days"),
    ("Resting heart rate", "Compare my resting heart rate last month with the month before.",
     "heart-pulse"),
]


# -- identity -------------------------------------------------------------------------------
def current_user_id(services: Services | None = None) -> str:
    """The logged-in user's id (the local user in single-user mode); fails closed if invalid."""
    services = services or get_services()
    user = cl.user_session.get("user")
    ident = getattr(user, "identifier", None) if user is not None else None
    return keys.require_user(ident or services.settings.default_user)


def is_stateless() -> bool:
    return cl.user_session.get("chat_profile") == STATELESS


def chat_thread_id() -> str:
    """Chainlit's *thread* id (stable across reloads and resume), never the session id.

    The runtime scopes it to the user (``keys.thread_id(user_id, chat_thread_id)``) to form
    the LangGraph thread id, so one user can never continue another's conversation.
    """
    return str(cl.context.session.thread_id)


# -- profiles and starters ------------------------------------------------------------------
def chat_profiles() -> list[cl.ChatProfile]:
    return [
        cl.ChatProfile(name=COACH, display_name="Coach", icon="/public/avatars/wellness_coach.png",
                       markdown_description="Your coach **with memory**: it remembers this "
                                            "conversation and your goals across sessions.",
                       default=True),
        cl.ChatProfile(name=STATELESS, display_name="Stateless",
                       icon="/public/favicon.png",
                       markdown_description="The same tools **without memory**: every "
                                            "question is answered on its own."),
    ]


def starters() -> list[cl.Starter]:
    return [cl.Starter(label=label, message=msg, icon=None) for label, msg, _icon in STARTERS]


# -- lifecycle --------------------------------------------------------------------------------
async def app_startup() -> None:
    services = get_services()
    host = os.environ.get("CHAINLIT_HOST", "127.0.0.1")
    if services.settings.auth_mode == "local" and host not in ("127.0.0.1", "localhost", "::1"):
        # Local mode logs everyone in as the local user: only safe on a loopback address.
        log.warning("WELLNESS_AUTH=local while listening on %s: anyone who can reach this "
                    "address sees your data; use WELLNESS_AUTH=password", host)
    await services.start()


async def app_shutdown() -> None:
    await get_services().stop()


async def has_data(services: Services, user_id: str) -> bool | None:
    """Whether the user has imported data (None when Redis can't be asked)."""
    if services.store is None:
        return None
    try:
        async with services.store.aconnection() as r:
            return bool(await r.exists(keys.UserKeys(user_id).health_data))
    except Exception:
        return None


async def set_commands() -> None:
    try:
        await cl.context.emitter.set_commands(COMMANDS)
    except Exception:  # older clients without commands
        log.debug("set_commands failed", exc_info=True)


async def chat_start() -> None:
    """Per-session setup; a welcome with a demo button only for people without data.

    Why conditional: any assistant message hides Chainlit's starter prompts, and starters are
    only useful once there is data to ask about.
    """
    services = get_services()
    await services.ensure()
    cl.user_session.set("stateless", is_stateless())
    await set_commands()
    if services.store is None:
        from wellness.store.errors import StoreUnavailable
        await cl.Message(content=StoreUnavailable.user_message, author=AUTHOR).send()
        return
    user_id = current_user_id(services)
    if await has_data(services, user_id) is False:
        await cl.Message(
            content=("Hi! Drop your Apple Health **export.zip** here (iPhone: Health → your "
                     "picture → *Export All Health Data*), or try me with a generated demo "
                     "export. Your data stays in your own Redis."),
            author=AUTHOR,
            actions=[cl.Action(name=DEMO_ACTION, payload={}, label="Load demo data",
                               icon="flask-conical", tooltip="Import a generated demo export")],
        ).send()


async def chat_resume(thread: dict[str, Any]) -> None:
    """Re-create per-session helpers; the agent's state comes from the LangGraph checkpoint."""
    services = get_services()
    user_id = current_user_id(services)
    owner = thread.get("userIdentifier")
    if owner and owner != user_id:  # Chainlit checks this too; never rely on one guard
        raise PermissionError("this conversation belongs to someone else")
    cl.user_session.set("stateless", is_stateless())
    await set_commands()


# -- messages ---------------------------------------------------------------------------------
async def on_message(message: cl.Message) -> None:
    """Files go to the importer, commands to their panels, text to the agent."""
    services = get_services()
    await services.ensure()
    try:
        user_id = current_user_id(services)
    except ValueError:
        await cl.Message(content="I can't tell who you are; please log in again.").send()
        return
    files = [el for el in (message.elements or []) if getattr(el, "path", None)]
    if files:
        if not (message.content or "").strip():
            await announce_thread("Health data import")
        el = files[0]
        await upload.start_import(services, user_id, str(el.path), str(el.name or ""))
        if len(files) > 1:
            await cl.Message(content="I import one export at a time; I took the first file.",
                             author=AUTHOR).send()
        return
    command = getattr(message, "command", None)
    text = (message.content or "").strip()
    if command == "Memory" or is_memory_request(text):
        from wellness.chat.memory_panel import show_memory
        await show_memory(services, user_id)
        return
    if command == "Status" or text.lower() in ("status", "/status"):
        await cl.Message(content=await status_text(services, user_id), author=AUTHOR).send()
        return
    if command == "Demo" or text.lower() in ("load demo data", "/demo"):
        await load_demo(services, user_id)
        return
    if not text:
        return
    await answer(services, user_id, text)


_MEMORY_REQUEST = re.compile(
    r"^\s*(?:/?memory|show (?:me )?(?:my )?(?:memory|memories|goals)|"
    r"what do you (?:remember|know)(?: about me)?|what have you remembered)\s*[?.!]*\s*$",
    re.IGNORECASE)


def is_memory_request(text: str) -> bool:
    """Plain-language ways to open the memory panel (the Memory command needs typing too)."""
    return bool(_MEMORY_REQUEST.match(text or ""))


async def announce_thread(name: str) -> None:
    """Tell the browser the thread started, with a name.

    Why: when the first message is only an upload, Chainlit announces the thread with an empty
    name and the browser neither refreshes the history sidebar nor enables feedback.
    """
    try:
        await cl.context.emitter.emit("first_interaction", {
            "interaction": name, "thread_id": cl.context.session.thread_id})
    except Exception:
        log.debug("first_interaction emit failed", exc_info=True)


async def answer(services: Services, user_id: str, text: str) -> None:
    """Stream one agent turn into the chat."""
    from wellness.store.errors import StoreUnavailable

    if services.store is None:
        await cl.Message(content=StoreUnavailable.user_message, author=AUTHOR).send()
        return
    if services.runtime is None:
        await cl.Message(content=await status_text(services, user_id), author=AUTHOR).send()
        return
    try:
        events = services.runtime.run_turn(user_id, chat_thread_id(), text,
                                           stateless=is_stateless())
        await render_turn(events)
    except asyncio.CancelledError:
        raise
    except StoreUnavailable as exc:
        await cl.Message(content=exc.user_message, author=AUTHOR).send()
    except Exception as exc:
        msg = getattr(exc, "user_message", None)
        if not isinstance(msg, str):
            log.error("turn failed: %s", type(exc).__name__, exc_info=log.isEnabledFor(10))
            msg = GENERIC_FAILURE
        await cl.Message(content=msg, author=AUTHOR).send()


async def status_text(services: Services, user_id: str) -> str:
    """What is working and what data there is (counts and dates only, no values)."""
    lines = ["**Status**"]
    if services.store is None:
        lines.append("- Database: not reachable. " + services.problems.get("redis", "")[:200])
    else:
        lines.append("- Database: " + ("embedded Redis" if getattr(services.endpoint,
                                                                   "embedded", None)
                                       else "your Redis"))
    s = services.settings
    lines.append(f"- Model: {'offline (on this machine)' if s.llm_mode == 'offline' else inert(s.model)}")
    if services.runtime is None:
        lines.append("- Coach: not available right now"
                     + (f" ({inert(services.problems['agent'])})" if "agent" in services.problems
                        else "") + ". You can still import your export.")
    data = await health_summary(services, user_id)
    if data is None:
        lines.append("- Your data: nothing imported yet — drop your export.zip here.")
    else:
        rng = upload._date_range(data)
        if rng:
            lines.append(f"- Your data: {rng}")
        total = data.get("records") or data.get("total_records")
        if total:
            lines.append(f"- Records: {fmt_int(total)}")
    return "\n".join(lines)


async def health_summary(services: Services, user_id: str) -> dict[str, Any] | None:
    if services.store is None:
        return None
    try:
        async with services.store.aconnection() as r:
            raw = await r.execute_command("JSON.GET", keys.UserKeys(user_id).health_data)
    except Exception:
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    return data if isinstance(data, dict) else None


# -- demo data --------------------------------------------------------------------------------
def _make_demo(path: Path, end: date) -> None:
    try:
        from wellness.demo import make_demo_export  # type: ignore[import-not-found]
    except ImportError:
        from tests.healthgen import make_demo_export  # type: ignore[import-not-found,no-redef]
    make_demo_export(path, end=end)


async def load_demo(services: Services, user_id: str) -> None:
    """Generate a demo export in a worker thread and import it like an upload."""
    end = services.settings.today or date.today()
    folder = Path(services.settings.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="demo-", dir=folder)) / "demo-export.zip"
    note = cl.Message(content="Generating a demo export…", author=AUTHOR)
    await note.send()
    try:
        await asyncio.to_thread(_make_demo, path, end)
    except Exception as exc:
        log.error("demo export failed: %s", type(exc).__name__)
        note.content = "Sorry, I couldn't generate the demo export in this installation."
        await note.update()
        return
    await note.remove()
    job = await upload.start_import(services, user_id, str(path), "demo-export.zip")
    if job is not None and job.task is not None:
        job.task.add_done_callback(lambda _t: _rm_tree(path.parent))
    else:
        _rm_tree(path.parent)


def _rm_tree(p: Path) -> None:
    import shutil
    shutil.rmtree(p, ignore_errors=True)


async def forget_thread_state(user_id: str, thread_id: str) -> None:
    """Drop the LangGraph checkpoint of a thread deleted from the sidebar."""
    runtime = get_services().runtime
    if runtime is not None and hasattr(runtime, "forget_thread"):
        await runtime.forget_thread(user_id, thread_id)


_BACKGROUND: set[asyncio.Task[None]] = set()


# -- actions ----------------------------------------------------------------------------------
async def on_cancel_import(action: cl.Action) -> None:
    user_id = current_user_id()
    if upload.cancel_job(str(action.payload.get("job", "")), user_id):
        await action.remove()


async def on_load_demo(action: cl.Action) -> None:
    services = get_services()
    await action.remove()
    # Run as a task: action callbacks live inside an HTTP request. Keep a reference, since
    # the event loop only holds weak ones and a collected task would vanish mid-import.
    task = asyncio.create_task(load_demo(services, current_user_id(services)))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


# -- auth -------------------------------------------------------------------------------------
def local_user() -> cl.User:
    """Single-user mode: everybody who can reach this local server is the local user."""
    return cl.User(identifier=get_services().settings.default_user,
                   metadata={"provider": "local"})


async def password_login(username: str, password: str) -> cl.User | None:
    """Multi-user mode: check the scrypt hash in Redis (throttled); None refuses the login."""
    from wellness.chat.auth import check_login

    services = get_services()
    if services.store is None:
        return None
    username = (username or "").strip()
    try:
        async with services.store.aconnection() as r:
            ok = await check_login(r, username, password or "")
    except Exception:
        log.error("login check failed: database unavailable")
        return None
    return cl.User(identifier=username, metadata={"provider": "password"}) if ok else None
