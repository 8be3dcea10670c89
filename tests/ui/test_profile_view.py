"""The Profile page's parts without a browser: the credential forms (fields, checks, the secret they
make), the tables (escaped, metadata only, Revoke only on live keys), and what a failure says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workbench.errors import InputError, NotFoundError, StoreUnavailable
from workbench.llm.config import DEFAULT_BASE_URLS, ProviderConfig
from workbench.net.policy import HttpPolicy
from workbench.services.credentials import CREDENTIAL_TYPES, CredentialMeta
from workbench.store.accounts import ApiKeyRecord
from workbench.ui.credential_forms import BY_ID, FORMS
from workbench.ui.profile import credentials_table, keys_table, problem_text, when

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def key(name: str, **changes: object) -> ApiKeyRecord:
    fields: dict[str, object] = {
        "id": f"id-{name}",
        "user_id": "u",
        "name": name,
        "prefix": "wbk_abcdef",
        "scopes": ["graphs:read"],
        "created_at": NOW - timedelta(days=1),
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
    }
    fields.update(changes)
    return ApiKeyRecord(**fields)  # type: ignore[arg-type]


def test_every_form_stores_a_known_type_and_every_llm_provider_has_one() -> None:
    assert len({form.id for form in FORMS}) == len(FORMS)
    assert all(form.type in CREDENTIAL_TYPES for form in FORMS)
    assert set(DEFAULT_BASE_URLS) <= {form.provider for form in FORMS}
    assert {"github", "postgres"} <= set(BY_ID)
    for form in FORMS:  # secrets proper are password inputs
        for spec in form.fields:
            if spec.key in ("api_key", "password", "dsn"):
                assert spec.hidden, (form.id, spec.key)


def test_the_secret_is_the_filled_fields_and_a_missing_one_is_named() -> None:
    openai = BY_ID["openai"]
    assert openai.secret({"api_key": " sk-1 ", "model": "  "}) == {"api_key": " sk-1 "}  # typed as is
    with pytest.raises(InputError, match="API key: required for OpenAI"):
        openai.secret({"model": "gpt-4o-mini"})
    compatible = BY_ID["openai_compatible"]
    secret = compatible.secret({"base_url": " http://10.0.0.5:8000/v1 ", "model": "llama3.1"})
    assert secret == {"base_url": "http://10.0.0.5:8000/v1", "model": "llama3.1"}
    config = ProviderConfig.from_secret(compatible.provider, secret, HttpPolicy())
    assert config.base_url == "http://10.0.0.5:8000/v1" and config.model == "llama3.1"
    with pytest.raises(InputError, match="Base URL"):
        compatible.secret({"base_url": "ftp://example.com"})
    assert BY_ID["ollama"].secret({}) == {}  # a local server needs no key
    with pytest.raises(InputError, match="API key"):
        BY_ID["groq"].secret({})
    with pytest.raises(InputError, match="API URL"):
        BY_ID["github"].secret({"api_key": "ghp_x", "base_url": "github.example.com"})


def test_postgres_needs_a_url_or_a_host_and_user() -> None:
    form = BY_ID["postgres"]
    assert form.secret({"dsn": "postgresql://u:p@db:5432/x"}) == {"dsn": "postgresql://u:p@db:5432/x"}
    with pytest.raises(InputError, match="Connection URL"):
        form.secret({"dsn": "mysql://u@db/x"})
    with pytest.raises(InputError, match="Host"):
        form.secret({})
    with pytest.raises(InputError, match="User"):
        form.secret({"host": "db"})
    with pytest.raises(InputError, match="Port"):
        form.secret({"host": "db", "user": "u", "port": "99999"})
    assert form.secret({"host": "db", "user": "u", "port": "5433", "password": "pw"}) == {
        "host": "db",
        "user": "u",
        "port": "5433",
        "password": "pw",
    }


def test_keys_table_escapes_names_and_offers_revoke_only_on_live_keys() -> None:
    table = keys_table(
        [
            key("<script>alert(1)</script>"),
            key("gone", revoked_at=NOW - timedelta(hours=1)),
            key("old", expires_at=NOW - timedelta(minutes=1)),
            key("used", last_used_at=NOW, expires_at=NOW + timedelta(days=7)),
        ],
        "Europe/Madrid",
        NOW,
    )
    assert "<script>" not in table and "&lt;script&gt;" in table
    assert table.count('data-action="revoke"') == 2
    assert 'data-id="id-used"' in table and "revoked 2026-12-02 12:00" in table and "expired" in table
    assert "2026-12-02 13:00" in table  # last used, in the user's zone (CET)
    assert "No API keys yet." in keys_table([], "UTC", NOW)


def test_credentials_table_shows_metadata_only() -> None:
    meta = CredentialMeta("c1", "openai", "api_key", "<b>work</b>", NOW, None)
    table = credentials_table([meta], "UTC")
    assert "&lt;b&gt;work&lt;/b&gt;" in table and "OpenAI" in table and 'data-action="delete"' in table
    assert 'data-id="c1"' in table and "2026-12-02 12:00" in table
    assert "No credentials yet." in credentials_table([], "UTC")


def test_what_a_failure_says() -> None:
    assert "database cannot be reached" in problem_text(StoreUnavailable("cannot x: refused"), "saving")
    assert problem_text(NotFoundError("API key k not found"), "revoking") == "API key k not found"
    said = problem_text(RuntimeError("boom at line 3"), "adding the credential")
    assert said == "Something went wrong (RuntimeError), so adding the credential did not happen."
    assert when(None, "UTC") == "" and when(NOW, "Not/AZone") == "2026-12-02 12:00"
