"""Retention removes exactly what the policy names (by age, by count per agent, with users' own
stricter bounds), in small batches, never a run that is going on (or above one), and never chat
history, knowledge, files; runs keep running while it prunes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from tests.dbmanager.conftest import NewDatabase
from tests.dbmanager.rows import (
    add_chat,
    add_file,
    add_knowledge,
    add_review,
    add_run,
    add_runs,
    new_graph,
    new_user,
    node_count,
    runs_of,
)
from tests.store.monitor_data import sleeping_agent
from workbench.app import Workbench
from workbench.config import Settings
from workbench.errors import ConflictError, InvalidFields
from workbench.services.dbmanager.retention import MAX_NODES_PER_BATCH, PRUNE_LOCK, RetentionService
from workbench.store.database import Database
from workbench.store.retention import RetentionRepository

DAY = timedelta(days=1)


def service(
    pool: asyncpg.Pool, settings: Settings, *, batch: int = 3, max_nodes: int = MAX_NODES_PER_BATCH
) -> RetentionService:
    """A pruner that does not pause between batches, with small batches (so there are several)."""
    return RetentionService(RetentionRepository(pool), settings, batch=batch, pause=0, max_nodes=max_nodes)


@pytest.fixture
def pool(wb: Workbench) -> asyncpg.Pool:
    assert wb.db is not None
    return wb.db.pool


async def test_by_age_removes_old_finished_trees_and_nothing_else(wb: Workbench, pool: asyncpg.Pool) -> None:
    user, bystander = await new_user(pool), await new_user(pool)
    graph, other_graph = await new_graph(pool, user), await new_graph(pool, bystander)
    old = [
        await add_run(pool, user, graph, age=10 * DAY, status=s) for s in ("COMPLETED", "FAILED", "CANCELLED")
    ]
    recent = [await add_run(pool, user, graph, age=2 * DAY) for _ in range(2)]
    # Going on, however old: never removed, nor a finished run above one.
    running = await add_run(pool, user, graph, age=10 * DAY, status="RUNNING")
    queued = await add_run(pool, user, graph, age=10 * DAY, status="QUEUED")
    waiting = await add_run(pool, user, graph, age=10 * DAY, status="REVIEW")
    live_parent = await add_run(pool, user, graph, age=10 * DAY)
    live_child = await add_run(pool, user, graph, age=10 * DAY, status="RUNNING", parent=live_parent)
    # A finished tree goes whole: the run, its sub-graph run, that one's own sub-graph run.
    tree = await add_run(pool, user, graph, age=10 * DAY)
    child = await add_run(pool, user, graph, age=10 * DAY, parent=tree)
    grandchild = await add_run(pool, user, graph, age=10 * DAY, parent=child)
    # What refers to old runs and must stay.
    message = await add_chat(pool, user, graph, old[0])
    knowledge = await add_knowledge(pool, user)
    file_id = await add_file(pool, user, old[1])
    review = await add_review(pool, user, graph, old[2])
    untouched = {await add_run(pool, bystander, other_graph, age=10 * DAY) for _ in range(3)}

    retention = service(pool, wb.settings)
    await retention.set(user, 5, None)
    gone = {*old, tree, child, grandchild}
    dry = await retention.prune(dry_run=True)
    assert await runs_of(pool, user) >= gone  # a dry run removes nothing
    report = await retention.prune()
    assert (dry.runs, dry.node_executions) == (report.runs, report.node_executions) == (6, 12)
    assert report.kept == 4 and report.batches >= 3  # running, queued, waiting, live_parent
    assert await runs_of(pool, user) == {*recent, running, queued, waiting, live_parent, live_child}
    assert await node_count(pool, gone) == 0
    assert await node_count(pool, {*recent, running, live_parent, live_child}) == 10
    assert await runs_of(pool, bystander) == untouched

    assert (
        await pool.fetchval("SELECT execution_id::text FROM chat_messages WHERE id = $1", message) == old[0]
    )
    assert await pool.fetchval("SELECT count(*) FROM chat_messages WHERE execution_id = $1", old[0]) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM knowledge_chunks WHERE document_id = $1", knowledge["document"]
        )
        == 1
    )
    assert await pool.fetchval("SELECT graph_execution_id::text FROM files WHERE id = $1", file_id) == old[1]
    assert (
        await pool.fetchval("SELECT count(*) FROM human_reviews WHERE id = $1", review) == 0
    )  # the run's own

    again = await retention.prune()
    assert (again.runs, again.node_executions) == (0, 0)


async def test_by_count_keeps_the_newest_runs_of_each_agent(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    busy, quiet = await new_graph(pool, user, "busy"), await new_graph(pool, user, "quiet")
    busy_runs = [await add_run(pool, user, busy, age=(10 - i) * DAY) for i in range(7)]  # oldest first
    newest_running = await add_run(pool, user, busy, status="RUNNING")
    quiet_runs = {await add_run(pool, user, quiet, age=20 * DAY) for _ in range(3)}
    sub = await add_run(pool, user, quiet, age=20 * DAY, parent=busy_runs[0])  # counts with its root only

    retention = service(pool, wb.settings, batch=2)
    await retention.set(user, None, 3)
    report = await retention.prune()
    # busy keeps its 3 newest (the running one among them); quiet has 3: kept whole.
    assert await runs_of(pool, user) == {newest_running, *busy_runs[-2:], *quiet_runs}
    assert report.runs == 6 and report.node_executions == 12  # 5 busy runs and the sub-graph run
    assert sub not in await runs_of(pool, user)


async def test_age_and_count_together_count_each_run_once(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    graph = await new_graph(pool, user)
    for i in range(6):
        await add_run(pool, user, graph, age=(i + 1) * DAY)
    retention = service(pool, wb.settings)
    await retention.set(user, 4, 2)  # 1d, 2d kept by count; 3d by age and count both go; 4d+ by age
    dry = await retention.prune(dry_run=True)
    report = await retention.prune()
    assert dry.runs == report.runs == 4
    assert len(await runs_of(pool, user)) == 2


async def test_batches_stop_at_the_node_bound(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    graph = await new_graph(pool, user)
    for _ in range(5):
        await add_run(pool, user, graph, age=9 * DAY, nodes=4)
    retention = service(pool, wb.settings, batch=50, max_nodes=6)
    await retention.set(user, 1, None)
    report = await retention.prune()
    assert (report.runs, report.node_executions) == (5, 20)
    assert report.batches == 3  # 4+4, 4+4, 4: a batch stops once it holds 6 node executions or more
    assert await runs_of(pool, user) == set()


async def test_a_run_someone_holds_is_skipped_not_waited_for(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    graph = await new_graph(pool, user)
    held, free = await add_run(pool, user, graph, age=9 * DAY), await add_run(pool, user, graph, age=9 * DAY)
    retention = service(pool, wb.settings)
    await retention.set(user, 1, None)
    async with pool.acquire() as other, other.transaction():
        await other.execute("SELECT 1 FROM graph_executions WHERE id = $1 FOR UPDATE", held)
        report = await asyncio.wait_for(retention.prune(), 5)
    assert (report.runs, report.kept) == (1, 1)
    assert await runs_of(pool, user) == {held}
    assert free not in await runs_of(pool, user)
    assert (await retention.prune()).runs == 1  # released: the next pass takes it


async def test_one_process_prunes_at_a_time(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    retention = service(pool, wb.settings)
    await retention.set(user, 1, None)
    async with pool.acquire() as other:
        await other.execute("SELECT pg_advisory_lock($1)", PRUNE_LOCK)
        try:
            with pytest.raises(ConflictError, match="another process is pruning"):
                await retention.prune()
            assert (await retention.prune(dry_run=True)).dry_run  # counting needs no lock
        finally:
            await other.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK)


async def test_users_may_be_stricter_than_the_server_never_looser(
    new_database: NewDatabase, wb: Workbench
) -> None:
    url = await new_database(migrated=True)
    settings = wb.settings.with_(database_url=url, retention_days=30)
    db = Database(settings)
    await db.start()
    try:
        pool = db.pool
        strict, loose, default = [await new_user(pool, p) for p in ("strict", "loose", "default")]
        runs = {}
        for user in (strict, loose, default):
            graph = await new_graph(pool, user)
            runs[user] = {age: await add_run(pool, user, graph, age=age * DAY) for age in (1, 10, 40)}
        retention = service(pool, settings)
        assert (await retention.set(strict, 5, None)).document() == {
            "days": 5,
            "per_agent": None,
            "server": {"days": 30, "per_agent": None},
            "effective": {"days": 5, "per_agent": None},
        }
        assert (await retention.set(loose, 100, 50)).effective.days == 30
        report = await retention.prune()
        assert report.users == 4  # the local user too: the server's policy is everyone's
        assert await runs_of(pool, strict) == {runs[strict][1]}
        assert await runs_of(pool, loose) == {runs[loose][1], runs[loose][10]}
        assert await runs_of(pool, default) == {runs[default][1], runs[default][10]}
        # Back to the server's bounds: null forgets the user's own.
        assert (await retention.set(strict, None, None)).document()["effective"] == {
            "days": 30,
            "per_agent": None,
        }
        assert await pool.fetchval("SELECT count(*) FROM retention_settings WHERE user_id = $1", strict) == 0
    finally:
        await db.stop()


async def test_bad_bounds_are_refused_naming_the_field(wb: Workbench, pool: asyncpg.Pool) -> None:
    retention = service(pool, wb.settings)
    user = await new_user(pool)
    with pytest.raises(InvalidFields) as caught:
        await retention.set(user, 0, -3)
    assert [field for field, _ in caught.value.problems] == ["days", "per_agent"]


async def test_without_any_policy_nothing_is_touched(wb: Workbench, pool: asyncpg.Pool) -> None:
    user = await new_user(pool)
    graph = await new_graph(pool, user)
    run = await add_run(pool, user, graph, age=3000 * DAY)
    report = await service(pool, wb.settings).prune()
    assert report.runs == 0
    assert run in await runs_of(pool, user)


@pytest.mark.slow
async def test_live_runs_and_their_nodes_survive_pruning_while_runs_go_on(
    wb: Workbench, pool: asyncpg.Pool
) -> None:
    """Real executions run while the pruner removes hundreds of old runs of the same agent under a
    policy of 2 runs per agent: every live run keeps every node execution, and finishes normally."""
    user = await new_user(pool)
    agent = await wb.graphs.create(sleeping_agent(0.8, name="napper"), user)
    await add_runs(pool, user, agent.id, 2000, age=5 * DAY, nodes=3)
    retention = RetentionService(RetentionRepository(pool), wb.settings, batch=25, pause=0.005)
    await retention.set(user, None, 2)

    live = [await wb.executions.submit(agent, {"text": f"run {i}"}, user_id=user) for i in range(6)]
    stop_submitting = asyncio.Event()
    submitted_during: list[str] = []

    async def keep_submitting() -> None:
        while not stop_submitting.is_set():
            submitted_during.append(await wb.executions.submit(agent, {"text": "more"}, user_id=user))
            await asyncio.sleep(0.05)

    async def watch_live() -> None:
        # No run that is going on ever disappears. (The runs live when the pass starts are on its
        # first page, as the newest beyond the 2 kept, and are passed over there as not final; the
        # runs submitted later are newer than the 2 kept at the start: the pass never meets them.)
        while not stop_submitting.is_set():
            ids = [*live, *submitted_during]
            rows = await pool.fetch(
                """SELECT g.id::text, g.status, count(n.id) AS nodes FROM graph_executions g
                   LEFT JOIN node_executions n ON n.graph_execution_id = g.id
                   WHERE g.id = ANY($1::uuid[]) GROUP BY 1, 2""",
                ids,
            )
            seen = {r["id"]: r for r in rows}
            for run_id in ids:
                row = seen.get(run_id)
                if row is None or row["status"] not in ("COMPLETED", "FAILED", "CANCELLED"):
                    assert row is not None, f"live run {run_id} disappeared"
            await asyncio.sleep(0.01)

    submitter, watcher = asyncio.ensure_future(keep_submitting()), asyncio.ensure_future(watch_live())
    await asyncio.sleep(0.2)  # the first runs are RUNNING (sleeping in their node)
    report = await retention.prune()
    stop_submitting.set()
    await submitter
    await watcher
    assert report.runs == 2000 and report.node_executions == 6000  # every old one went
    assert len(submitted_during) >= 5, "the runs were meant to go on while it pruned"
    everyone = [*live, *submitted_during]
    results = [await wb.executions.wait(run_id, timeout=30, user_id=user) for run_id in everyone]
    assert all(r.status == "COMPLETED" for r in results), [r.error for r in results]
    assert all(r.outputs["reply"] for r in results)
    for run_id in everyone:  # input, nap, output: every node row was kept, each run's own
        assert await node_count(pool, [run_id]) == 3
    # Once they have all ended, the policy applies to them too.
    await retention.prune()
    assert len(await runs_of(pool, user)) == 2
