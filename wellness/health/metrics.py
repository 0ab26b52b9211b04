"""Metric catalogue and the friendly-name → HealthKit type resolver.

Why: people (and models) say "steps", "rhr", "calories" or "vo2", while the importer stores
HealthKit type names. The catalogue also says how each metric aggregates — cumulative ones
(steps, distance, energy, flights, exercise minutes) report totals and per-day averages,
discrete ones (heart rate, weight, …) report the mean of readings, min, max and last — and
which unit to print. Any other imported type still resolves by name through a fuzzy match
over the user's own ``health_metrics`` set, so nothing imported is unreachable.

The importer may store short names (``StepCount``) or full identifiers
(``HKQuantityTypeIdentifierStepCount``); the resolver accepts both and returns the form
actually present in the user's set.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

_PREFIXES = ("HKQuantityTypeIdentifier", "HKCategoryTypeIdentifier", "HKDataType",
             "HKCorrelationTypeIdentifier")


class MetricError(ValueError):
    """No metric matches the name; ``message`` lists what the user does have."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = suggestions or []


@dataclass(frozen=True)
class MetricInfo:
    """How to read, aggregate and print one metric.

    ``type`` is the short HealthKit name, ``key`` the form stored for this user (used in
    Redis keys), ``unit`` the canonical unit, ``display_unit`` what a sentence prints.
    """

    type: str
    name: str
    unit: str
    kind: str  # "cumulative" | "discrete" | "events" (category types: counted)
    display_unit: str = ""
    decimals: int = 0
    aliases: tuple[str, ...] = ()
    verb: str = ""  # cumulative only: "You walked", "You burned", …
    key: str = ""

    @property
    def cumulative(self) -> bool:
        return self.kind == "cumulative"

    @property
    def events(self) -> bool:
        return self.kind == "events"

    @property
    def shown_unit(self) -> str:
        return self.display_unit if self.display_unit is not None else self.unit

    def with_key(self, key: str) -> "MetricInfo":
        return replace(self, key=key)

    def with_unit(self, unit: str | None) -> "MetricInfo":
        """Use the unit the importer recorded when it differs from the catalogue's."""
        if not unit or unit == self.unit:
            return self
        return replace(self, unit=unit, display_unit=_display_for(unit))


def _display_for(unit: str) -> str:
    return {"count/min": "bpm", "count": "", "degC": "°C", "km/hr": "km/h"}.get(unit, unit)


def _m(type_: str, name: str, unit: str, kind: str, display: str | None = None,
       decimals: int = 0, aliases: tuple[str, ...] = (), verb: str = "") -> MetricInfo:
    return MetricInfo(type_, name, unit, kind, _display_for(unit) if display is None else display,
                      decimals, aliases, verb)


C, D = "cumulative", "discrete"
CATALOGUE: tuple[MetricInfo, ...] = (
    _m("StepCount", "steps", "count", C, "steps", 0,
       ("steps", "step", "step count", "steps walked", "walking steps"), "You walked"),
    _m("DistanceWalkingRunning", "walking + running distance", "km", C, "km", 1,
       ("distance", "walking distance", "running distance", "walking running distance",
        "distance walked", "km walked", "walking and running distance"), "You covered"),
    _m("DistanceCycling", "cycling distance", "km", C, "km", 1,
       ("cycling distance", "bike distance", "distance cycled", "biking distance"),
       "You cycled"),
    _m("DistanceSwimming", "swimming distance", "km", C, "km", 2,
       ("swimming distance", "swim distance", "distance swum"), "You swam"),
    _m("DistanceWheelchair", "wheelchair distance", "km", C, "km", 1,
       ("wheelchair distance",), "You covered"),
    _m("ActiveEnergyBurned", "active energy", "kcal", C, "kcal", 0,
       ("calories", "active energy", "active calories", "calories burned", "energy",
        "kcal", "move calories", "burned calories", "active energy burned", "cals"),
       "You burned"),
    _m("BasalEnergyBurned", "resting energy", "kcal", C, "kcal", 0,
       ("resting energy", "basal energy", "basal calories", "resting calories", "bmr"),
       "You burned"),
    _m("FlightsClimbed", "flights climbed", "count", C, "flights", 0,
       ("flights", "flights climbed", "floors", "stairs", "flights of stairs",
        "floors climbed"), "You climbed"),
    _m("AppleExerciseTime", "exercise minutes", "min", C, "min", 0,
       ("exercise", "exercise time", "exercise minutes", "active minutes",
        "minutes of exercise"), "You logged"),
    _m("AppleStandTime", "stand time", "min", C, "min", 0,
       ("stand time", "stand minutes", "standing time"), "You logged"),
    _m("AppleMoveTime", "move time", "min", C, "min", 0, ("move time", "move minutes"),
       "You logged"),
    _m("TimeInDaylight", "time in daylight", "min", C, "min", 0,
       ("daylight", "time in daylight", "sunlight"), "You spent"),
    _m("PushCount", "wheelchair pushes", "count", C, "pushes", 0, ("pushes", "push count"),
       "You logged"),
    _m("SwimmingStrokeCount", "swimming strokes", "count", C, "strokes", 0,
       ("strokes", "swim strokes", "swimming strokes"), "You logged"),
    _m("MindfulSession", "mindful minutes", "min", C, "min", 0,
       ("mindfulness", "mindful minutes", "meditation", "mindful sessions", "meditating"),
       "You logged"),
    _m("DietaryEnergyConsumed", "calories eaten", "kcal", C, "kcal", 0,
       ("calories eaten", "calories consumed", "dietary energy", "food calories",
        "calorie intake", "dietary calories"), "You ate"),
    _m("DietaryWater", "water", "mL", C, "mL", 0, ("water", "water intake", "hydration"),
       "You drank"),
    _m("DietaryProtein", "protein", "g", C, "g", 0, ("protein", "protein intake"), "You ate"),
    _m("DietaryCarbohydrates", "carbohydrates", "g", C, "g", 0, ("carbs", "carbohydrates"),
       "You ate"),
    _m("DietaryFatTotal", "fat", "g", C, "g", 0, ("fat", "dietary fat", "fat intake"),
       "You ate"),
    _m("DietarySugar", "sugar", "g", C, "g", 0, ("sugar",), "You ate"),
    _m("DietaryCaffeine", "caffeine", "mg", C, "mg", 0, ("caffeine",), "You had"),
    _m("HeartRate", "heart rate", "count/min", D, "bpm", 0,
       ("heart rate", "hr", "pulse", "bpm", "heartrate", "average heart rate")),
    _m("RestingHeartRate", "resting heart rate", "count/min", D, "bpm", 0,
       ("resting heart rate", "rhr", "resting hr", "resting pulse", "resting bpm")),
    _m("WalkingHeartRateAverage", "walking heart rate", "count/min", D, "bpm", 0,
       ("walking heart rate", "walking hr", "walking heart rate average")),
    _m("HeartRateRecoveryOneMinute", "heart rate recovery", "count/min", D, "bpm", 0,
       ("heart rate recovery", "hr recovery", "hrr")),
    _m("HeartRateVariabilitySDNN", "heart rate variability", "ms", D, "ms", 0,
       ("hrv", "heart rate variability", "sdnn", "variability")),
    _m("VO2Max", "VO2 max", "mL/min·kg", D, "mL/kg/min", 1,
       ("vo2", "vo2 max", "vo2max", "cardio fitness", "aerobic capacity", "v02 max")),
    _m("BodyMass", "weight", "kg", D, "kg", 1,
       ("weight", "body weight", "body mass", "mass", "bodyweight", "kg")),
    _m("BodyMassIndex", "BMI", "count", D, "", 1, ("bmi", "body mass index")),
    _m("BodyFatPercentage", "body fat", "%", D, "%", 1,
       ("body fat", "body fat percentage", "fat percentage", "bodyfat", "bf")),
    _m("LeanBodyMass", "lean body mass", "kg", D, "kg", 1, ("lean body mass", "lean mass")),
    _m("Height", "height", "cm", D, "cm", 0, ("height",)),
    _m("OxygenSaturation", "blood oxygen", "%", D, "%", 1,
       ("spo2", "blood oxygen", "oxygen saturation", "oxygen", "o2", "o2 saturation",
        "blood oxygen saturation", "sp02")),
    _m("RespiratoryRate", "respiratory rate", "count/min", D, "breaths/min", 1,
       ("respiratory rate", "breathing rate", "breaths per minute", "respiration")),
    _m("BodyTemperature", "body temperature", "degC", D, "°C", 1,
       ("body temperature", "temperature", "temp")),
    _m("AppleSleepingWristTemperature", "sleeping wrist temperature", "degC", D, "°C", 2,
       ("wrist temperature", "sleeping wrist temperature")),
    _m("BloodPressureSystolic", "systolic blood pressure", "mmHg", D, "mmHg", 0,
       ("systolic", "blood pressure", "systolic blood pressure", "bp")),
    _m("BloodPressureDiastolic", "diastolic blood pressure", "mmHg", D, "mmHg", 0,
       ("diastolic", "diastolic blood pressure")),
    _m("BloodGlucose", "blood glucose", "mg/dL", D, "mg/dL", 0,
       ("glucose", "blood glucose", "blood sugar")),
    _m("WalkingSpeed", "walking speed", "km/hr", D, "km/h", 1, ("walking speed",)),
    _m("RunningSpeed", "running speed", "km/hr", D, "km/h", 1, ("running speed",)),
    _m("WalkingStepLength", "step length", "cm", D, "cm", 0, ("step length", "stride")),
    _m("RunningPower", "running power", "W", D, "W", 0, ("running power", "power")),
    _m("EnvironmentalAudioExposure", "environmental noise", "dBASPL", D, "dB", 0,
       ("noise", "environmental noise", "audio exposure", "environmental audio")),
    _m("HeadphoneAudioExposure", "headphone audio level", "dBASPL", D, "dB", 0,
       ("headphone audio", "headphone volume", "headphone level")),
)
_BY_TYPE = {m.type: m for m in CATALOGUE}

# Types outside the catalogue that still add up per day (dedup list of docs/data-model.md).
_CUMULATIVE_PREFIXES = ("Dietary", "Distance")


# Questions about these are answered by other tools, not by a metric rollup.
_OTHER_TOOLS = {
    frozenset({"sleep", "sleep duration", "hours of sleep", "sleep hours", "time asleep",
               "sleep analysis", "deep sleep", "rem sleep", "bedtime", "sleep efficiency"}):
        "use sleep_summary for sleep (compare_periods accepts metric='sleep').",
    frozenset({"workouts", "workout", "training", "runs", "workout count",
               "number of workouts"}):
        "use workout_summary or list_workouts for workouts (compare_periods accepts "
        "metric='workouts').",
    frozenset({"rings", "activity rings", "move ring", "exercise ring", "stand ring",
               "stand hours"}):
        "use activity_rings for the Move/Exercise/Stand rings.",
}


def short_type(type_name: str) -> str:
    """``HKQuantityTypeIdentifierStepCount`` → ``StepCount`` (short names pass through)."""
    for prefix in _PREFIXES:
        if type_name.startswith(prefix):
            return type_name[len(prefix):]
    return type_name


def _words(text: str) -> str:
    """Lower-case words: ``"RestingHeartRate"`` → ``"resting heart rate"``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _normalise_name(name: str) -> str:
    text = _words(short_type(name.strip()))
    text = re.sub(r"\b(?:my|the|daily|average|avg|total|mean|per day|today|data|count of)\b",
                  " ", text) if text not in ("average heart rate",) else text
    return re.sub(r"\s+", " ", text).strip()


def friendly_name(type_name: str) -> str:
    """Catalogue name for a type, else its words (``DietarySugar`` → ``dietary sugar``)."""
    info = _BY_TYPE.get(short_type(type_name))
    return info.name if info else _words(short_type(type_name))


def info_for_type(type_name: str) -> MetricInfo:
    """Catalogue entry for a stored type, or a generic one guessed from the name."""
    short = short_type(type_name)
    info = _BY_TYPE.get(short)
    if info is not None:
        return info.with_key(type_name)
    if type_name.startswith("HKCategoryTypeIdentifier"):
        kind = "events"  # stand hours, handwashing, heart-rhythm events …: count them
    elif short.startswith(_CUMULATIVE_PREFIXES):
        kind = "cumulative"
    else:
        kind = "discrete"
    return MetricInfo(short, _words(short), "", kind, "", 1, (), "You logged", type_name)


def _stored_key(short: str, available: set[str]) -> str | None:
    for candidate in (short, *(p + short for p in _PREFIXES)):
        if candidate in available:
            return candidate
    return None


def resolve_metric(name: str, available: Iterable[str] = ()) -> MetricInfo:
    """Resolve a friendly name ("steps", "rhr", "vo2", "DietarySugar") to a metric.

    Order: catalogue aliases and names, exact type names, then a fuzzy match over the
    user's own types. A catalogue metric the user has no data for still resolves (so the
    answer can say "no data" with the right name); a name matching nothing raises
    :class:`MetricError` listing the user's metrics.
    """
    avail = set(available)
    if not name or not name.strip():
        raise MetricError("no metric given; try e.g. 'steps', 'resting heart rate', 'weight'")
    raw = name.strip()
    wanted = _normalise_name(raw)
    for words, tool_hint in _OTHER_TOOLS.items():
        if wanted in words:
            raise MetricError(f"'{raw}' is not a daily metric; {tool_hint}")
    squashed = _squash(short_type(raw))

    def done(info: MetricInfo) -> MetricInfo:
        return info.with_key(_stored_key(info.type, avail) or info.type)

    # 1. exact type name (short or full) of anything, catalogue or not
    short = short_type(raw)
    stored = _stored_key(short, avail)
    if short in _BY_TYPE:
        return done(_BY_TYPE[short])
    if stored:
        return info_for_type(stored)
    # 2. catalogue names and aliases
    for info in CATALOGUE:
        names = {info.name.lower(), *info.aliases}
        if wanted in names or squashed in {_squash(n) for n in names} or \
                squashed == _squash(info.type):
            return done(info)
    # 3. the user's own types by words / squashed name
    by_words = {_normalise_name(t): t for t in avail}
    if wanted in by_words:
        return info_for_type(by_words[wanted])
    by_squash = {_squash(short_type(t)): t for t in avail}
    if squashed in by_squash:
        return info_for_type(by_squash[squashed])
    # 4. fuzzy: aliases first (typos like "stpes"), then the user's types
    alias_map: dict[str, MetricInfo] = {}
    for info in CATALOGUE:
        for alias in (info.name.lower(), *info.aliases):
            alias_map.setdefault(alias, info)
    close = difflib.get_close_matches(wanted, list(alias_map), n=1, cutoff=0.8)
    if close:
        return done(alias_map[close[0]])
    contains = [t for w, t in by_words.items() if wanted and (wanted in w or w in wanted)]
    if len(contains) == 1:
        return info_for_type(contains[0])
    close = difflib.get_close_matches(wanted, list(by_words), n=1, cutoff=0.7)
    if close:
        return info_for_type(by_words[close[0]])
    suggestions = sorted(friendly_name(t) for t in avail)
    have = ", ".join(suggestions[:25]) if suggestions else "no metrics imported yet"
    raise MetricError(f"I don't know a metric called '{raw}'. Your data has: {have}.",
                      suggestions)
