"""A small per-process cache of decoded long-range data, keyed on the import version.

Why: questions over years of data ("longest workout ever", a 5-year resting-HR series)
re-read and decode thousands of hashes and rollups each time, which costs 10-30 ms in
Python. The data only changes when an import commits, and the importer sets
``user:{u}:health:version`` to a new value in the same MULTI/EXEC as the swap, so a cached
value is valid exactly while that key is unchanged. One GET per query checks it. Without a
version key (data written by other means, or forgotten) nothing is cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from wellness.health.base import QueryContext

T = TypeVar("T")
MAX_ENTRIES = 64
_cache: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()


async def cached(ctx: QueryContext, name: str, load: Callable[[], Awaitable[T]]) -> T:
    """``load()``'s value for this user and ``name``, reused until the next import."""
    async with ctx.store.aconnection() as r:
        version = await r.get(ctx.keys.health_version)
    if not version:
        return await load()
    key = (ctx.keys.user_id, name)
    hit = _cache.get(key)
    if hit is not None and hit[0] == version:
        _cache.move_to_end(key)
        return hit[1]  # type: ignore[no-any-return]
    value = await load()
    _cache[key] = (version, value)
    while len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return value


def clear() -> None:
    _cache.clear()
