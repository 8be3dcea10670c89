"""Endpoints a user chooses: the SSRF refusal is a caller's mistake that names the host, never the
address it resolved to; a user-chosen LLM endpoint carries only the user's own secrets; a user's
database connection is made from the credential alone (issue 10, findings 5, 6, 12 and 13)."""

from __future__ import annotations

import ssl

import pytest

from blocks.database import _connect_args, _tls
from workbench.errors import BlockError, CredentialsError, InputError, UserError
from workbench.llm import ProviderConfig, config_from_env
from workbench.llm.resolve import ollama_base_url
from workbench.net import BlockedAddress, HttpPolicy, safe_client

OPERATOR_ENV = {
    "WORKBENCH_LLM_PROVIDER": "ollama",
    "WORKBENCH_LLM_BASE_URL": "http://localhost:11434/v1",
    "WORKBENCH_LLM_API_KEY": "wb-operator-key",
    "OPENAI_API_KEY": "sk-operator-key",
}


def test_a_refusal_is_a_user_error_and_a_block_error() -> None:
    assert issubclass(BlockedAddress, InputError) and issubclass(BlockedAddress, UserError)
    assert issubclass(BlockedAddress, BlockError)  # a node still fails with it


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("10.1.2.3", "private"),
        ("::ffff:10.1.2.3", "private"),
        ("fd00::7", "unique-local"),
        ("169.254.169.254", "link-local"),
    ],
)
async def test_a_refused_name_never_tells_its_address(answer: str, kind: str) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return [answer]

    async with safe_client(HttpPolicy(), resolver=resolver) as http:
        with pytest.raises(BlockedAddress) as refused:
            await http.request("GET", "http://intranet.example/admin")
    message = str(refused.value)
    assert message.startswith(
        f"refused to connect to intranet.example: the name resolves to a {kind} address"
    )
    assert answer not in message and "10.1.2.3" not in message and "embedded" not in message


def test_the_operators_key_never_goes_to_a_user_chosen_endpoint() -> None:
    operator = config_from_env(OPERATOR_ENV)
    assert operator is not None and operator.api_key == "wb-operator-key" and not operator.users_own
    moved = operator.at_user_endpoint("http://attacker.example:8080/v1", HttpPolicy())
    assert moved.base_url == "http://attacker.example:8080/v1" and moved.policy == HttpPolicy()
    assert moved.api_key is None and moved.headers == {}

    users = ProviderConfig.from_secret("ollama", {"api_key": "user-key"}, HttpPolicy())
    assert users.users_own
    assert users.at_user_endpoint("http://their.example/v1", HttpPolicy()).api_key == "user-key"


def test_an_endpoint_of_the_environment_gets_only_its_own_key() -> None:
    without = {k: v for k, v in OPERATOR_ENV.items() if k != "WORKBENCH_LLM_API_KEY"}
    config = config_from_env(without)
    assert config is not None and config.base_url == "http://localhost:11434/v1"
    assert config.api_key is None  # OPENAI_API_KEY belongs to OpenAI, not to WORKBENCH_LLM_BASE_URL


@pytest.mark.parametrize(
    "host", ["localhost:11434", "gpu-box:8080", "10.0.0.5:11434", "[::1]:11434", "ollama"]
)
def test_ollama_host_is_host_and_port(host: str) -> None:
    assert ollama_base_url(host) == f"http://{host}/v1"


@pytest.mark.parametrize(
    "host",
    ["", "evil.test/steal?x=", "user:pw@evil.test", "evil.test:99999", "evil.test#x", "a b:1", "http://x"],
)
def test_a_malformed_ollama_host_names_the_pin(host: str) -> None:
    with pytest.raises(BlockError, match="pin 'ollama_host'"):
        ollama_base_url(host)


def test_database_fields_come_from_the_credential_alone() -> None:
    fields = _connect_args({"dsn": "postgresql://ann@db.example:6543/shop?sslmode=require&passfile=/etc/x"})
    assert fields == {
        "host": "db.example",
        "port": 6543,
        "user": "ann",
        "password": None,
        "database": "shop",
        "sslmode": "require",
    }
    assert _connect_args({"host": "db.example", "user": "ann"})["database"] == "ann"  # libpq's default
    with pytest.raises(CredentialsError, match="has no user"):
        _connect_args({"host": "db.example", "password": "x"})
    with pytest.raises(CredentialsError, match="sslmode 'sometimes'"):
        _connect_args({"host": "db.example", "user": "ann", "sslmode": "sometimes"})


def test_database_tls_is_built_here_without_the_servers_files() -> None:
    assert _tls("disable", "db.example") is None
    loose = _tls("prefer", "db.example")
    assert loose is not None and loose.verify_mode == ssl.CERT_NONE and not loose.check_hostname
    strict = _tls("verify-full", "db.example")
    assert strict is not None and strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname
    assert strict.server_name == "db.example"  # type: ignore[attr-defined]
