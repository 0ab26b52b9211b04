"""Settings: one typed object read from the environment and `.env`.

Why one object: the comparable project read the same variables with ``os.getenv`` in many
places and half of its `.env.example` was never used. Everything configurable lives here,
and `.env.example` documents each field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

LLMMode = Literal["openai", "compatible", "offline"]
EmbeddingMode = Literal["openai", "compatible", "offline"]

DEFAULT_USER = "local"


def _default_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, the platform's convention elsewhere)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("wellness", appauthor=False))


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(name: str, default: int | None) -> int | None:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything the app can be configured with. Build it with :func:`load_settings`."""

    redis_url: str | None = None
    data_dir: Path = field(default_factory=_default_data_dir)
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    embedding_model: str | None = None
    embedding_dims: int = 1024
    embedding_base_url: str | None = None
    today: date | None = None
    tz_name: str | None = None
    retention_days: int | None = None
    checkpoint_ttl_minutes: int = 60 * 24 * 30
    log_level: str = "WARNING"
    source_priority: tuple[str, ...] = ()
    auth_mode: Literal["local", "password"] = "local"
    default_user: str = DEFAULT_USER

    # -- derived -----------------------------------------------------------------
    @property
    def llm_mode(self) -> LLMMode:
        """openai with a key and no base URL, compatible with a base URL, else offline."""
        if self.openai_base_url:
            return "compatible"
        if self.openai_api_key:
            return "openai"
        return "offline"

    @property
    def embedding_mode(self) -> EmbeddingMode:
        if not self.embedding_model:
            return "offline"
        if self.embedding_base_url or self.openai_base_url:
            return "compatible"
        return "openai" if self.openai_api_key else "offline"

    @property
    def tz(self) -> ZoneInfo:
        """The user's zone for relative dates; the machine's zone when unset."""
        if self.tz_name:
            return ZoneInfo(self.tz_name)
        local = os.environ.get("TZ")
        if local:
            try:
                return ZoneInfo(local)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        try:
            link = Path("/etc/localtime").resolve()
            parts = link.parts
            if "zoneinfo" in parts:
                return ZoneInfo("/".join(parts[parts.index("zoneinfo") + 1 :]))
        except (OSError, ZoneInfoNotFoundError, ValueError):
            pass
        return ZoneInfo("UTC")

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)


def load_settings(env_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from the environment, after loading `.env` (never overriding real env)."""
    load_dotenv(env_file or os.environ.get("WELLNESS_ENV_FILE") or ".env", override=False)

    today_raw = _env("WELLNESS_TODAY")
    try:
        today = date.fromisoformat(today_raw) if today_raw else None
    except ValueError as exc:
        raise ValueError(f"WELLNESS_TODAY must be YYYY-MM-DD, got {today_raw!r}") from exc

    tz_name = _env("WELLNESS_TZ")
    if tz_name:
        try:
            ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"WELLNESS_TZ is not a known time zone: {tz_name!r}") from exc

    data_dir_raw = _env("WELLNESS_DATA_DIR")
    priority_raw = _env("WELLNESS_SOURCE_PRIORITY", "") or ""
    auth = (_env("WELLNESS_AUTH", "local") or "local").lower()
    if auth not in ("local", "password"):
        raise ValueError(f"WELLNESS_AUTH must be 'local' or 'password', got {auth!r}")

    return Settings(
        redis_url=_env("REDIS_URL"),
        data_dir=Path(data_dir_raw).expanduser() if data_dir_raw else _default_data_dir(),
        openai_api_key=_env("OPENAI_API_KEY"),
        openai_base_url=_env("OPENAI_BASE_URL"),
        model=_env("WELLNESS_MODEL", "gpt-4o-mini") or "gpt-4o-mini",
        llm_timeout_s=float(_env("WELLNESS_LLM_TIMEOUT", "60") or 60),
        embedding_model=_env("WELLNESS_EMBEDDING_MODEL"),
        embedding_dims=_int("WELLNESS_EMBEDDING_DIMS", 1024) or 1024,
        embedding_base_url=_env("WELLNESS_EMBEDDING_BASE_URL"),
        today=today,
        tz_name=tz_name,
        retention_days=_int("WELLNESS_RETENTION_DAYS", None),
        checkpoint_ttl_minutes=_int("WELLNESS_CHECKPOINT_TTL_MINUTES", 60 * 24 * 30) or 0,
        log_level=(_env("WELLNESS_LOG_LEVEL", "WARNING") or "WARNING").upper(),
        source_priority=tuple(p.strip() for p in priority_raw.split(",") if p.strip()),
        auth_mode=auth,  # type: ignore[arg-type]
        default_user=_env("WELLNESS_USER", DEFAULT_USER) or DEFAULT_USER,
    )


def mask_url(url: str | None) -> str | None:
    """A Redis URL with its password replaced by ``***`` (safe to print or log)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
