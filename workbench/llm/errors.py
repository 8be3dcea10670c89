"""Errors of the LLM client layer; each is a :class:`~workbench.errors.BlockError`, so a node fails with it.

::

    BlockError
    ├── LLMError                 the provider answered with an error, or an answer we cannot use
    │   └── LLMRateLimited       still rate-limited (429) or unavailable (5xx) after every retry
    └── CredentialsError
        └── LLMNotConfigured     no provider configured: says how to configure one
"""

from __future__ import annotations

from workbench.errors import BlockError, CredentialsError


class LLMError(BlockError):
    """The provider failed or answered with something unusable; the message says which provider and why."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class LLMRateLimited(LLMError):
    """Rate-limited (429) or unavailable (5xx) after every retry."""


class LLMNotConfigured(CredentialsError):
    """No provider is configured for a block: the message says how to configure one."""
