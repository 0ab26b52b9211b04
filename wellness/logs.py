"""Logging setup with a safety net: secrets never reach a log line.

Health values are kept out of logs by convention (we log counts and timings, not values);
this filter additionally masks anything that looks like a credential, in case a library
logs a URL or header.
"""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(redis[s]?://[^:/@\s]*:)([^@\s]+)(@)"),
    re.compile(r"(sk-[A-Za-z0-9_-]{4})[A-Za-z0-9_-]{8,}"),
    re.compile(r"((?:api[_-]?key|password|secret|token)[\"']?\s*[:=]\s*[\"']?)([^\s\"',]+)",
               re.IGNORECASE),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 3:
            text = pattern.sub(r"\1***\3", text)
        elif pattern.groups == 2:
            text = pattern.sub(r"\1***", text)
        else:
            text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str = "WARNING") -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    for noisy in ("httpx", "openai", "urllib3", "redisvl"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
