"""Memory pieces with no Redis: offline vectorizer, goal parser, procedural scoring."""

from __future__ import annotations

import math
from datetime import date

import pytest

from wellness.memory.embeddings import OFFLINE_DIMS, HashVectorizer, hash_embed
from wellness.memory.facts import load_curated, question_kind
from wellness.memory.goals import (
    Goal,
    is_question,
    latest_per_metric,
    looks_like_goal,
    normalise_metric,
    parse_deadline,
    parse_goal,
)
from wellness.memory.procedural import pattern_hash, score_turn, tool_shape

pytestmark = pytest.mark.unit
TODAY = date(2026, 12, 2)


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


# -- offline vectorizer -------------------------------------------------------------------
def test_hash_embed_is_deterministic_normalised_python_floats() -> None:
    a = hash_embed("How many steps did I take last week?")
    b = hash_embed("How many steps did I take last week?")
    assert a == b
    assert len(a) == OFFLINE_DIMS
    assert all(type(x) is float for x in a)
    assert math.isclose(math.sqrt(sum(x * x for x in a)), 1.0, rel_tol=1e-9)
    assert len(hash_embed("")) == OFFLINE_DIMS  # empty text still gives a valid unit vector


def test_vectorizer_plugs_into_redisvl() -> None:
    v = HashVectorizer()
    assert v.model == "offline-hash-1024" and v.dims == 1024
    out = v.embed("resting heart rate")
    assert isinstance(out[0], float) and out == hash_embed("resting heart rate")
    assert v.embed_many(["a b", "c d"]) == [hash_embed("a b"), hash_embed("c d")]


@pytest.mark.parametrize("query,paraphrase,unrelated", [
    ("what is my step goal", "how many steps am I aiming for", "is 58 bpm resting normal"),
    ("how many steps did I walk last week", "show my steps for last week",
     "how much should I sleep"),
    ("is my resting heart rate normal", "what is a healthy resting heart rate",
     "how far did I run yesterday"),
    ("how much should I sleep", "how many hours of sleep do I need",
     "what's my VO2 max trend"),
])
def test_paraphrases_rank_above_unrelated(query: str, paraphrase: str, unrelated: str) -> None:
    q = hash_embed(query)
    assert _cos(q, hash_embed(paraphrase)) > _cos(q, hash_embed(unrelated)) + 0.1


# -- goal parser --------------------------------------------------------------------------
@pytest.mark.parametrize("text,metric,target,unit,direction,period", [
    ("my goal is 10k steps a day", "steps", 10000, "steps", "increase", "day"),
    ("I want to walk 8,000 steps daily", "steps", 8000, "steps", "increase", "day"),
    ("get to 75 kg by June", "weight", 75, "kg", "reach", None),
    ("work out 3 times a week", "workouts", 3, "workouts", "increase", "week"),
    ("gym twice a week", "workouts", 2, "workouts", "increase", "week"),
    ("sleep 8 hours", "sleep", 8, "hours", "increase", "day"),
    ("I'd like to sleep 7.5 hours a night", "sleep", 7.5, "hours", "increase", "day"),
    ("run 5k every week", "running_distance", 5, "km", "increase", "week"),
    ("resting heart rate under 60", "resting_heart_rate", 60, "bpm", "decrease", None),
    ("150 minutes of exercise a week", "exercise_minutes", 150, "min", "increase", "week"),
    ("weigh 165 lbs", "weight", 74.8, "kg", "reach", None),
])
def test_parse_goal(text: str, metric: str, target: float, unit: str, direction: str,
                    period: str | None) -> None:
    g = parse_goal(text, TODAY)
    assert g is not None
    assert (g.metric, g.unit, g.direction, g.period) == (metric, unit, direction, period)
    assert g.target == pytest.approx(target)


def test_parse_goal_deadline_and_relative_change() -> None:
    g = parse_goal("get to 75 kg by June", TODAY)
    assert g is not None and g.deadline == date(2027, 6, 1)  # June already past → next June
    g = parse_goal("lose 5 kg by the end of the year", TODAY)
    assert g is not None and g.metric == "weight" and g.change == -5 and g.target is None
    assert g.deadline == date(2026, 12, 31)
    assert parse_deadline("in 3 months", TODAY) == date(2027, 3, 2)
    assert parse_deadline("by 2027-04-01", TODAY) == date(2027, 4, 1)


def test_goal_without_number_keeps_metric_and_direction() -> None:
    g = parse_goal("I want to lose weight", TODAY)
    assert g is not None and (g.metric, g.direction, g.target) == ("weight", "decrease", None)
    g = parse_goal("sleep more", TODAY)
    assert g is not None and g.metric == "sleep" and g.target is None


def test_freeform_goal_has_no_metric() -> None:
    g = parse_goal("never skip leg day", TODAY)
    assert g is not None and g.metric is None and g.text == "never skip leg day"
    assert looks_like_goal("never skip leg day")


@pytest.mark.parametrize("text", [
    "I want to know my resting heart rate",
    "I'd like to see my sleep last week",
    "What is my goal?",
    "how many steps did I take last week",
    "Is 58 bpm resting normal",
    "I need to check my weight trend",
])
def test_questions_are_never_goals(text: str) -> None:
    assert is_question(text)
    assert not looks_like_goal(text)
    assert parse_goal(text, TODAY) is None


def test_normalise_metric() -> None:
    assert normalise_metric("Steps") == "steps"
    assert normalise_metric("resting HR") == "resting_heart_rate"
    assert normalise_metric("StepCount") == "steps"
    assert normalise_metric("vo2 max") == "vo2max"


def test_latest_per_metric_prefers_newest() -> None:
    old = Goal("01A", "u", "8k steps", "steps", 8000, updated_at=1.0)
    new = Goal("01B", "u", "10k steps", "steps", 10000, updated_at=2.0)
    free = Goal("01C", "u", "never skip leg day", updated_at=0.5)
    out = latest_per_metric([old, free, new])
    assert [g.goal_id for g in out] == ["01B", "01C"]


# -- facts and procedural ---------------------------------------------------------------
def test_curated_facts_are_complete_and_unique() -> None:
    facts = load_curated()
    assert len(facts) >= 30
    assert len({f.key for f in facts}) == len(facts)
    assert all(f.source and f.fact and f.category for f in facts)
    assert question_kind("Is 58 bpm resting normal?") == "interpretive"
    assert question_kind("How many steps did I take last week?") == "data"


def test_score_turn_seed_rules() -> None:
    ok = [{"name": "metric_summary", "args": {"metric": "steps"}, "result": {"summary": "x"}}]
    assert score_turn([], "answer", 10) == 0.0
    assert score_turn(ok, "answer", 100) == 0.95
    assert score_turn(ok, "", 100) == 0.2
    assert score_turn(ok, "answer", 45_000) == 0.6
    bad = [{"name": "metric_summary", "args": {}, "result": {"error": "boom"}}]
    assert score_turn(bad, "answer", 100) == 0.3


def test_tool_shape_keeps_names_and_kinds_not_values() -> None:
    calls = [{"name": "metric_summary",
              "args": {"metric": "steps", "start": "2026-01-01", "limit": 5, "x": None}}]
    shape = tool_shape(calls)
    assert shape == [{"tool": "metric_summary",
                      "args": {"limit": "int", "metric": "str", "start": "date"}}]
    assert "steps" not in str(shape)
    assert pattern_hash("a", shape) != pattern_hash("b", shape)
