"""The provider-neutral calls: :func:`chat`, :func:`embed`, :func:`generate_image`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.llm import anthropic_api, openai_api
from workbench.llm.config import ProviderConfig
from workbench.llm.errors import LLMError
from workbench.llm.types import ChatResponse, EmbeddingResult, ImageResult, Message, TokenCallback

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_IMAGE_MODEL = "dall-e-3"


async def chat(
    messages: list[Message],
    *,
    config: ProviderConfig,
    model: str,
    tools: list[dict[str, Any]] | None = None,
    json_schema: dict[str, Any] | None = None,
    json_mode: bool = False,
    max_tokens: int | None = None,
    temperature: float | None = None,
    parallel_tool_calls: bool | None = None,
    on_token: TokenCallback | None = None,
) -> ChatResponse:
    """One chat call to the configured provider.

    Args:
        messages: the conversation, OpenAI-style dicts.
        config: where to send it.
        model: the model id.
        tools: OpenAI-style function tools (``{"type": "function", "function": {...}}``).
        json_schema: ask for an answer matching this JSON Schema (OpenAI ``response_format``
            ``json_schema``; on Anthropic a forced tool call whose input is the answer).
        json_mode: ask for any JSON object (``response_format`` ``json_object``).
        max_tokens: answer length limit.
        temperature: sampling temperature.
        parallel_tool_calls: whether the model may call several tools at once.
        on_token: stream the answer, calling this with each text token.
    """
    if config.api == "anthropic":
        return await anthropic_api.chat(
            config,
            messages,
            model,
            tools=tools,
            json_schema=json_schema,
            max_tokens=max_tokens,
            temperature=temperature,
            on_token=on_token,
        )
    response_format = None
    if json_schema is not None:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": str(json_schema.get("title") or "response"), "schema": json_schema},
        }
    elif json_mode:
        response_format = {"type": "json_object"}
    return await openai_api.chat(
        config,
        messages,
        model,
        tools=tools,
        response_format=response_format,
        max_tokens=max_tokens,
        temperature=temperature,
        parallel_tool_calls=parallel_tool_calls,
        on_token=on_token,
    )


async def embed(
    texts: Sequence[str], *, config: ProviderConfig, model: str | None = None, dimensions: int | None = None
) -> EmbeddingResult:
    """Embedding vectors of ``texts`` (in order) from an OpenAI-compatible ``/embeddings`` endpoint."""
    if config.api == "anthropic":
        raise LLMError(
            "Anthropic has no embeddings API; configure an OpenAI-compatible provider for embeddings "
            "(OPENAI_API_KEY, WORKBENCH_LLM_BASE_URL, or an 'openai' credential with base_url)"
        )
    return await openai_api.embed(
        config, list(texts), model or DEFAULT_EMBEDDING_MODEL, dimensions=dimensions
    )


async def generate_image(
    prompt: str,
    *,
    config: ProviderConfig,
    model: str | None = None,
    size: str | None = None,
    n: int = 1,
    quality: str | None = None,
    style: str | None = None,
) -> ImageResult:
    """Images for ``prompt`` from an OpenAI-compatible ``/images/generations`` endpoint."""
    if config.api == "anthropic":
        raise LLMError("Anthropic cannot generate images; configure an OpenAI-compatible provider")
    return await openai_api.generate_image(
        config, prompt, model or DEFAULT_IMAGE_MODEL, size=size, n=n, quality=quality, style=style
    )
