"""Seeded, streaming generator of synthetic Apple Health exports with exact ground truth.

Why this exists: the importer's tests must assert *semantics* (deduplicated steps, sleep
nights, workout totals) rather than "it did not crash", and benchmarks need files from 100 KB
to several GB. So the generator

* writes the XML line by line into ~1 MiB chunks (memory stays flat whatever the size;
  the trailing sections are spooled to a temp file, only the ground truth grows with days),
* draws everything from one ``random.Random(seed)`` (same config -> identical bytes),
* computes the expected numbers *from the printed strings* with the rules of
  ``docs/data-model.md`` §1 (local day, canonical units, source priority, sleep nights,
  workouts), so importer and generator must agree to the last digit.

Format references: ``/work/shared/notes/apple-health-format.md`` §1 and §5.

Design choices the importer must not depend on (they are legal in real exports):
records are written day by day (grouped by type within a day), followed by all
Correlations, Workouts, ActivitySummary, then ClinicalRecord/Audiogram/VisionPrescription
elements. Every timestamp is printed
with ``GenConfig.export_offset`` (Apple's behaviour) while ``HKTimeZone`` metadata on Watch
sleep records and workouts names the true zone.
"""

from __future__ import annotations

import io
import json
import math
import random
import tempfile
import uuid
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from .dtd import dtd_text

__all__ = [
    "GenConfig", "GroundTruth", "write_export", "write_zip", "make_demo_export",
    "config_for_size", "measure",
    "SOURCE_WATCH", "SOURCE_PHONE", "SOURCE_EMOJI", "SOURCE_MFP", "SOURCE_AUTOSLEEP",
    "SOURCE_HEALTH", "SOURCE_STRAVA", "LB_TO_KG", "MI_TO_KM", "KJ_PER_KCAL", "FT_TO_CM",
]

# ---------------------------------------------------------------------------------------
# Constants

LB_TO_KG = 0.45359237
MI_TO_KM = 1.609344
KJ_PER_KCAL = 4.184
FT_TO_CM = 30.48
EPOCH_ORD = date(1970, 1, 1).toordinal()
CHUNK = 1 << 20  # flush to the sink every ~1 MiB of text

# "HH:MM:SS" for every second of a day: formatting a timestamp becomes two lookups.
_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

SOURCE_WATCH = "Jane’s Apple Watch"
SOURCE_PHONE = "Jane’s iPhone"
SOURCE_EMOJI = "🕛🕐🕑🕒"
SOURCE_MFP = "MyFitnessPal"
SOURCE_AUTOSLEEP = "AutoSleep"
SOURCE_HEALTH = "Health"
SOURCE_STRAVA = "Strava"

_Q = "HKQuantityTypeIdentifier"
_C = "HKCategoryTypeIdentifier"
T_STEPS = _Q + "StepCount"
T_DIST = _Q + "DistanceWalkingRunning"
T_AE = _Q + "ActiveEnergyBurned"
T_BASAL = _Q + "BasalEnergyBurned"
T_HR = _Q + "HeartRate"
T_RHR = _Q + "RestingHeartRate"
T_WHR = _Q + "WalkingHeartRateAverage"
T_HRV = _Q + "HeartRateVariabilitySDNN"
T_VO2 = _Q + "VO2Max"
T_RESP = _Q + "RespiratoryRate"
T_SPO2 = _Q + "OxygenSaturation"
T_MASS = _Q + "BodyMass"
T_BMI = _Q + "BodyMassIndex"
T_FAT = _Q + "BodyFatPercentage"
T_HEIGHT = _Q + "Height"
T_FLIGHTS = _Q + "FlightsClimbed"
T_EXERCISE = _Q + "AppleExerciseTime"
T_SYS = _Q + "BloodPressureSystolic"
T_DIA = _Q + "BloodPressureDiastolic"
T_FOOBAR = _Q + "FooBar"
T_KCAL_IN = _Q + "DietaryEnergyConsumed"
T_PROTEIN = _Q + "DietaryProtein"
T_CARBS = _Q + "DietaryCarbohydrates"
T_SLEEP = _C + "SleepAnalysis"
T_STAND = _C + "AppleStandHour"
T_MINDFUL = _C + "MindfulSession"
T_SLEEP_GOAL = "HKDataTypeSleepDurationGoal"
T_GLUCOSE = _Q + "BloodGlucose"
T_TEMP = _Q + "BodyTemperature"
T_WSPEED = _Q + "WalkingSpeed"
T_WSTEP = _Q + "WalkingStepLength"
T_WASYM = _Q + "WalkingAsymmetryPercentage"
T_WDS = _Q + "WalkingDoubleSupportPercentage"
T_STEADY = _Q + "AppleWalkingSteadiness"
T_DAYLIGHT = _Q + "TimeInDaylight"
T_ENV_AUDIO = _Q + "EnvironmentalAudioExposure"
T_HP_AUDIO = _Q + "HeadphoneAudioExposure"
T_STAND_TIME = _Q + "AppleStandTime"
T_HIGH_HR = _C + "HighHeartRateEvent"
T_HANDWASH = _C + "HandwashingEvent"
T_MOOD = _C + "StateOfMind"
SLEEP_PREFIX = "HKCategoryValueSleepAnalysis"

# Importer's cumulative dedup set (data-model §1).
CUMULATIVE = {T_STEPS, T_DIST, T_AE, T_BASAL, T_FLIGHTS, T_EXERCISE,
              _Q + "DistanceCycling", _Q + "AppleStandTime", _Q + "PushCount",
              _Q + "SwimmingStrokeCount"}

# Types with a per-day rollup in GroundTruth.metric_daily (unambiguous canonical units).
DAILY_TYPES = {T_HR, T_RHR, T_WHR, T_HRV, T_VO2, T_RESP, T_SPO2, T_MASS, T_BMI, T_FAT,
               T_HEIGHT, T_GLUCOSE, T_TEMP, T_WSPEED, T_SYS, T_DIA, T_KCAL_IN, T_PROTEIN,
               T_CARBS, T_ENV_AUDIO, T_HP_AUDIO, T_STEPS, T_DIST, T_AE, T_BASAL, T_FLIGHTS,
               T_EXERCISE, T_STAND_TIME}

_COMMA_LANGS = {"fr", "de", "es", "it", "nl", "pt", "ru", "fi", "da", "sv", "nb", "pl", "tr"}
_COMMA_REGIONS = {"FR", "DE", "ES", "IT", "NL", "PT", "RU", "FI", "DK", "SE", "NO", "PL", "BE"}

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _esc(s: str) -> str:
    """XML attribute escaping for the few free-text values we print."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


# ---------------------------------------------------------------------------------------
# Configuration and ground truth


@dataclass
class GenConfig:
    """Knobs of one synthetic export. Defaults give a ~20 MB, 60-day, en_US export."""

    seed: int = 1
    start: date = date(2024, 1, 1)
    days: int = 60
    export_version: int = 14
    export_offset: str = "-0800"
    home_tz: str = "America/Los_Angeles"
    unit_profile: str = "us"  # "us" | "metric" | "kj"
    locale: str = "en_US"
    hr_per_day: int = 110  # background heart-rate samples per day at scale 1
    bouts_per_day: int = 36  # walking bouts per day at scale 1 (drives steps/distance/energy)
    scale: float = 1.0  # multiplies the per-day bulk sample counts (100 KB ... GB)
    travel: bool = True  # a few days in Asia/Tokyo (HKTimeZone) when the range allows it
    include_dup_manual: bool = True  # one manual BodyMass entry written 3x identically
    include_dup_device: bool = True  # one Watch HR sample repeated with another 0x address
    mixed_units: bool = False  # "merged exports": every 4th weigh-in in the other mass unit
    malformed_dtd: bool = False  # iOS 16 / v12 unclosed <!ATTLIST VisionPrescription
    xml_name: str = "export.xml"
    include_me: bool = True  # False: no <Me> element (sanitized exports)
    me_dob: str = "1990-12-06"  # "" reproduces an unset date of birth
    side_files: bool = True  # ClinicalRecord/Audiogram/VisionPrescription (+ zip side files)

    def validate(self) -> None:
        if self.unit_profile not in ("us", "metric", "kj"):
            raise ValueError(f"unit_profile must be us|metric|kj, not {self.unit_profile!r}")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if len(self.export_offset) != 5 or self.export_offset[0] not in "+-":
            raise ValueError("export_offset looks like -0800")


@dataclass
class GroundTruth:
    """Expected importer results, in canonical units (kg, km, kcal, min), dates ISO strings.

    Day keys follow data-model §1: the local date of a sample's *start*, using its
    ``HKTimeZone`` metadata when present, else its printed offset (= ``export_offset``).
    """

    config: dict = field(default_factory=dict)
    # Cumulative, deduplicated with source priority watch > phone > apps (ties by name).
    steps_by_day: dict[str, float] = field(default_factory=dict)
    steps_naive_by_day: dict[str, float] = field(default_factory=dict)  # plain sum, all sources
    distance_km_by_day: dict[str, float] = field(default_factory=dict)
    distance_km_naive_by_day: dict[str, float] = field(default_factory=dict)
    active_kcal_by_day: dict[str, float] = field(default_factory=dict)
    active_kcal_naive_by_day: dict[str, float] = field(default_factory=dict)
    basal_kcal_by_day: dict[str, float] = field(default_factory=dict)
    partial_overlap: dict = field(default_factory=dict)
    # Per type and local day, canonical units (metric_units). Discrete types:
    # n = readings, s = sum, lo/hi = min/max, l = value of the latest-start reading.
    # Cumulative types: n = records of any source starting that day (exact duplicates
    # removed), s = the deduplicated total (same numbers as steps_by_day & co).
    metric_daily: dict[str, dict[str, dict]] = field(default_factory=dict)
    metric_units: dict[str, str] = field(default_factory=dict)
    # Counts: top-level <Record> elements per type after exact-duplicate removal.
    # Records nested in a <Correlation> are NOT included (their top-level twins are).
    records_by_type: dict[str, int] = field(default_factory=dict)
    records_total: int = 0
    raw_record_elements: int = 0  # every <Record ...> element in the file, nested ones too
    raw_top_level_records: int = 0  # top-level <Record> elements, duplicates included
    nested_correlation_records: int = 0
    duplicates_dropped: int = 0  # exact duplicates among top-level records
    correlations_by_type: dict[str, int] = field(default_factory=dict)
    workouts: list[dict] = field(default_factory=list)
    workouts_by_weekday: dict[str, int] = field(default_factory=dict)
    workouts_by_type: dict[str, int] = field(default_factory=dict)
    sleep_by_night: dict[str, dict] = field(default_factory=dict)
    bp_correlations: list[dict] = field(default_factory=list)
    hrv_records: list[dict] = field(default_factory=list)
    weight_kg_by_day: dict[str, float] = field(default_factory=dict)
    resting_hr_by_day: dict[str, float] = field(default_factory=dict)
    activity_by_day: dict[str, dict] = field(default_factory=dict)
    date_range: dict[str, str] = field(default_factory=dict)
    generated_days: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    export_date: str = ""
    xml_bytes: int = 0
    routes: list[str] = field(default_factory=list)  # GPX paths referenced by workouts
    routes_written: list[str] = field(default_factory=list)  # GPX files present in the zip
    # Top-level elements other than Record/Correlation/Workout/ActivitySummary.
    other_elements: dict[str, int] = field(default_factory=dict)
    side_files: list[str] = field(default_factory=list)  # extra files written into the zip
    notes: list[str] = field(default_factory=list)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(asdict(self), indent=indent, ensure_ascii=False, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json(), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "GroundTruth":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class _Source:
    name: str
    version: str | None
    kind: str  # watch | phone | app
    model: str | None = None
    device_tail: str | None = None  # text after the 0x address

    @property
    def key(self) -> str:
        return f"{self.name}|{self.model}" if self.model else self.name

    @property
    def rank(self) -> tuple[int, str]:
        return ({"watch": 0, "phone": 1}.get(self.kind, 2), self.name)

    def head(self) -> str:
        """Attribute text up to (excluding) the device address, for templates."""
        s = f'sourceName="{_esc(self.name)}"'
        if self.version:
            s += f' sourceVersion="{self.version}"'
        return s


_WATCH = _Source(SOURCE_WATCH, "10.3", "watch", "Watch",
                 "&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
                 "hardware:Watch6,2, software:10.3&gt;")
_PHONE = _Source(SOURCE_PHONE, "17.3", "phone", "iPhone",
                 "&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, "
                 "hardware:iPhone15,2, software:17.3&gt;")
_WATCH_TAIL_NEW = ("&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
                   "hardware:Watch6,2, software:11.1, creation date:2024-09-16 06:10:41 +0000&gt;")
# Headphone audio is written by the iPhone with the AirPods as device: another source key.
_AIRPODS = _Source(SOURCE_PHONE, "17.3", "phone", "0x2014",
                   "&gt;, name:AirPods Pro, manufacturer:Apple Inc., model:0x2014, "
                   "hardware:0x2014, software:6A326, localIdentifier:5D2C1D0C-6F2B-4A7E-9A3B-"
                   "0C7D4E3F9A11&gt;")
_EMOJI = _Source(SOURCE_EMOJI, None, "app")  # no sourceVersion, no device
_MFP = _Source(SOURCE_MFP, "24.1.0", "app")
_AUTOSLEEP = _Source(SOURCE_AUTOSLEEP, "6.9.1", "app")
_HEALTH = _Source(SOURCE_HEALTH, "17.3", "app")
_STRAVA = _Source(SOURCE_STRAVA, "355.0", "app")
_ALL_SOURCES = [_WATCH, _PHONE, _AIRPODS, _EMOJI, _MFP, _AUTOSLEEP, _HEALTH, _STRAVA]

# ---------------------------------------------------------------------------------------
# Output sink


class _Sink:
    """Collects text pieces and writes UTF-8 bytes in ~1 MiB chunks."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.parts: list[str] = []
        self.pending = 0
        self.bytes = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pending += len(s)
        if self.pending >= CHUNK:
            self.flush()

    def extend(self, items: list[str]) -> None:
        self.parts.extend(items)
        self.pending += 400 * len(items)
        if self.pending >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            b = "".join(self.parts).encode("utf-8")
            self.fp.write(b)
            self.bytes += len(b)
            self.parts = []
        self.pending = 0


class _Deferred:
    """Append-only text buffer for the trailing sections, spooled to a temp file."""

    def __init__(self) -> None:
        self.f = tempfile.SpooledTemporaryFile(max_size=4 << 20)

    def append(self, s: str) -> None:
        self.f.write(s.encode("utf-8"))

    def drain(self, sink: _Sink) -> None:
        sink.flush()
        self.f.seek(0)
        while chunk := self.f.read(CHUNK):
            sink.fp.write(chunk)
            sink.bytes += len(chunk)
        self.f.close()


# ---------------------------------------------------------------------------------------
# Units per profile

_UNITS = {
    "us": {"dist": "mi", "energy": "Cal", "mass": "lb", "height": "ft", "temp": "degF"},
    "metric": {"dist": "km", "energy": "kcal", "mass": "kg", "height": "cm", "temp": "degC"},
    "kj": {"dist": "km", "energy": "kJ", "mass": "kg", "height": "cm", "temp": "degC"},
}


def _to_km(v: float, unit: str) -> float:
    return v * MI_TO_KM if unit == "mi" else v


def _to_kcal(v: float, unit: str) -> float:
    return v / KJ_PER_KCAL if unit == "kJ" else v


def _to_kg(v: float, unit: str) -> float:
    return v * LB_TO_KG if unit == "lb" else v


GLUCOSE_MMOL = "mmol<180.1558800000541>/L"
_CANON_FACTORS: dict[str, tuple[str, float]] = {
    "lb": ("kg", LB_TO_KG), "kg": ("kg", 1.0),
    "mi": ("km", MI_TO_KM), "km": ("km", 1.0), "m": ("km", 0.001),
    "Cal": ("kcal", 1.0), "kcal": ("kcal", 1.0), "kJ": ("kcal", 1 / KJ_PER_KCAL),
    "%": ("%", 100.0),
    GLUCOSE_MMOL: ("mg/dL", 18.01558800000541), "mg/dL": ("mg/dL", 1.0),
    "mi/hr": ("km/hr", MI_TO_KM), "km/hr": ("km/hr", 1.0),
}


def canonical(typ: str, value: float, unit: str | None) -> tuple[float, str | None]:
    """(value, unit) in the canonical units of data-model §1 (height in cm, temps in degC)."""
    if unit is None:
        return value, None
    if typ.endswith("Height"):
        if unit == "ft":
            return value * FT_TO_CM, "cm"
        if unit == "in":
            return value * 2.54, "cm"
        if unit == "m":
            return value * 100, "cm"
        return value, unit
    if unit == "degF":
        return (value - 32) * 5 / 9, "degC"
    f = _CANON_FACTORS.get(unit)
    if f is None:
        return value, unit
    return value * f[1], f[0]


# ---------------------------------------------------------------------------------------
# Sleep night computation (data-model §1 "Sleep"), generic over segments


@dataclass
class _Seg:
    source: _Source
    value: str  # suffix after HKCategoryValueSleepAnalysis
    start: int
    end: int
    label: date


def _union_seconds(iv: Iterable[tuple[int, int]]) -> int:
    total = 0
    cur_s = cur_e = None
    for s, e in sorted(iv):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s
    return total


_ASLEEP = {"Asleep", "AsleepUnspecified", "AsleepCore", "AsleepDeep", "AsleepREM"}
_STAGES = {"AsleepCore", "AsleepDeep", "AsleepREM"}


def _nights(segs: list[_Seg], zone_of: Callable[[_Seg], ZoneInfo | timezone]) -> dict[str, dict]:
    by_label: dict[date, dict[_Source, list[_Seg]]] = defaultdict(lambda: defaultdict(list))
    for s in segs:
        by_label[s.label][s.source].append(s)
    out: dict[str, dict] = {}
    for label in sorted(by_label):
        per = by_label[label]
        ranked = sorted(per, key=lambda src: src.rank)
        chosen = next((src for src in ranked if any(x.value in _STAGES for x in per[src])), None)
        if chosen is None:
            chosen = next((src for src in ranked if any(x.value in _ASLEEP for x in per[src])),
                          None)
        if chosen is None:
            chosen = next(src for src in ranked if any(x.value == "InBed" for x in per[src]))
        ss = per[chosen]

        def mins(vals: set[str]) -> float:
            return _union_seconds((x.start, x.end) for x in ss if x.value in vals) / 60.0

        asleep = mins(_ASLEEP)
        in_bed_iv = [(x.start, x.end) for x in ss if x.value == "InBed"]
        first = min(x.start for x in ss)
        last = max(x.end for x in ss)
        in_bed = (_union_seconds(in_bed_iv) if in_bed_iv else last - first) / 60.0
        z = zone_of(ss[0])
        out[label.isoformat()] = {
            "source": chosen.name,
            "source_key": chosen.key,
            "has_stages": any(x.value in _STAGES for x in ss),
            "asleep_min": asleep,
            "core_min": mins({"AsleepCore"}),
            "deep_min": mins({"AsleepDeep"}),
            "rem_min": mins({"AsleepREM"}),
            "unspecified_min": mins({"Asleep", "AsleepUnspecified"}),
            "awake_min": mins({"Awake"}),
            "in_bed_min": in_bed,
            "efficiency": round(asleep / in_bed * 100, 2) if in_bed else 0.0,
            "bed_time_utc": datetime.fromtimestamp(first, timezone.utc).isoformat(),
            "wake_time_utc": datetime.fromtimestamp(last, timezone.utc).isoformat(),
            "bed_time_local": datetime.fromtimestamp(first, z).isoformat(),
            "wake_time_local": datetime.fromtimestamp(last, z).isoformat(),
        }
    return out


# ---------------------------------------------------------------------------------------
# The generator


class _Gen:
    """One generation run. Holds the RNG, the formatter and the ground-truth accumulators."""

    def __init__(self, cfg: GenConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.home = ZoneInfo(cfg.home_tz)
        self.tokyo = ZoneInfo("Asia/Tokyo")
        sign = -1 if cfg.export_offset[0] == "-" else 1
        self.off = sign * (int(cfg.export_offset[1:3]) * 3600 + int(cfg.export_offset[3:5]) * 60)
        self.off_tz = timezone(timedelta(seconds=self.off))
        self.sfx = " " + cfg.export_offset
        self._dayp: dict[int, str] = {}
        self.u = _UNITS[cfg.unit_profile]
        self.v = cfg.export_version
        # accumulators
        self.counts: dict[str, int] = defaultdict(int)
        self.src_counts: dict[str, int] = defaultdict(int)
        self.steps: dict[int, float] = defaultdict(float)
        self.steps_naive: dict[int, float] = defaultdict(float)
        self.dist: dict[int, float] = defaultdict(float)
        self.dist_naive: dict[int, float] = defaultdict(float)
        self.ae: dict[int, float] = defaultdict(float)
        self.ae_naive: dict[int, float] = defaultdict(float)
        self.basal: dict[int, float] = defaultdict(float)
        self.md: dict[str, dict[int, list]] = defaultdict(dict)  # discrete daily rollups
        self.cn: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.csum: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.munits: dict[str, str] = {}
        self.nested = 0
        self.dups = 0
        self.corr_counts: dict[str, int] = defaultdict(int)
        self.sleep_segs: list[_Seg] = []
        self.seg_zone: dict[int, ZoneInfo | timezone] = {}
        # Sections Apple writes after all Records: spooled (to disk past 4 MiB) so memory
        # stays flat even for decade-long exports.
        self.workouts_xml = _Deferred()
        self.corr_xml = _Deferred()
        self.summaries_xml = _Deferred()
        self.truth = GroundTruth(config=_cfg_dict(cfg))
        self.min_day: int | None = None
        self.max_day: int | None = None
        self.partial_day_index = min(2, cfg.days - 1)
        # Below scale 0.1 the fixed per-day content thins out too, so a one-day export can
        # be fixture-sized (~20-30 KB). At scale >= 0.1 the output does not depend on this.
        self.lite = cfg.scale < 0.1
        self.watch_updated = False
        self.dup_device_written = False
        self.planned_any = False
        self._heads: dict[_Source, str] = {}
        self.inline_route_done = False
        self.weight_last: dict[str, tuple[int, float]] = {}  # day -> (start, kg) of last weigh-in
        self.dup_written = False
        self.other_elements: dict[str, int] = defaultdict(int)
        self.side: list[tuple[str, str]] = []  # (zip path under the export folder, text)
        self.interval_done = False
        self.thirdparty_done = False
        self.route_written = False
        self.gpx: tuple[str, str] | None = None
        n = cfg.days
        # Days whose home-zone UTC offset differs from the previous day's (DST changes):
        # their nights must be generated (never skipped for travel, always with a Watch).
        self.dst_days: set[date] = set()
        for k in range(n):
            dd = cfg.start + timedelta(days=k)
            o1 = datetime.combine(dd, time(12), self.home).utcoffset()
            o0 = datetime.combine(dd - timedelta(days=1), time(12), self.home).utcoffset()
            if o0 != o1:
                self.dst_days.add(dd)
        self.travel = (-1, -1)
        if cfg.travel and n >= 10:
            for first in (n // 3, n // 2, 2 * n // 3, 1):
                span = {cfg.start + timedelta(days=k) for k in range(first, first + 6)}
                if first + 5 <= n and not span & self.dst_days:
                    self.travel = (first, first + 4)
                    break

    # ---- formatting ---------------------------------------------------------------

    def ts(self, t: int) -> str:
        """Printed timestamp: the instant rendered at the export-time offset."""
        d, s = divmod(t + self.off, 86400)
        p = self._dayp.get(d)
        if p is None:
            p = self._dayp[d] = date.fromordinal(d + EPOCH_ORD).isoformat() + " "
        return p + _HMS[s] + self.sfx

    def pday(self, t: int) -> int:
        """Day number (days since 1970-01-01) of instant ``t`` at the printed offset."""
        return (t + self.off) // 86400

    def zday(self, t: int, z: ZoneInfo) -> date:
        return datetime.fromtimestamp(t, z).date()

    def seen_day(self, day: int) -> None:
        """Track the min/max local day of top-level record starts (date_range). Bulk
        paths are covered at the end from the per-day counters (cn, md)."""
        if self.min_day is None or day < self.min_day:
            self.min_day = day
        if self.max_day is None or day > self.max_day:
            self.max_day = day

    def addr(self) -> int:
        return 0x280000000 + self.rng.getrandbits(28)

    def tail(self, src: _Source) -> str:
        """Device text after the address; the Watch is updated (newer watchOS adds a
        ``creation date:`` field) half-way through the range — same source key."""
        if src is _WATCH and self.watch_updated:
            return _WATCH_TAIL_NEW
        return src.device_tail or ""

    def tpl(self, typ: str, src: _Source, unit: str | None, children: str | None = None) -> str:
        """A %-template: (addr?) creation start end value — per type/source/unit."""
        s = f' <Record type="{typ}" {src.head()}'
        if src.device_tail:
            s += ' device="&lt;&lt;HKDevice: 0x%x' + self.tail(src) + '"'
        if unit is not None:
            s += f' unit="{unit}"'
        s += ' creationDate="%s" startDate="%s" endDate="%s" value="%s"'
        if children is None:
            return s + "/>\n"
        return s + ">\n" + children + " </Record>\n"

    def rec(self, typ: str, src: _Source, start: int, end: int, value: str | None = None,
            unit: str | None = None, meta: Sequence[tuple[str, str]] = (),
            extra: str = "", created: int | None = None, count: bool = True,
            indent: str = " ") -> str:
        """A single Record element (slow path for the low-volume types)."""
        head = self._heads.get(src)
        if head is None:
            head = self._heads[src] = src.head()
        parts = [f'{indent}<Record type="{typ}" {head}']
        if src.device_tail:
            parts.append(f' device="&lt;&lt;HKDevice: 0x{self.addr():x}{self.tail(src)}"')
        if unit is not None:
            parts.append(f' unit="{_esc(unit)}"')
        parts.append(f' creationDate="{self.ts(created if created is not None else end + 60)}"'
                     f' startDate="{self.ts(start)}" endDate="{self.ts(end)}"')
        if value is not None:
            parts.append(f' value="{value}"')
        kids = ("".join(f'{indent} <MetadataEntry key="{_esc(k)}" value="{_esc(v)}"/>\n'
                        for k, v in meta) + extra) if meta else extra
        if kids:
            parts.append(">\n" + kids + f"{indent}</Record>\n")
        else:
            parts.append("/>\n")
        if count:
            self.counts[typ] += 1
            self.src_counts[src.key] += 1
            tz = next((v for k, v in meta if k == "HKTimeZone"), None) if meta else None
            day = (self.pday(start) if tz is None else
                   self.zday(start, ZoneInfo(tz)).toordinal() - EPOCH_ORD)
            self.seen_day(day)
            if value is not None and typ in DAILY_TYPES:
                cv, cu = canonical(typ, float(value), unit)
                if cu is not None:
                    self.munits[typ] = cu
                if typ in CUMULATIVE:
                    self.cn[typ][day] += 1
                    self.csum[typ][day] += cv
                else:
                    self.dacc(typ, day, cv, start)
        return "".join(parts)

    def dacc(self, typ: str, day: int, v: float, t: int) -> None:
        """Add one discrete reading to the daily rollup (n, sum, lo, hi, last)."""
        a = self.md[typ].get(day)
        if a is None:
            self.md[typ][day] = [1, v, v, v, t, v]
            return
        a[0] += 1
        a[1] += v
        if v < a[2]:
            a[2] = v
        if v > a[3]:
            a[3] = v
        if t >= a[4]:
            a[4] = t
            a[5] = v

    # ---- header ----------------------------------------------------------------------

    def header(self, export_ts: int) -> str:
        cfg = self.cfg
        malformed = "vision" if cfg.malformed_dtd else None
        h = ['<?xml version="1.0" encoding="UTF-8"?>\n', dtd_text(self.v, malformed),
             f'<HealthData locale="{cfg.locale}">\n',
             f' <ExportDate value="{self.ts(export_ts)}"/>\n']
        if cfg.include_me:
            me = (f' <Me HKCharacteristicTypeIdentifierDateOfBirth="{cfg.me_dob}"'
                  ' HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"'
                  ' HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet"'
                  ' HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"')
            if self.v >= 11:
                me += ' HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"'
            h.append(me + "/>\n")
        return "".join(h)

    # ---- main loop --------------------------------------------------------------------

    def run(self, sink: _Sink) -> GroundTruth:
        cfg = self.cfg
        end_day = cfg.start + timedelta(days=cfg.days)
        export_ts = int(datetime.combine(end_day, time(8, 15, 32), self.home).timestamp())
        self.truth.export_date = self.ts(export_ts)
        sink.add(self.header(export_ts))
        prev_end: int | None = None
        prev_zone: ZoneInfo | None = None
        for i in range(cfg.days):
            d = cfg.start + timedelta(days=i)
            z = self.tokyo if self.travel[0] <= i < self.travel[1] else self.home
            ws = int(datetime.combine(d, time(0), z).timestamp())
            we = int(datetime.combine(d + timedelta(days=1), time(0), z).timestamp())
            if prev_end is not None and ws < prev_end:
                ws = prev_end  # flying west->east: the day starts when the previous ended
            self.watch_updated = i >= cfg.days // 2
            self.day(sink, i, d, z, ws, we, zone_changed=prev_zone is not None and z is not prev_zone)
            prev_end = we
            prev_zone = z
        self.once_only(sink)
        for section in (self.corr_xml, self.workouts_xml, self.summaries_xml):
            section.drain(sink)
        if cfg.side_files and self.v >= 11:
            sink.extend(self.side_elements())
        sink.add("</HealthData>\n")
        sink.flush()
        return self.finish(sink.bytes)

    def local(self, d: date, h: int, m: int, z: ZoneInfo, s: int = 0) -> int:
        return int(datetime.combine(d, time(h, m, s), z).timestamp())

    def day(self, sink: _Sink, i: int, d: date, z: ZoneInfo, ws: int, we: int,
            zone_changed: bool) -> None:
        out: list[str] = []
        # Sleep for the night that ends this morning (labelled d).
        if not zone_changed:
            self.sleep(out, i, d, z)
        workouts = self.plan_workouts(i, d, z, ws, we)
        self.activity(out, i, d, z, ws, we)
        self.basal_energy(out, ws, we)
        busy = [(w["start"] - 120, w["end"] + 120) for w in workouts]
        self.heart_rate(out, ws, we, busy)
        for w in workouts:
            self.workout_hr(out, w)
        self.daily_metrics(out, i, d, z, ws, we)
        for w in workouts:
            self.workouts_xml.append(self.workout_xml(w))
        sink.extend(out)
        self.summary(i, d)

    # ---- cumulative activity: steps / distance / active energy -------------------------

    def activity(self, out: list[str], i: int, d: date, z: ZoneInfo, ws: int, we: int) -> None:
        """Walking bouts. Watch writes every bout; iPhone writes the *same* intervals (full
        overlap, so it contributes 0 after dedup); the emoji app writes samples only in gaps
        between bouts (no overlap, kept whole). On one day an app sample overlaps exactly
        half of a Watch bout (proration rule: half its value is kept)."""
        cfg, rng, u = self.cfg, self.rng, self.u
        lo = max(ws, self.local(d, 7, 0, z))
        hi = min(we, self.local(d, 22, 0, z))
        span = hi - lo
        if span < 3 * 3600:
            return
        n = max(1 if self.lite else 3, round(cfg.bouts_per_day * cfg.scale * span / 54000))
        slot = span // n
        if slot < 120:
            slot = 120
            n = span // slot
        du = u["dist"]
        eu = u["energy"]
        energy_k = KJ_PER_KCAL if eu == "kJ" else 1.0
        ts = self.ts
        steps_w = self.tpl(T_STEPS, _WATCH, "count")
        steps_p = self.tpl(T_STEPS, _PHONE, "count")
        steps_a = self.tpl(T_STEPS, _EMOJI, "count")
        dist_w = self.tpl(T_DIST, _WATCH, du)
        dist_p = self.tpl(T_DIST, _PHONE, du)
        dist_a = self.tpl(T_DIST, _EMOJI, du)
        ae_w = self.tpl(T_AE, _WATCH, eu)
        ae_p = self.tpl(T_AE, _PHONE, eu)
        addr_bits = self.rng.getrandbits
        rnd = rng.random
        ri = rng.randint
        st_w: list[str] = []
        st_p: list[str] = []
        st_a: list[str] = []
        di_w: list[str] = []
        di_p: list[str] = []
        di_a: list[str] = []
        en_w: list[str] = []
        en_p: list[str] = []
        dist_fmt = "%.5f" if du == "mi" else "%.4f"
        want_partial = i == self.partial_day_index and not self.truth.partial_overlap
        steps_acc = self.steps
        steps_naive = self.steps_naive
        dist_acc = self.dist
        dist_naive = self.dist_naive
        ae_acc = self.ae
        ae_naive = self.ae_naive
        km = MI_TO_KM if du == "mi" else 1.0
        inv_e = 1.0 / energy_k
        off = self.off
        n_st, n_di, n_ae = self.cn[T_STEPS], self.cn[T_DIST], self.cn[T_AE]
        for k in range(n):
            s0 = lo + k * slot
            a = int(slot * 0.1 * rnd())
            L = int(slot * (0.3 + 0.25 * rnd()))
            if L < 60:
                L = 60
            bs = s0 + a
            be = bs + L
            day = (bs + off) // 86400
            created = ts(be + ri(30, 900))
            sbs, sbe = ts(bs), ts(be)
            rate = 8 + 30 * rnd()  # steps/min: ~8-9k steps a day
            steps = max(1, int(L / 60 * rate))
            stride = 0.00068 + 0.0001 * rnd()
            dist_raw = dist_fmt % (steps * stride / km)
            dist_v = float(dist_raw) * km
            st_w.append(steps_w % (0x280000000 + addr_bits(28), created, sbs, sbe, steps))
            di_w.append(dist_w % (0x280000000 + addr_bits(28), created, sbs, sbe, dist_raw))
            steps_acc[day] += steps
            steps_naive[day] += steps
            n_st[day] += 1
            n_di[day] += 1
            dist_acc[day] += dist_v
            dist_naive[day] += dist_v
            # Watch active energy tiles the bout in 3 contiguous pieces.
            cuts = sorted((bs + 1 + int((L - 2) * rnd()), bs + 1 + int((L - 2) * rnd())))
            edges = [bs, cuts[0], cuts[1], be]
            bout_kcal = 0.0
            for j in range(3):
                a0, a1 = edges[j], edges[j + 1]
                if a1 <= a0:
                    continue
                v = "%.3f" % ((a1 - a0) / 60 * (3 + 4 * rnd()) * energy_k)
                kc = float(v) * inv_e
                bout_kcal += kc
                en_w.append(ae_w % (0x280000000 + addr_bits(28), created, ts(a0), ts(a1), v))
                ae_acc[(a0 + off) // 86400] += kc
                ae_naive[(a0 + off) // 86400] += kc
                n_ae[(a0 + off) // 86400] += 1
            if rnd() < 0.85:  # iPhone counted the same bout
                ps = max(1, int(steps * (0.8 + 0.25 * rnd())))
                pd = dist_fmt % (ps * stride / km)
                st_p.append(steps_p % (0x280000000 + addr_bits(28), created, sbs, sbe, ps))
                di_p.append(dist_p % (0x280000000 + addr_bits(28), created, sbs, sbe, pd))
                steps_naive[day] += ps
                dist_naive[day] += float(pd) * km
                n_st[day] += 1
                n_di[day] += 1
            if rnd() < 0.6:  # iPhone energy over the whole bout: fully covered by Watch tiles
                v = "%.3f" % (bout_kcal * (0.7 + 0.4 * rnd()) * energy_k)
                en_p.append(ae_p % (0x280000000 + addr_bits(28), created, sbs, sbe, v))
                ae_naive[day] += float(v) * inv_e
                n_ae[day] += 1
            # Sedentary Watch energy after the bout, inside this slot.
            tail0 = be + 30
            tail1 = s0 + slot - 30
            if tail1 - tail0 > 240 and rnd() < 0.8:
                t1 = tail0 + 60 + int((tail1 - tail0 - 60) * rnd())
                v = "%.3f" % ((t1 - tail0) / 60 * (0.4 + 0.6 * rnd()) * energy_k)
                en_w.append(ae_w % (0x280000000 + addr_bits(28), ts(t1 + 40), ts(tail0),
                                    ts(t1), v))
                kc = float(v) * inv_e
                ae_acc[(tail0 + off) // 86400] += kc
                ae_naive[(tail0 + off) // 86400] += kc
                n_ae[(tail0 + off) // 86400] += 1
            # App steps in the gap after the bout (no overlap with Watch or iPhone steps).
            if want_partial and k >= 1 and L >= 120 and slot - a - L >= 400:
                want_partial = False
                half = 60 if L < 600 else 300
                g0, g1 = be - half, be + half
                sv = 840
                dv = dist_fmt % (sv * 0.0007 / km)
                st_a.append(steps_a % (ts(g1 + 5), ts(g0), ts(g1), sv))
                di_a.append(dist_a % (ts(g1 + 5), ts(g0), ts(g1), dv))
                gday = (g0 + off) // 86400
                steps_acc[gday] += sv / 2
                steps_naive[gday] += sv
                dist_acc[gday] += float(dv) * km / 2
                dist_naive[gday] += float(dv) * km
                n_st[gday] += 1
                n_di[gday] += 1
                self.truth.partial_overlap = {
                    "date": date.fromordinal(gday + EPOCH_ORD).isoformat(),
                    "source": SOURCE_EMOJI,
                    "start": datetime.fromtimestamp(g0, timezone.utc).isoformat(),
                    "end": datetime.fromtimestamp(g1, timezone.utc).isoformat(),
                    "steps_value": sv, "steps_kept": sv / 2,
                    "distance_raw": dv + " " + du, "distance_km_kept": float(dv) * km / 2,
                    "covered_fraction": 0.5,
                }
            elif rnd() < 0.25:
                gap0 = be + 60
                gap1 = s0 + slot - 60
                if gap1 - gap0 >= 120:
                    g0 = gap0 + int((gap1 - gap0 - 60) * rnd() * 0.5)
                    g1 = min(gap1, g0 + 60 + int(600 * rnd()))
                    sv = max(1, int((g1 - g0) / 60 * (10 + 60 * rnd())))
                    dv = dist_fmt % (sv * 0.0007 / km)
                    st_a.append(steps_a % (ts(g1 + 5), ts(g0), ts(g1), sv))
                    di_a.append(dist_a % (ts(g1 + 5), ts(g0), ts(g1), dv))
                    gday = (g0 + off) // 86400
                    steps_acc[gday] += sv
                    steps_naive[gday] += sv
                    dist_acc[gday] += float(dv) * km
                    dist_naive[gday] += float(dv) * km
                    n_st[gday] += 1
                    n_di[gday] += 1
        for typ, src, lst in ((T_STEPS, _WATCH, st_w), (T_STEPS, _PHONE, st_p),
                              (T_STEPS, _EMOJI, st_a), (T_DIST, _WATCH, di_w),
                              (T_DIST, _PHONE, di_p), (T_DIST, _EMOJI, di_a),
                              (T_AE, _WATCH, en_w), (T_AE, _PHONE, en_p)):
            out.extend(lst)
            self.counts[typ] += len(lst)
            self.src_counts[src.key] += len(lst)

    def basal_energy(self, out: list[str], ws: int, we: int) -> None:
        """Watch basal energy tiling the whole day window (Watch only: no dedup effect)."""
        cfg, rng = self.cfg, self.rng
        n = max(2 if self.lite else 4, round(90 * cfg.scale))
        step = (we - ws) // n
        eu = self.u["energy"]
        ek = KJ_PER_KCAL if eu == "kJ" else 1.0
        tpl = self.tpl(T_BASAL, _WATCH, eu)
        ts, off, rnd, bits = self.ts, self.off, rng.random, rng.getrandbits
        acc = self.basal
        n_b = self.cn[T_BASAL]
        for k in range(n):
            a0 = ws + k * step
            a1 = a0 + step if k < n - 1 else we
            v = "%.3f" % ((a1 - a0) / 60 * (0.95 + 0.2 * rnd()) * ek)
            out.append(tpl % (0x280000000 + bits(28), ts(a1 + 120), ts(a0), ts(a1), v))
            acc[(a0 + off) // 86400] += float(v) / ek
            n_b[(a0 + off) // 86400] += 1
        self.counts[T_BASAL] += n
        self.src_counts[_WATCH.key] += n

    def heart_rate(self, out: list[str], ws: int, we: int, busy: list[tuple[int, int]]) -> None:
        """Background Watch heart rate (point samples), never inside a workout window so
        that workout HR computed from samples is exactly known."""
        cfg, rng = self.cfg, self.rng
        n = max(3 if self.lite else 6, round(cfg.hr_per_day * cfg.scale))
        child = '  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="%s"/>\n'
        tpl = self.tpl(T_HR, _WATCH, "count/min", child)
        ts, rnd, bits = self.ts, rng.random, rng.getrandbits
        dacc, off = self.dacc, self.off
        span = we - ws
        step = span / n
        cnt = 0
        for k in range(n):
            t = ws + int(k * step + step * 0.8 * rnd())
            if any(b0 <= t <= b1 for b0, b1 in busy):
                continue
            sd = ts(t)
            v = 55 + int(45 * rnd())
            out.append(tpl % (0x280000000 + bits(28), ts(t + 300), sd, sd, v, int(3 * rnd())))
            dacc(T_HR, (t + off) // 86400, float(v), t)
            cnt += 1
        self.counts[T_HR] += cnt
        self.src_counts[_WATCH.key] += cnt

    # ---- sleep -------------------------------------------------------------------------

    def sleep(self, out: list[str], i: int, d: date, z: ZoneInfo) -> None:
        """One night labelled ``d``: iPhone InBed, Watch stages (or v11-style Asleep),
        AutoSleep overlapping asleep. Some nights lack the Watch (charging) or everything
        but the iPhone, so every branch of the night-source rule is exercised."""
        rng = self.rng
        prev = d - timedelta(days=1)
        bed = self.local(prev, 22, 0, z) + 60 * rng.randint(0, 120)
        onset = bed + 60 * rng.randint(8, 25)
        total = 60 * rng.randint(360, 510)
        wake = onset + total
        mode_watch = "stages"
        if self.v <= 11:
            mode_watch = "asleep"
        elif i % 9 == 4:
            mode_watch = "asleep"
        elif i % 13 == 6:
            mode_watch = "unspecified"
        if i % 11 == 7:
            mode_watch = "none"  # Watch charging: AutoSleep wins
        only_phone = i % 17 == 12
        if only_phone:
            mode_watch = "none"
        if d in self.dst_days:  # the DST night always has full Watch data
            mode_watch = "asleep" if self.v <= 11 else "stages"
            only_phone = False
        tzname = z.key
        tzmeta = [("HKTimeZone", tzname)]
        # iPhone InBed (no HKTimeZone: labelled via printed offset)
        ib_end = wake + 60 * rng.randint(2, 15)
        out.append(self.rec(T_SLEEP, _PHONE, bed, ib_end, SLEEP_PREFIX + "InBed",
                            created=ib_end + 300))
        self.add_seg(_PHONE, "InBed", bed, ib_end, None)
        if mode_watch in ("stages", "asleep", "unspecified"):
            t = onset
            while t < wake:
                if mode_watch == "stages":
                    r = rng.random()
                    val = ("AsleepCore" if r < 0.5 else "AsleepDeep" if r < 0.68 else
                           "AsleepREM" if r < 0.9 else "Awake")
                    dur = 30 * rng.randint(4 if val == "Awake" else 10, 20 if val == "Awake" else 80)
                    if self.lite:
                        dur *= 4
                elif mode_watch == "asleep":
                    val = "Asleep" if rng.random() < 0.85 else "Awake"
                    dur = 30 * rng.randint(20, 160)
                else:
                    val = "AsleepUnspecified"
                    dur = 30 * rng.randint(40, 200)
                e = min(wake, t + dur)
                if mode_watch == "asleep" and val == "Awake" and self.v <= 11:
                    val = "Asleep"  # v11 watches only wrote Asleep
                out.append(self.rec(T_SLEEP, _WATCH, t, e, SLEEP_PREFIX + val, meta=tzmeta,
                                    created=wake + 600))
                self.add_seg(_WATCH, val, t, e, z)
                t = e
        if not only_phone:
            # AutoSleep: one InBed and two overlapping Asleep blocks (no HKTimeZone).
            a0 = onset + 60 * rng.randint(-10, 10)
            a1 = wake + 60 * rng.randint(-10, 10)
            mid = a0 + (a1 - a0) // 2
            out.append(self.rec(T_SLEEP, _AUTOSLEEP, bed + 300, a1 + 300, SLEEP_PREFIX + "InBed",
                                created=a1 + 3600))
            self.add_seg(_AUTOSLEEP, "InBed", bed + 300, a1 + 300, None)
            asleep_val = "Asleep" if self.v <= 11 else "AsleepUnspecified"
            for s, e in ((a0, mid + 600), (mid, a1)):
                out.append(self.rec(T_SLEEP, _AUTOSLEEP, s, e, SLEEP_PREFIX + asleep_val,
                                    created=a1 + 3600))
                self.add_seg(_AUTOSLEEP, asleep_val, s, e, None)

    def add_seg(self, src: _Source, val: str, s: int, e: int, z: ZoneInfo | None) -> None:
        if z is None:
            label = date.fromordinal(self.pday(s + 6 * 3600) + EPOCH_ORD)
            zone: ZoneInfo | timezone = self.off_tz
        else:
            label = self.zday(s + 6 * 3600, z)
            zone = z
        seg = _Seg(src, val, s, e, label)
        self.seg_zone[id(seg)] = zone
        self.sleep_segs.append(seg)

    # ---- workouts ----------------------------------------------------------------------

    def plan_workouts(self, i: int, d: date, z: ZoneInfo, ws: int, we: int) -> list[dict]:
        """~4 per week, evenings (so in the US the UTC day is the next day)."""
        rng = self.rng
        if rng.random() >= 4 / 7 or (self.lite and i % 2 == 0):
            return []
        kinds = ["Running", "Walking", "Cycling", "TraditionalStrengthTraining", "Yoga",
                 "HighIntensityIntervalTraining", "Swimming"]
        kind = rng.choice(kinds)
        if not self.truth.workouts and not self.planned_any:
            kind = "Running"  # the first workout is an outdoor run: interval + route + GPX
        self.planned_any = True
        start = self.local(d, 18, 0, z) + 60 * rng.randint(0, 200)
        if start < ws + 3600:
            return []
        total = 60 * rng.randint(25, 75)
        end = start + total
        if end > we - 600:
            return []
        src = _WATCH
        if self.v <= 11:
            style = "old"
        elif not self.interval_done and kind in ("Running", "Cycling"):
            style = "interval"
            self.interval_done = True
        elif not self.thirdparty_done and i >= 3:
            style = "thirdparty"
            src = _STRAVA
            self.thirdparty_done = True
        else:
            r = rng.random()
            style = "old" if r < 0.15 else "both" if r < 0.3 else "new"
        pause = 0
        if rng.random() < 0.4 and style != "thirdparty":
            pause = 60 * rng.randint(1, 6)
        return [{"kind": kind, "start": start, "end": end, "pause": pause, "style": style,
                 "src": src, "zone": z, "date": d, "i": i, "hr": []}]

    def workout_hr(self, out: list[str], w: dict) -> None:
        """Watch HR samples strictly inside the workout window."""
        rng = self.rng
        s, e = w["start"], w["end"]
        n = 3 if self.lite else max(5, (e - s) // 300)
        step = (e - s) / (n + 1)
        base = 95 if w["kind"] in ("Yoga", "TraditionalStrengthTraining") else 125
        child = '  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="2"/>\n'
        tpl = self.tpl(T_HR, _WATCH, "count/min", child)
        for k in range(1, n + 1):
            t = s + int(k * step)
            v = base + rng.randint(-20, 35)
            w["hr"].append(v)
            self.dacc(T_HR, self.pday(t), float(v), t)
            out.append(tpl % (self.addr(), self.ts(t + 60), self.ts(t), self.ts(t), v))
            if k == 1 and self.cfg.include_dup_device and not self.dup_device_written:
                # The same sample again, differing only by the device's 0x address: the
                # address is not part of the source key, so this is an exact duplicate.
                self.dup_device_written = True
                self.dups += 1
                out.append(tpl % (self.addr(), self.ts(t + 60), self.ts(t), self.ts(t), v))
        self.counts[T_HR] += n
        self.src_counts[_WATCH.key] += n

    def workout_xml(self, w: dict) -> str:
        rng, u, ts = self.rng, self.u, self.ts
        kind, s, e, src, z = w["kind"], w["start"], w["end"], w["src"], w["zone"]
        style = w["style"]
        dur_min = (e - s - w["pause"]) / 60 + rng.random() / 1000
        dur_raw = repr(dur_min)
        du, eu = u["dist"], u["energy"]
        ek = KJ_PER_KCAL if eu == "kJ" else 1.0
        kcal = (e - s) / 60 * (4 + 7 * rng.random())
        has_dist = kind in ("Running", "Walking", "Cycling", "Swimming")
        km = (e - s) / 3600 * {"Running": 10, "Walking": 5, "Cycling": 20, "Swimming": 2}.get(kind, 0)
        km *= 0.8 + 0.4 * rng.random()
        e_raw = "%.4f" % (kcal * ek)
        dist_unit = "m" if kind == "Swimming" and du == "km" else du
        dist_div = MI_TO_KM if dist_unit == "mi" else 0.001 if dist_unit == "m" else 1.0
        d_raw = "%.5f" % (km / dist_div)
        energy_kcal = float(e_raw) / ek
        dist_km = float(d_raw) * dist_div if has_dist else None
        hr = w["hr"]
        lines: list[str] = []
        attrs = (f' <Workout workoutActivityType="HKWorkoutActivityType{kind}"'
                 f' duration="{dur_raw}" durationUnit="min"')
        if style in ("old", "both"):
            if has_dist:
                attrs += f' totalDistance="{d_raw}" totalDistanceUnit="{dist_unit}"'
            attrs += f' totalEnergyBurned="{e_raw}" totalEnergyBurnedUnit="{eu}"'
        attrs += f" {src.head()}"
        if src.device_tail:
            attrs += f' device="&lt;&lt;HKDevice: 0x{self.addr():x}{self.tail(src)}"'
        attrs += f' creationDate="{ts(e + 30)}" startDate="{ts(s)}" endDate="{ts(e)}">\n'
        lines.append(attrs)
        md: list[tuple[str, str]] = []
        if src is _WATCH:
            indoor = "1" if kind in ("TraditionalStrengthTraining", "Yoga",
                                      "HighIntensityIntervalTraining") else "0"
            md.append(("HKIndoorWorkout", indoor))
            md.append(("HKTimeZone", z.key))
            md.append(("HKAverageMETs", f"{4 + 6 * rng.random():.5f} kcal/hr·kg"))
            if indoor == "0":
                temp = f"{45 + rng.randint(0, 40)} degF" if u["temp"] == "degF" else \
                    f"{5 + rng.randint(0, 25)} degC"
                md.append(("HKWeatherTemperature", temp))
                hum = rng.randint(30, 100)  # old exports "96 %", recent ones scaled: "9600 %"
                md.append(("HKWeatherHumidity", f"{hum} %" if style == "old" else f"{hum * 100} %"))
                md.append(("HKElevationAscended", f"{rng.randint(100, 9000)} cm"))
        else:
            md.append(("Strava Activity ID", str(rng.getrandbits(40))))
        for k, v in md:
            lines.append(f'  <MetadataEntry key="{k}" value="{v}"/>\n')
        if w["pause"]:
            p0 = s + (e - s) // 3
            lines.append(f'  <WorkoutEvent type="HKWorkoutEventTypePause" date="{ts(p0)}"/>\n')
            lines.append(f'  <WorkoutEvent type="HKWorkoutEventTypeResume" '
                         f'date="{ts(p0 + w["pause"])}"/>\n')
        hr_avg = hr_min = hr_max = None
        stats: list[str] = []
        if style in ("new", "both", "interval"):
            span = f'startDate="{ts(s)}" endDate="{ts(e)}"'
            stats.append(f'  <WorkoutStatistics type="{T_AE}" {span} sum="{e_raw}" unit="{eu}"/>\n')
            if has_dist:
                dtype = {"Cycling": _Q + "DistanceCycling",
                         "Swimming": _Q + "DistanceSwimming"}.get(kind, T_DIST)
                stats.append(f'  <WorkoutStatistics type="{dtype}" {span} sum="{d_raw}" '
                             f'unit="{dist_unit}"/>\n')
            if kind in ("Running", "Walking"):
                stats.append(f'  <WorkoutStatistics type="{T_STEPS}" {span} '
                             f'sum="{(e - s) / 60 * 150 * rng.random() + 100:.2f}" unit="count"/>\n')
            avg = f"{sum(hr) / len(hr) + rng.uniform(-3, 3):.4f}"
            mn, mx = min(hr) - rng.randint(0, 5), max(hr) + rng.randint(0, 5)
            stats.append(f'  <WorkoutStatistics type="{T_HR}" {span} average="{avg}" '
                         f'minimum="{mn}" maximum="{mx}" unit="count/min"/>\n')
            hr_avg, hr_min, hr_max = float(avg), float(mn), float(mx)
        else:
            hr_avg = sum(hr) / len(hr)
            hr_min, hr_max = float(min(hr)), float(max(hr))
        if style == "interval":
            # WorkoutActivity children repeat (parts of) the statistics: never add them.
            parts = 3
            bounds = [s + (e - s) * k // parts for k in range(parts + 1)]
            for k in range(parts):
                a0, a1 = bounds[k], bounds[k + 1]
                pspan = f'startDate="{ts(a0)}" endDate="{ts(a1)}"'
                lines.append(f'  <WorkoutActivity uuid="{self.uuid()}" {pspan} '
                             f'duration="{(a1 - a0) / 60:.4f}" durationUnit="min">\n')
                lines.append(f'   <WorkoutEvent type="HKWorkoutEventTypeSegment" date="{ts(a0)}" '
                             f'duration="{(a1 - a0) / 60:.4f}" durationUnit="min"/>\n')
                lines.append(f'   <WorkoutStatistics type="{T_AE}" {pspan} '
                             f'sum="{float(e_raw) / parts:.4f}" unit="{eu}"/>\n')
                if has_dist:
                    lines.append(f'   <WorkoutStatistics type="{T_DIST}" {pspan} '
                                 f'sum="{float(d_raw) / parts:.5f}" unit="{dist_unit}"/>\n')
                lines.append(f'   <MetadataEntry key="WOIntervalStepKeyPath" value="0.{k}.0"/>\n')
                lines.append("  </WorkoutActivity>\n")
        lines.extend(stats)
        route_path = None
        if src is _WATCH and self.v >= 11 and kind in ("Running", "Walking", "Cycling") \
                and style != "old":
            loc = datetime.fromtimestamp(s, z)
            h12 = loc.hour % 12 or 12
            ampm = "am" if loc.hour < 12 else "pm"
            route_path = f"/workout-routes/route_{loc:%Y-%m-%d}_{h12}.{loc:%M}{ampm}.gpx"
            lines.append(f'  <WorkoutRoute {src.head()} creationDate="{ts(e + 60)}" '
                         f'startDate="{ts(s)}" endDate="{ts(e)}">\n')
            lines.append(f'   <MetadataEntry key="HKMetadataKeySyncIdentifier" value="{self.uuid()}"/>\n')
            lines.append('   <MetadataEntry key="HKMetadataKeySyncVersion" value="2"/>\n')
            lines.append(f'   <FileReference path="{route_path}"/>\n')
            lines.append("  </WorkoutRoute>\n")
            self.truth.routes.append(route_path)
            if style == "interval":
                # A second route file for the same workout (the GPX itself is not written:
                # a FileReference to a missing file must not break anything).
                extra_path = route_path.replace(".gpx", "_2.gpx")
                lines.append(f'  <WorkoutRoute {src.head()} creationDate="{ts(e + 61)}" '
                             f'startDate="{ts(s + (e - s) // 2)}" endDate="{ts(e)}">\n')
                lines.append(f'   <FileReference path="{extra_path}"/>\n')
                lines.append("  </WorkoutRoute>\n")
                self.truth.routes.append(extra_path)
                w["extra_route"] = extra_path
            if self.gpx is None:
                self.gpx = (route_path.lstrip("/"), self.gpx_text(s, e, loc))
        elif src is _WATCH and self.v < 11 and kind in ("Running", "Walking", "Cycling") \
                and not self.inline_route_done:
            # Pre-iOS 13 shape: route points inline as <Location> elements.
            self.inline_route_done = True
            lines.append(f'  <WorkoutRoute {src.head()} creationDate="{ts(e + 60)}" '
                         f'startDate="{ts(s)}" endDate="{ts(e)}">\n')
            lat, lon = 37.7749, -122.4194
            for t in range(s, min(e, s + 600), 60):
                lat += rng.uniform(-0.0005, 0.0008)
                lon += rng.uniform(-0.0005, 0.0008)
                lines.append(f'   <Location date="{ts(t)}" latitude="{lat:.6f}" '
                             f'longitude="{lon:.6f}" altitude="{rng.uniform(5, 30):.3f}" '
                             f'horizontalAccuracy="{rng.uniform(2, 8):.3f}" '
                             f'verticalAccuracy="{rng.uniform(2, 6):.3f}" '
                             f'course="{rng.uniform(0, 359):.2f}" speed="{rng.uniform(2, 4):.3f}"/>\n')
            lines.append("  </WorkoutRoute>\n")
        lines.append(" </Workout>\n")
        tzone = z if src is _WATCH else self.off_tz
        mdd = dict(md)
        loc = datetime.fromtimestamp(s, tzone)
        self.truth.workouts.append({
            "type": kind,
            "type_raw": "HKWorkoutActivityType" + kind,
            "style": style,
            "source": src.name,
            "start_utc": datetime.fromtimestamp(s, timezone.utc).isoformat(),
            "end_utc": datetime.fromtimestamp(e, timezone.utc).isoformat(),
            "start_local": loc.isoformat(),
            "tz": z.key if src is _WATCH else None,
            "date": loc.date().isoformat(),
            "weekday": WEEKDAYS[loc.weekday()],
            "hour": loc.hour,
            "duration_min": float(dur_raw),
            "energy_kcal": None if style == "thirdparty" else energy_kcal,
            "distance_km": dist_km if style != "thirdparty" else None,
            "hr_avg": hr_avg, "hr_min": hr_min, "hr_max": hr_max,
            "route": route_path,
            "routes": ([route_path] + ([w["extra_route"]] if "extra_route" in w else [])
                       if route_path else []),
            "indoor": mdd.get("HKIndoorWorkout"),
            "elevation_m": (float(mdd["HKElevationAscended"].split()[0]) / 100
                            if "HKElevationAscended" in mdd else None),
            "mets": float(mdd["HKAverageMETs"].split()[0]) if "HKAverageMETs" in mdd else None,
        })
        return "".join(lines)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()

    def gpx_text(self, s: int, e: int, loc: datetime) -> str:
        rng = self.rng
        pts = []
        lat, lon = 37.7749, -122.4194
        for t in range(s, e, 5):
            lat += rng.uniform(-0.0001, 0.0002)
            lon += rng.uniform(-0.0001, 0.0002)
            iso = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            pts.append(f'<trkpt lon="{lon:.6f}" lat="{lat:.6f}"><ele>{10 + rng.random() * 5:.4f}'
                       f'</ele><time>{iso}</time><extensions><speed>{2 + rng.random():.4f}</speed>'
                       f'<course>{rng.uniform(0, 359):.2f}</course><hAcc>{rng.uniform(1, 5):.4f}'
                       f'</hAcc><vAcc>{rng.uniform(1, 4):.4f}</vAcc></extensions></trkpt>\n')
        h12 = loc.hour % 12 or 12
        ampm = "am" if loc.hour < 12 else "pm"
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<gpx version="1.1" creator="Apple Health Export" '
                'xmlns="http://www.topografix.com/GPX/1/1">\n'
                f'<trk><name>Route {loc:%Y-%m-%d} {h12}:{loc:%M}{ampm}</name><trkseg>\n'
                + "".join(pts) + "</trkseg></trk>\n</gpx>\n")

    # ---- daily low-volume metrics -------------------------------------------------------

    def daily_metrics(self, out: list[str], i: int, d: date, z: ZoneInfo, ws: int, we: int) -> None:
        rng, u = self.rng, self.u
        t_morning = max(ws + 60, self.local(d, 7, 30, z))
        if t_morning >= we - 3600:
            t_morning = ws + 60
        # Resting HR (one per day) and walking HR average.
        rhr = rng.randint(52, 64)
        s0 = t_morning
        out.append(self.rec(T_RHR, _WATCH, s0, s0 + 3600 * 8, str(rhr), "count/min"))
        self.truth.resting_hr_by_day[self.day_iso(s0)] = float(rhr)
        out.append(self.rec(T_WHR, _WATCH, s0 + 600, s0 + 3600 * 9, str(rng.randint(90, 115)),
                            "count/min"))
        # HRV with beat-to-beat list.
        for k in range(1 if self.lite else rng.randint(2, 4)):
            t = s0 + 3600 * (1 + 4 * k) + rng.randint(0, 1800)
            if ws <= t < we - 600:
                out.append(self.hrv(t, z))
        # Respiratory rate (night) and SpO2.
        for k in range(1 if self.lite else 3):
            t = t_morning - 3600 * (k + 1) + rng.randint(0, 600)
            if not ws <= t < we - 1800:
                continue
            out.append(self.rec(T_RESP, _WATCH, t, t + 1800, f"{rng.uniform(12, 18):.1f}",
                                "count/min"))
        for k in range(1 if self.lite else 4):
            t = ws + 60 + (we - ws - 120) * k // 4 + rng.randint(0, 900)
            out.append(self.rec(T_SPO2, _WATCH, t, t, f"{rng.randint(92, 100) / 100:g}", "%"))
        # VO2Max every few days.
        if i % 5 == 1:
            t = s0 + 3600 * 11
            if t < we - 120:
                    out.append(self.rec(T_VO2, _WATCH, t, t, f"{rng.uniform(38, 46):.3f}",
                                    "mL/min·kg", meta=[("HKVO2MaxTestType", "2")]))
        # Exercise minutes, flights (iPhone), stand hours.
        ex_tpl_s = self.tpl(T_EXERCISE, _WATCH, "min")
        for k in range(1 if self.lite else rng.randint(2, 6)):
            t = s0 + 3600 + k * 1800
            if t >= we - 120:
                break
            out.append(ex_tpl_s % (self.addr(), self.ts(t + 70), self.ts(t), self.ts(t + 60), 1))
            self.counts[T_EXERCISE] += 1
            self.src_counts[_WATCH.key] += 1
            self.cn[T_EXERCISE][self.pday(t)] += 1
            self.csum[T_EXERCISE][self.pday(t)] += 1.0
        for k in range(1 if self.lite else rng.randint(1, 4)):
            t = s0 + 5400 + k * 2700
            if t >= we - 400:
                break
            out.append(self.rec(T_FLIGHTS, _PHONE, t, t + 300, str(rng.randint(1, 4)), "count"))
        for h in range(8, 22, 7 if self.lite else 1):
            t = self.local(d, h, 0, z)
            if t < ws or t + 3600 > we:
                continue
            val = "HKCategoryValueAppleStandHourStood" if rng.random() < 0.7 else \
                "HKCategoryValueAppleStandHourIdle"
            out.append(self.rec(T_STAND, _WATCH, t, t + 3600, val))
        # Body measurements, manual ("Health") every other day; a second weigh-in sometimes.
        if i % 2 == 0:
            self.weigh(out, i, t_morning + 600)
            if i % 6 == 0:
                if t_morning + 12 * 3600 < we - 300:
                    self.weigh(out, i, t_morning + 12 * 3600)
        if i % 7 == 3:
            t = t_morning + 900
            # Third-party metadata quirks: keys with spaces, a repeated key.
            out.append(self.rec(T_BMI, _HEALTH, t, t, f"{rng.uniform(21.5, 23):.2f}", "count",
                                meta=[("HKWasUserEntered", "1"),
                                      ("Withings User Identifier", "20931"),
                                      ("Modified Date", self.ts(t)),
                                      ("Modified Date", self.ts(t + 5))]))
            out.append(self.rec(T_FAT, _HEALTH, t, t, f"{rng.uniform(0.2, 0.27):.3f}", "%",
                                meta=[("HKWasUserEntered", "1")]))
        if not self.lite:
            self.more_metrics(out, i, d, z, ws, we, t_morning)
        if i % 10 == 5:
            t = t_morning + 1800
            out.append(self.rec(T_MINDFUL, _WATCH, t, t + 600))
        # Blood pressure (manual, 2/week) and food (MyFitnessPal, daily lunch).
        if i % 4 == 1:
            self.blood_pressure(out, t_morning + 1200, diastolic_first=(i % 8 == 5))
        lunch = self.local(d, 12, 30, z)
        if ws < lunch < we - 60:
            self.food(out, lunch)

    def more_metrics(self, out: list[str], i: int, d: date, z: ZoneInfo, ws: int, we: int,
                     t0: int) -> None:
        """The long tail of types (a few records each): walking metrics, audio, glucose,
        temperature, daylight, stand time, events without value, state of mind."""
        rng, us = self.rng, self.cfg.unit_profile == "us"
        rec = self.rec

        def at(h: float) -> int | None:
            t = t0 + int(h * 3600)
            return t if ws <= t < we - 3600 else None

        for k in range(2):
            t = at(2 + 5 * k)
            if t is None:
                continue
            kmh = rng.uniform(3.8, 5.4)
            out.append(rec(T_WSPEED, _PHONE, t, t + 20,
                           f"{kmh / MI_TO_KM:.4f}" if us else f"{kmh:.3f}",
                           "mi/hr" if us else "km/hr"))
            cm = rng.uniform(62, 74)
            out.append(rec(T_WSTEP, _PHONE, t, t + 20, f"{cm / 2.54:.3f}" if us else f"{cm:.1f}",
                           "in" if us else "cm"))
        t = at(3)
        if t is not None:
            out.append(rec(T_WASYM, _PHONE, t, t + 30, f"{rng.uniform(0, 0.06):.3f}", "%"))
            out.append(rec(T_WDS, _PHONE, t + 60, t + 90, f"{rng.uniform(0.24, 0.32):.3f}", "%"))
        if i % 7 == 6 and at(4) is not None:
            t = at(4)
            out.append(rec(T_STEADY, _PHONE, t - 7 * 86400, t, f"{rng.uniform(0.8, 1):.2f}", "%"))
        for k in range(2):
            t = at(3 + 4 * k)
            if t is not None:
                out.append(rec(T_DAYLIGHT, _WATCH, t, t + 600, str(rng.randint(3, 10)), "min"))
                out.append(rec(T_STAND_TIME, _WATCH, t + 900, t + 1200, str(rng.randint(1, 5)),
                               "min"))
        for k in range(3):
            t = at(1 + 3.5 * k)
            if t is not None:
                out.append(rec(T_ENV_AUDIO, _WATCH, t, t + 1800, f"{rng.uniform(45, 80):.4f}",
                               "dBASPL"))
        t = at(9)
        if t is not None:
            out.append(rec(T_HP_AUDIO, _AIRPODS, t, t + 1200, f"{rng.uniform(55, 75):.4f}",
                           "dBASPL"))
        t = at(5)
        if t is not None:
            out.append(rec(T_HANDWASH, _WATCH, t, t + 22))
        if i % 3 == 0 and (t := at(0.5)) is not None:
            mg = rng.uniform(82, 118)
            raw, unit = (f"{mg:.0f}", "mg/dL") if us else (f"{mg / 18.01558800000541:.2f}",
                                                            GLUCOSE_MMOL)
            out.append(rec(T_GLUCOSE, _HEALTH, t, t, raw, unit, meta=[("HKWasUserEntered", "1"),
                                                                     ("HKBloodGlucoseMealTime", "1")]))
        if i % 5 == 2 and (t := at(0.7)) is not None:
            c = rng.uniform(36.3, 37.2)
            out.append(rec(T_TEMP, _HEALTH, t, t, f"{c * 9 / 5 + 32:.1f}" if us else f"{c:.2f}",
                           "degF" if us else "degC", meta=[("HKWasUserEntered", "1")]))
        if i == min(5, self.cfg.days - 1) and (t := at(6)) is not None:
            out.append(rec(T_HIGH_HR, _WATCH, t, t + 600, "HKCategoryValueNotApplicable",
                           meta=[("HKHeartRateEventThreshold", "120 count/min")]))
        if self.v >= 13 and i % 3 == 1 and (t := at(8)) is not None:
            out.append(rec(T_MOOD, _PHONE, t, t, None,
                           meta=[("HKStateOfMindKind", "1"),
                                 ("HKStateOfMindValence", f"{rng.uniform(-1, 1):.3f}"),
                                 ("HKStateOfMindLabels", "Calm"),
                                 ("HKStateOfMindLabels", "Grateful")]))

    def day_iso(self, t: int) -> str:
        return date.fromordinal(self.pday(t) + EPOCH_ORD).isoformat()

    def weigh(self, out: list[str], i: int, t: int) -> None:
        rng, unit = self.rng, self.u["mass"]
        if self.cfg.mixed_units and i % 4 == 2:
            unit = "kg" if unit == "lb" else "lb"
        kg = 63 + 2 * math.sin(i / 9) + rng.uniform(-0.4, 0.4)
        raw = f"{kg / LB_TO_KG:.1f}" if unit == "lb" else f"{kg:.2f}"
        out.append(self.rec(T_MASS, _HEALTH, t, t, raw, unit, meta=[("HKWasUserEntered", "1")],
                            created=t + 20))
        day = self.day_iso(t)
        prev = self.weight_last.get(day)
        if prev is None or t >= prev[0]:
            self.weight_last[day] = (t, _to_kg(float(raw), unit))
        if self.cfg.include_dup_manual and not self.dup_written:
            self.dup_written = True
            line = out[-1]
            out.append(line)
            out.append(line)
            self.dups += 2

    def hrv(self, t: int, z: ZoneInfo) -> str:
        rng = self.rng
        nb = rng.randint(25, 35)
        beats = []
        loc = datetime.fromtimestamp(t, z)
        sec = loc.hour * 3600 + loc.minute * 60 + loc.second
        frac = 0.0
        for _ in range(nb):
            bpm = rng.randint(55, 80)
            frac += 60 / bpm
            x = sec + frac
            beats.append(f'   <InstantaneousBeatsPerMinute bpm="{bpm}" time="{self.beat_time(x)}"/>\n')
        val = f"{rng.uniform(25, 80):.5f}"
        extra = "  <HeartRateVariabilityMetadataList>\n" + "".join(beats) + \
            "  </HeartRateVariabilityMetadataList>\n"
        end = t + int(frac) + 1
        self.truth.hrv_records.append({
            "start_utc": datetime.fromtimestamp(t, timezone.utc).isoformat(),
            "date": self.day_iso(t), "value_ms": float(val), "beats": nb})
        if self.v < 11:  # the beat list appeared with export version 11
            extra = ""
        return self.rec(T_HRV, _WATCH, t, end, val, "ms", extra=extra)

    def beat_time(self, x: float) -> str:
        x %= 86400
        h, rem = divmod(x, 3600)
        m, s = divmod(rem, 60)
        h, m = int(h), int(m)
        loc = self.cfg.locale
        if loc == "en_US":  # 12 h, sometimes U+202F before AM/PM (recent iOS)
            h12 = h % 12 or 12
            sep = "\u202f" if self.rng.random() < 0.3 else " "
            return f"{h12}:{m:02d}:{s:05.2f}{sep}{'AM' if h < 12 else 'PM'}"
        text = f"{h:02d}:{m:02d}:{s:05.2f}"
        lang, _, region = loc.partition("_")
        if lang in _COMMA_LANGS or region in _COMMA_REGIONS:  # decimal comma locales
            return text.replace(".", ",")
        return text

    def blood_pressure(self, out: list[str], t: int, diastolic_first: bool) -> None:
        rng = self.rng
        sys_v, dia_v = rng.randint(108, 132), rng.randint(66, 84)
        meta = [("HKWasUserEntered", "1")]
        rs = self.rec(T_SYS, _HEALTH, t, t, str(sys_v), "mmHg", meta=meta)
        rd = self.rec(T_DIA, _HEALTH, t, t, str(dia_v), "mmHg", meta=meta)
        out.append(rs)
        out.append(rd)
        cs = self.rec(T_SYS, _HEALTH, t, t, str(sys_v), "mmHg", meta=meta, count=False,
                      indent="  ")
        cd = self.rec(T_DIA, _HEALTH, t, t, str(dia_v), "mmHg", meta=meta, count=False,
                      indent="  ")
        kids = [cd, cs] if diastolic_first else [cs, cd]
        self.nested += 2
        self.corr_counts["HKCorrelationTypeIdentifierBloodPressure"] += 1
        self.corr_xml.append(
            f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" {_HEALTH.head()} '
            f'creationDate="{self.ts(t + 20)}" startDate="{self.ts(t)}" endDate="{self.ts(t)}">\n'
            f'  <MetadataEntry key="HKWasUserEntered" value="1"/>\n' + "".join(kids) +
            " </Correlation>\n")
        self.truth.bp_correlations.append({
            "start_utc": datetime.fromtimestamp(t, timezone.utc).isoformat(),
            "date": self.day_iso(t), "systolic": sys_v, "diastolic": dia_v,
            "diastolic_first": diastolic_first, "source": SOURCE_HEALTH})

    def food(self, out: list[str], t: int) -> None:
        rng = self.rng
        ext = self.uuid()
        eu = self.u["energy"]
        ek = KJ_PER_KCAL if eu == "kJ" else 1.0
        meta = [("HKFoodType", "Turkey sandwich"), ("HKExternalUUID", ext), ("Meal", "Lunch")]
        kids_vals = [(T_KCAL_IN, f"{rng.uniform(350, 700) * ek:.1f}", eu),
                     (T_PROTEIN, f"{rng.uniform(15, 40):.1f}", "g"),
                     (T_CARBS, f"{rng.uniform(30, 80):.1f}", "g")]
        kids = []
        kid_meta = [meta[0], ("meal", "lunch")]  # "meal" here, "Meal" on the correlation
        for typ, v, unit in kids_vals:
            out.append(self.rec(typ, _MFP, t, t, v, unit, meta=kid_meta))
            kids.append(self.rec(typ, _MFP, t, t, v, unit, meta=kid_meta, count=False,
                                 indent="  "))
        self.nested += len(kids)
        self.corr_counts["HKCorrelationTypeIdentifierFood"] += 1
        self.corr_xml.append(
            f' <Correlation type="HKCorrelationTypeIdentifierFood" {_MFP.head()} '
            f'creationDate="{self.ts(t + 40)}" startDate="{self.ts(t)}" endDate="{self.ts(t)}">\n'
            + "".join(f'  <MetadataEntry key="{k}" value="{v}"/>\n' for k, v in meta)
            + "".join(kids) + " </Correlation>\n")

    def side_elements(self) -> list[str]:
        """ClinicalRecord (DSTU2 + R4, with their JSON files), Audiogram, VisionPrescription,
        plus one ECG CSV for the zip. The importer stores or ignores these; they must never
        break it nor change record counts."""
        cfg, rng = self.cfg, self.rng
        t = int(datetime.combine(cfg.start + timedelta(days=min(3, cfg.days - 1)), time(10, 5),
                                 self.home).timestamp())
        out: list[str] = []
        for rtype, fv, base in (("DiagnosticReport", "1.0.2", "DSTU2"),
                                ("Observation", "4.0.1", "R4")):
            rid = self.uuid()
            path = f"/clinical-records/{rtype}-{rid}.json"
            ident = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(40))
            out.append(f' <ClinicalRecord type="{rtype}" identifier="{ident}" '
                       f'sourceName="Sutter Health" sourceURL="https://fhir.example.org/api/FHIR/'
                       f'{base}/{rtype}/{ident}" fhirVersion="{fv}" receivedDate="{self.ts(t)}" '
                       f'resourceFilePath="{path}"/>\n')
            body = {"resourceType": rtype, "id": ident, "status": "final",
                    "code": {"text": "Hemoglobin A1c" if rtype == "Observation" else "Lipid panel"},
                    "effectiveDateTime": datetime.fromtimestamp(t - 86400 * 2, timezone.utc)
                    .isoformat()}
            if rtype == "Observation":
                body["valueQuantity"] = {"value": 5.3, "unit": "%"}
            self.side.append((path.lstrip("/"), json.dumps(body, indent=1)))
            self.other_elements["ClinicalRecord"] += 1
        sp = []
        for hz, l_db, r_db in ((500, 10, 5), (1000, 5, 0), (2000, 10, 10), (4000, 20, 15),
                               (8000, 30, 25)):
            extra = (' leftEarMasked="0" rightEarMasked="0"' if self.v >= 14 else "")
            sp.append(f'  <SensitivityPoint frequencyValue="{hz}" frequencyUnit="Hz" '
                      f'leftEarValue="{l_db}" leftEarUnit="dBHL" rightEarValue="{r_db}" '
                      f'rightEarUnit="dBHL"{extra}/>\n')
        out.append(f' <Audiogram type="HKDataTypeIdentifierAudiogram" {_HEALTH.head()} '
                   f'creationDate="{self.ts(t + 60)}" startDate="{self.ts(t)}" '
                   f'endDate="{self.ts(t)}">\n' + "".join(sp) + " </Audiogram>\n")
        self.other_elements["Audiogram"] += 1
        if self.v >= 12:
            issued = (cfg.start + timedelta(days=min(2, cfg.days - 1))).isoformat()
            out.append(f' <VisionPrescription type="HKVisionPrescriptionTypeGlasses" '
                       f'dateIssued="{issued} 09:00:00 {cfg.export_offset}" '
                       f'expirationDate="{int(issued[:4]) + 2}{issued[4:]} 09:00:00 '
                       f'{cfg.export_offset}" brand="Zeiss">\n'
                       '  <RightEye sphere="-1.25" sphereUnit="D" cylinder="-0.5" cylinderUnit="D"'
                       ' axis="90" axisUnit="deg"/>\n'
                       '  <LeftEye sphere="-1.5" sphereUnit="D" cylinder="-0.25" cylinderUnit="D"'
                       ' axis="85" axisUnit="deg"/>\n'
                       f'  <Attachment identifier="{self.uuid()}"/>\n'
                       " </VisionPrescription>\n")
            self.other_elements["VisionPrescription"] += 1
        # One ECG recording (English labels), 512 Hz x 30 s.
        ecg_day = datetime.fromtimestamp(t, self.home)
        lines = ["Name,Jane Appleseed", 'Date of Birth,"Dec 6, 1990"',
                 f"Recorded Date,{self.ts(t + 3600)}", "Classification,Sinus Rhythm",
                 "Symptoms,", "Software Version,2", 'Device,"Watch6,2"',
                 "Sample Rate,512 hertz", "", "Lead,Lead I", "Unit,µV", "", ""]
        phase = 0.0
        for _ in range(512 * 30):
            phase += 2 * math.pi * 1.1 / 512
            v = 400 * math.sin(phase) ** 15 + rng.uniform(-20, 20)
            lines.append(f"{v:.3f}")
        self.side.append((f"electrocardiograms/ecg_{ecg_day:%Y-%m-%d}.csv",
                          "\n".join(lines) + "\n"))
        return out

    def once_only(self, sink: _Sink) -> None:
        """Records that appear once: height, sleep goal, unknown future type."""
        cfg = self.cfg
        t = int(datetime.combine(cfg.start, time(9, 0), self.home).timestamp())
        hu = self.u["height"]
        hv = "5.41339" if hu == "ft" else "165"
        lines = [self.rec(T_HEIGHT, _HEALTH, t, t, hv, hu, meta=[("HKWasUserEntered", "1")]),
                 self.rec(T_SLEEP_GOAL, _PHONE, t, t, "8", "hr"),
                 self.rec(T_FOOBAR, _WATCH, t + 60, t + 120, "42", "count"),
                 self.rec(T_FOOBAR, _WATCH, t + 3600, t + 3660, "7", "count")]
        sink.extend(lines)

    def summary(self, i: int, d: date) -> None:
        rng = self.rng
        eu = self.u["energy"]
        ek = KJ_PER_KCAL if eu == "kJ" else 1.0
        move = f"{rng.uniform(250, 750) * ek:.3f}"
        goal = f"{500 * ek:g}"
        ex, st = rng.randint(5, 80), rng.randint(6, 15)
        with_mt = self.v >= 12 and i >= self.cfg.days // 2
        a = (f' <ActivitySummary dateComponents="{d.isoformat()}" activeEnergyBurned="{move}"'
             f' activeEnergyBurnedGoal="{goal}" activeEnergyBurnedUnit="{eu}"')
        if with_mt:
            a += ' appleMoveTime="0" appleMoveTimeGoal="0"'
        a += (f' appleExerciseTime="{ex}" appleExerciseTimeGoal="30"'
              f' appleStandHours="{st}" appleStandHoursGoal="12"/>\n')
        self.summaries_xml.append(a)
        self.truth.activity_by_day[d.isoformat()] = {
            "move_kcal": float(move) / ek, "move_goal_kcal": float(goal) / ek,
            "exercise_min": ex, "exercise_goal_min": 30, "stand_hours": st,
            "stand_goal_hours": 12,
            "move_time_min": 0 if with_mt else None, "move_time_goal_min": 0 if with_mt else None,
        }

    # ---- finish -----------------------------------------------------------------------

    def finish(self, nbytes: int) -> GroundTruth:
        tr = self.truth

        def iso(dd: dict[int, float], ndigits: int | None = None) -> dict[str, float]:
            res = {}
            for k in sorted(dd):
                v = dd[k]
                if ndigits is not None:
                    v = round(v, ndigits)
                res[date.fromordinal(k + EPOCH_ORD).isoformat()] = v
            return res

        tr.steps_by_day = {k: (int(v) if float(v).is_integer() else v)
                           for k, v in iso(self.steps).items()}
        tr.steps_naive_by_day = {k: int(v) for k, v in iso(self.steps_naive).items()}
        tr.distance_km_by_day = iso(self.dist, 9)
        tr.distance_km_naive_by_day = iso(self.dist_naive, 9)
        tr.active_kcal_by_day = iso(self.ae, 6)
        tr.active_kcal_naive_by_day = iso(self.ae_naive, 6)
        tr.basal_kcal_by_day = iso(self.basal, 6)
        # Exact duplicates: the raw lines were written and counted once; add the copies.
        tr.records_by_type = dict(sorted(self.counts.items()))
        tr.records_total = sum(self.counts.values())
        tr.duplicates_dropped = self.dups
        tr.raw_top_level_records = tr.records_total + self.dups
        tr.nested_correlation_records = self.nested
        tr.raw_record_elements = tr.raw_top_level_records + self.nested
        tr.correlations_by_type = dict(sorted(self.corr_counts.items()))
        dedup_sums = {T_STEPS: self.steps, T_DIST: self.dist, T_AE: self.ae, T_BASAL: self.basal}
        md: dict[str, dict[str, dict]] = {}
        for typ in sorted(set(self.md) | set(self.cn)):
            rows: dict[str, dict] = {}
            if typ in CUMULATIVE:
                sums = dedup_sums.get(typ, self.csum[typ])
                for dn in sorted(self.cn[typ]):
                    rows[date.fromordinal(dn + EPOCH_ORD).isoformat()] = {
                        "n": self.cn[typ][dn], "s": round(sums.get(dn, 0.0), 9)}
            else:
                for dn in sorted(self.md[typ]):
                    n_, s_, lo_, hi_, _, last_ = self.md[typ][dn]
                    rows[date.fromordinal(dn + EPOCH_ORD).isoformat()] = {
                        "n": n_, "s": round(s_, 9), "lo": lo_, "hi": hi_, "l": last_}
            md[typ] = rows
        tr.metric_daily = md
        units = {T_STEPS: "count", T_DIST: "km", T_AE: "kcal", T_BASAL: "kcal",
                 T_HR: "count/min", T_EXERCISE: "min"}
        units.update(self.munits)
        tr.metric_units = {k: units[k] for k in sorted(md) if k in units}
        tr.workouts.sort(key=lambda w: w["start_utc"])
        wd: dict[str, int] = defaultdict(int)
        wt: dict[str, int] = defaultdict(int)
        for w in tr.workouts:
            wd[w["weekday"]] += 1
            wt[w["type"]] += 1
        tr.workouts_by_weekday = {k: wd[k] for k in WEEKDAYS if k in wd}
        tr.workouts_by_type = dict(sorted(wt.items()))
        tr.sleep_by_night = _nights(self.sleep_segs, lambda s: self.seg_zone[id(s)])
        tr.weight_kg_by_day = {k: v[1] for k, v in sorted(self.weight_last.items())}
        tr.resting_hr_by_day = dict(sorted(tr.resting_hr_by_day.items()))
        for per_day in list(self.cn.values()) + list(self.md.values()):
            if per_day:
                self.seen_day(min(per_day))
                self.seen_day(max(per_day))
        if self.min_day is not None:
            tr.date_range = {"start": date.fromordinal(self.min_day + EPOCH_ORD).isoformat(),
                             "end": date.fromordinal(self.max_day + EPOCH_ORD).isoformat()}
        cfg = self.cfg
        tr.generated_days = {"start": cfg.start.isoformat(),
                             "end": (cfg.start + timedelta(days=cfg.days - 1)).isoformat(),
                             "days": cfg.days}
        tr.sources = [{"name": s.name, "key": s.key, "kind": s.kind,
                       "records": self.src_counts.get(s.key, 0)}
                      for s in sorted(_ALL_SOURCES, key=lambda s: s.rank)]
        tr.xml_bytes = nbytes
        tr.other_elements = dict(sorted(self.other_elements.items()))
        tr.notes = [
            "records_by_type counts top-level <Record> elements after exact-duplicate removal;"
            " Correlation children are excluded (their top-level twins are counted).",
            "Day keys: local date of sample start; HKTimeZone when present (Watch sleep,"
            " Watch workouts), else the printed offset (export_offset).",
            "Cumulative dedup: priority watch > phone > apps (ties by name); iPhone samples are"
            " fully covered by Watch samples, app samples lie in gaps except partial_overlap.",
            "Units: km, kcal (Cal=kcal, kJ/4.184), kg (lb*0.45359237), minutes; metric_daily"
            " also % (fraction*100), cm (height), degC, mg/dL, km/hr (see metric_units).",
            "duplicates_dropped: the manual BodyMass line written 3x (2 dropped) and one Watch"
            " HeartRate sample repeated with another device 0x address (1 dropped).",
            "Workouts: totals from direct WorkoutStatistics, else attributes; third-party"
            " workout has only duration (energy/distance null); hr from the HeartRate"
            " statistic, else mean/min/max of Watch HR samples strictly inside the window.",
        ]
        return tr


def _cfg_dict(cfg: GenConfig) -> dict:
    d = asdict(cfg)
    d["start"] = cfg.start.isoformat()
    return d


# ---------------------------------------------------------------------------------------
# Public API


def _new_gen(cfg: GenConfig) -> _Gen:
    return _Gen(cfg)


def write_export(target: Path | str | BinaryIO, cfg: GenConfig | None = None) -> GroundTruth:
    """Stream ``export.xml`` to a path or binary file object and return the ground truth.

    Memory stays flat: text is flushed every ~1 MiB; only workouts, correlations and
    activity summaries (a few per day) and sleep segments are buffered until the end.
    """
    cfg = cfg or GenConfig()
    gen = _new_gen(cfg)
    if isinstance(target, (str, Path)):
        with open(target, "wb") as fp:
            return gen.run(_Sink(fp))
    return gen.run(_Sink(target))


_APPLEDOUBLE = (b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"
                b"\x00\x00\x00\x09\x00\x00\x00\x32\x00\x00\x0e\xb0\x00\x00\x00\x02"
                b"\x00\x00\x0e\xe2\x00\x00\x01\x1e" + b"\x00" * 64)


def write_zip(path: Path | str, cfg: GenConfig | None = None, layout: str = "nested",
              macosx_junk: bool = True, compresslevel: int = 1) -> GroundTruth:
    """Write an ``export.zip`` the way the phone does (streaming the XML member).

    ``layout``: ``nested`` = ``apple_health_export/<xml_name>`` (real), ``flat`` =
    ``<xml_name>`` at the root, ``double`` = ``export/apple_health_export/<xml_name>``.
    Also writes ``export_cda.xml`` (tiny) and the GPX of the first referenced route.
    """
    cfg = cfg or GenConfig()
    prefix = {"nested": "apple_health_export/", "flat": "",
              "double": "export/apple_health_export/"}[layout]
    gen = _new_gen(cfg)
    # Fixed member timestamps (the export day) so the same config gives identical bytes.
    end = cfg.start + timedelta(days=cfg.days)
    stamp = (max(end.year, 1980), end.month, end.day, 8, 15, 32)

    def info(name: str) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=stamp)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o100644 << 16
        return zi

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        with zf.open(info(prefix + cfg.xml_name), "w", force_zip64=True) as member:
            truth = gen.run(_Sink(member))
        zf.writestr(info(prefix + "export_cda.xml"),
                    '<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument '
                    'xmlns="urn:hl7-org:v3"><title>Health Export</title></ClinicalDocument>\n')
        if gen.gpx is not None:
            name, text = gen.gpx
            zf.writestr(info(prefix + name), text)
            truth.routes_written.append("/" + name)
        for name, text in gen.side:
            zf.writestr(info(prefix + name), text)
            truth.side_files.append("/" + name)
        if macosx_junk:
            zf.writestr(info("__MACOSX/" + prefix + "._" + cfg.xml_name), _APPLEDOUBLE)
    return truth


class _CountingSink(io.RawIOBase):
    """A write-only binary sink that only counts bytes (for sizing and speed runs)."""

    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.n += len(b)
        return len(b)


def measure(cfg: GenConfig) -> int:
    """Bytes of XML ``cfg`` would produce (generated into a counting sink)."""
    sink = _CountingSink()
    write_export(sink, cfg)
    return sink.n


def config_for_size(target_bytes: int, **overrides) -> GenConfig:
    """A config whose XML is close to ``target_bytes`` (within ~10 % above ~100 KB).

    Why: benchmarks and fixture-like tests ask for "a 1 MB export" or "a 300 MB export";
    days grow with the size (up to a year) and ``scale`` is fitted by bisection on small
    probes (a probe of a few days is extrapolated linearly, so this stays fast for GB).
    """
    days = int(overrides.pop("days", max(1, min(365, round(target_bytes / 400_000)))))
    probe_days = min(days, 6)
    base = GenConfig(**{**overrides, "days": probe_days})
    header = measure(GenConfig(**{**overrides, "days": 1, "scale": 0.0}))
    lo, hi = 0.0, 1.0
    while True:
        per_day = (measure(GenConfig(**{**base.__dict__, "scale": hi})) - header) / probe_days
        if header + per_day * days >= target_bytes or hi > 1e4:
            break
        lo, hi = hi, hi * 4
    for _ in range(11):
        mid = (lo + hi) / 2
        per_day = (measure(GenConfig(**{**base.__dict__, "scale": mid})) - header) / probe_days
        if header + per_day * days > target_bytes:
            hi = mid
        else:
            lo = mid
    return GenConfig(**{**base.__dict__, "days": days, "scale": round((lo + hi) / 2, 4)})


def make_demo_export(path: Path | str, end: date | None = None, seed: int = 7,
                     scale: float = 0.3, days: int = 90) -> GroundTruth:
    """A 90-day demo export ending on ``end`` (default: yesterday), for people without data.

    Writes a zip when ``path`` ends with ``.zip``, else bare XML. Metric units, home zone
    America/Los_Angeles, no hostile content.
    """
    end = end or (date.today() - timedelta(days=1))
    start = end - timedelta(days=days - 1)
    # The offset the phone would have had on export day (the day after `end`).
    exp = datetime.combine(end + timedelta(days=1), time(8), ZoneInfo("America/Los_Angeles"))
    off = exp.utcoffset() or timedelta(0)
    mins = int(off.total_seconds() // 60)
    offset = f"{'-' if mins < 0 else '+'}{abs(mins) // 60:02d}{abs(mins) % 60:02d}"
    cfg = GenConfig(seed=seed, start=start, days=days, export_offset=offset,
                    unit_profile="metric", scale=scale)
    p = Path(path)
    if p.suffix.lower() == ".zip":
        return write_zip(p, cfg)
    return write_export(p, cfg)
