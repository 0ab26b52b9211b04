"""LangChain tools over :class:`MemoryService`.

The user id is read from ``config["configurable"]["user_id"]`` (an injected
``RunnableConfig``), never from a model argument: a model must not be able to read or
write another user's memory by naming them. Every result is compact JSON with a ``summary``
sentence, which the offline model reads as-is.

Argument defaults are plain ``None``/``False`` (pydantic ``Field()`` defaults in tool
signatures once leaked ``FieldInfo`` objects into Redis in the comparable project).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool

from wellness.config import Settings
from wellness.memory.embeddings import EmbeddingUnavailable
from wellness.memory.service import MemoryService, MemoryUnavailable, dumps
from wellness.store.connection import RedisStore
from wellness.store.errors import StoreUnavailable
from wellness.store.keys import require_user

TOOL_NAMES = ("set_goal", "list_goals", "delete_goal", "goal_progress", "health_facts",
              "suggest_plan")


def _user(config: RunnableConfig | None) -> str:
    configurable = (config or {}).get("configurable") or {}
    return require_user(configurable.get("user_id"))


async def _run(service: MemoryService, config: RunnableConfig | None, fn: Any,
               *args: Any, **kwargs: Any) -> str:
    """Run one memory operation for the calling user; errors become JSON, not exceptions."""
    try:
        user_id = _user(config)
    except ValueError:
        return dumps({"error": "no user", "summary": "I can't use memory without a signed-in "
                                                     "user."})
    try:
        await service.ensure_setup()
        result = await fn(user_id, *args, **kwargs)
    except StoreUnavailable as exc:
        return dumps({"error": "store unavailable", "summary": exc.user_message})
    except MemoryUnavailable as exc:
        return dumps({"error": "memory unavailable", "summary": exc.user_message})
    except EmbeddingUnavailable:
        return dumps({"error": "memory unavailable", "summary": (
            "The embedding model did not answer, so I couldn't use long-term memory just "
            "now. Try again in a moment.")})
    except ValueError as exc:
        return dumps({"error": "invalid request", "summary": str(exc)})
    return dumps(result)


def make_memory_tools(service: MemoryService) -> list[BaseTool]:
    """The six memory tools bound to ``service`` (set up lazily on first use)."""

    @tool("set_goal")
    async def set_goal(text: str, config: RunnableConfig, metric: str | None = None,
                       target: float | None = None, unit: str | None = None,
                       direction: str | None = None, deadline: str | None = None) -> str:
        """Save or update one of the user's health goals.

        Use when the user STATES a goal ("my goal is 10k steps a day", "get to 75 kg by
        June", "work out 3 times a week", "never skip leg day"). Never for questions such
        as "I want to know my heart rate". Pass the user's words as `text`; the optional
        fields override what is parsed: metric (steps, sleep, workouts, running_distance,
        weight, resting_heart_rate, exercise_minutes, active_energy, vo2max, ...), target
        number, unit, direction (increase/decrease/reach/maintain), deadline (YYYY-MM-DD).
        A new goal for a metric replaces the current one.
        """
        return await _run(service, config, _set, text, metric, target, unit, direction,
                          deadline)

    async def _set(user_id: str, text: str, metric: str | None, target: float | None,
                   unit: str | None, direction: str | None, deadline: str | None) -> dict:
        return await service.set_goal(user_id, text, metric=metric, target=target, unit=unit,
                                      direction=direction, deadline=deadline)

    @tool("list_goals")
    async def list_goals(config: RunnableConfig, query: str | None = None) -> str:
        """List the user's current goals (the latest goal per metric, plus free-text goals).
        Use for "what are my goals?", "what's my step goal?". Optional `query` ranks the
        goals by relevance to it (most relevant first)."""
        return await _run(service, config, service.list_goals, query)

    @tool("delete_goal")
    async def delete_goal(config: RunnableConfig, goal_id: str | None = None,
                          metric: str | None = None, all: bool = False) -> str:
        """Delete goals: one by `goal_id`, every goal of a `metric`, or `all=true` to forget
        all of the user's goals ("forget my goals")."""
        return await _run(service, config, _delete, goal_id, metric, all)

    async def _delete(user_id: str, goal_id: str | None, metric: str | None,
                      everything: bool) -> dict:
        return await service.delete_goal(user_id, goal_id=goal_id, metric=metric,
                                         everything=everything)

    @tool("goal_progress")
    async def goal_progress(config: RunnableConfig, metric: str | None = None) -> str:
        """How the user is doing against their goal(s): current value (7-day average for
        daily goals, 4-week average for weekly goals, latest reading for weight-like
        goals), distance to target, % complete and whether they are on track. Omit
        `metric` for every goal. Use for "am I on track?", "how close am I to my goal?"."""
        return await _run(service, config, service.goal_progress, metric)

    @tool("health_facts")
    async def health_facts(question: str, config: RunnableConfig,
                           category: str | None = None) -> str:
        """Curated, sourced health guidelines (AHA, CDC, WHO, AASM, ACSM) for INTERPRETING
        numbers: "Is 58 bpm resting normal?", "Is my BMI healthy?", "How much should I
        sleep?". Optional category: activity, body, fitness, heart, nutrition, sleep,
        vitals. Returns nothing for plain data questions."""
        return await _run(service, config, _facts, question, category)

    async def _facts(user_id: str, question: str, category: str | None) -> dict:
        return await service.health_facts(question, category)

    @tool("suggest_plan")
    async def suggest_plan(question: str, config: RunnableConfig) -> str:
        """Tool sequences that answered similar questions from this user before (tool
        names and argument kinds). Optional planning help; not needed for simple
        questions."""
        return await _run(service, config, service.suggest_plan, question)

    return [set_goal, list_goals, delete_goal, goal_progress, health_facts, suggest_plan]


def memory_tools(store: RedisStore | MemoryService, settings: Settings | None = None,
                 service: MemoryService | None = None) -> list[BaseTool]:
    """``memory_tools(store, settings)``: the memory tools for the agent.

    Pass an existing ``MemoryService`` (as ``service=`` or as the first argument) to share
    it with ``record_turn``/``plan_hint``; otherwise one is created and set up lazily on the
    first tool call.
    """
    if isinstance(store, MemoryService):
        service = store
    if service is None:
        if settings is None:
            raise ValueError("memory_tools needs settings when no MemoryService is given")
        service = MemoryService(store, settings)  # type: ignore[arg-type]
    return make_memory_tools(service)
