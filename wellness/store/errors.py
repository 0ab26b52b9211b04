"""Typed store errors that callers turn into plain, friendly sentences."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """Redis cannot be reached right now (down, restarting, timed out, or breaker open).

    ``user_message`` is safe to show a person; ``str(exc)`` may carry technical detail
    for logs (never health data or secrets).
    """

    user_message = (
        "I can't reach my database right now, so I can't look at your data. "
        "Your data and our conversation are safe; please try again in a few seconds."
    )


class ModulesMissing(RuntimeError):
    """The configured Redis lacks the Search and/or JSON modules."""


class EmbeddedServerError(RuntimeError):
    """The embedded redis-server could not be started or found."""
