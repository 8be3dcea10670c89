"""Which provider a block's LLM call goes to: its credential from the vault, else the environment.

Order: the credential the node's ``credentials`` input (or the execution request) names; else the
user's only credential for the model's provider; else the environment's default provider
(:func:`~workbench.llm.config.config_from_env`); else :class:`LLMNotConfigured`, which says how to
configure one. Never a fake answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.llm.config import HOW_TO_CONFIGURE, ProviderConfig, config_from_env, model_family
from workbench.llm.errors import LLMNotConfigured
from workbench.net.policy import HttpPolicy

if TYPE_CHECKING:
    from workbench.engine.context import RunContext


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


def guarded(config: ProviderConfig, context: RunContext) -> ProviderConfig:
    """``config`` under the run's outbound policy, for a base URL a user chose outside a credential
    (a block input): private and loopback addresses are refused unless the operator allowed them
    (``WORKBENCH_HTTP_ALLOW``). Configurations from credentials get it in ``from_secret``."""
    return config.with_(policy=HttpPolicy.from_settings(context.settings))


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
