"""Redis: embedded server lifecycle, connections with a circuit breaker, and key names."""

from wellness.store.errors import EmbeddedServerError, ModulesMissing, StoreUnavailable

__all__ = ["EmbeddedServerError", "ModulesMissing", "StoreUnavailable"]
