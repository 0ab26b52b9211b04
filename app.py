"""Chainlit entry point for wellness: thin decorators over ``wellness.chat.handlers``.

Run with ``wellness serve`` (or ``chainlit run app.py``). All logic lives in ``wellness/chat``.
"""

from __future__ import annotations

from typing import Any

import chainlit as cl
from starlette.datastructures import Headers

from wellness.chat import handlers, memory_panel, upload
from wellness.chat.datalayer import RedisDataLayer
from wellness.chat.services import ensure_auth_secret, get_services

services = get_services()
ensure_auth_secret(services.settings)  # before Chainlit checks for it, right after this import

from chainlit.server import app as _chainlit_app  # noqa: E402

from wellness.chat import upload_guard  # noqa: E402

upload_guard.install(_chainlit_app)  # 413 from Content-Length; never a 500 on empty files


@cl.on_app_startup
async def on_app_startup() -> None:
    await handlers.app_startup()
    from wellness import diagnostics
    diagnostics.start_if_enabled(services)  # only with WELLNESS_PROBE_FILE (load/soak tests)


@cl.on_app_shutdown
async def on_app_shutdown() -> None:
    await handlers.app_shutdown()


@cl.data_layer
def data_layer() -> RedisDataLayer:
    return RedisDataLayer(lambda: services.store.async_client() if services.store else None,
                          on_thread_deleted=handlers.forget_thread_state)


if services.settings.auth_mode == "password":
    @cl.password_auth_callback
    async def password_login(username: str, password: str) -> cl.User | None:
        return await handlers.password_login(username, password)
else:
    @cl.header_auth_callback
    async def local_login(headers: Headers) -> cl.User | None:
        return handlers.local_user()


@cl.set_chat_profiles
async def chat_profiles(current_user: cl.User | None = None, language: str | None = None):
    return handlers.chat_profiles()


@cl.set_starters
async def starters(current_user: cl.User | None = None, language: str | None = None):
    return handlers.starters()


@cl.on_chat_start
async def on_chat_start() -> None:
    await handlers.chat_start()


@cl.on_chat_resume
async def on_chat_resume(thread: Any) -> None:
    await handlers.chat_resume(thread)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    await handlers.on_message(message)


@cl.on_stop
async def on_stop() -> None:
    """Stop cancels the running turn; render_turn closes its steps (imports have Cancel)."""


@cl.action_callback(upload.CANCEL_ACTION)
async def on_cancel_import(action: cl.Action) -> None:
    await handlers.on_cancel_import(action)


@cl.action_callback(handlers.DEMO_ACTION)
async def on_load_demo(action: cl.Action) -> None:
    await handlers.on_load_demo(action)


@cl.action_callback(memory_panel.FORGET_ACTION)
async def on_forget(action: cl.Action) -> None:
    await memory_panel.on_forget(action)


@cl.action_callback(memory_panel.FORGET_GOAL_ACTION)
async def on_forget_goal(action: cl.Action) -> None:
    await memory_panel.on_forget_goal(action)
