"""Shared fixtures: one fresh embedded PostgreSQL per test run, under a temporary WORKBENCH_HOME."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.app import Workbench
from workbench.block.registry import BlockRegistry, default_registry
from workbench.config import Settings

pytest_plugins = ["tests.support.servers", "tests.support.clamd"]

# Servers the tests start serve no web apps unless a test asks (tests/support/servers.py start_server
# ui=True): they would all want the same WORKBENCH_UI_PORT.
os.environ.setdefault("WORKBENCH_UI", "off")


SLOW_FILES = (
    "server/test_schemathesis.py",
    "store/test_embedded_start.py",
    "kernel/test_notebook_icons.py",
    "notebooks/test_notebooks.py",
)
"""Files that take a minute or more besides the browser tests (``make test --durations`` shows them)."""


def _slow(path: Path) -> bool:
    relative = path.relative_to(Path(__file__).parent).as_posix()
    return relative.startswith("ui/") or "browser" in path.name or relative in SLOW_FILES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow files first (the page tests, the fuzzer, the notebooks), each file's tests in their
    order: ``make test``'s workers take a file at a time in this order (``--no-loadscope-reorder``),
    so the run ends on short tests rather than on one worker's last page test while the other has
    nothing left to do."""
    items.sort(key=lambda item: not _slow(item.path))


@pytest.fixture(autouse=True)
def fresh_page_budget() -> None:
    """Live pages opened by a test share a loop-time budget of their own (none left over)."""
    from workbench.ui.budget import PAGE_UPDATES

    PAGE_UPDATES.reset()


@pytest.fixture(scope="session")
def workbench_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh data folder for this test run (its own embedded database)."""
    home = tmp_path_factory.mktemp("workbench-home")
    os.environ["WORKBENCH_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    return home


@pytest.fixture(scope="session")
def settings(workbench_home: Path) -> Settings:
    """Settings pointing at the test run's data folder."""
    return Settings.from_env({"WORKBENCH_HOME": str(workbench_home)})


@pytest.fixture(scope="session")
def registry() -> BlockRegistry:
    """The built-in blocks plus the test blocks of tests/support/blocks.py."""
    from tests.support import blocks as test_blocks

    reg = default_registry().copy()
    reg.register_module(test_blocks, "tests.support.blocks")
    return reg


@pytest.fixture(scope="session")
async def wb(settings: Settings, registry: BlockRegistry) -> AsyncIterator[Workbench]:
    """A durable Workbench on the test run's embedded PostgreSQL."""
    async with Workbench(settings, registry=registry) as bench:
        yield bench


@pytest.fixture(scope="session")
def llm() -> Iterator[Any]:
    """The local OpenAI/Anthropic-compatible server (tests/support/openai_server.py), for this run."""
    from tests.support.openai_server import serve

    with serve() as server:
        yield server


@pytest.fixture
def loopback_allowed(wb: Workbench) -> Iterator[None]:
    """Blocks run by ``wb`` may reach 127.0.0.1 (the tests' local lookalike servers) for one test, as
    an operator allows it with ``WORKBENCH_HTTP_ALLOW=127.0.0.0/8``."""
    before = wb.executions.settings
    wb.executions.settings = before.with_(http_allow=(*before.http_allow, "127.0.0.0/8"))
    yield
    wb.executions.settings = before


@pytest.fixture(scope="session")
async def ewb(settings: Settings, registry: BlockRegistry) -> AsyncIterator[Workbench]:
    """An ephemeral Workbench: no database, nothing stored."""
    async with Workbench(settings, registry=registry, ephemeral=True) as bench:
        yield bench


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (each run uses its own key prefix)."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
async def dwb(
    settings: Settings, registry: BlockRegistry, amqp_vhosts: Callable[[], str], redis_url: str
) -> AsyncIterator[Workbench]:
    """The distributed configuration: runs published to RabbitMQ (this run's own vhost), consumed by
    this process as an executor, events on Redis (this run's own key prefix), state in PostgreSQL."""
    import uuid

    distributed = settings.with_(
        amqp_url=amqp_vhosts(),  # its own vhost: other tests' executors never take its runs
        redis_url=redis_url,
        key_prefix=f"wb-test-{uuid.uuid4().hex[:12]}",
    )
    async with Workbench(distributed, registry=registry, consume=True) as bench:
        yield bench


BENCH_MODES = {"ephemeral": "ewb", "durable": "wb", "distributed": "dwb"}


@pytest.fixture(params=list(BENCH_MODES))
def bench(request: pytest.FixtureRequest) -> Workbench:
    """Every mode: engine behaviour must not depend on whether runs are stored or where they run."""
    return request.getfixturevalue(BENCH_MODES[request.param])


@pytest.fixture(scope="session")
def amqp_vhosts() -> Iterator[Callable[[], str]]:
    """Makes fresh RabbitMQ vhosts on the machine's broker (deleted at the end of the run); returns
    the AMQP URL of each. Consumers on different vhosts never see each other's messages."""
    import shutil
    import subprocess
    import uuid

    ctl = shutil.which("rabbitmqctl")
    assert ctl, "RabbitMQ is needed for the distributed tests (rabbitmqctl not found)"
    made: list[str] = []

    def make() -> str:
        vhost = f"wb-test-{uuid.uuid4().hex[:12]}"
        subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
        made.append(vhost)
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True
        )
        return f"amqp://guest:guest@127.0.0.1:5672/{vhost}"

    yield make
    for vhost in made:
        subprocess.run([ctl, "delete_vhost", vhost], check=False, capture_output=True)


@pytest.fixture(scope="session")
def amqp_url(amqp_vhosts: Callable[[], str]) -> str:
    """A fresh RabbitMQ vhost for this test run's queue tests."""
    return amqp_vhosts()
