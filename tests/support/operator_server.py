"""One real ``workbench serve --auth accounts`` process whose operator keeps secrets of its own in the
server's environment, and runs with small limits: the tests that attack those secrets and limits as
the outside probe did (issue 10) share it.

Its environment holds libpq's variables (``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``, ``PGSSLMODE``)
and a ``~/.pgpass`` (``HOME`` is a folder of its own), an operator's default LLM set to Ollama with
API keys (``WORKBENCH_LLM_API_KEY`` and ``OPENAI_API_KEY``), ``WORKBENCH_HTTP_ALLOW=127.0.0.1/32``
(the tests' local lookalike servers listen there) and ``WORKBENCH_MAX_CHILD_RUNS=20``. Started once
per test run, by the first test module that asks (:func:`operator_server`), stopped at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import ServerProcess, start_server, stop_server

PG_SECRETS = {
    "PGUSER": "pg-operator-user",
    "PGPASSWORD": "pg-operator-password",
    "PGDATABASE": "pg-operator-database",
}
PGPASS_SECRET = "pgpass-operator-password"
LLM_SECRETS = {
    "WORKBENCH_LLM_API_KEY": "wb-operator-llm-key",
    "OPENAI_API_KEY": "sk-operator-openai-key",
}
MAX_CHILD_RUNS = 20
SECRETS = (*PG_SECRETS.values(), PGPASS_SECRET, *LLM_SECRETS.values())
"""Every secret of the operator: none may ever reach a host a user chose."""

_server: ServerProcess | None = None


def operator_server(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """The shared server (started on first use; stopped when the test run ends)."""
    global _server
    if _server is not None:
        return _server
    base = tmp_path_factory.mktemp("srv-operator")
    home_dir = base / "unix-home"
    home_dir.mkdir()
    pgpass = home_dir / ".pgpass"
    pgpass.write_text(f"*:*:*:*:{PGPASS_SECRET}\n")
    pgpass.chmod(0o600)
    env = {
        "HOME": str(home_dir),
        **PG_SECRETS,
        "PGSSLMODE": "disable",
        "WORKBENCH_LLM_PROVIDER": "ollama",
        "WORKBENCH_LLM_BASE_URL": "http://localhost:11434/v1",
        **LLM_SECRETS,
        "WORKBENCH_HTTP_ALLOW": "127.0.0.1/32",
        "WORKBENCH_MAX_CHILD_RUNS": str(MAX_CHILD_RUNS),
        "WORKBENCH_RATE_LIMIT": "off",
    }
    _server = start_server(base / "home", "accounts", env)
    config.add_cleanup(_stop)
    return _server


def _stop() -> None:
    global _server
    if _server is not None:
        stop_server(_server)
        _server = None


def home_of(server: ServerProcess) -> Path:
    """The server's ``HOME`` (with its ``.pgpass``)."""
    return server.home.parent / "unix-home"
