"""The agent runtime: a LangGraph model ↔ tools loop with Redis checkpoints.

Why it looks like this (lessons from the comparable project):

- one ``AsyncRedisSaver`` per process, opened in :meth:`AgentRuntime.open` on the shared
  async client (``decode_responses=False``) with a TTL, because checkpoints grow O(turns²);
- turns run with ``durability="exit"``: one checkpoint per turn instead of one per superstep
  (less Redis traffic, less growth), and a failed turn is rolled back so no half turn is kept;
- the history sent to the model is trimmed in tool-call groups (see ``history.py``), because
  OpenAI rejects an orphaned ToolMessage with a 400;
- identical tool calls within one turn reuse the earlier result (the other project's model
  called the same tool over and over for 40 s);
- tool and validation accounting covers the current turn only, never the whole thread;
- the user id travels in ``config["configurable"]`` and never reaches the model.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from wellness.agent import history as history_mod
from wellness.agent.history import current_turn, trim_history
from wellness.agent.prompts import system_prompt
from wellness.config import Settings
from wellness.store import keys
from wellness.store.errors import StoreUnavailable

log = logging.getLogger(__name__)

#: Model ↔ tools rounds per turn before the model must answer without tools.
MAX_TOOL_ROUNDS = 6
#: Checkpoint pruning: every PRUNE_EVERY turns of a thread keep its KEEP_CHECKPOINTS newest.
PRUNE_EVERY = 10
KEEP_CHECKPOINTS = 3
#: LangGraph supersteps per turn (two per round plus the final answer, with headroom).
RECURSION_LIMIT = 2 * MAX_TOOL_ROUNDS + 6

MODEL_ERROR_MESSAGE = ("The language model didn't answer just now, so I couldn't finish that. "
                       "Please try again in a moment.")
LOOP_ERROR_MESSAGE = ("I went round in circles looking that up and stopped. "
                      "Could you ask it a bit more specifically?")
GENERIC_ERROR_MESSAGE = "Something went wrong while answering that. Please try again."


# -- events -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TurnEvent:
    """One thing that happened during a turn; the chat UI and ``wellness ask`` consume these.

    ``kind`` says which fields are meaningful:
    ``token`` → ``text``; ``tool_start`` → ``call_id``, ``name``, ``args``;
    ``tool_end`` → ``call_id``, ``name``, ``result``; ``done`` → ``answer``, ``tool_calls``
    (this turn only, ``[{"id", "name", "args", "result"}]``) and ``validation``;
    ``error`` → ``user_message`` (one plain sentence, safe to show).
    """

    kind: Literal["token", "tool_start", "tool_end", "done", "error"]
    text: str = ""
    call_id: str = ""
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    answer: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    user_message: str = ""

    @classmethod
    def token(cls, text: str) -> "TurnEvent":
        return cls("token", text=text)

    @classmethod
    def tool_start(cls, call_id: str, name: str, args: dict[str, Any]) -> "TurnEvent":
        return cls("tool_start", call_id=call_id, name=name, args=dict(args))

    @classmethod
    def tool_end(cls, call_id: str, name: str, result: dict[str, Any]) -> "TurnEvent":
        return cls("tool_end", call_id=call_id, name=name, result=result)

    @classmethod
    def done(cls, answer: str, tool_calls: list[dict[str, Any]],
             validation: dict[str, Any] | None = None) -> "TurnEvent":
        return cls("done", answer=answer, tool_calls=tool_calls, validation=validation or {})

    @classmethod
    def error(cls, user_message: str) -> "TurnEvent":
        return cls("error", user_message=user_message)


# -- helpers ------------------------------------------------------------------------------
def call_signature(name: str, args: dict[str, Any] | None) -> str:
    """Identity of a tool call for dedup: name plus canonical JSON of the arguments."""
    clean = {k: v for k, v in (args or {}).items() if v not in (None, "")}
    return f"{name}:{json.dumps(clean, sort_keys=True, default=str)}"


def message_text(msg: BaseMessage) -> str:
    """Plain text of a message whose content may be a string or a list of blocks."""
    content = msg.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def parse_tool_result(content: Any) -> dict[str, Any]:
    """A tool's JSON string as a dict (``{"summary": text}`` when it isn't JSON)."""
    if isinstance(content, dict):
        return content
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"summary": text}
    return value if isinstance(value, dict) else {"summary": text, "value": value}


_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> list[float]:
    out = []
    for raw in _NUMBER.findall(text):
        try:
            out.append(float(raw.replace(",", "")))
        except ValueError:
            continue
    return out


def validate_numbers(answer: str, question: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of the answer's numbers that appear in this turn's tool results (or question).

    A cheap guard against invented values, scoped to the current turn. Numbers match when
    they agree to the precision written in the answer (e.g. 7.5 h vs 7.49).
    """
    found = _numbers(answer)
    if not found:
        return {"numbers": 0, "matched": 0, "score": 1.0}
    pool = set()
    for r in results:
        pool.update(_numbers(json.dumps(r, default=str)))
    pool.update(_numbers(question))
    matched = 0
    for value in found:
        if any(abs(value - p) <= max(0.51, abs(p) * 0.005) for p in pool):
            matched += 1
    return {"numbers": len(found), "matched": matched, "score": round(matched / len(found), 3)}


class IncompleteModelResponse(RuntimeError):
    """The model's streamed answer stopped before it finished (no finish reason)."""


def user_message_for(exc: BaseException) -> str:
    """One plain sentence for a failure (details go to the log, never health values)."""
    if isinstance(exc, StoreUnavailable):
        return exc.user_message
    if isinstance(exc, IncompleteModelResponse):
        return MODEL_ERROR_MESSAGE
    try:
        import redis

        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)):
            return StoreUnavailable.user_message
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, GraphRecursionError):
        return LOOP_ERROR_MESSAGE
    try:
        import openai

        if isinstance(exc, openai.OpenAIError):
            return MODEL_ERROR_MESSAGE
    except ImportError:  # pragma: no cover
        pass
    module = type(exc).__module__ or ""
    if module.startswith(("openai", "langchain_openai", "httpx", "httpcore")) or isinstance(
            exc, TimeoutError):
        return MODEL_ERROR_MESSAGE
    return GENERIC_ERROR_MESSAGE


# -- graph --------------------------------------------------------------------------------
class AgentState(TypedDict):
    """Only the conversation: per-turn bookkeeping is derived from the messages of the turn."""

    messages: Annotated[list[AnyMessage], add_messages]


def _route_after_agent(state: AgentState) -> str:
    messages = state.get("messages") or []
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    return END


def build_graph(model: BaseChatModel, tools: Sequence[BaseTool], settings: Settings, *,
                checkpointer: Any = None, max_tool_rounds: int = MAX_TOOL_ROUNDS) -> Any:
    """Compile the model ↔ tools loop (with or without a checkpointer).

    The system prompt is rebuilt every call (today's date moves; a procedural plan hint may
    come in through ``config["configurable"]["plan_hint"]``) and is never stored in state.
    """
    tool_list = list(tools)
    has_memory = any(getattr(t, "name", "") == "set_goal" for t in tool_list)
    # Unknown tool names and argument validation errors become ToolMessages for the model;
    # anything else (StoreUnavailable, bugs) propagates and ends the turn with an error event.
    tool_node = ToolNode(tool_list) if tool_list else None
    bound = model.bind_tools(tool_list) if tool_list else model
    # After too many rounds the model must answer; keeping the tool schemas but forbidding
    # calls keeps OpenAI happy about the tool messages already in the history.
    final = model
    if tool_list:
        try:
            final = model.bind_tools(tool_list, tool_choice="none")
        except (TypeError, ValueError, NotImplementedError):
            final = model

    remote = type(model).__module__.startswith("langchain_openai")

    async def agent(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        turn = current_turn(messages)
        rounds = sum(1 for m in turn if isinstance(m, AIMessage) and m.tool_calls)
        conf = (config or {}).get("configurable", {})
        today = conf.get("today") or _today(settings)
        prompt = system_prompt(today, str(settings.tz), conf.get("plan_hint"),
                               memory=has_memory)
        history = trim_history(messages, max_messages=history_mod.MAX_HISTORY_MESSAGES,
                               max_chars=history_mod.MAX_HISTORY_CHARS)
        runnable = bound if rounds < max_tool_rounds else final
        response = await runnable.ainvoke([SystemMessage(prompt), *history], config)
        if remote and isinstance(response, AIMessage) and \
                not (response.response_metadata or {}).get("finish_reason"):
            # A stream cut off mid-way (proxy reset, server crash) ends without a finish
            # reason; treat it as a failed call instead of saving half an answer.
            raise IncompleteModelResponse("model stream ended without a finish reason")
        if rounds >= max_tool_rounds and isinstance(response, AIMessage) and response.tool_calls:
            response = AIMessage(content=message_text(response) or LOOP_ERROR_MESSAGE,
                                 id=response.id)
        return {"messages": [response]}

    async def run_tools(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        last = messages[-1]
        assert isinstance(last, AIMessage)
        turn = current_turn(messages[:-1])
        # Results already fetched in this turn, by call signature.
        by_id = {m.tool_call_id: m for m in turn if isinstance(m, ToolMessage)}
        seen: dict[str, str] = {}
        for m in turn:
            if isinstance(m, AIMessage):
                for tc in m.tool_calls:
                    tm = by_id.get(tc.get("id") or "")
                    if tm is not None and tm.status != "error":
                        seen.setdefault(call_signature(tc["name"], tc.get("args")),
                                        message_text(tm))
        fresh: list[dict[str, Any]] = []
        first_of: dict[str, str] = {}
        for tc in last.tool_calls:
            sig = call_signature(tc["name"], tc.get("args"))
            if sig in seen or sig in first_of:
                continue
            first_of[sig] = tc["id"]
            fresh.append(tc)
        produced: dict[str, ToolMessage] = {}
        if fresh and tool_node is not None:
            out = await tool_node.ainvoke(
                {"messages": [AIMessage(content="", tool_calls=fresh, id=last.id)]}, config)
            out_messages = out["messages"] if isinstance(out, dict) else out
            for tm in out_messages:
                if isinstance(tm, ToolMessage):
                    produced[tm.tool_call_id] = tm
        results: list[ToolMessage] = []
        for tc in last.tool_calls:
            sig = call_signature(tc["name"], tc.get("args"))
            tm = produced.get(tc["id"])
            if tm is None:
                original = produced.get(first_of.get(sig, ""))
                content = seen.get(sig) or (message_text(original) if original else None)
                if content is None:
                    content = json.dumps({"summary": f"The tool {tc['name']} is not available.",
                                          "error": "unknown_tool"})
                tm = ToolMessage(content=content, tool_call_id=tc["id"], name=tc["name"])
            results.append(tm)
        return {"messages": results}

    builder = StateGraph(AgentState)
    builder.add_node("agent", agent)
    builder.add_node("tools", run_tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", _route_after_agent, {"tools": "tools", END: END})
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=checkpointer)


def _today(settings: Settings) -> Any:
    return settings.today or datetime.now(settings.tz).date()


# -- runtime ------------------------------------------------------------------------------
async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _call_with_supported(fn: Any, **kwargs: Any) -> Any:
    """Call a duck-typed memory hook with the keyword arguments it declares."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(**kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


class AgentRuntime:
    """Everything a process needs to answer turns: store, saver, model, tools, memory.

    Open once per process (``await AgentRuntime.open(settings, url)``), share it between
    sessions, close at shutdown. ``memory`` is any object with the MemoryService shape
    (``memory_tools()``, ``plan_hint(question)``, ``record_turn(...)``) or ``None``.
    """

    def __init__(self, settings: Settings, store: Any, saver: Any, model: BaseChatModel,
                 tools: Sequence[BaseTool], memory: Any = None, *,
                 owns_store: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.saver = saver
        self.model = model
        self.memory = memory
        self.health_tools = list(tools)
        self.memory_tools: list[BaseTool] = []
        if memory is not None and hasattr(memory, "memory_tools"):
            self.memory_tools = list(memory.memory_tools())
        self._owns_store = owns_store
        self._turn_counts: dict[str, int] = {}
        self.graph = build_graph(model, [*self.health_tools, *self.memory_tools], settings,
                                 checkpointer=saver)
        self.stateless_graph = build_graph(model, self.health_tools, settings)

    # -- lifecycle --------------------------------------------------------------------
    @classmethod
    async def open(cls, settings: Settings, endpoint_url: str | None = None, *,
                   store: Any = None, model: BaseChatModel | None = None,
                   tools: Sequence[BaseTool] | None = None,
                   memory: Any = "auto", checkpointer: bool = True) -> "AgentRuntime":
        """Connect, set up the checkpointer indexes and build both graphs.

        ``memory="auto"`` uses ``wellness.memory.MemoryService`` when that package provides
        it; pass ``None`` to run without memory or an object to use your own.
        """
        from wellness.agent.models import make_model
        from wellness.store.connection import RedisStore

        owns = store is None
        if store is None:
            url = endpoint_url or settings.redis_url
            if not url:
                raise ValueError("AgentRuntime.open needs the Redis URL (resolve_redis first)")
            store = RedisStore(url)
        saver = None
        if checkpointer:
            from langgraph.checkpoint.redis.aio import AsyncRedisSaver

            ttl = None
            if settings.checkpoint_ttl_minutes and settings.checkpoint_ttl_minutes > 0:
                ttl = {"default_ttl": settings.checkpoint_ttl_minutes, "refresh_on_read": True}
            saver = AsyncRedisSaver(redis_client=store.async_client(decode=False), ttl=ttl)
            await saver.asetup()
        if tools is None:
            tools = _load_health_tools(store, settings)
        if isinstance(memory, str) and memory == "auto":
            memory = await _load_memory(store, settings)
        return cls(settings, store, saver, model or make_model(settings), tools, memory,
                   owns_store=owns)

    async def close(self) -> None:
        """Release connections this runtime opened (a store passed in stays open)."""
        close = getattr(self.memory, "aclose", None) or getattr(self.memory, "close", None)
        if close is not None:
            try:
                await _maybe_await(close())
            except Exception:  # noqa: BLE001 - shutdown must not fail
                log.warning("memory close failed", exc_info=True)
        if self._owns_store and self.store is not None:
            await self.store.aclose()

    # -- turns ------------------------------------------------------------------------
    def config_for(self, user_id: str, thread_id: str) -> RunnableConfig:
        """Run config for a user's chat thread (the LangGraph thread id is user-scoped)."""
        return {"configurable": {"thread_id": keys.thread_id(user_id, thread_id),
                                 "user_id": keys.require_user(user_id)},
                "recursion_limit": RECURSION_LIMIT}

    async def run_turn(self, user_id: str, thread_id: str, text: str, *,
                       stateless: bool = False) -> AsyncIterator[TurnEvent]:
        """Answer one message, yielding token / tool_start / tool_end and then done or error.

        ``thread_id`` is the chat's own thread id; it is scoped to ``user_id`` here, so one
        user can never continue another user's conversation. ``stateless`` runs the same
        graph without checkpointer or memory (nothing is read or saved).
        """
        question = (text or "").strip()
        if not question:
            yield TurnEvent.error("Please type a question.")
            return
        config = self.config_for(user_id, thread_id)
        graph = self.stateless_graph if stateless else self.graph
        # The checkpointer talks to Redis with its own client, outside store.aconnection(), so
        # the turn itself must consult and feed the store's circuit breaker: otherwise an
        # outage never opens it and every turn pays the full retry/timeout cost.
        # While it is open a turn fails at once; once the cool-down has passed (half-open)
        # the whole turn is the probe, so its first Redis call is not refused.
        breaker = getattr(self.store, "breaker", None)
        if breaker is not None and breaker.state == "open":
            yield TurnEvent.error(StoreUnavailable.user_message)
            return
        # The hint goes into the system prompt; a model that plans by rules never reads it.
        wants_hint = getattr(self.model, "uses_plan_hint", True)
        if not stateless and wants_hint and self.memory is not None and hasattr(
                self.memory, "plan_hint"):
            try:
                hint = await _maybe_await(_call_with_supported(
                    self.memory.plan_hint, question=question, user_id=user_id))
                if hint:
                    config["configurable"]["plan_hint"] = str(hint)
            except Exception:  # noqa: BLE001 - a hint is optional
                log.warning("plan_hint failed", exc_info=True)
        human = HumanMessage(content=question, id=f"turn-{uuid.uuid4().hex}")
        started = time.perf_counter()
        calls: dict[str, dict[str, Any]] = {}
        answer = ""
        stream_kwargs: dict[str, Any] = {"stream_mode": ["messages", "updates"]}
        if graph.checkpointer is not None:
            stream_kwargs["durability"] = "exit"
        try:
            async for mode, chunk in graph.astream({"messages": [human]}, config,
                                                   **stream_kwargs):
                if mode == "messages":
                    msg, meta = chunk
                    if (meta or {}).get("langgraph_node") == "agent" and isinstance(
                            msg, (AIMessageChunk, AIMessage)):
                        piece = message_text(msg)
                        if piece:
                            yield TurnEvent.token(piece)
                    continue
                for node, update in (chunk or {}).items():
                    if not isinstance(update, dict):
                        continue
                    for m in update.get("messages") or []:
                        if node == "agent" and isinstance(m, AIMessage):
                            if m.tool_calls:
                                for tc in m.tool_calls:
                                    calls[tc["id"]] = {"id": tc["id"], "name": tc["name"],
                                                       "args": dict(tc.get("args") or {}),
                                                       "result": None}
                                    yield TurnEvent.tool_start(tc["id"], tc["name"],
                                                               tc.get("args") or {})
                            else:
                                answer = message_text(m)
                        elif node == "tools" and isinstance(m, ToolMessage):
                            result = parse_tool_result(m.content)
                            entry = calls.get(m.tool_call_id)
                            name = entry["name"] if entry else (m.name or "")
                            if entry is not None:
                                entry["result"] = result
                            yield TurnEvent.tool_end(m.tool_call_id, name, result)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
            log.warning("turn failed: %s", type(exc).__name__,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            message = user_message_for(exc)
            if breaker is not None and message == StoreUnavailable.user_message:
                breaker.record_failure()
            if not stateless:
                await self._rollback(config, human.id or "")
            yield TurnEvent.error(message)
            return
        if breaker is not None:
            breaker.record_success()
        tool_calls = list(calls.values())
        validation = validate_numbers(answer, question,
                                      [c["result"] for c in tool_calls if c["result"]])
        if not stateless and self.memory is not None and hasattr(self.memory, "record_turn"):
            try:
                await _maybe_await(_call_with_supported(
                    self.memory.record_turn, user_id=user_id, question=question,
                    tool_calls=tool_calls, answer=answer, score=validation["score"],
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                    thread_id=config["configurable"]["thread_id"]))
            except Exception:  # noqa: BLE001 - memory must never break a finished turn
                log.warning("record_turn failed", exc_info=True)
        if not stateless:
            await self._maybe_prune(config["configurable"]["thread_id"])
        yield TurnEvent.done(answer, tool_calls, validation)

    async def _maybe_prune(self, lg_thread: str) -> None:
        """Every ``PRUNE_EVERY`` turns of a thread, drop all but its last few checkpoints.

        Each checkpoint holds the whole message list inline, so without pruning a thread's
        storage grows with the square of its length (TTL only bounds idle threads).
        """
        if self.saver is None:
            return
        count = self._turn_counts.get(lg_thread, 0) + 1
        self._turn_counts[lg_thread] = count
        if count % PRUNE_EVERY:
            return
        try:
            await self.saver.aprune([lg_thread], keep_last=KEEP_CHECKPOINTS)
        except Exception:  # noqa: BLE001 - pruning is housekeeping; the TTL still applies
            log.warning("checkpoint pruning skipped", exc_info=False)

    async def _rollback(self, config: RunnableConfig, human_id: str) -> None:
        """Remove a failed turn from the thread (its question and anything after it)."""
        try:
            state = await self.graph.aget_state(config)
            messages = list((state.values or {}).get("messages") or [])
            start = next((i for i, m in enumerate(messages) if m.id == human_id), None)
            if start is None:
                return
            removes = [RemoveMessage(id=m.id) for m in messages[start:] if m.id]
            await self.graph.aupdate_state(config, {"messages": removes}, as_node="agent")
        except Exception:  # noqa: BLE001 - the store may still be down; nothing to do then
            log.warning("rollback after failed turn did not complete", exc_info=False)

    async def history(self, user_id: str, thread_id: str) -> list[BaseMessage]:
        """The saved messages of a user's thread (empty when there is none)."""
        state = await self.graph.aget_state(self.config_for(user_id, thread_id))
        return list((state.values or {}).get("messages") or [])

    async def forget_thread(self, user_id: str, thread_id: str) -> None:
        """Delete a thread's checkpoints ("clear conversation")."""
        if self.saver is not None:
            await self.saver.adelete_thread(keys.thread_id(user_id, thread_id))


def _load_health_tools(store: Any, settings: Settings) -> list[BaseTool]:
    try:
        from wellness.agent.tools import make_health_tools
    except ImportError:
        log.warning("wellness.agent.tools is not available; running without health tools")
        return []
    return list(make_health_tools(store, settings))


async def _load_memory(store: Any, settings: Settings) -> Any:
    try:
        from wellness.memory import MemoryService  # type: ignore[attr-defined]
    except ImportError:
        try:
            from wellness.memory.service import MemoryService  # type: ignore[no-redef]
        except ImportError:
            return None
    memory = MemoryService(store, settings)
    setup = getattr(memory, "setup", None)
    if setup is not None:
        try:
            await _maybe_await(setup())
        except Exception as exc:  # noqa: BLE001 - answer data questions even without memory
            log.warning("memory unavailable, running without it: %s", type(exc).__name__)
            return None
    return memory


async def collect_turn(runtime: AgentRuntime, user_id: str, thread_id: str, text: str, *,
                       stateless: bool = False) -> dict[str, Any]:
    """Run a turn to completion: ``{"answer", "tool_calls", "error", "validation"}``."""
    result: dict[str, Any] = {"answer": "", "tool_calls": [], "error": None, "validation": {}}
    tokens: list[str] = []
    async for event in runtime.run_turn(user_id, thread_id, text, stateless=stateless):
        if event.kind == "token":
            tokens.append(event.text)
        elif event.kind == "done":
            result.update(answer=event.answer or "".join(tokens), tool_calls=event.tool_calls,
                          validation=event.validation)
        elif event.kind == "error":
            result.update(error=event.user_message, answer=event.user_message)
    return result
