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
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from wellness.health.base import QueryContext, fetch_indexed, first_last, ordinal_bounds
from wellness.health.periods import DateRange

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


async def day_indexed_rows(ctx: QueryContext, days_key: str, hash_prefix: str,
                           fields: Sequence[str], rng: DateRange,
                           long_range_days: int = 120
                           ) -> tuple[list[str], list[list[Any]], date | None, date | None]:
    """Per-day hashes (sleep nights, activity days) in ``rng`` plus the index's coverage.

    Short ranges read just their days; longer ones are cut from every day of the index,
    read and kept once per import.
    """
    async def load(lo: int | str, hi: int | str
                   ) -> tuple[list[str], list[list[Any]], date | None, date | None]:
        async with ctx.store.aconnection() as r:
            ids, rows = await fetch_indexed(r, days_key, hash_prefix, tuple(fields), lo, hi)
            pipe = r.pipeline(transaction=False)
            pipe.zrange(days_key, 0, 0, withscores=True)
            pipe.zrange(days_key, -1, -1, withscores=True)
            f_m, l_m = await pipe.execute()
        first, last = first_last(f_m, l_m)
        return list(ids), list(rows), first, last

    if rng.days <= long_range_days:
        return await load(*ordinal_bounds(rng))
    ids, rows, first, last = await cached(ctx, f"rows:{days_key}", lambda: load("-inf", "+inf"))
    lo, hi = rng.start.isoformat(), rng.end.isoformat()
    keep = [i for i, d in enumerate(ids) if lo <= d[:10] <= hi]
    return [ids[i] for i in keep], [rows[i] for i in keep], first, last
