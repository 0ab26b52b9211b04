"""Long-term memory: goals (episodic), health facts (semantic), tool patterns (procedural).

``from wellness.memory import MemoryService`` is resolved lazily so importing the package
does not pull in RedisVL until memory is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MemoryService", "memory_tools"]


def __getattr__(name: str) -> Any:
    if name == "MemoryService":
        from wellness.memory.service import MemoryService

        return MemoryService
    if name == "memory_tools":
        from wellness.memory.tools import memory_tools

        return memory_tools
    raise AttributeError(name)
