"""The ``workbench`` command, run for real in subprocesses (exit codes as in launch/cli.py)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import workbench as workbench_package
from tests.support.servers import free_port
from workbench.app import Workbench
from workbench.block.registry import BlockRegistry, load_builtin, load_entry_points
from workbench.errors import NotFoundError
from workbench.store.embedded import PgserverChatter

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "examples" / "hello_agent.json"
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
GET_LIST_ITEM_BLOCK = "262ca24c-1025-43cf-a578-534e23234e97"
FILL_TEXT_TEMPLATE_BLOCK = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"


@pytest.fixture(scope="module")
def cli_env(workbench_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKBENCH_DEBUG")}
    env["WORKBENCH_HOME"] = str(workbench_home)
    env["PYTHONPATH"] = str(REPO)
    return env


def workbench(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", *map(str, args)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_json(stdout: str) -> Any:
    """The single JSON document on stdout (one line)."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def write_graph(path: Path, nodes: list[dict[str, Any]], links: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"name": path.stem, "nodes": nodes, "links": links}), encoding="utf-8")
    return path


def node(node_id: str, block_id: str, **defaults: Any) -> dict[str, Any]:
    return {"id": node_id, "block_id": block_id, "input_default": defaults}


def link(source: str, sink: str) -> dict[str, Any]:
    source_id, source_name = source.split(".")
    sink_id, sink_name = sink.split(".")
    return {"source_id": source_id, "source_name": source_name, "sink_id": sink_id, "sink_name": sink_name}


@pytest.fixture
def failing_graph(tmp_path: Path) -> Path:
    return write_graph(
        tmp_path / "fails.json",
        [
            node("items", INPUT_BLOCK, name="items", value=[1, 2]),
            node("pick", GET_LIST_ITEM_BLOCK, index=5),
            node("out", OUTPUT_BLOCK, name="item"),
        ],
        [link("items.result", "pick.list"), link("pick.item", "out.value")],
    )


@pytest.fixture
def bad_graph(tmp_path: Path) -> Path:
    return write_graph(
        tmp_path / "bad.json",
        [
            node("in", INPUT_BLOCK, name="x"),
            node("mystery", "00000000-0000-0000-0000-00000000beef"),
            node("tpl", FILL_TEXT_TEMPLATE_BLOCK),
        ],
        [
            {"id": "L1", **link("in.result", "tpl.bogus")},
            {"id": "L2", **link("in.result", "tpl.values_#_a")},
        ],
    )


# ---- run -----------------------------------------------------------------------------------------


def test_run_json_prints_exactly_one_json_object(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "run", HELLO, "--input", "name=Ada", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert set(doc) == {"execution_id", "status", "outputs", "error"}
    assert doc["status"] == "COMPLETED"
    assert doc["outputs"] == {"greeting": ["Hello, Ada!"], "length": [11]}
    assert doc["error"] is None
    assert proc.stdout.endswith("}\n")


async def test_durable_run_is_stored_and_ephemeral_run_is_not(cli_env: dict[str, str], wb: Workbench) -> None:
    durable = await asyncio.to_thread(workbench, cli_env, "run", HELLO, "-i", "name=Bo", "--json")
    ephemeral = await asyncio.to_thread(
        workbench, cli_env, "run", HELLO, "-i", "name=Cy", "--json", "--ephemeral"
    )
    assert durable.returncode == 0, durable.stderr
    assert ephemeral.returncode == 0, ephemeral.stderr
    durable_doc, ephemeral_doc = one_json(durable.stdout), one_json(ephemeral.stdout)
    assert durable_doc["outputs"] == {"greeting": ["Hello, Bo!"], "length": [10]}
    assert ephemeral_doc["outputs"] == {"greeting": ["Hello, Cy!"], "length": [10]}
    assert ephemeral_doc["status"] == "COMPLETED"

    stored = await wb.executions.get(durable_doc["execution_id"])
    assert stored.status == "COMPLETED"
    assert stored.outputs == durable_doc["outputs"]
    with pytest.raises(NotFoundError):
        await wb.executions.get(ephemeral_doc["execution_id"])


def test_run_text_output(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "run", HELLO, "--ephemeral")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "greeting: Hello, World!\nlength: 13\n"
    assert "COMPLETED" in proc.stderr


def test_input_values_are_json_when_they_parse_else_strings(cli_env: dict[str, str], tmp_path: Path) -> None:
    names = ["a_list", "a_number", "a_string", "quoted", "an_object", "a_bool", "empty", "with_equals"]
    echo = write_graph(
        tmp_path / "echo.json",
        [node(f"in_{n}", INPUT_BLOCK, name=n) for n in names]
        + [node(f"out_{n}", OUTPUT_BLOCK, name=n) for n in names],
        [link(f"in_{n}.result", f"out_{n}.value") for n in names],
    )
    proc = workbench(
        cli_env,
        "run",
        echo,
        "--ephemeral",
        "--json",
        "-i",
        "a_list=[1, 2]",
        "-i",
        "a_number=42",
        "-i",
        "a_string=hello world",
        "-i",
        'quoted="42"',
        "-i",
        'an_object={"k": [true, null]}',
        "-i",
        "a_bool=true",
        "-i",
        "empty=",
        "-i",
        "with_equals=a=b",
    )
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc.stdout)["outputs"] == {
        "a_list": [[1, 2]],
        "a_number": [42],
        "a_string": ["hello world"],
        "quoted": ["42"],
        "an_object": [{"k": [True, None]}],
        "a_bool": [True],
        "empty": [""],
        "with_equals": ["a=b"],
    }


def test_failing_run_exits_1_naming_the_node_and_its_error(
    cli_env: dict[str, str], failing_graph: Path
) -> None:
    proc = workbench(cli_env, "run", failing_graph, "--ephemeral")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "error: node 'pick' (GetListItemBlock) failed: Index out of range" in proc.stderr

    proc = workbench(cli_env, "run", failing_graph, "--ephemeral", "--json")
    assert proc.returncode == 1
    doc = one_json(proc.stdout)
    assert doc["status"] == "FAILED"
    assert doc["outputs"] == {}
    assert "'pick'" in doc["error"]
    assert "Index out of range" in doc["error"]


def test_durable_failing_run_exits_1(cli_env: dict[str, str], failing_graph: Path) -> None:
    proc = workbench(cli_env, "run", failing_graph, "--json")
    assert proc.returncode == 1
    doc = one_json(proc.stdout)
    assert doc["status"] == "FAILED"
    assert "'pick'" in doc["error"]
    assert "Index out of range" in doc["error"]


def test_unknown_input_name_exits_2_naming_it(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "run", HELLO, "--ephemeral", "--input", "nme=Ada")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "error: unknown input(s) 'nme'; the graph's inputs are: name" in proc.stderr


def test_input_without_equals_exits_2(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "run", HELLO, "--ephemeral", "--input", "Ada")
    assert proc.returncode == 2
    assert "--input expects name=value, got 'Ada'" in proc.stderr


def test_missing_file_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    for command in ("run", "validate"):
        proc = workbench(cli_env, command, missing, *(["--ephemeral"] if command == "run" else []))
        assert proc.returncode == 2, command
        assert f"error: graph file not found: {missing}" in proc.stderr
        assert "internal error" not in proc.stderr


def test_running_an_invalid_graph_exits_2_listing_problems(cli_env: dict[str, str], bad_graph: Path) -> None:
    proc = workbench(cli_env, "run", bad_graph, "--ephemeral")
    assert proc.returncode == 2
    assert "error: graph has 3 problem(s):" in proc.stderr
    assert "node 'mystery': unknown block" in proc.stderr


# ---- validate ------------------------------------------------------------------------------------


def test_validate_bad_file_exits_2_listing_located_problems(cli_env: dict[str, str], bad_graph: Path) -> None:
    proc = workbench(cli_env, "validate", bad_graph)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == f"{bad_graph}: 3 problem(s)"
    assert sorted(lines[1:]) == sorted(
        [
            "  node 'mystery': unknown block '00000000-0000-0000-0000-00000000beef': no block with this id "
            "is installed here (a block defined in a notebook exists only in that notebook's process; "
            "install it as a package to run it elsewhere)",
            "  link from in.result to tpl.bogus: unknown input pin 'bogus' of FillTextTemplateBlock; "
            "valid: escape_html, format, values",
            "  node 'tpl', pin 'format': required input is neither linked nor given a default",
        ]
    )


def test_validate_json(cli_env: dict[str, str], bad_graph: Path) -> None:
    proc = workbench(cli_env, "validate", bad_graph, "--json")
    assert proc.returncode == 2
    doc = one_json(proc.stdout)
    assert doc["valid"] is False
    located = sorted((p["code"], p["node_id"], p["link_id"], p["pin"]) for p in doc["problems"])
    assert located == [
        ("missing_input", "tpl", None, "format"),
        ("unknown_block", "mystery", None, None),
        ("unknown_pin", "tpl", "L1", "bogus"),
    ]
    assert all(set(p) == {"code", "node_id", "link_id", "pin", "message"} for p in doc["problems"])


def test_validate_invalid_json_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "nodes": [,]\n}', encoding="utf-8")
    proc = workbench(cli_env, "validate", path, "--json")
    assert proc.returncode == 2
    assert one_json(proc.stdout) == {
        "valid": False,
        "problems": [
            {
                "code": "json",
                "node_id": None,
                "link_id": None,
                "pin": None,
                "message": "not valid JSON: Expecting value at line 2 column 13",
            }
        ],
    }


def test_validate_valid_file(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "validate", HELLO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{HELLO}: valid\n"
    proc = workbench(cli_env, "validate", HELLO, "--json")
    assert proc.returncode == 0
    assert one_json(proc.stdout) == {"valid": True, "problems": []}


# ---- blocks, db ----------------------------------------------------------------------------------


def installed_blocks() -> BlockRegistry:
    """The blocks a fresh process sees (not the test process's, which tests add blocks to)."""
    registry = BlockRegistry()
    load_builtin(registry)
    load_entry_points(registry)
    return registry


def test_blocks_json_lists_every_block(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "blocks", "--json")
    assert proc.returncode == 0, proc.stderr
    catalogue = one_json(proc.stdout)
    registry = installed_blocks()
    assert sorted(b["id"] for b in catalogue) == sorted(b.id for b in registry)
    assert len(catalogue) == len(registry)
    assert [b["name"] for b in catalogue] == sorted((b["name"] for b in catalogue), key=str.lower)
    for entry in catalogue:
        assert {"id", "name", "categories", "input_schema", "output_schema"} <= set(entry)
        block = registry.get(entry["id"])
        assert entry["name"] == block.name
        assert entry["categories"] == [str(c) for c in block.categories]
        assert entry["input_schema"] == block.input_schema()
        assert entry["output_schema"] == block.output_schema()
    by_name = {b["name"]: b for b in catalogue}
    template = by_name["FillTextTemplateBlock"]
    assert template["id"] == FILL_TEXT_TEMPLATE_BLOCK
    assert template["categories"] == ["TEXT"]
    assert set(template["input_schema"]["properties"]) == {"values", "format", "escape_html"}
    assert set(template["output_schema"]["properties"]) == {"output", "error"}


def test_blocks_by_category(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "blocks", "--json", "--category", "text")
    assert proc.returncode == 0, proc.stderr
    catalogue = one_json(proc.stdout)
    expected = {b.id for b in installed_blocks() if "TEXT" in {str(c) for c in b.categories}}
    assert {b["id"] for b in catalogue} == expected
    assert FILL_TEXT_TEMPLATE_BLOCK in expected


def test_blocks_table(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "blocks")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CATEGORIES", "ID", "DESCRIPTION"]
    assert len(lines) == 1 + len(installed_blocks())
    assert proc.stderr.strip() == f"{len(installed_blocks())} blocks"


def test_db_health_json(cli_env: dict[str, str], workbench_home: Path) -> None:
    proc = workbench(cli_env, "db", "health", "--json")
    assert proc.returncode == 0, proc.stderr
    health = one_json(proc.stdout)
    assert health["ok"] is True
    assert health["migrations_pending"] == []
    assert health["migrations_applied"]
    assert str(workbench_home) in health["database"]
    assert "vector" in health["extensions"]


def test_no_command_is_a_usage_error(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env)
    assert proc.returncode == 2
    assert "usage: workbench" in proc.stderr


@pytest.mark.parametrize("command", ["serve", "up", "executor", "scheduler"])
def test_an_unknown_log_level_is_a_usage_error(cli_env: dict[str, str], command: str) -> None:
    proc = workbench(cli_env, command, "--log-level", "chatty")
    assert proc.returncode == 2
    assert "argument --log-level: invalid choice: 'chatty'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_a_configuration_error(cli_env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = workbench(cli_env, "scheduler", "--port", port)
    assert proc.returncode == 3
    assert proc.stderr.strip() == (
        f"error: the scheduler's health endpoint cannot listen on 127.0.0.1:{port}: "
        "Address already in use (use --port)"
    )


# ---- start-up: --version, what a command imports, a quiet console --------------------------------

STARTUP_PROBE = """
import json, sys
from launch import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
NOT_FOR_HELP = ("pydantic", "workbench.block", "workbench.graph", "asyncio")
NOT_FOR_VALIDATE = (
    "workbench.app",
    "workbench.store",
    "workbench.services",
    "workbench.llm",
    "workbench.knowledge",
    "workbench.net",
    "workbench.sandbox",
    "workbench.templating",
    "asyncio",
    "asyncpg",
    "litestar",
    "uvicorn",
    "httpx",
    "jinja2",
    "pebble",
    "selectolax",
    "server",
    "launch.serve",
    "launch.executor",
    "launch.scheduler",
)


def modules_loaded_by(env: dict[str, str], *args: str | Path) -> tuple[int, set[str]]:
    """Run the CLI with ``args`` in a fresh interpreter: (exit code, every module it imported)."""
    proc = subprocess.run(
        [sys.executable, "-c", STARTUP_PROBE, *map(str, args)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stderr.splitlines()
    assert lines, f"the probe reported nothing (exit {proc.returncode}): {proc.stdout}"
    report = json.loads(lines[-1])
    return report["code"], set(report["modules"])


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The packages of ``names`` that were imported (a package counts with any of its submodules)."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_version(cli_env: dict[str, str]) -> None:
    proc = workbench(cli_env, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"workbench {workbench_package.__version__}\n"
    assert workbench_package.__version__ == importlib.metadata.version("agent-workbench")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_nothing_of_the_platform(cli_env: dict[str, str], flag: str) -> None:
    code, modules = modules_loaded_by(cli_env, flag)
    assert code == 0
    assert heavy(modules, NOT_FOR_HELP + NOT_FOR_VALIDATE) == []


def test_validate_imports_only_the_graph_model_and_the_blocks(cli_env: dict[str, str]) -> None:
    code, modules = modules_loaded_by(cli_env, "validate", HELLO)
    assert code == 0
    assert {"workbench.graph.validate", "workbench.block.registry", "blocks.io", "blocks.text"} <= modules
    # Only the block modules the graph uses (blocks/_index.py says where each block lives).
    assert "blocks.ai" not in modules and "blocks.web" not in modules
    assert heavy(modules, NOT_FOR_VALIDATE) == []


def test_up_console_has_no_embedded_database_info_lines(tmp_path: Path) -> None:
    """``workbench up`` on a fresh data folder (initdb, pg_ctl...): INFO is on, pgserver's chatter is not."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKBENCH_DEBUG")}
    env.update(WORKBENCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    console = tmp_path / "console.txt"
    with open(console, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "launch.cli", "up", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"workbench up exited {proc.returncode}:\n{console.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"workbench up did not come up:\n{console.read_text()}"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = console.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert "Agent Workbench on" in text
    assert any(r["logger"] == "workbench.store.migrate" and r["level"] == "INFO" for r in records), text
    assert [r["message"] for r in records if r["logger"].startswith("pgserver")] == []
    assert "initdb" not in text and "pg_ctl" not in text


def test_pgserver_info_records_pass_only_at_debug() -> None:
    """What --log-level debug shows: pgserver's INFO records; its warnings always."""
    pg = logging.getLogger("pgserver")
    assert any(isinstance(f, PgserverChatter) for f in pg.filters)
    chatter = PgserverChatter()
    root = logging.getLogger()
    saved = root.level, pg.level

    def passes(level: int) -> bool:
        return chatter.filter(logging.LogRecord("pgserver", level, __file__, 1, "pg_ctl start", None, None))

    try:
        root.setLevel(logging.INFO)
        assert not passes(logging.INFO)
        assert passes(logging.WARNING)
        root.setLevel(logging.DEBUG)
        assert passes(logging.INFO) and passes(logging.DEBUG)
        root.setLevel(logging.INFO)
        pg.setLevel(logging.INFO)  # asked for explicitly
        assert passes(logging.INFO)
    finally:
        root.setLevel(saved[0])
        pg.setLevel(saved[1])
