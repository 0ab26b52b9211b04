"""Make untrusted text inert before it reaches the chat's markdown renderer.

Why: source names, file names and tool results come from files and models. Chainlit renders
assistant messages as markdown, so a source called ``[click](javascript:...)`` or ``<img>``
must show up literally, never as a link, image or HTML.
"""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~>$&:])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def inert(text: object, limit: int = 200) -> str:
    """One line of plain text with every markdown/HTML metacharacter escaped."""
    s = _CONTROL.sub(" ", str(text)).replace("\n", " ").replace("\r", " ").strip()
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", s)


def fmt_int(n: object) -> str:
    """Thousands separators for counts; non-numbers become inert text."""
    try:
        return f"{int(n):,}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return inert(n)


def fmt_mb(n_bytes: float | int | None) -> str:
    if not n_bytes:
        return "0 MB"
    mb = float(n_bytes) / 1_000_000
    return f"{mb:,.0f} MB" if mb >= 100 else f"{mb:,.1f} MB"


def fmt_duration(seconds: float | None) -> str:
    """`1:05` / `1:02:03`; an em dash when unknown."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
