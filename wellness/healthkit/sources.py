"""Sources: stable keys, kinds and the priority order used by cumulative dedup and sleep.

Why: the ``device`` attribute embeds a per-record ``0x…`` address; keying on it splits one
iPhone into dozens of "devices" (open-wearables#578). A source is ``sourceName`` plus the
device ``model:`` field, and its kind (watch / phone / app) drives the default priority
Watch > iPhone > apps (docs/data-model.md §1), overridable by ``WELLNESS_SOURCE_PRIORITY``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_FIELD = re.compile(r"(?:^|,\s*)(name|model):([^,>]*)")
_KIND_ORDER = {"watch": 0, "phone": 1, "app": 2}


@dataclass
class Source:
    key: str
    name: str
    kind: str
    model: str | None = None
    records: int = 0
    stable: int = 0     # process-independent 64-bit id of ``key`` (identity hashes)

    def __post_init__(self) -> None:
        if not self.stable:
            digest = hashlib.blake2b(self.key.encode("utf-8"), digest_size=8).digest()
            self.stable = int.from_bytes(digest, "big", signed=True)


def parse_device(device: str | None) -> tuple[str | None, str | None]:
    """(device name, model) from HKDevice description text; the address is ignored."""
    if not device:
        return None, None
    found = dict(_FIELD.findall(device))
    name = found.get("name")
    model = found.get("model")
    return (name.strip() if name else None), (model.strip() if model else None)


def classify(source_name: str, device_name: str | None, model: str | None) -> str:
    text = " ".join(x for x in (model, device_name) if x) or source_name
    if "watch" in text.lower():
        return "watch"
    if "iphone" in text.lower():
        return "phone"
    if not model and not device_name:
        low = source_name.lower()
        if "watch" in low:
            return "watch"
        if "iphone" in low:
            return "phone"
    return "app"


@dataclass
class SourceRegistry:
    """Interns sources so records carry a small integer instead of strings."""

    sources: list[Source] = field(default_factory=list)
    _by_raw: dict[tuple[str, str | None], int] = field(default_factory=dict)
    _by_key: dict[str, int] = field(default_factory=dict)

    def intern(self, source_name: str, device: str | None) -> int:
        # The device text starts with "<<HKDevice: 0x…>": drop the per-record address.
        tail = device[device.find(">"):] if device else None
        raw = (source_name, tail)
        idx = self._by_raw.get(raw)
        if idx is not None:
            return idx
        dev_name, model = parse_device(device)
        key = f"{source_name}|{model}" if model else source_name
        idx = self._by_key.get(key)
        if idx is None:
            idx = len(self.sources)
            self.sources.append(Source(key, source_name, classify(source_name, dev_name, model),
                                       model))
            self._by_key[key] = idx
        if len(self._by_raw) < 100_000:  # device strings differ per record: don't grow forever
            self._by_raw[raw] = idx
        return idx

    def adopt(self, key: str, name: str, kind: str, model: str | None, records: int) -> int:
        """Merge a source found by another parser process; returns its index here."""
        idx = self._by_key.get(key)
        if idx is None:
            idx = len(self.sources)
            self.sources.append(Source(key, name, kind, model))
            self._by_key[key] = idx
        self.sources[idx].records += records
        return idx

    def ranks(self, priority: tuple[str, ...] = ()) -> list[int]:
        """rank[source index] (0 = highest priority), unique per source.

        Configured substrings come first in the order given; the rest follow the default
        watch > phone > app order, ties broken by source key.
        """
        def sort_key(i: int) -> tuple[int, int, str, str]:
            s = self.sources[i]
            low = s.name.lower()
            for pos, sub in enumerate(priority):
                if sub.lower() in low or sub.lower() in s.key.lower():
                    return (pos, 0, s.name, s.key)
            return (len(priority), _KIND_ORDER[s.kind], s.name, s.key)

        order = sorted(range(len(self.sources)), key=sort_key)
        rank = [0] * len(self.sources)
        for r, i in enumerate(order):
            rank[i] = r
        return rank

    def priority_keys(self, priority: tuple[str, ...] = ()) -> list[str]:
        rank = self.ranks(priority)
        return [s.key for _, s in sorted(zip(rank, self.sources), key=lambda t: t[0])]
