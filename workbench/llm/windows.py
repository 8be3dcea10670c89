"""Context windows of known models (tokens one call may take in, the answer included).

A configured window wins (:attr:`~workbench.llm.config.ProviderConfig.context_window`: a credential's
``context_window`` or ``WORKBENCH_LLM_CONTEXT_WINDOW``); else the table, where dated or ``-latest``
variants take the base model's window (as prices do); else :data:`DEFAULT_CONTEXT_WINDOW`.
"""

from __future__ import annotations

from workbench.llm.pricing import base_model_name

CONTEXT_WINDOWS: dict[str, int] = {
    # OpenAI.
    "gpt-5.2": 400_000,
    "gpt-5.1": 400_000,
    "gpt-5": 400_000,
    "gpt-5-mini": 400_000,
    "gpt-5-nano": 400_000,
    "gpt-5-chat-latest": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    # Anthropic.
    "claude-opus-4-1": 200_000,
    "claude-opus-4": 200_000,
    "claude-sonnet-4-5": 200_000,
    "claude-sonnet-4": 200_000,
    "claude-3-7-sonnet": 200_000,
    "claude-3-5-sonnet": 200_000,
    "claude-haiku-4-5": 200_000,
    "claude-3-5-haiku": 200_000,
    "claude-3-haiku": 200_000,
    # Open models as commonly served (Groq, Ollama, vLLM...).
    "llama-3.3-70b-versatile": 128_000,
    "llama-3.1-8b-instant": 128_000,
    "llama3-70b-8192": 8_192,
    "llama3-8b-8192": 8_192,
    "llama3": 8_192,
    "llama3.1": 128_000,
    "llama3.2": 128_000,
    "llama3.3": 128_000,
}

DEFAULT_CONTEXT_WINDOW = 32_768
"""For a model the table does not know: small enough for most self-hosted models, large enough that
short conversations are never compacted. Configure the real window for yours."""


def context_window(model: str, configured: int | None = None) -> int:
    """The context window of ``model`` in tokens: ``configured`` when given, else the table's."""
    if configured:
        return configured
    name = model.rsplit("/", 1)[-1].lower()
    found = CONTEXT_WINDOWS.get(name) or CONTEXT_WINDOWS.get(name.split(":", 1)[0])
    return found or CONTEXT_WINDOWS.get(base_model_name(name)) or DEFAULT_CONTEXT_WINDOW
