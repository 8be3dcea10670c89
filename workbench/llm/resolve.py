"""Which provider a block's LLM call goes to: its credential from the vault, else the environment.

Order: the credential the node's ``credentials`` input (or the execution request) names; else the
user's only credential for the model's provider; else the environment's default provider
(:func:`~workbench.llm.config.config_from_env`); else :class:`LLMNotConfigured`, which says how to
configure one. Never a fake answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workbench.errors import BlockError
from workbench.llm.config import HOW_TO_CONFIGURE, ProviderConfig, config_from_env, model_family
from workbench.llm.errors import LLMNotConfigured
from workbench.net.policy import HttpPolicy

if TYPE_CHECKING:
    from workbench.block.context import RunContext


def _ref_provider(ref: Any) -> str | None:
    if isinstance(ref, dict):
        provider = ref.get("provider")
        return str(provider) if provider else None
    return None


def _ref_id(ref: Any) -> str | None:
    if isinstance(ref, dict):
        value = ref.get("id")
        return str(value) if value else None
    return str(ref) if ref else None


def user_endpoint(config: ProviderConfig, base_url: str, context: RunContext) -> ProviderConfig:
    """``config`` sent to ``base_url``, a base URL a user chose outside a credential (a block input):
    under the run's outbound policy (private and loopback addresses refused unless the operator
    allowed them, ``WORKBENCH_HTTP_ALLOW``), and with only the user's own secrets: the operator's
    key (environment) is dropped. Configurations from credentials are guarded in ``from_secret``."""
    return config.at_user_endpoint(base_url, HttpPolicy.from_settings(context.settings))


def guarded(config: ProviderConfig, context: RunContext) -> ProviderConfig:
    """``config`` whose base URL a user chose: :func:`user_endpoint` at its own base URL."""
    return user_endpoint(config, config.base_url, context)


def ollama_base_url(host: str, pin: str = "ollama_host") -> str:
    """The base URL of an Ollama server given as ``host:port`` (a block input); BlockError naming the
    pin when it is anything else (a path, credentials, a scheme)."""
    text = host.strip()
    parts = urlsplit(f"http://{text}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        not text
        or not parts.hostname
        or port == -1
        or parts.username is not None
        or parts.password is not None
        or parts.path
        or parts.query
        or parts.fragment
        or any(c.isspace() for c in text)
    ):
        raise BlockError(f"pin {pin!r}: {host!r} is not host:port (e.g. localhost:11434)")
    return f"http://{parts.netloc}/v1"


async def resolve_config(
    context: RunContext,
    credentials: Any = None,
    *,
    model: str | None = None,
    field_name: str = "credentials",
    env: dict[str, str] | None = None,
) -> ProviderConfig:
    """The ProviderConfig for a block's call; ``credentials`` is the node's credentials input.

    Configurations from credentials are guarded (``from_secret``); the environment's are the
    operator's own."""
    provider = _ref_provider(credentials) or (model_family(model) if model else "openai")
    chosen = _ref_id(credentials) or context.credentials.get(field_name)
    if chosen:
        if _ref_provider(credentials) is None and context.services is not None and context.services.vault:
            # A bare id: take the provider from the stored credential itself.
            cred = await context.services.vault.resolve(context.user_id, chosen)
            provider = cred.meta.provider
        cred = await context.get_credential(provider, chosen, field_name=field_name)
        return ProviderConfig.from_secret(provider, cred.secret, HttpPolicy.from_settings(context.settings))
    vault = context.services.vault if context.services is not None else None
    if vault is not None and await vault.list(context.user_id, provider):
        cred = await context.get_credential(provider, None, field_name=field_name)
        return ProviderConfig.from_secret(provider, cred.secret, HttpPolicy.from_settings(context.settings))
    found = config_from_env(env, model=model)
    if found is not None:
        return found
    raise LLMNotConfigured(f"no LLM provider for model {model or '(default)'!r}: {HOW_TO_CONFIGURE}")
