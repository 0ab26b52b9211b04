"""Typed, normalised records produced by the parser.

Why separate from the parser: the aggregation code and the tests talk about records, not
XML. Every record keeps what was printed (raw value, raw unit, original offset) next to the
normalised form (UTC epoch seconds, canonical unit) so nothing is lost by converting.
``__slots__`` keeps millions of short-lived instances cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class HealthRecord:
    """A top-level ``<Record>`` (any type, including unknown future ones)."""

    type: str
    source: int                 # index into SourceRegistry
    start: float                # UTC epoch seconds
    end: float
    offset: int                 # printed UTC offset of startDate, seconds
    raw_value: str | None
    raw_unit: str | None
    value: float | None = None  # canonical numeric value (quantity types)
    unit: str | None = None     # canonical unit
    metadata: dict[str, str] | None = None
    beats: list[tuple[float, str]] | None = None   # HRV instantaneous bpm + locale time text
    in_correlation: bool = False

    @property
    def tz_name(self) -> str | None:
        return self.metadata.get("HKTimeZone") if self.metadata else None


@dataclass(slots=True)
class Correlation:
    type: str
    source: int
    start: float
    end: float
    offset: int
    metadata: dict[str, str] | None
    records: list[HealthRecord] = field(default_factory=list)


@dataclass(slots=True)
class WorkoutStatistic:
    type: str
    unit: str | None
    sum: float | None = None
    average: float | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(slots=True)
class WorkoutEvent:
    type: str
    date: float | None
    duration_min: float | None


@dataclass(slots=True)
class Workout:
    activity_type: str          # raw, e.g. HKWorkoutActivityTypeRunning
    source: int
    source_name: str
    start: float
    end: float
    offset: int
    duration_min: float | None
    total_distance_km: float | None
    total_energy_kcal: float | None
    metadata: dict[str, str] = field(default_factory=dict)
    statistics: dict[str, WorkoutStatistic] = field(default_factory=dict)  # direct children
    events: list[WorkoutEvent] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    activities: int = 0         # nested WorkoutActivity count (never added to totals)

    @property
    def short_type(self) -> str:
        t = self.activity_type
        return t[len("HKWorkoutActivityType"):] if t.startswith("HKWorkoutActivityType") else t


@dataclass(slots=True)
class ActivitySummary:
    day: str                    # YYYY-MM-DD (dateComponents, no zone)
    fields: dict[str, float]    # canonical fields (move_kcal, exercise_min, ...)


@dataclass(slots=True)
class Profile:
    """The ``<Me>`` element: characteristic types, stored only in the user's own store."""

    date_of_birth: str | None = None
    biological_sex: str | None = None
    blood_type: str | None = None
    skin_type: str | None = None
    cardio_fitness_medications: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "date_of_birth": self.date_of_birth, "biological_sex": self.biological_sex,
            "blood_type": self.blood_type, "skin_type": self.skin_type,
            "cardio_fitness_medications": self.cardio_fitness_medications,
        }
