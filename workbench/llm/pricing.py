"""List prices of known models (USD per million tokens) and the cost of one call.

An unknown model costs 0: its tokens are still recorded. Dated or ``-latest`` variants of a model
(``gpt-4o-2024-08-06``, ``claude-3-5-haiku-latest``) take the base model's price.
"""

from __future__ import annotations

import re

PRICES: dict[str, tuple[float, float]] = {
    # OpenAI chat models: (input, output) per 1M tokens.
    "gpt-5.2": (1.75, 14.0),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
    # Anthropic.
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.80, 4.0),
    # OpenAI embeddings (input only).
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}

IMAGE_PRICES: dict[str, float] = {"dall-e-3": 0.04, "dall-e-2": 0.02, "gpt-image-1": 0.042}
"""USD per image at the default size and quality."""

_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def base_model_name(name: str) -> str:
    """``name`` without a date or ``-latest`` suffix (``gpt-4o-2024-08-06`` -> ``gpt-4o``)."""
    return _SUFFIX.sub("", name)


def price_of(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens of ``model``, or None when it is not in the table."""
    name = model.rsplit("/", 1)[-1].lower()
    if name in PRICES:
        return PRICES[name]
    return PRICES.get(base_model_name(name))


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """The cost of one call; 0 for a model without a known price."""
    price = price_of(model)
    if price is None:
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def image_cost_usd(model: str, count: int) -> float:
    """The cost of ``count`` generated images; 0 for an unknown model."""
    return IMAGE_PRICES.get(model.lower(), 0.0) * count
