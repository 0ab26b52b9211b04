"""Unit conversion to the canonical units of docs/data-model.md.

Why a table and not a units library: Apple's unit strings are a small closed vocabulary
(``Cal``, ``mmol<180.1558800000541>/L``, ``mL/min·kg``) that general libraries don't parse,
and the conversions must be exact and fast (one dict lookup per record). Unknown units are
reported as ``None`` so the caller can skip and count the record instead of guessing.
"""

from __future__ import annotations

from typing import NamedTuple


class Conversion(NamedTuple):
    canonical: str
    factor: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.factor + self.offset


_MMOL_GLUCOSE = "mmol<180.1558800000541>/L"

# unit string -> (canonical unit, factor, offset). Length maps to km here; body-scale
# lengths are redirected to cm by ``conversion_for`` (see BODY_LENGTH_TYPES).
_TABLE: dict[str, Conversion] = {
    # mass
    "kg": Conversion("kg", 1.0), "g": Conversion("g", 1.0), "lb": Conversion("kg", 0.45359237),
    "st": Conversion("kg", 6.35029318), "oz": Conversion("g", 28.349523125),
    "mg": Conversion("mg", 1.0), "mcg": Conversion("mcg", 1.0),
    # length
    "km": Conversion("km", 1.0), "m": Conversion("km", 0.001), "cm": Conversion("km", 1e-5),
    "mm": Conversion("km", 1e-6), "mi": Conversion("km", 1.609344), "ft": Conversion("km", 0.0003048),
    "in": Conversion("km", 0.0000254), "yd": Conversion("km", 0.0009144),
    # energy
    "kcal": Conversion("kcal", 1.0), "Cal": Conversion("kcal", 1.0),
    "kJ": Conversion("kcal", 1 / 4.184), "cal": Conversion("kcal", 0.001),
    "J": Conversion("kcal", 1 / 4184.0),
    # temperature
    "degC": Conversion("degC", 1.0), "degF": Conversion("degC", 5 / 9, -32 * 5 / 9),
    "K": Conversion("degC", 1.0, -273.15),
    # glucose
    "mg/dL": Conversion("mg/dL", 1.0), _MMOL_GLUCOSE: Conversion("mg/dL", 18.01558800000541),
    # percent (Apple writes fractions; see ``percent``)
    "%": Conversion("%", 100.0),
    # time
    "min": Conversion("min", 1.0), "s": Conversion("min", 1 / 60), "ms": Conversion("ms", 1.0),
    "hr": Conversion("hr", 1.0), "h": Conversion("hr", 1.0), "d": Conversion("min", 1440.0),
    # speed
    "km/hr": Conversion("km/hr", 1.0), "mi/hr": Conversion("km/hr", 1.609344),
    "m/s": Conversion("km/hr", 3.6),
    # rates and plain counts
    "count": Conversion("count", 1.0), "count/min": Conversion("count/min", 1.0),
    "count/s": Conversion("count/min", 60.0),
    # volume
    "mL": Conversion("mL", 1.0), "L": Conversion("mL", 1000.0),
    "fl_oz_us": Conversion("mL", 29.5735295625), "fl_oz_imp": Conversion("mL", 28.4130625),
    "cup_us": Conversion("mL", 236.5882365),
    # other physiological units kept as they are
    "mmHg": Conversion("mmHg", 1.0), "dBASPL": Conversion("dBASPL", 1.0),
    "dBHL": Conversion("dBHL", 1.0), "W": Conversion("W", 1.0), "IU": Conversion("IU", 1.0),
    "mL/min·kg": Conversion("mL/min·kg", 1.0), "mL/kg·min": Conversion("mL/min·kg", 1.0),
    "kcal/hr·kg": Conversion("kcal/hr·kg", 1.0), "lx": Conversion("lx", 1.0),
    "S": Conversion("S", 1.0), "mS": Conversion("S", 0.001), "V": Conversion("V", 1.0),
    "mV": Conversion("V", 0.001), "µV": Conversion("V", 1e-6), "atm": Conversion("atm", 1.0),
    "cmAq": Conversion("cmAq", 1.0), "appleEffortScore": Conversion("appleEffortScore", 1.0),
}

# Body-scale lengths: a step length in km would be unreadable, so these stay in cm.
BODY_LENGTH_TYPES = frozenset({
    "HKQuantityTypeIdentifierHeight", "HKQuantityTypeIdentifierWaistCircumference",
    "HKQuantityTypeIdentifierWalkingStepLength", "HKQuantityTypeIdentifierRunningStrideLength",
    "HKQuantityTypeIdentifierRunningVerticalOscillation",
})

_cache: dict[tuple[str, str], Conversion | None] = {}


def conversion_for(metric_type: str, unit: str) -> Conversion | None:
    """The conversion for ``unit`` on ``metric_type``, or None for an unknown unit."""
    key = (metric_type, unit)
    try:
        return _cache[key]
    except KeyError:
        pass
    conv = _TABLE.get(unit)
    if conv is not None and conv.canonical == "km" and metric_type in BODY_LENGTH_TYPES:
        conv = Conversion("cm", conv.factor * 1e5)
    _cache[key] = conv
    return conv


def convert(metric_type: str, value: float, unit: str) -> tuple[float, str] | None:
    """Convert a value; None when the unit is unknown (caller skips and counts)."""
    conv = conversion_for(metric_type, unit)
    if conv is None:
        return None
    if conv.canonical == "%":
        return percent(value), "%"
    return conv.apply(value), conv.canonical


def percent(value: float) -> float:
    """Apple writes percentages as fractions 0–1; a few writers (and fixtures) print 0–100.

    Values up to 1 are treated as fractions (×100); larger values are already percent.
    """
    return value * 100.0 if -1.0 <= value <= 1.0 else value


def parse_number_with_unit(text: str | None) -> tuple[float, str] | None:
    """Split metadata like ``"418 cm"`` or ``"9.6 kcal/hr·kg"`` into (value, unit)."""
    if not text:
        return None
    parts = text.strip().split(" ", 1)
    try:
        value = float(parts[0])
    except ValueError:
        return None
    return value, (parts[1].strip() if len(parts) > 1 else "")
