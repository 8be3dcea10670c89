"""Stored runs made directly in SQL (any age, any status, with sub-graph runs), and the things that
refer to runs and must outlive them: chat messages, knowledge documents, files, human reviews."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg


async def new_user(pool: asyncpg.Pool, prefix: str = "retention") -> str:
    """A user of the test's own."""
    return str(
        await pool.fetchval(
            "INSERT INTO users (email) VALUES ($1) RETURNING id",
            f"{prefix}-{uuid.uuid4().hex[:10]}@example.com",
        )
    )


async def new_graph(pool: asyncpg.Pool, user_id: str, name: str = "agent") -> str:
    """A stored graph (version 1, no nodes: runs made here need none)."""
    graph_id = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO graphs (id, version, user_id, name) VALUES ($1, 1, $2, $3)", graph_id, user_id, name
    )
    return graph_id


async def add_run(
    pool: asyncpg.Pool,
    user_id: str,
    graph_id: str,
    *,
    age: timedelta = timedelta(0),
    status: str = "COMPLETED",
    nodes: int = 2,
    parent: str | None = None,
) -> str:
    """A run created ``age`` ago, in ``status``, with ``nodes`` node executions (a sub-graph run
    of ``parent`` when given)."""
    run_id = str(uuid.uuid4())
    created = datetime.now(UTC) - age
    await pool.execute(
        """INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, parent_execution_id,
                                         created_at, updated_at, ended_at)
           VALUES ($1, $2, 1, $3, $4::text, $5, $6::timestamptz, $6,
                   CASE WHEN $4 IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN $6 END)""",
        run_id,
        graph_id,
        user_id,
        status,
        parent,
        created,
    )
    if nodes:
        await pool.execute(
            """INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status,
                                            outputs, started_at, ended_at)
               SELECT gen_random_uuid(), $1, 'n' || i, 'block', 0, 'COMPLETED', '[["out", 1]]', $2, $2
               FROM generate_series(1, $3) i""",
            run_id,
            created,
            nodes,
        )
    return run_id


async def add_runs(
    pool: asyncpg.Pool, user_id: str, graph_id: str, count: int, *, age: timedelta, nodes: int = 2
) -> None:
    """``count`` COMPLETED runs created ``age`` ago (a second apart), ``nodes`` node executions each,
    in two statements."""
    created = datetime.now(UTC) - age
    async with pool.acquire() as conn, conn.transaction():
        ids = await conn.fetch(
            """INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, created_at,
                                             updated_at, ended_at)
               SELECT gen_random_uuid(), $1, 1, $2, 'COMPLETED', $3::timestamptz - make_interval(secs => i),
                      $3::timestamptz - make_interval(secs => i), $3::timestamptz - make_interval(secs => i)
               FROM generate_series(1, $4) i RETURNING id""",
            graph_id,
            user_id,
            created,
            count,
        )
        await conn.execute(
            """INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status)
               SELECT gen_random_uuid(), r, 'n' || i, 'block', 0, 'COMPLETED'
               FROM unnest($1::uuid[]) r, generate_series(1, $2) i""",
            [r["id"] for r in ids],
            nodes,
        )


async def runs_of(pool: asyncpg.Pool, user_id: str) -> set[str]:
    """Ids of every run of the user (sub-graph runs included)."""
    rows = await pool.fetch("SELECT id::text FROM graph_executions WHERE user_id = $1", user_id)
    return {r["id"] for r in rows}


async def node_count(pool: asyncpg.Pool, run_ids: set[str] | list[str]) -> int:
    """Node executions of these runs."""
    return await pool.fetchval(
        "SELECT count(*) FROM node_executions WHERE graph_execution_id = ANY($1::uuid[])", list(run_ids)
    )


async def add_chat(pool: asyncpg.Pool, user_id: str, graph_id: str, execution_id: str) -> int:
    """A chat session with a question and the reply of run ``execution_id``; the reply's id."""
    session = await pool.fetchval(
        "INSERT INTO chat_sessions (user_id, graph_id, title) VALUES ($1, $2, 'chat') RETURNING id",
        user_id,
        graph_id,
    )
    await pool.execute(
        "INSERT INTO chat_messages (session_id, role, text) VALUES ($1, 'user', 'hello?')", session
    )
    return await pool.fetchval(
        """INSERT INTO chat_messages (session_id, role, text, execution_id)
           VALUES ($1, 'assistant', 'hello!', $2) RETURNING id""",
        session,
        execution_id,
    )


async def add_knowledge(pool: asyncpg.Pool, user_id: str) -> dict[str, Any]:
    """A knowledge base with one document of one chunk (a 3-d embedding)."""
    kb = await pool.fetchval(
        """INSERT INTO knowledge_bases (user_id, name, embedding_model, dimension, chunk_size, chunk_overlap)
           VALUES ($1, $2, 'test-3d', 3, 800, 100) RETURNING id""",
        user_id,
        f"kb-{uuid.uuid4().hex[:8]}",
    )
    doc = await pool.fetchval(
        """INSERT INTO knowledge_documents (knowledge_base_id, title, content_type, sha256, chunk_count)
           VALUES ($1, 'handbook', 'text/plain', 'abc', 1) RETURNING id""",
        kb,
    )
    await pool.execute(
        """INSERT INTO knowledge_chunks (knowledge_base_id, document_id, chunk_index, content, embedding, tsv)
           VALUES ($1, $2, 0, 'twenty days of leave', '[1,2,3]', to_tsvector('english', 'twenty days'))""",
        kb,
        doc,
    )
    return {"knowledge_base": kb, "document": doc}


async def add_file(pool: asyncpg.Pool, user_id: str, execution_id: str) -> str:
    """A file record a run stored."""
    file_id = str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO files (id, user_id, name, content_type, size, sha256, storage_key, graph_execution_id)
           VALUES ($1, $2, 'report.txt', 'text/plain', 3, 'x', $3, $4)""",
        file_id,
        user_id,
        f"test/{file_id}",
        execution_id,
    )
    return file_id


async def add_review(pool: asyncpg.Pool, user_id: str, graph_id: str, execution_id: str) -> str:
    """A decided human review of a run."""
    return str(
        await pool.fetchval(
            """INSERT INTO human_reviews (execution_id, root_execution_id, node_id, seq, node_execution_id,
                                          user_id, graph_id, graph_version, status, decision, decided_at)
               VALUES ($1, $1, 'ask', 0, gen_random_uuid(), $2, $3, 1, 'APPROVED', 'approve', now())
               RETURNING id""",
            execution_id,
            user_id,
            graph_id,
        )
    )
