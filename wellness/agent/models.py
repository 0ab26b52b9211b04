"""Chat model factory: an OpenAI-compatible model when configured, else the offline model.

Why a small ``max_retries``: the chat waits on this call; langchain-openai's default of 2
retries with backoff on a dead local server (Ollama not started) makes the user stare at a
spinner for minutes. One retry covers a blip; the runtime turns the rest into one sentence.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from wellness.config import Settings


def make_model(settings: Settings) -> BaseChatModel:
    """``ChatOpenAI`` if ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set, else ``OfflineModel``."""
    if settings.llm_mode in ("openai", "compatible"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.model,
            # Local OpenAI-compatible servers (Ollama, LM Studio) accept any key.
            api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
            base_url=settings.openai_base_url,
            streaming=True,
            timeout=settings.llm_timeout_s,
            max_retries=1,
            temperature=0,
        )
    from wellness.agent.offline import OfflineModel

    return OfflineModel.from_settings(settings)
