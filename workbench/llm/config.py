"""Where an LLM call goes: provider, base URL, API key, retry policy.

A :class:`ProviderConfig` comes from a credential of the vault (its secret carries ``api_key`` and may
carry ``base_url`` and ``model``), or from the environment (:func:`config_from_env`):

- ``WORKBENCH_LLM_BASE_URL`` (+ ``WORKBENCH_LLM_API_KEY``, ``WORKBENCH_LLM_PROVIDER``): any
  OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter...);
- ``OPENAI_API_KEY`` (+ ``OPENAI_BASE_URL``): OpenAI or a compatible endpoint;
- ``ANTHROPIC_API_KEY`` (+ ``ANTHROPIC_BASE_URL``): Anthropic's Messages API;
- ``WORKBENCH_LLM_MODEL``: the model used by AI blocks that leave their model at the default;
- ``WORKBENCH_LLM_CONTEXT_WINDOW``: the context window (tokens) of the environment's models, for
  models the table in :mod:`.windows` does not know (a credential's secret may carry
  ``context_window`` for its endpoint's models).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Literal

from workbench.errors import ConfigError
from workbench.net.policy import HttpPolicy

Api = Literal["openai", "anthropic"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "ollama": "http://localhost:11434/v1",
    "open_router": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "aiml_api": "https://api.aimlapi.com/v1",
    "llama_api": "https://api.llama.com/compat/v1",
    "v0": "https://api.v0.dev/v1",
    "vllm": "http://localhost:8000/v1",
    "lm_studio": "http://localhost:1234/v1",
    "llama_cpp": "http://localhost:8080/v1",
}
"""Base URL of each known provider (the part before ``/chat/completions`` or ``/messages``)."""

KEYLESS_PROVIDERS = frozenset({"ollama", "vllm", "lm_studio", "llama_cpp"})
"""Local servers that need no API key."""

HOW_TO_CONFIGURE = (
    "configure an LLM provider: add a credential (POST /api/v1/credentials with provider 'openai', "
    'type \'api_key\' and secret {"api_key": ..., "base_url": ...} — base_url for any OpenAI-compatible '
    "server such as Ollama or vLLM; provider 'anthropic' for Claude) and choose it in the block's "
    "'credentials' input, or set OPENAI_API_KEY / OPENAI_BASE_URL, WORKBENCH_LLM_BASE_URL or "
    "ANTHROPIC_API_KEY in the environment"
)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One LLM endpoint and how to call it.

    Attributes:
        provider: provider name (``openai``, ``anthropic``, ``ollama``, ``open_router``...).
        base_url: URL up to and including the API version, e.g. ``https://api.openai.com/v1``.
        api_key: sent as ``Authorization: Bearer`` (OpenAI-compatible) or ``x-api-key`` (Anthropic).
        api: which wire protocol: ``openai`` (chat completions) or ``anthropic`` (Messages API).
        model: a model to use when the caller leaves the model at its default (None: the caller's).
        timeout: seconds for one HTTP request (streams: between two chunks).
        max_retries: retries on 429, 5xx and connection errors.
        backoff: first retry delay in seconds; doubles each retry (Retry-After wins when given).
        max_backoff: longest single wait; a longer Retry-After fails at once.
        headers: extra headers (OpenRouter's ``HTTP-Referer``...).
        policy: the SSRF guard applied to user-chosen base URLs (None: trusted).
        users_own: True when ``api_key`` and ``headers`` are the user's own (from their credential);
            False for the operator's (environment), which never go to an endpoint a user chose.
        context_window: tokens the endpoint's models take in one call, when configured (a
            credential's ``context_window``, ``WORKBENCH_LLM_CONTEXT_WINDOW``); None: by model name.
    """

    provider: str = "openai"
    base_url: str = DEFAULT_BASE_URLS["openai"]
    api_key: str | None = None
    api: Api = "openai"
    model: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    policy: HttpPolicy | None = None
    """The outbound guard for a base URL a user chose (credential, block input): private and
    loopback addresses are refused unless ``WORKBENCH_HTTP_ALLOW`` allows them. None for the
    operator's own configuration (environment), which is trusted."""
    users_own: bool = False
    context_window: int | None = None

    def __repr__(self) -> str:  # never print the key
        key = "set" if self.api_key else "none"
        return f"ProviderConfig(provider={self.provider!r}, base_url={self.base_url!r}, api_key={key})"

    __str__ = __repr__

    def with_(self, **changes: object) -> ProviderConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def at_user_endpoint(self, base_url: str, policy: HttpPolicy) -> ProviderConfig:
        """This config sent to a base URL a user chose (a block input such as ``ollama_host``):
        through the outbound guard ``policy``, and carrying only the user's own secrets. The
        operator's API key and headers (environment) stay with the operator's endpoint: a user who
        names another host gets a keyless request."""
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"LLM base URL must start with http:// or https://, got {base_url!r}")
        own = self.users_own
        return replace(
            self,
            base_url=base_url.rstrip("/"),
            policy=policy,
            api_key=self.api_key if own else None,
            headers=dict(self.headers) if own else {},
        )

    def url(self, path: str) -> str:
        """The full URL of an endpoint path such as ``/chat/completions``."""
        return self.base_url.rstrip("/") + path

    @classmethod
    def for_provider(
        cls, provider: str, *, api_key: str | None = None, base_url: str | None = None, **kw: object
    ) -> ProviderConfig:
        """A config for a named provider, with its default base URL unless one is given."""
        provider = provider.strip().lower() or "openai"
        api: Api = "anthropic" if provider == "anthropic" else "openai"
        url = base_url or DEFAULT_BASE_URLS.get(provider)
        if url is None:
            raise ConfigError(
                f"LLM provider {provider!r} has no known base URL; give one (credential secret "
                f"'base_url'); known providers: {', '.join(sorted(DEFAULT_BASE_URLS))}"
            )
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"LLM base URL must start with http:// or https://, got {url!r}")
        return cls(provider=provider, base_url=url.rstrip("/"), api_key=api_key, api=api, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_secret(cls, provider: str, secret: dict[str, object], policy: HttpPolicy) -> ProviderConfig:
        """A config from a vault credential's secret: ``api_key``, optional ``base_url``, ``model`` and
        ``context_window``.

        A user chose that base URL, so requests to it go through ``policy`` (the SSRF guard); the key
        is theirs (``users_own``)."""
        key = secret.get("api_key") or secret.get("key")
        url = secret.get("base_url")
        model = secret.get("model")
        return cls.for_provider(
            provider,
            api_key=str(key) if key else None,
            base_url=str(url) if url else None,
            model=str(model) if model else None,
            policy=policy,
            users_own=True,
            context_window=_window(secret.get("context_window"), "the credential's 'context_window'"),
        )


def _window(value: object, where: str) -> int | None:
    """A configured context window: a positive number of tokens, or None when not given."""
    if value is None or value == "":
        return None
    try:
        tokens = int(str(value))
    except ValueError:
        tokens = 0
    if tokens <= 0:
        raise ConfigError(f"{where} must be a positive number of tokens, got {value!r}")
    return tokens


def model_family(model: str) -> str:
    """The provider a model id belongs to by name: ``anthropic`` for Claude models, else ``openai``."""
    return "anthropic" if model.lower().startswith("claude") else "openai"


def config_from_env(env: dict[str, str] | None = None, *, model: str | None = None) -> ProviderConfig | None:
    """The default provider from the environment, or None when none is configured.

    With ``model`` a Claude model and ``ANTHROPIC_API_KEY`` set, Anthropic is chosen; otherwise the
    first of ``WORKBENCH_LLM_BASE_URL``, ``OPENAI_API_KEY``/``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``.
    Each key goes with its own endpoint only (``WORKBENCH_LLM_BASE_URL`` with ``WORKBENCH_LLM_API_KEY``).
    """
    env = dict(os.environ if env is None else env)
    found = _env_config(env, model)
    window = _window(env.get("WORKBENCH_LLM_CONTEXT_WINDOW"), "WORKBENCH_LLM_CONTEXT_WINDOW")
    return found.with_(context_window=window) if found is not None and window else found


def _env_config(env: dict[str, str], model: str | None) -> ProviderConfig | None:
    default_model = env.get("WORKBENCH_LLM_MODEL") or None
    anthropic_key = env.get("ANTHROPIC_API_KEY")
    anthropic = (
        ProviderConfig.for_provider(
            "anthropic", api_key=anthropic_key, base_url=env.get("ANTHROPIC_BASE_URL"), model=default_model
        )
        if anthropic_key
        else None
    )
    if anthropic is not None and model is not None and model_family(model) == "anthropic":
        return anthropic
    if env.get("WORKBENCH_LLM_BASE_URL"):
        return ProviderConfig.for_provider(
            env.get("WORKBENCH_LLM_PROVIDER") or "openai",
            # Only this endpoint's own key: OPENAI_API_KEY belongs to OPENAI_BASE_URL (or OpenAI).
            api_key=env.get("WORKBENCH_LLM_API_KEY") or None,
            base_url=env["WORKBENCH_LLM_BASE_URL"],
            model=default_model,
        )
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        return ProviderConfig.for_provider(
            "openai",
            api_key=env.get("OPENAI_API_KEY") or None,
            base_url=env.get("OPENAI_BASE_URL") or None,
            model=default_model,
        )
    return anthropic
