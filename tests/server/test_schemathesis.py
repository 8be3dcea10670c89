"""Property-based run of schemathesis against the served OpenAPI schema: no 5xx, and no response
that contradicts the schema (status codes, content types, bodies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess

# Examples per operation: the suite's share of a slow machine; WORKBENCH_FUZZ_EXAMPLES=50 fuzzes harder.
EXAMPLES = os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "8")
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def _schemathesis() -> list[str]:
    exe = Path(sys.executable).parent / "schemathesis"
    found = str(exe) if exe.exists() else shutil.which("schemathesis")
    assert found, "schemathesis is a dev dependency: install with pip install -e '.[dev]'"
    return [found]


def _run(server: ServerProcess, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *_schemathesis(),
            "run",
            server.base_url + "/api/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES,
            "--workers",
            "1",
            "--seed",
            "20261124",
            "--suppress-health-check",
            "all",
            # The first knowledge-base request loads the offline embedding model (PyTorch): seconds,
            # more on a busy machine. This test checks answers, not latency.
            "--request-timeout",
            "60",
            # Pruning applies the retention bounds the fuzzer sets (PUT /executions/retention) to
            # the session's shared server: it would delete the runs other tests read later.
            "--exclude-path",
            "/api/v1/admin/db/prune",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_schemathesis_local_mode(local_server: ServerProcess) -> None:
    # The coverage phase (thousands of boundary and malformed inputs per run) checks validation, the
    # same code in both modes: the accounts mode runs it; here what differs, the routes without login.
    result = _run(local_server, "--phases", "examples,fuzzing,stateful")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


@pytest.mark.slow
def test_schemathesis_accounts_mode(accounts_server: ServerProcess) -> None:
    account = {"email": "fuzz@example.com", "password": "fuzz-password-1"}
    signup = httpx.post(accounts_server.base_url + "/api/v1/auth/signup", json=account, timeout=30)
    assert signup.status_code == 202, signup.text
    login = httpx.post(accounts_server.base_url + "/api/v1/auth/login", json=account, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    # "Log out everywhere" would end this token halfway: every later operation would only see 401s.
    result = _run(
        accounts_server,
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-path",
        "/api/v1/auth/logout-all",
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
