"""Episodic memory for goals: a parser for goal statements and a per-user goal store.

What went wrong before (and is handled here):
- goals were always stored as weight goals → a metric catalogue and a parser that
  recognises steps, sleep, workouts, running distance, weight, resting HR… or keeps a
  free-text goal ("never skip leg day") with no metric;
- "I want to know my resting heart rate" was saved as a goal → :func:`is_question`
  rejects questions before anything is parsed or stored;
- retrieval had no user filter and returned the top-1 hit, not the latest goal → every
  query goes through :meth:`GoalStore._scope`, which raises without a user id, and results
  are collapsed to the latest goal per metric;
- keys had second resolution and collided → goal ids are ULIDs.
"""

from __future__ import annotations

import calendar
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

from redisvl.index import AsyncSearchIndex
from redisvl.query import FilterQuery, VectorQuery
from redisvl.query.filter import FilterExpression, Tag
from redisvl.utils.vectorize import BaseVectorizer
from ulid import ULID

from wellness.memory.embeddings import as_bytes
from wellness.memory.indexes import EMBED_TEXT_FIELD, VECTOR_FIELD
from wellness.store.connection import RedisStore
from wellness.store.keys import episodic_goal, episodic_user_pattern, require_user

log = logging.getLogger(__name__)

Direction = Literal["increase", "decrease", "reach", "maintain"]
DIRECTIONS: tuple[str, ...] = ("increase", "decrease", "reach", "maintain")
FREEFORM = "freeform"  # metric tag of goals without a measurable metric


# -- metric catalogue --------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSpec:
    """How a goal metric maps onto stored health data.

    ``kind``: ``daily`` (a per-day total or nightly value averaged over recent days),
    ``weekly`` (a per-week count/total averaged over recent weeks) or ``level`` (a reading
    such as weight whose latest value is compared to the target).
    """

    name: str
    label: str
    unit: str
    kind: Literal["daily", "weekly", "level"]
    source: str  # "metric:<HK type>" | "sleep" | "workouts" | "workouts:Running"
    direction: Direction
    period: Literal["day", "week"] | None
    field: str = "s"  # daily rollup field: s=sum (cumulative), l=last reading


METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("steps", "steps", "steps", "daily", "metric:StepCount", "increase", "day"),
    MetricSpec("active_energy", "active energy", "kcal", "daily",
               "metric:ActiveEnergyBurned", "increase", "day"),
    MetricSpec("exercise_minutes", "exercise minutes", "min", "daily",
               "metric:AppleExerciseTime", "increase", "day"),
    MetricSpec("distance", "walking + running distance", "km", "daily",
               "metric:DistanceWalkingRunning", "increase", "day"),
    MetricSpec("flights", "flights climbed", "flights", "daily", "metric:FlightsClimbed",
               "increase", "day"),
    MetricSpec("sleep", "sleep", "hours", "daily", "sleep", "increase", "day"),
    MetricSpec("workouts", "workouts", "workouts", "weekly", "workouts", "increase", "week"),
    MetricSpec("running_distance", "running distance", "km", "weekly", "workouts:Running",
               "increase", "week"),
    MetricSpec("weight", "weight", "kg", "level", "metric:BodyMass", "reach", None, "l"),
    MetricSpec("resting_heart_rate", "resting heart rate", "bpm", "level",
               "metric:RestingHeartRate", "decrease", None, "l"),
    MetricSpec("body_fat", "body fat", "%", "level", "metric:BodyFatPercentage", "decrease",
               None, "l"),
    MetricSpec("vo2max", "VO2 max", "mL/kg/min", "level", "metric:VO2Max", "increase", None,
               "l"),
    MetricSpec("hrv", "heart rate variability", "ms", "level",
               "metric:HeartRateVariabilitySDNN", "increase", None, "l"),
)}

_METRIC_ALIASES: dict[str, str] = {
    "step": "steps", "stepcount": "steps", "daily steps": "steps",
    "calories": "active_energy", "active calories": "active_energy", "kcal": "active_energy",
    "activeenergyburned": "active_energy", "move": "active_energy",
    "exercise": "exercise_minutes", "exercise time": "exercise_minutes",
    "appleexercisetime": "exercise_minutes", "active minutes": "exercise_minutes",
    "walking distance": "distance", "distancewalkingrunning": "distance",
    "flights climbed": "flights", "flightsclimbed": "flights", "stairs": "flights",
    "sleep hours": "sleep", "sleep duration": "sleep", "hours of sleep": "sleep",
    "workout": "workouts", "exercise sessions": "workouts", "training": "workouts",
    "gym": "workouts", "running": "running_distance", "run": "running_distance",
    "run distance": "running_distance", "weekly running": "running_distance",
    "body weight": "weight", "bodymass": "weight", "mass": "weight",
    "resting hr": "resting_heart_rate", "rhr": "resting_heart_rate",
    "resting heart rate": "resting_heart_rate", "restingheartrate": "resting_heart_rate",
    "body fat percentage": "body_fat", "bodyfatpercentage": "body_fat", "fat": "body_fat",
    "vo2": "vo2max", "vo2 max": "vo2max", "cardio fitness": "vo2max",
    "heart rate variability": "hrv", "heartratevariabilitysdnn": "hrv",
}


def normalise_metric(metric: str | None) -> str | None:
    """Map a user/model spelling ("Steps", "resting HR", "StepCount") to a catalogue name."""
    if not metric:
        return None
    key = re.sub(r"[\s_-]+", " ", metric.strip().lower())
    if key.replace(" ", "_") in METRICS:
        return key.replace(" ", "_")
    if key in _METRIC_ALIASES:
        return _METRIC_ALIASES[key]
    if key.replace(" ", "") in _METRIC_ALIASES:
        return _METRIC_ALIASES[key.replace(" ", "")]
    if key.endswith("s") and key[:-1] in _METRIC_ALIASES:
        return _METRIC_ALIASES[key[:-1]]
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_") or None


# -- parser ------------------------------------------------------------------------------
_QUESTION_START = re.compile(
    r"^\s*(what|what's|whats|how|is|are|am|do|does|did|can|could|should|would|will|when|"
    r"where|why|which|who|show|tell|list|give|compare|was|were|has|have)\b", re.I)
_WANT_TO_KNOW = re.compile(
    r"\b(want|like|need|wanna|wish)\s+to\s+(know|see|check|find\s+out|understand|learn|"
    r"look|view|review|ask|get\s+(?:a|an|my)\s+(?:summary|overview|report|idea))\b", re.I)
_GOAL_CUE = re.compile(
    r"\b(my\s+(?:new\s+)?(?:goal|target|aim)|set\s+(?:a|my)\s+(?:new\s+)?goal|goal\s*:|"
    r"i\s+(?:want|need|plan|intend|aim|hope)\s+to|i(?:'d|\s+would|\s+d)\s+(?:like|love)\s+to|"
    r"i(?:'m|\s+am)\s+(?:trying|going|aiming|planning)\s+to|i\s+will|i'll|"
    r"help\s+me\s+(?:to\s+)?|remember\s+(?:that\s+)?my\s+goal)", re.I)
_IMPERATIVE_GOAL = re.compile(
    r"^\s*(get\s+(?:to|down\s+to|up\s+to)|lose|gain|reach|hit|walk|run|sleep|work\s*out|"
    r"exercise|train|never|always|stay|keep|maintain|drop|burn|climb|do|go|weigh|be|"
    r"resting|gym|\d[\d,.]*k?)\b", re.I)

_WORD_NUMBERS = {"once": 1, "twice": 2, "thrice": 3, "one": 1, "two": 2, "three": 3,
                 "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "a": 1, "an": 1}
_NUM = r"(\d+(?:[.,]\d+)*)"
_PER_WEEK = r"(?:a|per|each|every|/)\s*week|weekly"
_PER_DAY = r"(?:a|per|each|every|/)\s*(?:day|night)|daily|nightly"


def is_question(text: str) -> bool:
    """True for questions and "I want to know…"-style requests, which are never goals."""
    t = text.strip()
    if not t:
        return False
    if t.endswith("?"):
        return True
    if _WANT_TO_KNOW.search(t):
        return True
    return bool(_QUESTION_START.match(t)) and not _GOAL_CUE.search(t)


def looks_like_goal(text: str) -> bool:
    """A cheap intent check for goal statements (used by the offline model and the tool).

    A goal statement has a goal cue ("my goal is", "I want to", "get to…") and is not a
    question. "I want to know my resting heart rate" is a question, not a goal.
    """
    if is_question(text):
        return False
    return bool(_GOAL_CUE.search(text) or _IMPERATIVE_GOAL.match(text))


def _number(raw: str, k_suffix: str | None = None) -> float:
    raw = raw.strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw):
        raw = raw.replace(",", "")
    else:
        raw = raw.replace(",", ".")
    value = float(raw)
    if k_suffix:
        value *= 1000
    return value


@dataclass
class ParsedGoal:
    """What a goal statement says; any part may be missing (a free-text goal has none)."""

    text: str
    metric: str | None = None
    target: float | None = None
    unit: str | None = None
    direction: str | None = None
    period: str | None = None
    deadline: date | None = None
    change: float | None = None  # "lose 5 kg" → -5 (target resolved against current data)
    raw_target: str | None = None

    @property
    def is_freeform(self) -> bool:
        return self.metric is None


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9


def parse_deadline(text: str, today: date) -> date | None:
    """Deadlines in goal statements: "by June", "by June 15", "by 2027-03-01", "by the end of
    the year", "in 3 months", "within 6 weeks". A month without a year is the next such
    month (never one in the past). "by June" means by June 1st."""
    t = text.lower()
    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", t)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    m = re.search(r"\b(?:in|within)\s+(\d+|a|an|one|two|three|four|five|six|ten|twelve)\s+"
                  r"(day|week|month|year)s?\b", t)
    if m:
        n_raw = m.group(1)
        n = int(n_raw) if n_raw.isdigit() else {"twelve": 12, **_WORD_NUMBERS}.get(n_raw, 1)
        unit = m.group(2)
        if unit == "day":
            return today + timedelta(days=n)
        if unit == "week":
            return today + timedelta(weeks=n)
        months = n * (12 if unit == "year" else 1)
        y, mo = divmod(today.month - 1 + months, 12)
        year, month = today.year + y, mo + 1
        return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))
    m = re.search(r"\b(?:by|before|until|till)\s+(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?"
                  r"(year|month|week)\b", t)
    if m:
        if m.group(1) == "year":
            return date(today.year, 12, 31)
        if m.group(1) == "month":
            return date(today.year, today.month, calendar.monthrange(today.year,
                                                                     today.month)[1])
        return today + timedelta(days=6 - today.weekday())
    months = "|".join(sorted(_MONTHS, key=len, reverse=True))
    m = re.search(rf"\b(?:by|before|until|till|in)\s+(?:the\s+end\s+of\s+)?({months})\b\.?"
                  rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+(\d{{4}}))?", t)
    if m:
        month = _MONTHS[m.group(1)]
        day = int(m.group(2)) if m.group(2) else 1
        year = int(m.group(3)) if m.group(3) else today.year
        end_of = "end of" in m.group(0)
        try:
            if end_of:
                day = calendar.monthrange(year, month)[1]
            d = date(year, month, day)
        except ValueError:
            return None
        if d < today and not m.group(3):
            try:
                d = date(year + 1, month, day if not end_of else
                         calendar.monthrange(year + 1, month)[1])
            except ValueError:
                return None
        return d
    return None


def _period(text: str) -> str | None:
    if re.search(_PER_WEEK, text, re.I):
        return "week"
    if re.search(_PER_DAY, text, re.I):
        return "day"
    return None


def parse_goal(text: str, today: date | None = None) -> ParsedGoal | None:
    """Parse a goal statement; None when the text is a question (never a goal).

    Recognises, among others: "my goal is 10k steps a day", "get to 75 kg by June",
    "work out 3 times a week", "sleep 8 hours", "run 5k every week", "lose 5 kg",
    "resting heart rate under 60". Anything else that is a statement becomes a free-text
    goal ("never skip leg day") with no metric.
    """
    if not text or not text.strip():
        return None
    if is_question(text):
        return None
    today = today or date.today()
    t = " ".join(text.strip().split())
    low = t.lower()
    goal = ParsedGoal(text=t, deadline=parse_deadline(low, today))

    def done(metric: str, target: float | None, unit: str, direction: str | None = None,
             period: str | None = None, change: float | None = None) -> ParsedGoal:
        spec = METRICS[metric]
        goal.metric, goal.target, goal.unit, goal.change = metric, target, unit, change
        goal.direction = direction or spec.direction
        goal.period = period or _period(low) or spec.period
        return goal

    # Steps: "10k steps", "10,000 steps a day", "walk 8000 steps".
    m = re.search(rf"{_NUM}\s*(k)?\s*steps?\b", low)
    if m:
        return done("steps", _number(m.group(1), m.group(2)), "steps")

    # Workouts per week: "work out 3 times a week", "exercise four days a week", "gym twice
    # a week", "3 workouts per week".
    m = re.search(rf"(?:work\s*out|exercise|train|gym|workouts?|sessions?)\D{{0,20}}?"
                  rf"\b(\d+|once|twice|thrice|one|two|three|four|five|six|seven)\b"
                  rf"\s*(?:times?|x|days?|sessions?|workouts?)?\s*(?:{_PER_WEEK})", low)
    if not m:
        m = re.search(rf"\b(\d+|one|two|three|four|five|six|seven)\s+(?:workouts?|"
                      rf"gym\s+sessions?|training\s+sessions?)\s*(?:{_PER_WEEK})", low)
    if m:
        n = m.group(1)
        return done("workouts", float(n) if n.isdigit() else float(_WORD_NUMBERS[n]),
                    "workouts", period="week")

    # Running distance: "run 5k every week", "run 20 km a week", "run 10 miles weekly".
    m = re.search(rf"\brun(?:ning)?\s+(?:at\s+least\s+|a\s+)?{_NUM}\s*(k|km|kms|kilomet(?:er|re)s?|"
                  rf"mi|miles?)\b", low)
    if m:
        value = _number(m.group(1))
        unit = m.group(2)
        if unit.startswith("mi"):
            value = round(value * 1.609344, 2)
        return done("running_distance", value, "km")

    # Sleep: "sleep 8 hours", "8 hours of sleep", "sleep at least 7.5h a night".
    m = (re.search(rf"\bsleep\w*\s+(?:at\s+least\s+|for\s+|about\s+)?{_NUM}\s*"
                   rf"(?:h|hrs?|hours?)\b", low)
         or re.search(rf"{_NUM}\s*(?:h|hrs?|hours?)\s+(?:of\s+)?sleep", low))
    if m:
        return done("sleep", _number(m.group(1)), "hours", period="day")

    # Weight: "get to 75 kg", "lose 5 kg", "weigh 165 lbs", "gain 3 kilos".
    m = re.search(rf"{_NUM}\s*(kg|kgs|kilos?|kilograms?|lbs?|pounds?)\b", low)
    if m:
        value = _number(m.group(1))
        if m.group(2).startswith(("lb", "pound")):
            value = round(value * 0.45359237, 1)
        if re.search(r"\b(lose|drop|shed|cut)\b", low):
            return done("weight", None, "kg", "decrease", change=-value)
        if re.search(r"\b(gain|put\s+on|add|bulk)\b", low):
            return done("weight", None, "kg", "increase", change=value)
        direction = "maintain" if re.search(r"\b(stay|maintain|keep)\b", low) else None
        if re.search(r"\b(get\s+down\s+to|below|under|less\s+than)\b", low):
            direction = "decrease"
        return done("weight", value, "kg", direction)

    # Resting heart rate: "resting heart rate under 60", "get my RHR to 55 bpm".
    m = re.search(rf"(?:resting\s+(?:heart\s+rate|hr)|rhr)\D{{0,25}}?{_NUM}", low)
    if m:
        return done("resting_heart_rate", _number(m.group(1)), "bpm")

    # VO2 max: "VO2 max of 45", "get my vo2max to 50".
    m = re.search(rf"vo2\s*max\D{{0,20}}?{_NUM}", low)
    if m:
        return done("vo2max", _number(m.group(1)), "mL/kg/min")

    # Body fat: "body fat under 20%".
    m = re.search(rf"body\s*fat\D{{0,20}}?{_NUM}\s*%?", low)
    if m:
        return done("body_fat", _number(m.group(1)), "%")

    # Exercise minutes: "150 minutes of exercise a week", "exercise 30 minutes a day".
    m = (re.search(rf"{_NUM}\s*(?:min|mins|minutes)\s+(?:of\s+)?(?:exercise|activity|"
                   rf"cardio|movement)", low)
         or re.search(rf"(?:exercise|be\s+active|move)\s+(?:for\s+)?{_NUM}\s*(?:min|mins|"
                      rf"minutes)", low))
    if m:
        return done("exercise_minutes", _number(m.group(1)), "min")

    # Active energy: "burn 500 calories a day".
    m = re.search(rf"(?:burn|active)\D{{0,15}}?{_NUM}\s*(?:kcal|cal|calories)", low)
    if m:
        return done("active_energy", _number(m.group(1)), "kcal")

    # Walking distance: "walk 5 km a day".
    m = re.search(rf"\bwalk\w*\s+{_NUM}\s*(km|kilomet(?:er|re)s?|mi|miles?)\b", low)
    if m:
        value = _number(m.group(1))
        if m.group(2).startswith("mi"):
            value = round(value * 1.609344, 2)
        return done("distance", value, "km")

    # Flights: "climb 10 flights a day".
    m = re.search(rf"{_NUM}\s*flights", low)
    if m:
        return done("flights", _number(m.group(1)), "flights")

    # Direction without a number: "lose weight", "sleep more", "walk more".
    if re.search(r"\b(lose|drop|shed)\s+(?:some\s+)?weight\b", low):
        return done("weight", None, "kg", "decrease")
    if re.search(r"\bsleep\s+(?:more|longer|better)\b", low):
        return done("sleep", None, "hours", "increase", period="day")
    if re.search(r"\b(?:walk|move)\s+more\b|\bmore\s+steps\b", low):
        return done("steps", None, "steps", "increase")
    if re.search(r"\b(?:work\s*out|exercise|train)\s+more\b", low):
        return done("workouts", None, "workouts", "increase", period="week")

    return goal  # a free-text goal: kept verbatim, no metric


# -- goal record -------------------------------------------------------------------------
@dataclass
class Goal:
    """A stored goal. ``metric`` is None for free-text goals."""

    goal_id: str
    user_id: str
    text: str
    metric: str | None = None
    target: float | None = None
    unit: str | None = None
    direction: str | None = None
    period: str | None = None
    deadline: str | None = None  # ISO date
    change: float | None = None
    baseline: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """One plain-English line: "steps: at least 10,000 steps per day (by 2027-06-01)"."""
        if not self.metric:
            return f"{self.text}"
        spec = METRICS.get(self.metric)
        label = spec.label if spec else self.metric.replace("_", " ")
        per = f" per {'night' if self.metric == 'sleep' and self.period == 'day' else self.period}" if self.period else ""
        if self.target is None and self.change is not None:
            verb = "lose" if self.change < 0 else "gain"
            core = f"{verb} {_fmt(abs(self.change))} {self.unit or ''}".strip()
        elif self.target is None:
            way = {"increase": "more", "decrease": "less", "maintain": "steady"}.get(
                self.direction or "", "")
            core = f"{way} (no target number yet)".strip()
        else:
            word = {"increase": "at least", "decrease": "at most", "reach": "reach",
                    "maintain": "stay at"}.get(self.direction or "", "")
            core = f"{word} {_fmt(self.target)} {self.unit or ''}{per}".strip()
        by = f" by {self.deadline}" if self.deadline else ""
        return f"{label}: {core}{by}"

    def embed_text(self) -> str:
        return f"Goal. {self.describe()}. {self.text}"

    def to_public(self) -> dict[str, Any]:
        """JSON-safe view for tools and the UI (no user id, no vectors)."""
        return {
            "goal_id": self.goal_id, "metric": self.metric, "target": self.target,
            "unit": self.unit, "direction": self.direction, "period": self.period,
            "deadline": self.deadline, "text": self.text, "description": self.describe(),
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            **({"change": self.change} if self.change is not None else {}),
        }

    def to_hash(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "user_id": self.user_id, "event_type": "goal", "goal_id": self.goal_id,
            "metric": self.metric or FREEFORM, "timestamp": self.created_at,
            "updated_at": self.updated_at, "text": self.text,
            "data": json.dumps({k: v for k, v in asdict(self).items()
                                if k not in ("user_id", "text")}),
            EMBED_TEXT_FIELD: self.embed_text(),
        }
        return doc

    @classmethod
    def from_hash(cls, doc: dict[str, Any]) -> "Goal":
        data = json.loads(doc.get("data") or "{}")
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}
        data.update(user_id=doc.get("user_id", ""), text=doc.get("text", ""))
        data.setdefault("goal_id", doc.get("goal_id", ""))
        return cls(**data)


def _fmt(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.1f}"


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def latest_per_metric(goals: list[Goal]) -> list[Goal]:
    """The current goal for each metric (latest update wins); free-text goals all kept."""
    best: dict[str, Goal] = {}
    free: list[Goal] = []
    for g in goals:
        if not g.metric:
            free.append(g)
            continue
        cur = best.get(g.metric)
        if cur is None or (g.updated_at, g.goal_id) > (cur.updated_at, cur.goal_id):
            best[g.metric] = g
    out = list(best.values()) + free
    out.sort(key=lambda g: (g.updated_at, g.goal_id), reverse=True)
    return out


# -- store -------------------------------------------------------------------------------
_RETURN_FIELDS = ["user_id", "goal_id", "metric", "timestamp", "updated_at", "text", "data"]
MAX_GOALS_PER_QUERY = 500


class GoalStore:
    """Per-user goals in the ``wellness_episodic`` RedisVL index.

    Isolation: every read builds its filter with :meth:`_scope`, the only place a goal
    filter is made; it raises without a valid user id and always ANDs the user tag. Results
    are checked again against the user id before they are returned.
    """

    def __init__(self, index: AsyncSearchIndex, vectorizer: BaseVectorizer,
                 store: RedisStore) -> None:
        self.index = index
        self.vectorizer = vectorizer
        self.store = store

    # -- isolation -------------------------------------------------------------------
    @staticmethod
    def _scope(user_id: str | None, extra: FilterExpression | None = None) -> FilterExpression:
        """The mandatory user filter (fails closed), optionally narrowed by ``extra``."""
        uid = require_user(user_id)
        expr = (Tag("user_id") == uid) & (Tag("event_type") == "goal")
        return expr & extra if extra is not None else expr

    @staticmethod
    def _mine(user_id: str, docs: list[dict[str, Any]]) -> list[Goal]:
        prefix = episodic_goal(user_id, "")
        out = []
        for d in docs:
            if d.get("user_id") != user_id or not str(d.get("id", prefix)).startswith(prefix):
                continue  # defence in depth: never hand back another user's document
            try:
                out.append(Goal.from_hash(d))
            except (ValueError, TypeError, json.JSONDecodeError):
                log.warning("skipping an unreadable goal document")
        return out

    # -- reads -----------------------------------------------------------------------
    async def all_versions(self, user_id: str, metric: str | None = None) -> list[Goal]:
        """Every stored goal document of the user (all metrics, newest first)."""
        extra = Tag("metric") == metric if metric else None
        q = FilterQuery(filter_expression=self._scope(user_id, extra),
                        return_fields=_RETURN_FIELDS, num_results=MAX_GOALS_PER_QUERY)
        q.sort_by("updated_at", asc=False)
        docs = await self.index.query(q)
        return self._mine(user_id, docs)

    async def list(self, user_id: str) -> list[Goal]:
        """Current goals: the latest per metric plus every free-text goal."""
        return latest_per_metric(await self.all_versions(user_id))

    async def get(self, user_id: str, goal_id: str) -> Goal | None:
        goals = [g for g in await self.all_versions(user_id) if g.goal_id == goal_id]
        return goals[0] if goals else None

    async def current(self, user_id: str, metric: str) -> Goal | None:
        goals = latest_per_metric(await self.all_versions(user_id, metric))
        return goals[0] if goals else None

    async def search(self, user_id: str, query: str, k: int = 5,
                     recency_half_life_days: float = 90.0) -> list[tuple[Goal, float]]:
        """Goals relevant to ``query``: similarity blended with recency, latest per metric.

        Why blend: "what's my goal" matches every goal about equally; among near-ties the
        newer goal should win, and an old superseded goal must never beat the current one.
        """
        vector = await self.vectorizer.aembed(query)
        # ADHOC_BF: score only the documents that pass the user filter (a user has tens of
        # goals, the index many thousands); the default may scan every vector in batches.
        q = VectorQuery(vector=vector, vector_field_name=VECTOR_FIELD,
                        return_fields=_RETURN_FIELDS, filter_expression=self._scope(user_id),
                        num_results=max(k * 4, 20), hybrid_policy="ADHOC_BF")
        docs = await self.index.query(q)
        now = time.time()
        scored: dict[str, float] = {}
        goals = self._mine(user_id, docs)
        dist = {d.get("goal_id"): float(d.get("vector_distance", 1.0)) for d in docs}
        for g in goals:
            sim = 1.0 - dist.get(g.goal_id, 1.0)
            age_days = max(0.0, (now - g.updated_at) / 86400)
            recency = math.exp(-age_days * math.log(2) / recency_half_life_days)
            scored[g.goal_id] = 0.85 * sim + 0.15 * recency
        current = latest_per_metric(goals)
        ranked = sorted(current, key=lambda g: scored.get(g.goal_id, 0.0), reverse=True)
        return [(g, round(scored.get(g.goal_id, 0.0), 4)) for g in ranked[:k]]

    async def count(self, user_id: str) -> int:
        return len(await self.list(user_id))

    # -- writes ----------------------------------------------------------------------
    async def _write(self, goal: Goal) -> None:
        doc = goal.to_hash()
        doc[VECTOR_FIELD] = as_bytes(await self.vectorizer.aembed(goal.embed_text()))
        await self.index.load([doc], keys=[episodic_goal(goal.user_id, goal.goal_id)])

    async def set(self, user_id: str, parsed: ParsedGoal) -> tuple[Goal, Goal | None]:
        """Store a goal; returns (goal, previous goal it replaced or None).

        A new goal for a metric that already has one updates that goal in place (same id,
        history kept), so "set" never leaves two competing current goals. A free-text goal
        identical to an existing one is not stored twice.
        """
        require_user(user_id)
        now = time.time()
        existing = await self.current(user_id, parsed.metric) if parsed.metric else None
        if parsed.metric is None:
            norm = " ".join(parsed.text.lower().split())
            for g in await self.all_versions(user_id, FREEFORM):
                if " ".join(g.text.lower().split()) == norm:
                    return g, None
        if existing is not None:
            previous = replace(existing, history=list(existing.history))
            updated = replace(
                existing, text=parsed.text, target=parsed.target, unit=parsed.unit,
                direction=parsed.direction, period=parsed.period,
                deadline=parsed.deadline.isoformat() if parsed.deadline else None,
                change=parsed.change, baseline=None, updated_at=now,
                history=(existing.history + [{"target": existing.target,
                                              "unit": existing.unit,
                                              "text": existing.text,
                                              "until": now}])[-10:],
            )
            await self._write(updated)
            return updated, previous
        goal = Goal(goal_id=str(ULID()), user_id=user_id, text=parsed.text,
                    metric=parsed.metric, target=parsed.target, unit=parsed.unit,
                    direction=parsed.direction, period=parsed.period,
                    deadline=parsed.deadline.isoformat() if parsed.deadline else None,
                    change=parsed.change, created_at=now, updated_at=now)
        await self._write(goal)
        return goal, None

    async def update(self, user_id: str, goal_id: str, **changes: Any) -> Goal | None:
        """Change fields of one of the user's goals (re-embedded); None if it is not theirs."""
        goal = await self.get(user_id, goal_id)
        if goal is None:
            return None
        allowed = {"text", "target", "unit", "direction", "period", "deadline", "baseline",
                   "change"}
        clean = {k: v for k, v in changes.items() if k in allowed}
        if isinstance(clean.get("deadline"), date):
            clean["deadline"] = clean["deadline"].isoformat()
        goal = replace(goal, **clean, updated_at=time.time())
        await self._write(goal)
        return goal

    async def delete(self, user_id: str, *, goal_id: str | None = None,
                     metric: str | None = None, everything: bool = False) -> list[Goal]:
        """Delete one goal, every goal of a metric, or all of the user's goals."""
        require_user(user_id)
        goals = await self.all_versions(user_id)
        if goal_id:
            victims = [g for g in goals if g.goal_id == goal_id]
        elif metric:
            victims = [g for g in goals if g.metric == metric]
        elif everything:
            victims = goals
        else:
            return []
        keys = [episodic_goal(user_id, g.goal_id) for g in victims]
        if everything:
            # Belt and braces: also catch documents the index did not return.
            async with self.store.aconnection() as r:
                async for key in r.scan_iter(match=episodic_user_pattern(user_id), count=500):
                    k = key.decode() if isinstance(key, bytes) else key
                    if k not in keys:
                        keys.append(k)
        if keys:
            async with self.store.aconnection() as r:
                await r.delete(*keys)
        return victims
