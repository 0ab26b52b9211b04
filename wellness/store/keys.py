"""Every Redis key the product uses, in one place.

Why: the comparable project formatted keys by hand in a dozen modules and ended up with
"clear session" deleting keys that were never written. Here every key comes from a builder,
every user-scoped key contains ``user:{id}``, and a missing user id fails closed.
See ``docs/data-model.md`` for what each key holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# RedisVL index names and prefixes (not user-scoped: the user filter lives in the query).
EPISODIC_INDEX = "wellness_episodic"
EPISODIC_PREFIX = "episodic"
SEMANTIC_INDEX = "wellness_semantic"
SEMANTIC_PREFIX = "semantic"
PROCEDURAL_INDEX = "wellness_procedural"
PROCEDURAL_PREFIX = "procedural"
EMBEDDING_META = "wellness:meta:embedding"
EMBEDDINGS_CACHE_NAME = "wellness:embedcache"

# LangGraph AsyncRedisSaver prefixes (its defaults, named here so "forget" can find them).
CHECKPOINT_PREFIXES = ("checkpoint", "checkpoint_write", "checkpoint_latest", "write_keys_zset")


def require_user(user_id: str | None) -> str:
    """Return ``user_id`` if it is a safe, non-empty id; raise otherwise (fail closed)."""
    if not user_id or not _USER_ID.match(user_id):
        raise ValueError("a valid user id is required for user-scoped data")
    return user_id


def day_ordinal(day: date) -> int:
    """Days since 1970-01-01: the score of every per-day sorted set."""
    return day.toordinal() - _EPOCH_ORDINAL


def day_from_ordinal(n: int) -> date:
    return date.fromordinal(int(n) + _EPOCH_ORDINAL)


@dataclass(frozen=True)
class UserKeys:
    """Key builders for one user's health data.

    ``namespace`` is empty for live data and ``staging:{import_id}`` while an import builds
    its new data; the importer renames staging keys over live keys when it commits.
    """

    user_id: str
    namespace: str = ""

    def __post_init__(self) -> None:
        require_user(self.user_id)

    @property
    def base(self) -> str:
        if self.namespace:
            return f"user:{self.user_id}:{self.namespace}"
        return f"user:{self.user_id}"

    def staging(self, import_id: str) -> "UserKeys":
        return UserKeys(self.user_id, f"staging:{import_id}")

    def live(self) -> "UserKeys":
        return UserKeys(self.user_id)

    # -- health data (seed §6) -------------------------------------------------------
    @property
    def health_data(self) -> str:
        return f"{self.base}:health_data"

    def health_metric(self, metric_type: str) -> str:
        return f"{self.base}:health_metric:{metric_type}"

    def metric_daily(self, metric_type: str) -> str:
        return f"{self.base}:health_metric:{metric_type}:daily"

    def metric_days(self, metric_type: str) -> str:
        return f"{self.base}:health_metric:{metric_type}:days"

    @property
    def metric_types(self) -> str:
        return f"{self.base}:health_metrics"

    # -- workouts (seed §5) ----------------------------------------------------------
    @property
    def workout_days(self) -> str:
        return f"{self.base}:workout:days"

    @property
    def workout_by_date(self) -> str:
        return f"{self.base}:workout:by_date"

    def workout(self, wid: str) -> str:
        return f"{self.base}:workout:{wid}"

    # -- sleep and activity ----------------------------------------------------------
    @property
    def sleep_by_date(self) -> str:
        return f"{self.base}:sleep:by_date"

    def sleep_night(self, night: str) -> str:
        return f"{self.base}:sleep:{night}"

    @property
    def activity_by_date(self) -> str:
        return f"{self.base}:activity:by_date"

    def activity_day(self, day: str) -> str:
        return f"{self.base}:activity:{day}"

    # -- import bookkeeping ----------------------------------------------------------
    @property
    def health_version(self) -> str:
        """Changes with every committed import: query-side caches are keyed on it."""
        return f"{self.base}:health:version"

    @property
    def import_lock(self) -> str:
        return f"user:{self.user_id}:import:lock"

    def staging_pattern(self) -> str:
        """SCAN pattern for every staging key of this user (leftovers of killed imports)."""
        return f"user:{self.user_id}:staging:*"

    def health_patterns(self) -> list[str]:
        """SCAN patterns that together cover every live health-data key of this user."""
        b = f"user:{self.user_id}"
        return [
            f"{b}:health_data",
            f"{b}:health_metric:*",
            f"{b}:health_metrics",
            f"{b}:health:version",
            f"{b}:workout:*",
            f"{b}:sleep:*",
            f"{b}:activity:*",
        ]

    def all_pattern(self) -> str:
        """SCAN pattern for every key that starts with this user's prefix."""
        return f"user:{self.user_id}:*"


# -- long-term memory (seed §2-4) --------------------------------------------------------
def episodic_goal(user_id: str, goal_id: str) -> str:
    return f"{EPISODIC_PREFIX}:{require_user(user_id)}:goal:{goal_id}"


def episodic_user_pattern(user_id: str) -> str:
    return f"{EPISODIC_PREFIX}:{require_user(user_id)}:*"


def semantic_fact(category: str, fact_type: str, fact_id: str) -> str:
    return f"{SEMANTIC_PREFIX}:{category}:{fact_type}:{fact_id}"


def procedural_pattern(pattern_hash: str, ts: int) -> str:
    return f"{PROCEDURAL_PREFIX}:{pattern_hash}:{ts}"


def checkpoint_user_patterns(user_id: str) -> list[str]:
    """SCAN patterns for the LangGraph checkpoint keys of every thread of ``user_id``.

    Thread ids are ``{user}:{chat thread}`` (see :func:`thread_id`), and the saver puts the
    thread id right after its prefix, so ``{prefix}:{user}:*`` covers them all.
    """
    uid = require_user(user_id)
    return [f"{prefix}:{uid}:*" for prefix in CHECKPOINT_PREFIXES]


# -- conversations -----------------------------------------------------------------------
def thread_id(user_id: str, chat_thread_id: str) -> str:
    """LangGraph thread id: the Chainlit thread id scoped to its user."""
    return f"{require_user(user_id)}:{chat_thread_id}"


# -- Chainlit data layer -----------------------------------------------------------------
CL_PREFIX = "cl"


def cl_user(identifier: str) -> str:
    return f"{CL_PREFIX}:user:{identifier}"


def cl_user_by_id(user_id: str) -> str:
    return f"{CL_PREFIX}:user_id:{user_id}"


def cl_user_threads(user_id: str) -> str:
    return f"{CL_PREFIX}:user:{user_id}:threads"


def cl_thread(thread: str) -> str:
    return f"{CL_PREFIX}:thread:{thread}"


def cl_thread_steps(thread: str) -> str:
    return f"{CL_PREFIX}:thread:{thread}:steps"


def cl_thread_elements(thread: str) -> str:
    return f"{CL_PREFIX}:thread:{thread}:elements"


def cl_step(step_id: str) -> str:
    return f"{CL_PREFIX}:step:{step_id}"


def cl_element(element_id: str) -> str:
    return f"{CL_PREFIX}:element:{element_id}"


def cl_feedback(feedback_id: str) -> str:
    return f"{CL_PREFIX}:feedback:{feedback_id}"


def cl_password(identifier: str) -> str:
    return f"{CL_PREFIX}:password:{identifier}"


def cl_login_attempts(identifier: str) -> str:
    return f"{CL_PREFIX}:login_attempts:{identifier}"
