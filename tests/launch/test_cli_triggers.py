"""``workbench triggers`` run for real in subprocesses, on the test run's data folder (the local user's
triggers): made with a mapping and GitHub signing (the secret printed once, and it works), listed
without secrets, rotated (the old secret refused), deleted; mistakes are exit code 2 with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scheduler.conftest import hello_graph
from workbench.app import Workbench
from workbench.errors import AuthError
from workbench.services.trigger_signing import sign_github
from workbench.services.triggers import TriggerService

REPO = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def cli_env(workbench_home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "WORKBENCH_DEBUG", "WORKBENCH_PUBLIC_URL")
    }
    env["WORKBENCH_HOME"] = str(workbench_home)
    env["PYTHONPATH"] = str(REPO)
    return env


def triggers(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", "triggers", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    return json.loads(line)


async def test_triggers_made_listed_rotated_and_deleted(cli_env: dict[str, str], wb: Workbench) -> None:
    graph = await hello_graph(wb)
    made = one_json(
        triggers(
            cli_env,
            "create",
            graph.id,
            "--name",
            "issues",
            "--auth",
            "github",
            "--map",
            "name=sender.login",
            "--rate",
            "5",
            "--url",
            "https://wb.example.com/",
            "--json",
        )
    )
    tid, secret = made["id"], made["secret"]
    assert secret.startswith("wbh_") and made["url"] == f"https://wb.example.com/api/v1/hooks/{tid}"
    assert (made["auth_mode"], made["rate_limit_per_minute"], made["input_mapping"]) == (
        "github",
        5,
        {"name": "sender.login"},
    )
    service = TriggerService.of(wb)
    body = json.dumps({"sender": {"login": "octocat"}}).encode()
    fired = await service.fire(tid, {**JSON, **sign_github(secret, body, "cli-1")}, body, wait=10)
    assert fired.execution.outputs["greeting"] == ["Hello, octocat!"]

    listed = one_json(triggers(cli_env, "list", "--graph", graph.id, "--json"))
    assert listed["total"] == 1 and secret not in json.dumps(listed)
    [shown] = listed["triggers"]
    assert (
        shown["id"] == tid and shown["fire_count"] == 1 and shown["url"].startswith("http://127.0.0.1:8006/")
    )
    text = triggers(cli_env, "list", "--graph", graph.id)
    assert text.returncode == 0 and f"{tid}  github" in text.stdout and "calls 1" in text.stdout
    assert f"    http://127.0.0.1:8006/api/v1/hooks/{tid}" in text.stdout and secret not in text.stdout

    rotated = triggers(cli_env, "rotate", tid)
    assert rotated.returncode == 0, rotated.stderr
    assert "not shown again" in rotated.stderr and secret not in rotated.stdout
    new_secret = next(line.split()[-1] for line in rotated.stdout.splitlines() if line.startswith("secret:"))
    assert new_secret.startswith("wbh_") and new_secret != secret
    body = json.dumps({"sender": {"login": "hubot"}}).encode()
    with pytest.raises(AuthError):
        await service.fire(tid, {**JSON, **sign_github(secret, body, "cli-2")}, body)
    await service.fire(tid, {**JSON, **sign_github(new_secret, body, "cli-2")}, body)

    assert one_json(triggers(cli_env, "delete", tid, "--json")) == {"deleted": tid}
    again = triggers(cli_env, "delete", tid)
    assert again.returncode == 2 and f"trigger {tid} not found" in again.stderr
    assert "no triggers" in triggers(cli_env, "list", "--graph", graph.id).stdout


async def test_mistakes_are_exit_code_2_with_the_reason(cli_env: dict[str, str], wb: Workbench) -> None:
    graph = await hello_graph(wb)
    bad_map = triggers(cli_env, "create", graph.id, "--map", "no-equals-sign")
    assert bad_map.returncode == 2 and "--map expects INPUT=PATH" in bad_map.stderr
    refused = triggers(cli_env, "create", graph.id, "--map", "nobody=a..b", "--rate", "0")
    assert refused.returncode == 2
    assert "input_mapping.nobody" in refused.stderr and "rate_limit_per_minute" in refused.stderr
    unknown = triggers(cli_env, "create", "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 2 and "not found" in unknown.stderr
    assert triggers(cli_env, "create", graph.id, "--auth", "basic").returncode == 2  # argparse
    assert triggers(cli_env, "rotate", "not-an-id").returncode == 2
