"""The offline model: a rule-based chat model for people who keep everything on their machine.

It is a real ``BaseChatModel``: ``bind_tools`` records which tools exist (and their argument
names), the first call of a turn maps the question to real ``tool_calls`` and the second call
writes the answer from the tool results' ``summary`` sentences. It streams (``_astream``
yields ``AIMessageChunk``s, tool calls as tool-call chunks).

How the mapping works, and why: the comparable project used one regex per sentence and
swallowed "I want to know my resting heart rate" as a goal. Here the text is normalised,
intents are *scored* from keyword groups, and the metric and the period are extracted
separately (the period through the shared parser's ``find_period``), so new wordings combine
instead of needing new rules. Follow-ups ("and the week before?", "what about yesterday?",
"how long was it?", "and my BMI?", "is that good?") reuse the previous turn's tool calls from
the thread. When nothing fits it says what it can answer instead of guessing.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from wellness.health.periods import (
    DateRange,
    PeriodError,
    find_period,
    parse_period,
    shift_range,
)

# -- vocabulary ---------------------------------------------------------------------------
#: Metric phrases → Apple Health short type. Longest phrase wins ("resting heart rate").
METRIC_PHRASES: dict[str, str] = {
    "steps": "StepCount", "step count": "StepCount", "step": "StepCount",
    "walked": "StepCount",
    "resting heart rate": "RestingHeartRate", "resting hr": "RestingHeartRate",
    "rhr": "RestingHeartRate", "resting pulse": "RestingHeartRate",
    "heart rate variability": "HeartRateVariabilitySDNN", "hrv": "HeartRateVariabilitySDNN",
    "walking heart rate": "WalkingHeartRateAverage",
    "heart rate": "HeartRate", "pulse": "HeartRate", "bpm": "HeartRate", "hr": "HeartRate",
    "body mass index": "BodyMassIndex", "bmi": "BodyMassIndex",
    "body fat": "BodyFatPercentage", "lean body mass": "LeanBodyMass",
    "weight": "BodyMass", "weigh": "BodyMass", "body mass": "BodyMass", "wt": "BodyMass",
    "height": "Height", "tall": "Height",
    "active energy": "ActiveEnergyBurned", "active calories": "ActiveEnergyBurned",
    "calories": "ActiveEnergyBurned", "calorie": "ActiveEnergyBurned", "kcal": "ActiveEnergyBurned",
    "energy burned": "ActiveEnergyBurned", "burn": "ActiveEnergyBurned",
    "burned": "ActiveEnergyBurned", "burnt": "ActiveEnergyBurned",
    "resting energy": "BasalEnergyBurned", "basal energy": "BasalEnergyBurned",
    "calories eaten": "DietaryEnergyConsumed", "calories consumed": "DietaryEnergyConsumed",
    "dietary energy": "DietaryEnergyConsumed", "ate": "DietaryEnergyConsumed",
    "water": "DietaryWater", "drink": "DietaryWater", "drank": "DietaryWater",
    "distance": "DistanceWalkingRunning", "how far": "DistanceWalkingRunning",
    "kilometers": "DistanceWalkingRunning", "km": "DistanceWalkingRunning",
    "miles": "DistanceWalkingRunning",
    "cycling distance": "DistanceCycling", "swimming distance": "DistanceSwimming",
    "flights": "FlightsClimbed", "flights climbed": "FlightsClimbed", "stairs": "FlightsClimbed",
    "floors": "FlightsClimbed",
    "exercise minutes": "AppleExerciseTime", "exercise time": "AppleExerciseTime",
    "stand time": "AppleStandTime", "standing time": "AppleStandTime",
    "vo2": "VO2Max", "vo2 max": "VO2Max", "vo2max": "VO2Max", "cardio fitness": "VO2Max",
    "oxygen": "OxygenSaturation", "spo2": "OxygenSaturation", "blood oxygen": "OxygenSaturation",
    "oxygen saturation": "OxygenSaturation",
    "respiratory rate": "RespiratoryRate", "breathing rate": "RespiratoryRate",
    "blood pressure": "BloodPressureSystolic", "bp": "BloodPressureSystolic", "systolic": "BloodPressureSystolic",
    "diastolic": "BloodPressureDiastolic",
    "blood glucose": "BloodGlucose", "glucose": "BloodGlucose", "blood sugar": "BloodGlucose",
    "body temperature": "BodyTemperature", "temperature": "BodyTemperature",
    "walking speed": "WalkingSpeed", "mindful minutes": "MindfulSession",
}
#: How a metric is named in a facts question, and the facts category it belongs to.
TOPICS: dict[str, tuple[str, str | None]] = {
    "RestingHeartRate": ("resting heart rate", "heart"),
    "HeartRate": ("heart rate", "heart"),
    "HeartRateVariabilitySDNN": ("heart rate variability (HRV)", "heart"),
    "BodyMassIndex": ("BMI (body mass index)", "body"),
    "BodyMass": ("body weight and BMI", "body"),
    "BodyFatPercentage": ("body fat percentage", "body"),
    "StepCount": ("number of steps per day", "activity"),
    "ActiveEnergyBurned": ("amount of daily physical activity", "activity"),
    "DistanceWalkingRunning": ("amount of daily walking", "activity"),
    "VO2Max": ("VO2 max (cardio fitness)", "fitness"),
    "OxygenSaturation": ("blood oxygen saturation", "vitals"),
    "RespiratoryRate": ("respiratory rate", "vitals"),
    "BloodPressureSystolic": ("blood pressure", "vitals"),
    "BloodPressureDiastolic": ("blood pressure", "vitals"),
}
CUMULATIVE = {"StepCount", "ActiveEnergyBurned", "BasalEnergyBurned", "DistanceWalkingRunning",
              "DistanceCycling", "DistanceSwimming", "FlightsClimbed", "AppleExerciseTime",
              "AppleStandTime", "DietaryWater", "DietaryEnergyConsumed"}

#: Workout type words → Apple's short activity type.
WORKOUT_TYPES: dict[str, str] = {
    "run": "Running", "runs": "Running", "running": "Running", "jog": "Running",
    "jogging": "Running", "ran": "Running",
    "walk": "Walking", "walks": "Walking", "walking": "Walking",
    "cycling": "Cycling", "cycle": "Cycling", "bike": "Cycling", "biking": "Cycling",
    "ride": "Cycling", "rides": "Cycling",
    "swim": "Swimming", "swims": "Swimming", "swimming": "Swimming",
    "yoga": "Yoga", "hiit": "HighIntensityIntervalTraining", "hike": "Hiking",
    "hiking": "Hiking", "hikes": "Hiking",
    "strength": "TraditionalStrengthTraining", "weights": "TraditionalStrengthTraining",
    "lifting": "TraditionalStrengthTraining", "weightlifting": "TraditionalStrengthTraining",
    "functional strength": "FunctionalStrengthTraining", "rowing": "Rowing",
    "elliptical": "Elliptical", "pilates": "Pilates", "dance": "Dance", "dancing": "Dance",
    "tennis": "Tennis", "soccer": "Soccer", "basketball": "Basketball",
    "core training": "CoreTraining", "cooldown": "Cooldown", "stairs workout": "StairClimbing",
}

WORKOUT_WORDS = {"workout", "workouts", "work out", "worked out", "working out", "exercise",
                 "exercised", "exercising", "training", "trained", "train", "session",
                 "sessions", "activity", "activities", "sport", "sports", "gym"}
SLEEP_WORDS = {"sleep", "slept", "asleep", "sleeping", "bed", "bedtime", "wake", "woke", "waking",
               "deep sleep", "rem", "nap", "insomnia", "rest", "in bed"}
RING_WORDS = {"ring", "rings", "move goal", "stand hours", "stand goal", "exercise goal",
              "close my", "closed my", "closing"}

GOAL_SET_PREFIX = re.compile(
    r"^(?:my (?:new )?(?:goal|target|aim|objective) (?:is|will be)|set (?:a |my )?(?:new )?goal"
    r"|i (?:want|would like|d like|plan|intend|aim|hope|am trying|m trying|need) to"
    r"|i am going to|i m going to|i will|i ll|goal\s*:)\b")
#: After "I want to …": verbs that make it a data question, not a goal.
DATA_VERBS = {"know", "see", "check", "find", "understand", "look", "view", "learn", "ask",
              "compare", "review", "get a", "hear", "show", "understand", "track how",
              "figure", "analyze", "analyse", "explore", "read"}
PREDICT_WORDS = {"will i", "predict", "prediction", "forecast", "going to be", "tomorrow",
                 "next week", "next month", "next year", "future", "in the future"}

STAT_WORDS: list[tuple[str, str]] = [
    ("average", "avg"), ("avg", "avg"), ("mean", "avg"), ("typical", "avg"),
    ("usually", "avg"), ("per day", "avg"), ("daily average", "avg"), ("a day", "avg"),
    ("total", "sum"), ("sum", "sum"), ("altogether", "sum"), ("in total", "sum"),
    ("lowest", "min"), ("minimum", "min"), ("lightest", "min"), ("heaviest", "max"), ("min", "min"), ("least", "min"),
    ("highest", "max"), ("maximum", "max"), ("max", "max"), ("most", "max"), ("peak", "max"),
    ("best", "max"), ("record", "max"), ("top", "max"),
    ("latest", "last"), ("current", "last"), ("currently", "last"), ("recent", "last"),
    ("now", "last"), ("last reading", "last"), ("most recent", "last"),
    ("how many readings", "count"), ("how many times", "count"), ("how often", "count"),
]

NO_MEMORY = ("This conversation runs without memory, so I can't save or look up goals here. "
             "Switch to the coach with memory to set a goal or check your progress.")

NOT_UNDERSTOOD = "I'm not sure how to answer that from your data. "
CAPABILITIES = (
    "I can answer questions about your Apple Health data: workouts (how many, which days, "
    "types, streaks, your last or longest workout and its heart rate), steps, distance, "
    "calories and other daily metrics (totals, averages, highs and lows, trends, comparing "
    "two periods), heart rate and resting heart rate, weight and BMI, sleep (hours, stages, "
    "efficiency, bed and wake times), activity rings, and your goals. For example: "
    "\"How many workouts did I do last month?\" or \"How did I sleep last week?\""
)


# -- text ---------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """Lower-case ASCII words and single spaces: curly quotes, emoji and punctuation removed."""
    text = unicodedata.normalize("NFKD", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\b(what|that|it|how|where|when|who|there|here)'s\b", r"\1 is", text)
    text = re.sub(r"\bi'm\b", "i m", text)
    text = re.sub(r"\b(\w+)n't\b", r"\1 not", text)
    text = re.sub(r"'(d|ll|ve|re|s)\b", r" \1", text)
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"[^a-z0-9%.\-/ ]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


def _count(text: str, words: set[str] | Sequence[str]) -> int:
    return sum(1 for w in words if _has(text, w))


def find_metric(text: str) -> str | None:
    """The metric the text names (longest phrase first), or ``None``."""
    best: tuple[int, int, str] | None = None
    for phrase, metric in METRIC_PHRASES.items():
        m = re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text)
        if m:
            key = (len(phrase), -m.start(), metric)
            if best is None or key > best:
                best = key
    return best[2] if best else None


def find_all_metrics(text: str) -> list[str]:
    """Every distinct metric named in the text, in order ("weight + BMI trends")."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    for phrase in sorted(METRIC_PHRASES, key=len, reverse=True):
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), METRIC_PHRASES[phrase]))
    out: list[str] = []
    for _, metric in sorted(found):
        if metric not in out:
            out.append(metric)
    return out


def find_metric_phrase(text: str) -> str | None:
    """The words the user used for a metric ("step", "resting heart rate"), or ``None``."""
    best: tuple[int, str] | None = None
    for phrase in METRIC_PHRASES:
        if _has(text, phrase) and (best is None or len(phrase) > best[0]):
            best = (len(phrase), phrase)
    return best[1] if best else None


def find_workout_type(text: str) -> str | None:
    best: tuple[int, str] | None = None
    for word, kind in WORKOUT_TYPES.items():
        if _has(text, word) and (best is None or len(word) > best[0]):
            best = (len(word), kind)
    return best[1] if best else None


# -- periods ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """A resolved date range (inclusive) plus the words that named it."""

    start: date
    end: date
    label: str = ""

    def shifted_back(self) -> "Span":
        """The period of the same shape just before this one (week, month, year, N days)."""
        current = re.match(r"^this (week|month|year)$", self.label or "")
        if current:   # a period still running: the one before is the whole previous one
            rng = parse_period(f"last {current.group(1)}", self.end)
        else:
            rng = shift_range(DateRange(self.start, self.end, self.label), "previous")
        return Span(rng.start, rng.end, rng.label)


def find_span(text: str, today: date) -> tuple[Span | None, str | None]:
    """Resolve the period named in ``text`` with the shared parser (``find_period``).

    Returns ``(span, None)``, ``(None, None)`` when no period is named, or
    ``(None, phrase)`` when the parser refused it (future or invalid): the phrase is then
    handed to the tool so its own error message reaches the user.
    """
    phrase = find_period(text, today)
    if not phrase:
        return None, None
    try:
        rng = parse_period(phrase, today)
    except PeriodError:
        return None, phrase
    return Span(rng.start, rng.end, rng.label or phrase), None


def _future_phrase(text: str) -> str | None:
    m = re.search(r"\b(?:in |on |during )?(?:[a-z]+ )?(?:\d{1,2} )?20\d\d\b", text)
    return m.group(0) if m else None


ALL_TIME = {"period": "all time"}


# -- planning -----------------------------------------------------------------------------
@dataclass
class Plan:
    """What to do for a question: tool calls, or a direct answer, plus how to phrase it."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    direct: str | None = None
    focus: str = ""          # e.g. "duration", "energy", "yesno", "interpret", "no_score"
    preface: str = ""


def _threshold(t: str) -> float | None:
    """A target in a yes/no question: "did I walk 10k steps", "did I burn 500 calories"."""
    m = re.search(r"\b(\d+(?:\.\d+)?)\s*(k)?\s*(steps|kcal|calories|cal|km|kilometers|flights|"
                  r"minutes|min)\b", t)
    if not m:
        return None
    value = float(m.group(1)) * (1000 if m.group(2) else 1)
    return value


def _range_args(span: Span | None, phrase: str | None) -> dict[str, Any]:
    if span is not None:
        return {"start": span.start.isoformat(), "end": span.end.isoformat()}
    if phrase:
        return {"period": phrase}
    return {}


def _span_from_args(args: dict[str, Any]) -> Span | None:
    try:
        if args.get("start") and args.get("end"):
            return Span(date.fromisoformat(args["start"]), date.fromisoformat(args["end"]))
    except ValueError:
        return None
    return None


class Planner:
    """Maps one normalised question (plus the previous turn's calls) to a :class:`Plan`."""

    def __init__(self, today: date, tools: dict[str, set[str]]) -> None:
        self.today = today
        self.tools = tools
        self.previous_results: list[tuple[str, dict[str, Any]]] = []
        self.previous_question = ""

    def previous_focus(self) -> str:
        """How the previous question's answer was phrased, so a follow-up keeps the shape."""
        if not self.previous_question:
            return ""
        focus = self._data_plan(normalize(self.previous_question), self.previous_question).focus
        return focus if focus in ("workout_hr", "days", "yesno", "sleep", "per_workout",
                                  "group_longest", "group_hardest") else ""

    def previous_workout_id(self) -> str | None:
        """The id of the workout the previous turn talked about (first one listed)."""
        for _, result in self.previous_results:
            w = _find_workout(result)
            if w and w.get("id"):
                return str(w["id"])
        return None

    def has(self, name: str) -> bool:
        return not self.tools or name in self.tools

    # -- entry point ------------------------------------------------------------------
    def plan(self, question: str, previous: list[tuple[str, dict[str, Any]]]) -> Plan:
        t = normalize(question)
        if not t:
            return Plan(direct=CAPABILITIES)
        if re.match(r"(hi|hello|hey|hiya|good (morning|afternoon|evening))\b", t) and len(t.split()) <= 6 \
                and not find_metric(t) and not _count(t, WORKOUT_WORDS | SLEEP_WORDS):
            return Plan(direct="Hi! " + CAPABILITIES)
        if re.fullmatch(r"(thanks|thank you|thx|cheers|great|ok|okay|cool)( a lot| so much)?", t):
            return Plan(direct="You're welcome! Ask me anything else about your health data.")
        goal = self._goal_plan(t, question)
        if goal is not None:
            return goal
        if re.search(r"\bwhy did you (say|think|answer)|\bhow do you know\b|\bwhere did (that|this|it) "
                     r"come from\b|\bwhat is (that|this|it) based on\b|\bexplain (that|your answer)\b", t):
            return Plan(direct=self._explain_previous())
        if previous:
            follow = self._follow_up(t, question, previous)
            if follow is not None:
                return follow
        multi = self._multi_plan(t, question)
        if multi is not None:
            return multi
        return self._data_plan(t, question)

    def _explain_previous(self) -> str:
        """Say where the previous answer came from (its tool results), without new numbers."""
        parts = [f"{name.replace('_', ' ')} returned: {_summary(r)}"
                 for name, r in self.previous_results if _summary(r)]
        if not parts:
            return ("I didn't look anything up for my previous answer, so there is nothing "
                    "from your data behind it.")
        return "I said that because " + " Then ".join(parts)

    def _multi_plan(self, t: str, question: str) -> Plan | None:
        """Questions about two things at once: "weight and BMI trends", "workouts and sleep"."""
        if re.search(r"\b(vs|versus|compare|compared|than)\b", t):
            return None
        metrics = find_all_metrics(t)
        workout = bool(_count(t, WORKOUT_WORDS) or find_workout_type(t))
        sleep = bool(_count(t, SLEEP_WORDS))
        calls: list[tuple[str, dict[str, Any]]] = []
        if len(metrics) >= 2 and not workout and not sleep:
            for metric in metrics:
                for call in self._data_plan(t, question, force_metric=metric).calls:
                    if call not in calls:
                        calls.append(call)
        elif workout and sleep and re.search(r"\b(and|plus|also)\b|\+|&", t):
            span, bad = find_span(t, self.today)
            rng = _range_args(span, bad)
            calls = [*self._workout_plan(t, rng, span, find_workout_type(t), None).calls,
                     ("sleep_summary", rng or {"period": "last 7 days"})]
        return Plan(calls=calls) if len(calls) >= 2 else None

    # -- goals ------------------------------------------------------------------------
    def _goal_args(self, name: str, question: str, t: str) -> dict[str, Any]:
        """Arguments by the tool's own schema: the user's words go in its text field (the
        memory layer parses target, unit and deadline itself); a metric only when named."""
        params = self.tools.get(name, set())
        args: dict[str, Any] = {}
        text_field = next((p for p in ("text", "goal", "description", "statement", "goal_text",
                                       "question", "query") if p in params), None)
        if text_field or not params:
            args[text_field or "text"] = question.strip()
        phrase = find_metric_phrase(t)
        if "metric" in params and phrase and name != "set_goal":
            args["metric"] = phrase
        return args

    def _goal_plan(self, t: str, question: str) -> Plan | None:
        if re.search(r"\b(move|exercise|stand) (goal|ring)s?\b|\brings?\b", t):
            return None   # Apple's activity-ring goals live in the data, not in memory
        mentions_goal = _has(t, "goal") or _has(t, "goals") or _has(t, "target")
        if re.search(r"\b(delete|remove|forget|clear|drop|cancel)\b.*\b(goal|goals|target)\b", t):
            if self.has("delete_goal"):
                args = self._goal_args("delete_goal", question, t)
                if "metric" not in args and (not self.tools or "all" in self.tools.get(
                        "delete_goal", set())):
                    args["all"] = True
                return Plan(calls=[("delete_goal", args)])
        m = GOAL_SET_PREFIX.match(t)
        if m:
            rest = t[m.end():].strip()
            first_words = " ".join(rest.split()[:2])
            is_data = any(_has(first_words, v) for v in DATA_VERBS) or question.strip().endswith("?")
            try:
                from wellness.memory.goals import is_question
            except ImportError:  # memory not installed: our own check above decides
                pass
            else:
                is_data = is_data or is_question(question)
            if not is_data and (rest or mentions_goal):
                if not self.has("set_goal"):
                    return Plan(direct=NO_MEMORY)
                return Plan(calls=[("set_goal", self._goal_args("set_goal", question, t))])
        metric = find_metric(t)
        if mentions_goal and metric and re.match(r"^(what is|whats|how is|show|tell me) my\b", t):
            # "What's my BMI and is it healthy for my goals?": the value, the goals, the facts
            calls = list(self._data_plan(t, question, force_metric=metric).calls[:1])
            if self.has("list_goals") and self.tools:
                calls.append(("list_goals", {}))
            if self.has("health_facts") and self.tools and re.search(
                    r"\b(healthy|normal|good|ok)\b", t):
                topic, category = TOPICS.get(metric, ("", None))
                args: dict[str, Any] = {"question": f"What is a normal, healthy {topic}?"}
                if category:
                    args["category"] = category
                calls.append(("health_facts", args))
            if calls:
                return Plan(calls=calls)
        if mentions_goal and not (self.has("goal_progress") or self.has("list_goals")):
            if re.search(r"\b(my|on track|progress)\b", t):
                return Plan(direct=NO_MEMORY)
        if mentions_goal:
            if re.search(r"\b(on track|close|closer|progress|meeting|meet|hit|hitting|reach|"
                         r"reached|achieve|achieved|doing with|how am i doing|percent|far)\b", t):
                if self.has("goal_progress"):
                    return Plan(calls=[("goal_progress",
                                        self._goal_args("goal_progress", question, t))])
            if re.search(r"\b(what|which|list|show|tell|remind|do i have|any|my goals?$)\b", t):
                if self.has("list_goals"):
                    return Plan(calls=[("list_goals", {})])
        if re.search(r"\bam i on track\b", t) and self.has("goal_progress"):
            return Plan(calls=[("goal_progress", self._goal_args("goal_progress", question, t))])
        return None

    # -- follow-ups -------------------------------------------------------------------
    def _follow_up(self, t: str, question: str,
                   previous: list[tuple[str, dict[str, Any]]]) -> Plan | None:
        words = t.split()
        short = len(words) <= 8
        metric = find_metric(t)
        span, bad = find_span(t, self.today)
        data_calls = [(n, a) for n, a in previous if n not in
                      ("health_facts", "suggest_plan", "set_goal", "list_goals", "delete_goal")]
        if not data_calls:
            data_calls = previous
        # "is that good / normal / healthy?"
        if re.search(r"\b(is (that|it|this)|are (those|they|these)) (good|normal|ok|okay|"
                     r"healthy|bad|high|low|fine|concerning|too)\b|\bshould i (worry|be worried)\b"
                     r"|\bis the trend concerning\b", t):
            own_metric = find_metric(t)
            if own_metric:
                data_calls = self._data_plan(t.replace("should i be worried about", "what is"),
                                             question).calls or data_calls
            topic, category = self._topic_of(data_calls)
            calls = list(data_calls)
            if self.has("health_facts"):
                facts_args: dict[str, Any] = {
                    "question": f"What is a normal, healthy {topic}?" if topic else question}
                if category:
                    facts_args["category"] = category
                calls.append(("health_facts", facts_args))
            return Plan(calls=calls, focus="interpret")
        # "the week before", "the previous month"
        if re.search(r"\b(before that|the (week|month|year|day|period|night) before|previous "
                     r"(week|month|year|day)|prior (week|month|year)|the one before)\b", t) and short:
            shifted = []
            for name, args in data_calls:
                old = _span_from_args(args)
                if old is None:
                    continue
                new = old.shifted_back()
                shifted.append((name, {**args, "start": new.start.isoformat(),
                                       "end": new.end.isoformat()}))
            if shifted:
                return Plan(calls=shifted, focus=self.previous_focus())
        follow_marker = re.match(r"^(and|what about|how about|same for|and for|and what about|"
                                 r"what of|and in|and on|and during|ok and|also)\b", t)
        # "how long was it?", "how many calories did I burn?" after a workout lookup
        pronoun = re.search(r"\b(it|that|this one|them|those|(the|that|this) (workout|run|ride|"
                            r"walk|swim|hike|session|one|exercise))\b", t)
        workout_prev = [(n, a) for n, a in data_calls if n in ("last_workout", "workout_details")
                        or (n == "list_workouts" and pronoun)]
        own_topic = _count(t, WORKOUT_WORDS) or find_workout_type(t)
        if workout_prev and short and not span and (pronoun or not own_topic):
            focus = ""
            if re.search(r"\bhow long\b|\bduration\b|\bminutes\b|\bhours\b", t):
                focus = "duration"
            elif re.search(r"\bcalories|energy|burn|burned|kcal\b", t):
                focus = "energy"
            elif re.search(r"\bhow far\b|\bdistance\b|\bkm\b|\bmiles\b", t):
                focus = "distance"
            elif re.search(r"\bheart rate\b|\bhr\b|\bbpm\b|\bpulse\b", t):
                focus = "heart_rate"
            elif re.search(r"\bwhen\b|\bwhat time\b|\bwhat day\b", t):
                focus = "when"
            elif re.search(r"\b(details?|more about|tell me more|pace|how fast|speed|zones?|"
                           r"elevation|where)\b", t):
                wid = self.previous_workout_id()
                if wid and self.has("workout_details"):
                    return Plan(calls=[("workout_details", {"workout_id": wid})])
            if focus:
                wid = self.previous_workout_id()
                if wid and self.has("workout_details") and any(
                        n == "list_workouts" for n, _ in workout_prev):
                    return Plan(calls=[("workout_details", {"workout_id": wid})], focus=focus)
                return Plan(calls=list(workout_prev), focus=focus)
        # "which one was more intense?" after a list of workouts
        which = re.search(r"\bwhich (one|of (them|those|these)|workout|was)\b", t)
        lists = [(n, a) for n, a in data_calls if n == "list_workouts"]
        if which and lists:
            focus = "which_longest" if re.search(r"\blonger|longest\b", t) else "which_intense"
            return Plan(calls=lists, focus=focus)
        # "what's the most common type?" after a workout question
        if _count(t, ("type", "types", "kind", "kinds")) and not metric and data_calls and any(
                n in ("workout_summary", "list_workouts", "workout_streaks") for n, _ in data_calls):
            base = next(a for n, a in data_calls if n in ("workout_summary", "list_workouts",
                                                           "workout_streaks"))
            args = {k: v for k, v in base.items() if k in ("start", "end", "period")}
            return Plan(calls=[("workout_summary", {**args, "group_by": "type"})])
        if not (follow_marker or (short and (pronoun or len(words) <= 4))):
            return None
        own = self._data_plan(t, question)
        has_topic = bool(metric) or bool(_count(t, WORKOUT_WORDS | SLEEP_WORDS | RING_WORDS)) \
            or bool(find_workout_type(t))
        if has_topic and not follow_marker and own.calls:
            return None
        # Same tools, new period ("what about yesterday?")
        if (span or bad) and not has_topic:
            calls = []
            for name, args in data_calls:
                if name in ("last_workout", "workout_details", "health_data_range"):
                    continue
                kept = {k: v for k, v in args.items() if k not in ("start", "end", "period")}
                calls.append((name, {**kept, **_range_args(span, bad)}))
            if calls:
                if re.search(r"\b(compare|compared|vs|versus|than|difference)\b", t):
                    calls = [c for c in data_calls if c[0] not in (
                        "last_workout", "workout_details", "health_data_range")] + calls
                return Plan(calls=calls, focus=self.previous_focus())
        # Same question, other metric ("and my BMI?")
        if metric and follow_marker or (metric and short and not _count(t, WORKOUT_WORDS)):
            calls = []
            for name, args in data_calls:
                if "metric" in args and args.get("metric") != "workouts":
                    new_args = {**args, "metric": metric}
                    if span or bad:
                        new_args = {k: v for k, v in new_args.items()
                                    if k not in ("start", "end", "period")}
                        new_args.update(_range_args(span, bad))
                    calls.append((name, new_args))
            if calls:
                return Plan(calls=calls)
            return None
        # Same metric, other statistic ("and my highest?", "what about the average?")
        stat = next((st for word, st in STAT_WORDS if _has(t, word)), None)
        if stat and not metric and not has_topic:
            calls = [(n, {**a, "stat": stat}) for n, a in data_calls if n == "metric_summary"]
            if calls:
                return Plan(calls=calls)
        if follow_marker and own.calls:
            return own
        return None

    @staticmethod
    def _topic_of(calls: list[tuple[str, dict[str, Any]]]) -> tuple[str, str | None]:
        """What the previous answer was about, as words for the facts search, and its
        facts category."""
        for name, args in calls:
            metric = args.get("metric")
            if metric and metric != "workouts":
                return TOPICS.get(str(metric), (re.sub(r"(?<!^)(?=[A-Z])", " ",
                                                        str(metric)).lower(), None))
            if name == "sleep_summary":
                return "amount of sleep per night for adults", "sleep"
            if name in ("list_workouts", "workout_summary", "workout_streaks", "last_workout",
                        "compare_periods"):
                return "amount of exercise per week", "activity"
            if name == "activity_rings":
                return "amount of daily activity", "activity"
        return "", None

    # -- data questions ---------------------------------------------------------------
    def _data_plan(self, t: str, question: str, force_metric: str | None = None) -> Plan:
        span, bad = find_span(t, self.today)
        rng = _range_args(span, bad)
        metric = force_metric or find_metric(t)
        wtype = find_workout_type(t)
        workout_score = _count(t, WORKOUT_WORDS) + (1 if wtype else 0)
        sleep_score = _count(t, SLEEP_WORDS)
        ring_score = _count(t, RING_WORDS)

        # Honest refusals first: predictions and things Apple Health doesn't record.
        if _count(t, PREDICT_WORDS) and re.search(r"\b(will|going to|predict|forecast)\b", t):
            return Plan(direct=("I can't predict the future from your data: I only report what "
                                "Apple Health has already recorded. I can show you your recent "
                                "averages or trend instead, if that helps."))
        if re.search(r"\b(sleep )?(quality|sleep) score\b|\bsleep quality\b", t) and sleep_score:
            return Plan(calls=[("sleep_summary", rng or {"period": "last night"})],
                        focus="no_score")
        if _has(t, "how much data") or re.search(
                r"\b(date range|data range|range of (my )?data|how far back|when does my data|"
                r"what data|which data|data cover|"
                r"covers|oldest|first record|earliest)\b", t):
            return Plan(calls=[("health_data_range", {})])
        if re.search(r"\b(plan|suggest|recommend|advice|tips?|how can i|how do i|what should i)\b", t) \
                and not re.search(r"\bhow (many|much|long)\b", t) and self.has("suggest_plan"):
            return Plan(calls=[("suggest_plan", {"question": question.strip()})])
        if re.search(r"\b(what is|what are|whats) (a )?(normal|healthy|good|recommended)\b", t) \
                or re.search(r"\bhow much (sleep|exercise|water) should\b", t):
            if self.has("health_facts"):
                args: dict[str, Any] = {"question": question.strip()}
                category = "sleep" if sleep_score else (TOPICS.get(metric or "", ("", None))[1])
                if category:
                    args["category"] = category
                return Plan(calls=[("health_facts", args)], focus="facts")

        # Interpretive questions ("Is 58 bpm resting normal?", "Is my BMI healthy?", "How much
        # should I sleep?"): the curated facts answer them, plus the user's own latest value
        # when they ask about "my" metric without giving a number themselves.
        interpretive = re.search(
            r"^(is|are|am|was|were|does|do)\b.*\b(normal|healthy|unhealthy|good|bad|ok|okay|"
            r"fine|enough|too (high|low|much|little)|concerning|dangerous|worrying)\b", t) \
            or re.search(r"\bhow (much|many|long|often) should i\b", t)
        if interpretive and self.has("health_facts") and not re.search(
                r"\b(vs|versus|compared?|than)\b", t):
            topic, category = TOPICS.get(metric or "", ("", None))
            if sleep_score and not metric:
                category = "sleep"
            calls = []
            if metric and re.search(r"\bmy\b", t) and not re.search(r"\d", t):
                calls.extend(self._metric_plan(t, metric, rng, span, bad).calls[:1])
            facts_q = question.strip()
            if category == "sleep" and re.search(r"\bhow (much|long|many hours)\b", t):
                facts_q = "How much sleep do adults need?"  # duration, not stage mix
            facts_args = {"question": facts_q}
            if category:
                facts_args["category"] = category
            calls.append(("health_facts", facts_args))
            return Plan(calls=calls, focus="interpret" if len(calls) > 1 else "facts")

        if wtype == "Walking" and not _count(t, WORKOUT_WORDS) and re.search(
                r"\b(did i|have i) walk", t) and not metric:
            metric, wtype, workout_score = "StepCount", None, 0   # "did I walk" = steps
        if re.search(r"\b(am i|have i been|getting|been) (getting )?(more|less) active\b", t):
            workout_score = 0

        # Blood pressure "during my run": readings are never taken during workouts.
        if metric in ("BloodPressureSystolic", "BloodPressureDiastolic") and workout_score:
            return Plan(calls=[("last_workout", {"workout_type": wtype} if wtype else {}),
                               ("metric_summary", {"metric": metric, "stat": "last",
                                                   "period": "all time"})],
                        focus="bp_during_workout")

        # Comparisons ("this month vs last month", "October vs September")
        compare = re.search(r"\b(vs|versus|compared? (to|with)|compare|than|against)\b|"
                            r"\b(more|less|fewer|better|worse)\b.*\bor\b", t)
        if compare:
            plan = self._compare_plan(t, metric, workout_score, sleep_score, wtype)
            if plan is not None:
                return plan

        if re.search(r"\b(streak|streaks|in a row|consecutive)\b", t):
            return Plan(calls=[("workout_streaks", rng)])
        if re.search(r"\b(summary|summarize|summarise|overview|recap|round ?up)\b|"
                     r"^how (was|did) my (week|month|day|year)", t) and not metric \
                and not workout_score and not sleep_score:
            period = rng or {"period": "last 7 days"}
            return Plan(calls=[("workout_summary", period),
                               ("metric_summary", {"metric": "StepCount", **period,
                                                   "stat": "sum"}),
                               ("sleep_summary", period),
                               ("activity_rings", period)])

        if ring_score and not (metric and metric != "AppleStandTime" and not _has(t, "ring")):
            return Plan(calls=[("activity_rings", rng or {"period": "today"})])

        if sleep_score and not (metric and not sleep_score > 1):
            usual = re.search(r"\b(usually|regularly|typically|normally|on average|in general)\b", t)
            calls = [("sleep_summary", rng or {"period": "last 30 days" if usual else "last 7 days"})]
            if re.search(r"\b(enough|good|healthy|normal|well|too little|too much)\b", t) and \
                    self.has("health_facts") and self.tools:
                calls.append(("health_facts", {"question": "How much sleep do adults need?",
                                               "category": "sleep"}))
            return Plan(calls=calls, focus="sleep")

        if workout_score and (not metric or metric == "HeartRate"
                or metric in ("ActiveEnergyBurned",) and
                re.search(r"\b(per|during|in|each|single|workout)\b", t)):
            return self._workout_plan(t, rng, span, wtype, metric)

        if metric and metric.startswith("Distance") and wtype and wtype != "Walking":
            return Plan(calls=[("workout_summary", {**(rng or {"period": "last 30 days"}),
                                                    "workout_type": wtype})])
        if metric:
            return self._metric_plan(t, metric, rng, span, bad)

        if re.search(r"\b(am i|have i been|getting|been) (getting )?(more|less) active\b", t):
            s_ = span or Span(self.today - timedelta(days=29), self.today)
            p_ = s_.shifted_back()
            dates = {"a_start": s_.start.isoformat(), "a_end": s_.end.isoformat(),
                     "b_start": p_.start.isoformat(), "b_end": p_.end.isoformat()}
            return Plan(calls=[("compare_periods", {"metric": "workouts", **dates}),
                               ("compare_periods", {"metric": "StepCount", **dates})])
        if re.search(r"\b(active|activity|move|moving)\b", t):
            return Plan(calls=[("activity_rings", rng or {"period": "last 7 days"})])
        if re.search(r"\b(am i|have i been) (getting|more|less)\b", t):
            return Plan(calls=[("compare_periods", {"metric": "workouts",
                                                    "period_a": "last 30 days",
                                                    "period_b": "the 30 days before"})])
        return Plan(direct=NOT_UNDERSTOOD + CAPABILITIES)

    def plan_from_hint(self, question: str, hinted_tools: list[str]) -> Plan | None:
        """Calls for the tools a similar past question used, with arguments from this one.

        A hinted tool is used only when this question supplies what it needs (a metric for
        the metric tools); otherwise the hint is ignored rather than guessed at.
        """
        t = normalize(question)
        span, bad = find_span(t, self.today)
        rng = _range_args(span, bad)
        metric = find_metric(t)
        wtype = find_workout_type(t)
        calls: list[tuple[str, dict[str, Any]]] = []
        for name in hinted_tools:
            if not self.has(name) or any(n == name for n, _ in calls):
                continue
            params = self.tools.get(name, set())
            args: dict[str, Any] = {}
            if "metric" in params:
                if not metric:
                    continue
                args["metric"] = metric
            if "workout_type" in params and wtype:
                args["workout_type"] = wtype
            if "question" in params:
                args["question"] = question.strip()
            if params & {"start", "end", "period"}:
                args.update(rng)
            calls.append((name, args))
        return Plan(calls=calls) if calls else None

    def _compare_plan(self, t: str, metric: str | None, workout_score: int,
                      sleep_score: int, wtype: str | None = None) -> Plan | None:
        separators = r"vs|versus|compared? (?:to|with)|than|against|and|or"
        if _has(t, "compare"):
            separators += r"|to|with"
        parts = re.split(rf"\b(?:{separators})\b", t)
        spans: list[tuple[Span | None, str | None]] = []
        for part in parts:
            s, bad = find_span(part, self.today)
            if s or bad:
                spans.append((s, bad))
        if len(spans) < 2:
            # "compare my steps this month" → against the period before; no period at all →
            # this month against last month
            s, bad = find_span(t, self.today)
            if s is None:
                if bad or not _has(t, "compare"):
                    return None
                s = Span(self.today.replace(day=1), self.today, "this month")
            spans = [(s, None), (s.shifted_back(), None)]
        (sa, ba), (sb, bb) = spans[0], spans[1]
        if sleep_score and not metric:
            return Plan(calls=[("sleep_summary", _range_args(sa, ba)),
                               ("sleep_summary", _range_args(sb, bb))])
        if wtype and not metric:
            # compare_periods has no type filter: one summary per period, compared in words
            typed = {"workout_type": wtype}
            return Plan(calls=[("workout_summary", {**_range_args(sa, ba), **typed}),
                               ("workout_summary", {**_range_args(sb, bb), **typed})],
                        focus="count_compare")
        subject = metric or ("workouts" if workout_score or not sleep_score else None)
        if subject is None:
            return None
        args: dict[str, Any] = {"metric": subject}
        if sa:
            args.update(a_start=sa.start.isoformat(), a_end=sa.end.isoformat())
        else:
            args["period_a"] = ba
        if sb:
            args.update(b_start=sb.start.isoformat(), b_end=sb.end.isoformat())
        else:
            args["period_b"] = bb
        return Plan(calls=[("compare_periods", args)])

    def _workout_plan(self, t: str, rng: dict[str, Any], span: Span | None,
                      wtype: str | None, metric: str | None) -> Plan:
        typed = {"workout_type": wtype} if wtype else {}
        if re.search(r"\bzones?\b", t):
            if span:
                return Plan(calls=[("list_workouts", {**rng, **typed, "limit": 50})],
                            focus="zones")
            return Plan(calls=[("last_workout", typed)], focus="zones")
        hard = re.search(r"\b(harder|hardest|most intense|push myself|push my|intensity|toughest)\b", t)
        longest_day = re.search(r"\blongest\b", t) and re.search(r"\b(day|weekday|days)\b", t)
        if (hard or longest_day) and re.search(r"\b(day|days|weekday|week|when)\b", t):
            return Plan(calls=[("workout_summary", {**(rng or ALL_TIME), **typed,
                                                    "group_by": "weekday"})],
                        focus="group_hardest" if hard else "group_longest")
        if metric == "HeartRate" and not re.search(r"\b(last|latest|most recent)\b", t) or (
                metric == "HeartRate" and span):
            return Plan(calls=[("list_workouts", {**(rng or {"period": "last 30 days"}), **typed,
                                                  "limit": 50})], focus="workout_hr")
        if re.search(r"\b(streak|streaks|in a row|consecutive|consistent|consistency)\b", t):
            return Plan(calls=[("workout_streaks", rng)])
        if re.search(r"\b(last|latest|most recent|previous)\b", t) and not span and not re.search(
                r"\blast (\d+ )?(week|month|year|days)\b", t):
            focus = ""
            if re.search(r"\bhow long\b|\bduration\b", t):
                focus = "duration"
            elif re.search(r"\bheart rate\b|\bhr\b|\bbpm\b", t):
                focus = "heart_rate"
            elif re.search(r"\bcalories|energy|burn\b", t):
                focus = "energy"
            return Plan(calls=[("last_workout", typed)], focus=focus)
        if re.search(r"\bper (workout|session|run|ride)\b|\bon average per\b", t):
            return Plan(calls=[("workout_summary", {**(rng or {"period": "last 30 days"}),
                                                    **typed})], focus="per_workout")
        if span and re.search(r"\b(what|which) days (did|have) i\b", t) and not re.search(
                r"\bof the week\b|\busually|typically|normally|most\b", t):
            return Plan(calls=[("list_workouts", {**rng, **typed, "limit": 50})], focus="days")
        if re.search(r"\b(what|which) (day|days|weekday)\b|\bday of the week\b|\bdays of the week\b"
                     r"|\bmost common day\b|\bweekday|weekdays|weekend\b", t) and not re.search(
                r"\bon which days\b|\band which days\b|\bwhich days did\b", t):
            return Plan(calls=[("workout_summary", {**(rng or ALL_TIME), **typed,
                                                    "group_by": "weekday"})])
        if re.search(r"\b(time of day|what time|which hour|morning|evening|afternoon)\b", t):
            return Plan(calls=[("workout_summary", {**(rng or ALL_TIME), **typed,
                                                    "group_by": "hour"})])
        if re.search(r"\b(type|types|kind|kinds|most common|favorite|favourite|mostly)\b", t):
            return Plan(calls=[("workout_summary", {**(rng or ALL_TIME), **typed,
                                                    "group_by": "type"})])
        if re.search(r"\b(longest|hardest|most intense|toughest|biggest|highest calories|"
                     r"most calories|farthest|furthest)\b", t):
            sort = "longest"
            if re.search(r"\b(calories|energy|hardest|most intense|toughest|burn)\b", t):
                sort = "energy"
            elif re.search(r"\b(farthest|furthest|distance)\b", t):
                sort = "distance"
            return Plan(calls=[("list_workouts", {**(rng or ALL_TIME), **typed, "sort": sort,
                                                  "limit": 1})], focus="top")
        if re.search(r"\b(weekly|per week|each week|how often|frequency)\b", t):
            return Plan(calls=[("workout_summary", {**(rng or {"period": "last 90 days"}), **typed,
                                                    "group_by": "week"})])
        if re.search(r"\b(improving|improve|getting stronger|progress|trend|more active|changed)\b", t):
            s = span or Span(self.today - timedelta(days=29), self.today)
            prev = s.shifted_back()
            if span and span.end < self.today and re.search(
                    r"\b(compared? (to|with)|than|vs|versus|since)\b", t):
                # "compared to last month": that month is the baseline, now is the subject
                s, prev = Span(span.end + timedelta(days=1), self.today), span
            return Plan(calls=[("compare_periods", {
                "metric": "workouts", "a_start": s.start.isoformat(), "a_end": s.end.isoformat(),
                "b_start": prev.start.isoformat(), "b_end": prev.end.isoformat()})])
        yesno = re.match(r"^(did|have|was|were|do) i\b", t) is not None
        if re.search(r"\b(which days|what days|on which|list|show|tell me about|recent|what "
                     r"workouts|which workouts|details)\b", t) or yesno:
            args = {**(rng or {"period": "last 30 days"}), **typed}
            focus = "yesno" if yesno else ""
            if re.search(r"\b(which|what) days\b|\bon which\b|\ball\b|\bevery\b", t):
                args["limit"] = 50
                focus = "days"
            return Plan(calls=[("list_workouts", args)], focus=focus)
        if metric == "ActiveEnergyBurned" or re.search(r"\b(calories|duration|minutes|hours)\b", t):
            return Plan(calls=[("workout_summary", {**(rng or {"period": "last 30 days"}), **typed})])
        if not rng and re.search(r"\b(do i have|have i done|in total|total|ever|so far|all)\b"
                                 r"|^how many workouts$", t):
            rng = ALL_TIME
        return Plan(calls=[("workout_summary", {**rng, **typed})])

    def _metric_plan(self, t: str, metric: str, rng: dict[str, Any], span: Span | None,
                     bad: str | None) -> Plan:
        if bad:
            return Plan(calls=[("metric_summary", {"metric": metric, **rng})])
        if re.search(r"\b(trends?|trending|over time|progress|changed|change|improving|improve|"
                     r"going up|going down|getting|lost|gained|lose|gain|put on)\b", t):
            return Plan(calls=[("metric_trend", {"metric": metric,
                                                 **(rng or {"period": "last 90 days"})})])
        if re.search(r"\b(show|chart|plot|graph|readings|values|each day|every day|day by day|"
                     r"list|history)\b", t) and not re.search(r"\b(average|total|highest|lowest)\b", t):
            return Plan(calls=[("metric_series", {"metric": metric,
                                                  **(rng or {"period": "last 30 days"})})])
        stat = None
        phrase = find_metric_phrase(t)
        t_stat = re.sub(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", " ", t) if phrase else t
        for word, s in STAT_WORDS:
            if _has(t_stat, word):
                stat = s
                break
        if stat is None and re.search(r"\bhow (many|much)\b", t) and (rng or metric in CUMULATIVE):
            stat = "sum" if metric in CUMULATIVE else "avg"
        if stat is None:
            if not rng:
                stat = "last"
            else:
                stat = "sum" if metric in CUMULATIVE else "avg"
        if stat == "sum" and metric not in CUMULATIVE:
            stat = "avg"
        if stat in ("max", "min") and not rng:
            rng = ALL_TIME   # "my heaviest weight", "highest heart rate": over all the data
        if stat == "last" and rng and span and span.start != span.end:
            stat = "sum" if metric in CUMULATIVE else "avg"
        threshold = _threshold(t) if re.match(r"^(did|have|was|were|do) i\b", t) else None
        if threshold is not None and metric in CUMULATIVE and span and span.start == span.end:
            return Plan(calls=[("metric_summary", {"metric": metric, **rng, "stat": "sum"})],
                        focus=f"threshold:{threshold}")
        args: dict[str, Any] = {"metric": metric, **rng, "stat": stat}
        if stat == "last":
            args = {"metric": metric, "stat": "last", **(rng or {"period": "all time"})}
        return Plan(calls=[("metric_summary", args)])


# -- answers ------------------------------------------------------------------------------
def _summary(result: dict[str, Any]) -> str:
    text = str(result.get("summary") or "").strip()
    if not text and result.get("error"):
        text = str(result["error"])
    return text


def _find_workout(result: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("workout", "last", "details"):
        if isinstance(result.get(key), dict):
            return result[key]
    for key in ("workouts", "items"):
        if isinstance(result.get(key), list) and result[key]:
            first = result[key][0]
            return first if isinstance(first, dict) else None
    if "duration_min" in result or "type" in result:
        return result
    return None


def _nice_day(iso: str) -> str:
    """"Fri Nov 27" for an ISO day (answers never show ISO dates)."""
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.strftime('%a %b')} {d.day}"


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if digits else f"{round(value):,}"


def compose_answer(question: str, plan_focus: str, results: list[tuple[str, dict[str, Any]]]) -> str:
    """The final answer: tool summaries (data), a focused sentence for follow-ups, and
    interpretation only from ``health_facts``."""
    if not results:
        return CAPABILITIES
    data = [(n, r) for n, r in results if n not in ("health_facts",)]
    facts = [r for n, r in results if n == "health_facts"]
    sentences: list[str] = []
    errors = [r for _, r in data if r.get("error")]
    if plan_focus in ("duration", "energy", "distance", "heart_rate", "when") and data:
        w = _find_workout(data[0][1])
        focused = None
        if w and not data[0][1].get("no_data"):
            kind = str(w.get("type") or "workout")
            day = _nice_day(str(w.get("date") or w.get("start_local") or "")[:10])
            on = f" on {day}" if day else ""
            if plan_focus == "duration" and _num(w.get("duration_min")) is not None:
                focused = f"That {kind} workout{on} lasted {_fmt(_num(w['duration_min']))} minutes."
            elif plan_focus == "energy" and _num(w.get("energy_kcal")) is not None:
                focused = f"You burned {_fmt(_num(w['energy_kcal']))} kcal during that {kind} workout{on}."
            elif plan_focus == "distance" and _num(w.get("distance_km")) is not None:
                focused = f"That {kind} workout{on} covered {_num(w['distance_km']):.2f} km."
            elif plan_focus == "heart_rate" and _num(w.get("hr_avg")) is not None:
                focused = (f"Your average heart rate during that {kind} workout{on} was "
                           f"{_fmt(_num(w['hr_avg']))} bpm")
                if _num(w.get("hr_max")) is not None:
                    focused += f" (max {_fmt(_num(w['hr_max']))} bpm)"
                focused += "."
            elif plan_focus == "when" and day:
                focused = f"That {kind} workout was on {day}."
            elif plan_focus in ("energy", "distance", "heart_rate"):
                label = {"energy": "energy", "distance": "distance",
                         "heart_rate": "heart rate"}[plan_focus]
                focused = f"I don't have {label} data for that {kind} workout{on}."
        sentences.append(focused or _summary(data[0][1]))
        for _, r in data[1:]:
            sentences.append(_summary(r))
    elif plan_focus in ("per_workout", "group_longest", "group_hardest") and data:
        r = data[0][1]
        sentences.append(_summary(r))
        count = _num(r.get("count")) or 0
        if plan_focus == "per_workout" and count and _num(r.get("total_energy_kcal")) is not None:
            sentences.append(
                f"That is {_fmt((_num(r['total_energy_kcal']) or 0) / count)} kcal and "
                f"{_fmt((_num(r.get('total_minutes')) or 0) / count)} minutes per workout on "
                "average.")
        groups = [g for g in r.get("groups") or [] if _num(g.get("count"))]
        if plan_focus != "per_workout" and groups:
            key = "minutes" if plan_focus == "group_longest" else "energy_kcal"
            best = max(groups, key=lambda g: (_num(g.get(key)) or 0) / (_num(g["count"]) or 1))
            per = (_num(best.get(key)) or 0) / (_num(best["count"]) or 1)
            unit = "minutes" if key == "minutes" else "kcal"
            what = "longest workouts" if plan_focus == "group_longest" else \
                "hardest workouts (most energy per workout)"
            sentences.append(f"Your {what} are on {best['group']}s: {_fmt(per)} {unit} per "
                             f"workout on average over {_fmt(_num(best['count']) or 0)} workouts.")
    elif plan_focus == "workout_hr" and data:
        hr_averages: list[tuple[float, str]] = []
        for _, r in data:
            ws = [w for w in r.get("workouts") or [] if _num(w.get("hr_avg")) is not None]
            if r.get("error") or r.get("no_data") or not r.get("workouts"):
                sentences.append(_summary(r))
            elif not ws:
                sentences.append(_summary(r).split(":")[0].rstrip(",. ") +
                                 ", but none of them has heart-rate data.")
            else:
                rng = r.get("range") or {}
                span = ""
                if rng.get("start") and rng.get("end"):
                    span = f" from {_nice_day(rng['start'])} to {_nice_day(rng['end'])}"
                top = max(ws, key=lambda w: _num(w["hr_avg"]) or 0)
                average = sum(_num(w["hr_avg"]) or 0 for w in ws) / len(ws)
                hr_averages.append((average, span.strip() or "that period"))
                sentences.append(
                    f"Across your {len(ws)} workout{'s' * (len(ws) != 1)} with heart-rate data{span}, "
                    f"your average heart rate was {_fmt(average)} bpm; the highest workout average was "
                    f"{_fmt(_num(top['hr_avg']) or 0)} bpm ({top.get('type', 'workout')} on "
                    f"{_nice_day(str(top.get('date', '')))}).")
        if len(hr_averages) == 2:
            (a, la), (b, lb) = hr_averages
            diff = round(b - a)
            sentences.append(f"That's {abs(diff)} bpm {'higher' if diff > 0 else 'lower'} {lb} "
                             f"than {la}." if diff else
                             f"Your workout heart rate was about the same {lb} and {la}.")
    elif plan_focus in ("which_intense", "which_longest") and data:
        r = data[0][1]
        ws = [w for w in r.get("workouts") or [] if _num(w.get("duration_min"))]
        if len(ws) < 2:
            sentences.append(_summary(r))
            if len(ws) == 1:
                sentences.append("There was only one workout, so there is nothing to compare.")
        else:
            def rate(w: dict[str, Any]) -> float:
                return (_num(w.get("energy_kcal")) or 0) / (_num(w["duration_min"]) or 1)
            key = (lambda w: _num(w["duration_min"]) or 0) if plan_focus == "which_longest" \
                else (lambda w: (rate(w), _num(w.get("hr_avg")) or 0))
            ranked = sorted(ws, key=key, reverse=True)
            best, rest = ranked[0], ranked[1:]

            def describe(w: dict[str, Any]) -> str:
                hr = f", average heart rate {_fmt(_num(w['hr_avg']) or 0)} bpm" if _num(
                    w.get("hr_avg")) else ""
                return (f"{w.get('type', 'workout')} on {_nice_day(str(w.get('date', '')))} "
                        f"({_fmt(_num(w['duration_min']) or 0)} min, "
                        f"{rate(w):.1f} kcal/min{hr})")
            word = "longest" if plan_focus == "which_longest" else "most intense"
            sentences.append(f"The {word} was {describe(best)}; the others: "
                             + "; ".join(describe(w) for w in rest[:5]) + ".")
    elif plan_focus == "zones" and data:
        sentences.append("Apple Health exports don't include heart-rate zones, so I can't say "
                         "which zone you were in.")
        r = data[0][1]
        w = _find_workout(r)
        if w and _num(w.get("hr_avg")) is not None:
            line = (f"During your {w.get('type', 'workout')} on "
                    f"{_nice_day(str(w.get('date', '')))} your heart rate averaged "
                    f"{_fmt(_num(w['hr_avg']) or 0)} bpm")
            if _num(w.get("hr_max")) is not None:
                line += f" and peaked at {_fmt(_num(w['hr_max']) or 0)} bpm"
            sentences.append(line + ".")
        else:
            sentences.append(_summary(r))
    elif plan_focus.startswith("threshold:") and data:
        target = float(plan_focus.split(":", 1)[1])
        r = data[0][1]
        value = _num(r.get("value"))
        if value is None or r.get("error") or r.get("no_data"):
            sentences.append(_summary(r))
        else:
            verdict = "Yes" if value >= target else "No"
            sentences.append(f"{verdict}: {_summary(r)} Your target was {_fmt(target)}.")
    elif plan_focus == "no_score":
        sentences.append("Apple Health doesn't record a sleep quality score, so I can't give "
                         "you one.")
        sentences.extend(_summary(r) for _, r in data if _summary(r))
    elif plan_focus == "bp_during_workout":
        bp = next((r for n, r in data if n == "metric_summary"), {})
        workout = next((r for n, r in data if n == "last_workout"), {})
        if bp.get("no_data") or bp.get("error") or not bp:
            sentences.append("I can't tell: there are no blood pressure readings in your data, "
                             "and Apple Health doesn't measure blood pressure during workouts.")
        else:
            sentences.append("I can't tell your blood pressure during the workout: Apple Health "
                             "has no readings taken during it. " + _summary(bp))
        if _summary(workout):
            sentences.append(_summary(workout))
    else:
        for name, r in data:
            text = _summary(r)
            if not text:
                continue
            if plan_focus == "days" and name == "list_workouts" and isinstance(
                    r.get("workouts"), list) and r["workouts"]:
                head = re.split(r",? most recent first|:", text, maxsplit=1)[0].rstrip(" ,.")
                listed = sorted(r["workouts"], key=lambda w: str(w.get("start") or w.get("date")))
                text = head + ", on " + ", ".join(
                    f"{_nice_day(str(w.get('date', '')))} ({w.get('type', 'workout')})"
                    for w in listed)
            if plan_focus == "yesno" and name == "list_workouts" and not r.get("error"):
                count = r.get("count")
                if count is None and isinstance(r.get("workouts"), list):
                    count = len(r["workouts"])
                if r.get("no_data") or count == 0:
                    text = "No. " + text
                elif isinstance(count, int) and count > 0:
                    text = "Yes. " + text
            sentences.append(text)
    summaries = [r for n, r in data if n == "workout_summary" and _num(r.get("count")) is not None]
    if plan_focus == "count_compare" and len(summaries) == 2:
        (a, b) = (int(_num(r["count"]) or 0) for r in summaries)
        la, lb = ((r.get("range") or {}) for r in summaries)
        name_a = f"{_nice_day(la.get('start', ''))} to {_nice_day(la.get('end', ''))}"
        name_b = f"{_nice_day(lb.get('start', ''))} to {_nice_day(lb.get('end', ''))}"
        if a == b:
            sentences.append(f"The same number either way: {a} from {name_a} and {b} from {name_b}.")
        else:
            more = name_a if a > b else name_b
            sentences.append(f"More from {more}: {a} from {name_a} vs {b} from {name_b}.")
    sleeps = [r for n, r in data if n == "sleep_summary" and _num(r.get("avg_asleep_min"))]
    if len(sleeps) == 2:
        a, b = (_num(r["avg_asleep_min"]) or 0 for r in sleeps)
        diff = round(a - b)
        label = (sleeps[1].get("range") or {}).get("label") or "the other period"
        if diff == 0:
            sentences.append(f"That's about the same sleep per night as {label}.")
        else:
            sentences.append(f"That's {abs(diff)} min {'more' if diff > 0 else 'less'} sleep per "
                             f"night than {label}.")
    for f in facts:
        text = _summary(f)
        if text:
            sentences.append(text)
    if plan_focus == "interpret" and not facts:
        sentences.append("I don't have reference ranges to judge that, so I can only report "
                         "the numbers.")
    if not sentences:
        return "I looked, but the tools returned nothing I can report."
    answer = " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences)
    if errors and len(errors) == len(data) and not facts and plan_focus not in ("bp_during_workout",):
        return answer
    return answer


# -- the model ----------------------------------------------------------------------------
def _plan_hint_tools(messages: Sequence[BaseMessage]) -> list[str]:
    """Tool names of the procedural plan hint in the system prompt (see prompts.PLAN_HINT)."""
    for m in messages:
        if isinstance(m, SystemMessage) and isinstance(m.content, str) \
                and "answered with:" in m.content:
            steps = m.content.split("answered with:", 1)[1].split("(used", 1)[0]
            return re.findall(r"\b([a-z_]+)\(", steps)
    return []


def _turn_messages(messages: Sequence[BaseMessage]) -> tuple[str, list[BaseMessage], list[BaseMessage]]:
    """(question, messages after it in this turn, messages before it)."""
    for idx in range(len(messages) - 1, -1, -1):
        if isinstance(messages[idx], HumanMessage):
            content = messages[idx].content
            q = content if isinstance(content, str) else " ".join(
                str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
            return q, list(messages[idx + 1:]), list(messages[:idx])
    return "", [], list(messages)


def _previous_turn(before: Sequence[BaseMessage]
                   ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """Tool calls and parsed results of the most recent earlier turn that called tools."""
    calls: list[tuple[str, dict[str, Any]]] = []
    results: list[tuple[str, dict[str, Any]]] = []
    for idx in range(len(before) - 1, -1, -1):
        m = before[idx]
        if isinstance(m, HumanMessage):
            if calls:
                break
            continue
        if isinstance(m, AIMessage) and m.tool_calls:
            calls = [(tc["name"], dict(tc.get("args") or {})) for tc in m.tool_calls] + calls
        elif isinstance(m, ToolMessage):
            results.insert(0, (m.name or "", _parse(m.content)))
    return calls, results


def _previous_question(before: Sequence[BaseMessage]) -> str:
    """The last earlier human question whose turn called tools."""
    seen_calls = False
    for idx in range(len(before) - 1, -1, -1):
        m = before[idx]
        if isinstance(m, AIMessage) and m.tool_calls:
            seen_calls = True
        elif isinstance(m, HumanMessage) and seen_calls:
            return m.content if isinstance(m.content, str) else ""
    return ""


def _parse(content: Any) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"summary": text}
    return value if isinstance(value, dict) else {"summary": str(value)}


def _tool_params(tool: Any) -> tuple[str, set[str]] | None:
    try:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        spec = convert_to_openai_tool(tool)["function"]
        return spec["name"], set((spec.get("parameters") or {}).get("properties", {}).keys())
    except Exception:  # noqa: BLE001 - an odd tool spec only loses argument introspection
        name = getattr(tool, "name", None) or (tool.get("name") if isinstance(tool, dict) else None)
        return (name, set()) if name else None


class OfflineModel(BaseChatModel):
    """Rule-based tool-calling chat model (no network, no weights)."""

    today: date | None = None
    tz_name: str | None = None
    #: The runtime passes the procedural plan hint (in the system prompt); the rules use it
    #: only for questions they can't map themselves.
    uses_plan_hint: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> "OfflineModel":
        return cls(today=settings.today, tz_name=str(settings.tz))

    @property
    def _llm_type(self) -> str:
        return "wellness-offline"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        specs: dict[str, list[str]] = {}
        for tool in tools:
            found = _tool_params(tool)
            if found:
                specs[found[0]] = sorted(found[1])
        return self.bind(tool_specs=specs, **kwargs)

    def _today(self) -> date:
        if self.today:
            return self.today
        if self.tz_name:
            from zoneinfo import ZoneInfo

            return datetime.now(ZoneInfo(self.tz_name)).date()
        return date.today()

    def respond(self, messages: Sequence[BaseMessage],
                tool_specs: dict[str, list[str]] | None = None) -> AIMessage:
        """Decide this step: tool calls for a new question, or the answer from results."""
        tools = {k: set(v) for k, v in (tool_specs or {}).items()}
        question, after, before = _turn_messages(messages)
        planner = Planner(self._today(), tools)
        prev_calls, planner.previous_results = _previous_turn(before)
        planner.previous_question = _previous_question(before)
        plan = planner.plan(question, prev_calls)
        if plan.direct is not None and plan.direct.startswith(NOT_UNDERSTOOD):
            # Procedural memory: the rules don't know this wording, but a similar question
            # was answered well before; reuse that tool sequence with this question's own
            # metric, workout type and period.
            hinted = planner.plan_from_hint(question, _plan_hint_tools(messages))
            if hinted is not None:
                plan = hinted
        done_calls = [m for m in after if isinstance(m, AIMessage) and m.tool_calls]
        if plan.direct is not None:
            return AIMessage(content=plan.direct)
        if not done_calls:
            calls = [(n, a) for n, a in plan.calls if not tools or n in tools]
            if not calls:
                return AIMessage(content="I can't look that up right now. " + CAPABILITIES)
            return AIMessage(content="", tool_calls=[
                {"name": n, "args": a, "id": f"call_{uuid.uuid4().hex[:20]}", "type": "tool_call"}
                for n, a in calls])
        names = {tc["id"]: tc["name"] for m in done_calls for tc in m.tool_calls}
        results: list[tuple[str, dict[str, Any]]] = []
        for m in after:
            if isinstance(m, ToolMessage):
                content = m.content if isinstance(m.content, str) else json.dumps(m.content)
                try:
                    value = json.loads(content)
                except ValueError:
                    value = {"summary": content}
                if not isinstance(value, dict):
                    value = {"summary": str(value)}
                results.append((names.get(m.tool_call_id, m.name or ""), value))
        return AIMessage(content=compose_answer(question, plan.focus, results))

    # -- BaseChatModel ----------------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        msg = self.respond(messages, kwargs.get("tool_specs"))
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _chunks(self, msg: AIMessage) -> Iterator[AIMessageChunk]:
        if msg.tool_calls:
            yield AIMessageChunk(content="", tool_call_chunks=[
                {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"],
                 "index": i, "type": "tool_call_chunk"}
                for i, tc in enumerate(msg.tool_calls)])
            return
        text = msg.content if isinstance(msg.content, str) else str(msg.content)
        for piece in re.findall(r"\S+\s*|\s+", text):
            yield AIMessageChunk(content=piece)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        msg = self.respond(messages, kwargs.get("tool_specs"))
        for chunk in self._chunks(msg):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        msg = self.respond(messages, kwargs.get("tool_specs"))
        for chunk in self._chunks(msg):
            yield ChatGenerationChunk(message=chunk)
