"""LLM providers: chat, structured output, streaming, tool calls and embeddings over HTTP.

One thin httpx client speaks two protocols: OpenAI-compatible chat completions (OpenAI, Ollama,
vLLM, llama.cpp server, LM Studio, OpenRouter...) and Anthropic's Messages API. Retries back off on
429/5xx and honour ``Retry-After``; every call reports its tokens and cost (:mod:`.pricing`).

Public API::

    config = ProviderConfig.for_provider("openai", api_key="sk-...", base_url="http://localhost:11434/v1")
    config = config_from_env()                       # OPENAI_API_KEY, WORKBENCH_LLM_BASE_URL... or None
    config = await resolve_config(context, input_data.credentials, model=...)  # inside a block

    reply = await chat([{"role": "user", "content": "Hi"}], config=config, model="gpt-4o-mini",
                       tools=[...], json_schema={...}, on_token=print)
    reply.text, reply.tool_calls, reply.usage.input_tokens, reply.usage.cost_usd

    result = await embed(["a text", "another"], config=config, model="text-embedding-3-small")
    result.vectors        # list[list[float]], in input order
    result.model, result.input_tokens, result.cost_usd

    images = await generate_image("a red fox", config=config, model="dall-e-3")

Errors (all BlockErrors, so a node fails with the message): :class:`LLMError` (the provider failed
or answered something unusable), :class:`LLMRateLimited` (still 429/5xx after the retries),
:class:`LLMNotConfigured` (no provider: says how to configure one).
"""

from __future__ import annotations

from workbench.llm.client import DEFAULT_EMBEDDING_MODEL, chat, embed, generate_image
from workbench.llm.config import ProviderConfig, config_from_env
from workbench.llm.errors import LLMError, LLMNotConfigured, LLMRateLimited
from workbench.llm.pricing import cost_usd
from workbench.llm.resolve import resolve_config
from workbench.llm.types import ChatResponse, EmbeddingResult, ImageResult, Message, ToolCall, Usage

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "ChatResponse",
    "EmbeddingResult",
    "ImageResult",
    "LLMError",
    "LLMNotConfigured",
    "LLMRateLimited",
    "Message",
    "ProviderConfig",
    "ToolCall",
    "Usage",
    "chat",
    "config_from_env",
    "cost_usd",
    "embed",
    "generate_image",
    "resolve_config",
]
