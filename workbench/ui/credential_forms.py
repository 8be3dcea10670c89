"""What the Profile page asks for when a credential is added: one form per provider, its fields, and
the secret those fields make.

The fields are the ones the consumers of the vault read at run time:

- LLM providers (``workbench.llm.config.ProviderConfig.from_secret``): ``api_key``, optional
  ``base_url`` and ``model``; an OpenAI-compatible server is stored as provider ``openai`` with its
  ``base_url`` (as ``HOW_TO_CONFIGURE`` says), the named ones under their own name;
- GitHub (``blocks/github.py``): ``api_key`` (a token), optional ``base_url`` (GitHub Enterprise);
- PostgreSQL (``blocks/database.py``): a ``dsn``, or ``host``, ``port``, ``user``, ``password``,
  ``database``, ``sslmode``;
- Jina (``blocks/_jina.py``): ``api_key``, optional ``base_url`` (search) and ``reader_url``;
  SearXNG (``blocks/_searxng.py``): ``base_url``;
- host-scoped headers (``http``, type ``host_scoped``, ``SendAuthenticatedWebRequestBlock``): the
  form's host and header fields make the secret ``{"host", "headers": {name: value}}``
  (:mod:`workbench.net.hostscope`);
- MCP servers (``mcp``, ``MCPToolBlock`` and the decision maker's ``mcp_servers``,
  :meth:`workbench.mcp.client.McpServer.from_secret`): over HTTP ``{"url", "token"?, "headers"?}``,
  or a command ``{"command", "args", "env"?}`` (its command line split as a shell would), each with an
  optional ``name``.

Secret fields are password inputs; nothing of a stored secret is ever shown again (the vault lists
metadata only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ConfigError, InputError
from workbench.llm.config import DEFAULT_BASE_URLS, KEYLESS_PROVIDERS, ProviderConfig
from workbench.mcp.client import McpServer, parse_command_line, parse_env
from workbench.net.hostscope import HostScope


@dataclass(frozen=True, slots=True)
class SecretField:
    """One field of a credential form: a key of the stored secret."""

    key: str
    label: str
    hidden: bool = False
    """A password input (a secret proper: keys, tokens, passwords, DSNs with a password)."""
    required: bool = False
    placeholder: str = ""


@dataclass(frozen=True, slots=True)
class ProviderForm:
    """How to add a credential of one provider."""

    id: str
    """The form's own name (two forms may store the same provider)."""
    label: str
    provider: str
    """The provider the credential is stored under (what blocks ask the vault for)."""
    type: str
    """The credential type (``workbench.services.credentials.CREDENTIAL_TYPES``)."""
    fields: tuple[SecretField, ...]
    help: str
    check: Callable[[dict[str, str]], None] | None = field(default=None, compare=False)
    """Checks across fields of a filled secret (InputError naming the field)."""
    build: Callable[[dict[str, str]], dict[str, Any]] | None = field(default=None, compare=False)
    """Makes the stored secret of the checked fields, when it is not the fields themselves."""

    def secret(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The secret from the form's values: the filled fields, trimmed (secrets as typed), or what
        :attr:`build` makes of them; InputError naming the first required field left empty."""
        secret: dict[str, str] = {}
        for spec in self.fields:
            raw = values.get(spec.key) or ""
            value = raw if spec.hidden else raw.strip()
            if value.strip():
                secret[spec.key] = value
            elif spec.required:
                raise InputError(f"{spec.label}: required for {self.label}")
        if self.check is not None:
            self.check(secret)
        return self.build(secret) if self.build is not None else secret


def _check_llm(provider: str) -> Callable[[dict[str, str]], None]:
    def check(secret: dict[str, str]) -> None:
        try:
            ProviderConfig.for_provider(provider, base_url=secret.get("base_url"))
        except ConfigError as exc:
            raise InputError(f"Base URL: {exc}") from None

    return check


def _check_github(secret: dict[str, str]) -> None:
    url = secret.get("base_url")
    if url and not url.startswith(("http://", "https://")):
        raise InputError(f"API URL: must start with https:// (or http://), got {url!r}")


def _check_postgres(secret: dict[str, str]) -> None:
    if secret.get("dsn"):
        if not secret["dsn"].startswith(("postgresql://", "postgres://")):
            raise InputError("Connection URL: must start with postgresql://")
        return
    if not secret.get("host"):
        raise InputError("Host: give a host, or a connection URL")
    if not secret.get("user"):
        raise InputError("User: required with a host (the server's own database settings are never used)")
    port = secret.get("port")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InputError(f"Port: {port!r} is not a port number")


def _check_urls(*keys: str) -> Callable[[dict[str, str]], None]:
    def check(secret: dict[str, str]) -> None:
        for key in keys:
            url = secret.get(key)
            if url and not url.startswith(("http://", "https://")):
                raise InputError(f"{key}: must start with https:// (or http://), got {url!r}")

    return check


def _host_scoped_secret(values: dict[str, str]) -> dict[str, Any]:
    """``{"host", "headers"}`` from the host and header fields; InputError when it is not valid."""
    headers: dict[str, str] = {}
    for name_key, value_key in (("header_name", "header_value"), ("header2_name", "header2_value")):
        name, value = values.get(name_key, ""), values.get(value_key, "")
        if name and not value:
            raise InputError(f"Header value: required for the header {name!r}")
        if value and not name:
            raise InputError("Header name: required for a header value")
        if name:
            headers[name] = value
    scope = HostScope.from_secret({"host": values.get("host", ""), "headers": headers})  # or InputError
    return {"host": scope.pattern, "headers": headers}


def _mcp_http_secret(values: dict[str, str]) -> dict[str, Any]:
    """``{"url", "token"?, "headers"?, "name"?}`` from the MCP HTTP form; InputError when not valid."""
    name, value = values.get("header_name", ""), values.get("header_value", "")
    if name and not value:
        raise InputError(f"Header value: required for the header {name!r}")
    if value and not name:
        raise InputError("Header name: required for a header value")
    headers = {name: value} if name else {}
    server = McpServer.http(
        values.get("url", ""), token=values.get("token"), headers=headers
    )  # or InputError
    secret: dict[str, Any] = {"url": server.url}
    for key in ("token", "name"):
        if values.get(key):
            secret[key] = values[key]
    if headers:
        secret["headers"] = headers
    return secret


def _mcp_stdio_secret(values: dict[str, str]) -> dict[str, Any]:
    """``{"command", "args", "env"?, "name"?}`` from the MCP command form; InputError when not valid."""
    command, args = parse_command_line(values.get("command", ""))
    env = parse_env(values.get("env", ""))
    McpServer.stdio(command, args, env=env)  # or InputError
    secret: dict[str, Any] = {"command": command, "args": list(args)}
    if env:
        secret["env"] = env
    if values.get("name"):
        secret["name"] = values["name"]
    return secret


NAMES = {
    "ollama": "Ollama",
    "open_router": "OpenRouter",
    "groq": "Groq",
    "aiml_api": "AI/ML API",
    "llama_api": "Llama API",
    "v0": "v0",
    "vllm": "vLLM",
    "lm_studio": "LM Studio",
    "llama_cpp": "llama.cpp",
}
"""Display names of the LLM providers of ``DEFAULT_BASE_URLS``."""

API_KEY = "api_key"


def _model(example: str) -> SecretField:
    return SecretField("model", "Default model (optional)", placeholder=f"e.g. {example}")


def _llm_forms() -> list[ProviderForm]:
    forms = [
        ProviderForm(
            "openai",
            "OpenAI",
            "openai",
            "api_key",
            (
                SecretField(API_KEY, "API key", hidden=True, required=True, placeholder="sk-…"),
                _model("gpt-4o-mini"),
            ),
            "For the AI blocks (and knowledge bases' embeddings) on OpenAI.",
            _check_llm("openai"),
        ),
        ProviderForm(
            "anthropic",
            "Anthropic (Claude)",
            "anthropic",
            "api_key",
            (
                SecretField(API_KEY, "API key", hidden=True, required=True, placeholder="sk-ant-…"),
                _model("claude-3-5-haiku-latest"),
            ),
            "For the AI blocks with a Claude model.",
            _check_llm("anthropic"),
        ),
        ProviderForm(
            "openai_compatible",
            "OpenAI-compatible server (any)",
            "openai",
            "api_key",
            (
                SecretField("base_url", "Base URL", required=True, placeholder="http://my-server:8000/v1"),
                SecretField(API_KEY, "API key (if the server wants one)", hidden=True),
                _model("llama3.1"),
            ),
            "Any server speaking OpenAI's chat completions API. Stored as provider 'openai' with its "
            "base URL, so the AI blocks use it when it is your only 'openai' credential.",
            _check_llm("openai"),
        ),
    ]
    for name, url in DEFAULT_BASE_URLS.items():
        if name in ("openai", "anthropic"):
            continue
        keyless = name in KEYLESS_PROVIDERS
        label = NAMES.get(name, name)
        forms.append(
            ProviderForm(
                name,
                label,
                name,
                "api_key",
                (
                    SecretField(
                        API_KEY,
                        "API key (optional)" if keyless else "API key",
                        hidden=True,
                        required=not keyless,
                    ),
                    SecretField("base_url", "Base URL (optional)", placeholder=url),
                    _model("llama3.1"),
                ),
                f"{label} ({url} unless you give another base URL); choose it in an AI block's "
                "credentials input.",
                _check_llm(name),
            )
        )
    return forms


FORMS: tuple[ProviderForm, ...] = (
    *_llm_forms(),
    ProviderForm(
        "github",
        "GitHub",
        "github",
        "api_key",
        (
            SecretField(API_KEY, "Token", hidden=True, required=True, placeholder="ghp_… or github_pat_…"),
            SecretField(
                "base_url",
                "API URL (optional)",
                placeholder="https://api.github.com (GitHub Enterprise: yours)",
            ),
        ),
        "For the GitHub blocks: a personal access token with the scopes your agents need.",
        _check_github,
    ),
    ProviderForm(
        "postgres",
        "PostgreSQL database",
        "postgres",
        "user_password",
        (
            SecretField(
                "dsn", "Connection URL", hidden=True, placeholder="postgresql://user:password@host:5432/db"
            ),
            SecretField("host", "Host", placeholder="or give a host and the fields below"),
            SecretField("port", "Port", placeholder="5432"),
            SecretField("user", "User"),
            SecretField("password", "Password", hidden=True),
            SecretField("database", "Database", placeholder="the user's name by default"),
            SecretField("sslmode", "SSL mode", placeholder="prefer (disable, require, verify-full…)"),
        ),
        "For the PostgreSQL blocks: a connection URL, or a host, user and password.",
        _check_postgres,
    ),
    ProviderForm(
        "jina",
        "Jina AI (web search, page reader)",
        "jina",
        "api_key",
        (
            SecretField(API_KEY, "API key", hidden=True, required=True, placeholder="jina_…"),
            SecretField("base_url", "Search URL (optional)", placeholder="https://s.jina.ai"),
            SecretField("reader_url", "Reader URL (optional)", placeholder="https://r.jina.ai"),
        ),
        "For SearchTheWebBlock (Jina Search) and ExtractWebsiteContentBlock (Jina Reader).",
        _check_urls("base_url", "reader_url"),
    ),
    ProviderForm(
        "searxng",
        "SearXNG instance (web search)",
        "searxng",
        "api_key",
        (SecretField("base_url", "Instance URL", required=True, placeholder="https://searx.example.org"),),
        "For SearchTheWebBlock on your own SearXNG instance (its settings.yml must list json under "
        "search.formats).",
        _check_urls("base_url"),
    ),
    ProviderForm(
        "http_host_scoped",
        "Web request headers for one host",
        "http",
        "host_scoped",
        (
            SecretField("host", "Host", required=True, placeholder="api.example.com or *.example.com"),
            SecretField("header_name", "Header name", required=True, placeholder="Authorization"),
            SecretField("header_value", "Header value", hidden=True, required=True, placeholder="Bearer …"),
            SecretField("header2_name", "Second header name (optional)", placeholder="X-API-Key"),
            SecretField("header2_value", "Second header value", hidden=True),
        ),
        "For SendAuthenticatedWebRequestBlock: headers (an API key, a token) sent only to this host, or "
        "with *.example.com to that domain and its subdomains; never to another host, not even on a "
        "redirect.",
        build=_host_scoped_secret,
    ),
    ProviderForm(
        "mcp_http",
        "MCP server (URL)",
        "mcp",
        "api_key",
        (
            SecretField("url", "Server URL", required=True, placeholder="https://mcp.example.com/mcp"),
            SecretField(
                "token", "Token (optional)", hidden=True, placeholder="sent as Authorization: Bearer …"
            ),
            SecretField("name", "Name (optional)", placeholder="a short name, e.g. docs"),
            SecretField("header_name", "Other header name (optional)", placeholder="X-API-Key"),
            SecretField("header_value", "Other header value", hidden=True),
        ),
        "An MCP server over streamable HTTP, for MCPToolBlock and the decision maker's MCP servers. "
        "Private and local addresses need the operator's WORKBENCH_HTTP_ALLOW.",
        build=_mcp_http_secret,
    ),
    ProviderForm(
        "mcp_stdio",
        "MCP server (command)",
        "mcp",
        "api_key",
        (
            SecretField(
                "command", "Command", required=True, placeholder="npx -y @modelcontextprotocol/server-memory"
            ),
            SecretField("env", "Environment (optional)", hidden=True, placeholder="API_KEY=… OTHER=…"),
            SecretField("name", "Name (optional)", placeholder="a short name, e.g. memory"),
        ),
        "An MCP server the platform starts as a command on its own machine (stdio). It runs only where "
        "the operator sets WORKBENCH_MCP_ALLOW_COMMANDS=1.",
        build=_mcp_stdio_secret,
    ),
)
"""Every form, in the order the provider menu lists them."""

BY_ID: dict[str, ProviderForm] = {form.id: form for form in FORMS}
"""The forms by :attr:`ProviderForm.id`."""
