"""Cumulative dedup by source priority with proration, and exact-duplicate removal.

Why numpy: the rule in docs/data-model.md §1 ("remove the part of a sample's interval covered
by any higher-priority source, prorate its value by what remains") is an interval-coverage
query per sample. Keeping the union of higher-priority intervals as sorted disjoint arrays
with a prefix sum of lengths turns "how much of [s, e) is covered" into two binary searches,
vectorised over all samples of one source at a time (a type rarely has more than ~10 sources).
"""

from __future__ import annotations

import numpy as np

CUMULATIVE_TYPES = frozenset({
    "HKQuantityTypeIdentifierStepCount",
    "HKQuantityTypeIdentifierDistanceWalkingRunning",
    "HKQuantityTypeIdentifierDistanceCycling",
    "HKQuantityTypeIdentifierDistanceSwimming",
    "HKQuantityTypeIdentifierDistanceWheelchair",
    "HKQuantityTypeIdentifierDistanceDownhillSnowSports",
    "HKQuantityTypeIdentifierDistanceRowing",
    "HKQuantityTypeIdentifierDistancePaddleSports",
    "HKQuantityTypeIdentifierDistanceCrossCountrySkiing",
    "HKQuantityTypeIdentifierDistanceSkatingSports",
    "HKQuantityTypeIdentifierActiveEnergyBurned",
    "HKQuantityTypeIdentifierBasalEnergyBurned",
    "HKQuantityTypeIdentifierFlightsClimbed",
    "HKQuantityTypeIdentifierAppleExerciseTime",
    "HKQuantityTypeIdentifierAppleStandTime",
    "HKQuantityTypeIdentifierPushCount",
    "HKQuantityTypeIdentifierSwimmingStrokeCount",
})

_EPS = 1e-12


def is_cumulative(metric_type: str) -> bool:
    return metric_type in CUMULATIVE_TYPES


class IntervalUnion:
    """Sorted, disjoint half-open intervals with prefix lengths for coverage queries."""

    def __init__(self) -> None:
        self.starts = np.empty(0)
        self.ends = np.empty(0)
        self.before = np.empty(0)   # total length of the intervals before index i

    def __len__(self) -> int:
        return len(self.starts)

    def add(self, s: np.ndarray, e: np.ndarray) -> None:
        pos = e > s
        s = np.concatenate([self.starts, s[pos]])
        e = np.concatenate([self.ends, e[pos]])
        if len(s) == 0:
            return
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
        reach = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > reach[:-1]
        idx = np.flatnonzero(new)
        self.starts = s[idx]
        self.ends = np.maximum.reduceat(e, idx)
        lengths = self.ends - self.starts
        self.before = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])

    def _cum(self, x: np.ndarray) -> np.ndarray:
        """Length of the union that lies before ``x``."""
        i = np.searchsorted(self.starts, x, side="right") - 1
        ok = i >= 0
        j = np.where(ok, i, 0)
        part = np.minimum(x, self.ends[j]) - self.starts[j]
        return np.where(ok, self.before[j] + part, 0.0)

    def covered(self, s: np.ndarray, e: np.ndarray) -> np.ndarray:
        if len(self.starts) == 0:
            return np.zeros(len(s))
        return self._cum(e) - self._cum(s)

    def contains(self, x: np.ndarray) -> np.ndarray:
        if len(self.starts) == 0:
            return np.zeros(len(x), dtype=bool)
        i = np.searchsorted(self.starts, x, side="right") - 1
        j = np.where(i >= 0, i, 0)
        return (i >= 0) & (x < self.ends[j])


def prorate_by_priority(start: np.ndarray, end: np.ndarray, value: np.ndarray,
                        rank: np.ndarray) -> np.ndarray:
    """Fraction (0..1) of each sample that survives higher-priority coverage.

    ``rank`` is the per-sample priority rank of its source (0 = highest). Samples of the
    same source never remove each other.
    """
    frac = np.ones(len(start))
    union = IntervalUnion()
    for r in np.unique(rank):
        m = np.flatnonzero(rank == r)
        s, e = start[m], end[m]
        if len(union):
            length = e - s
            pos = length > 0
            f = np.ones(len(m))
            if pos.any():
                cov = union.covered(s[pos], e[pos])
                f[pos] = 1.0 - cov / length[pos]
            pts = ~pos
            if pts.any():
                f[pts] = np.where(union.contains(s[pts]), 0.0, 1.0)
            f[f < _EPS] = 0.0
            f[f > 1.0 - _EPS] = 1.0
            frac[m] = f
        union.add(s, e)
    return frac


def first_occurrence(ident: np.ndarray, src: np.ndarray, start: np.ndarray, end: np.ndarray,
                     value: np.ndarray) -> np.ndarray:
    """Indices (in input order) of the first copy of each sample.

    Samples with a sync identifier / external UUID (``ident`` != 0) are identified by it;
    the others by (source, start, end, canonical value), compared after a stable lexsort
    so the earliest copy in the file is the one kept.
    """
    n = len(ident)
    keep = np.ones(n, dtype=bool)
    has_id = ident != 0
    if has_id.any():
        idx = np.flatnonzero(has_id)
        _, first = np.unique(ident[idx], return_index=True)
        dup = np.ones(len(idx), dtype=bool)
        dup[first] = False
        keep[idx[dup]] = False
    z = np.flatnonzero(~has_id)
    if len(z) > 1:
        cols = (src[z], start[z], end[z], value[z])
        order = np.lexsort(cols[::-1])   # primary key: source, then start, end, value
        same = np.ones(len(z) - 1, dtype=bool)
        for col in cols:
            sc = col[order]
            same &= sc[1:] == sc[:-1]
        keep[z[order[1:][same]]] = False
    return np.flatnonzero(keep)
