"""Knowledge bases, documents and chunks in PostgreSQL (pgvector + full-text search).

Vectors travel as ``real[]`` and are cast to ``vector`` in SQL (``$n::real[]::vector``): asyncpg
sends float arrays natively, so no codec has to be registered on the pool's connections. Every
query that reads a knowledge base's contents is scoped by the knowledge base id, and every query
that finds a knowledge base is scoped by its user.

Each knowledge base has its own partial HNSW index (see ``migrations/0005_knowledge.sql``); vector
queries name the knowledge base id as a literal so that the planner matches that index.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

HNSW_M = 16
_OPERATORS = re.compile(r'"|(?:^|\s)-\S|\bor\b', re.IGNORECASE)
HNSW_EF_CONSTRUCTION = 64


@dataclass(frozen=True, slots=True)
class KnowledgeBaseRecord:
    """A knowledge base, with counts of its documents and chunks."""

    id: str
    user_id: str
    name: str
    description: str
    embedding_model: str
    dimension: int
    language: str
    chunk_size: int
    chunk_overlap: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    document_count: int = 0
    chunk_count: int = 0


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document of a knowledge base (its chunks are stored apart)."""

    id: str
    knowledge_base_id: str
    title: str
    source: str
    content_type: str
    metadata: dict[str, Any]
    sha256: str
    char_count: int
    chunk_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One chunk to insert."""

    chunk_index: int
    content: str
    heading: str
    page: int | None
    embedding: Sequence[float]


@dataclass(frozen=True, slots=True)
class ChunkHit:
    """A chunk found by a search, with its document's title and source, and its score and rank."""

    chunk_id: int
    document_id: str
    title: str
    source: str
    chunk_index: int
    heading: str
    page: int | None
    content: str
    metadata: dict[str, Any]
    score: float
    rank: int


def index_name(kb_id: str) -> str:
    """The name of a knowledge base's HNSW index."""
    return f"knowledge_chunks_hnsw_{uuid.UUID(kb_id).hex}"


def _kb_literal(kb_id: str) -> str:
    """The id as an SQL literal; safe because it is parsed as a UUID first."""
    return f"'{uuid.UUID(kb_id)}'::uuid"


def _kb(row: asyncpg.Record) -> KnowledgeBaseRecord:
    return KnowledgeBaseRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        name=row["name"],
        description=row["description"],
        embedding_model=row["embedding_model"],
        dimension=row["dimension"],
        language=row["language"],
        chunk_size=row["chunk_size"],
        chunk_overlap=row["chunk_overlap"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        document_count=row["document_count"],
        chunk_count=row["chunk_count"],
    )


def _doc(row: asyncpg.Record) -> DocumentRecord:
    return DocumentRecord(
        id=str(row["id"]),
        knowledge_base_id=str(row["knowledge_base_id"]),
        title=row["title"],
        source=row["source"],
        content_type=row["content_type"],
        metadata=row["metadata"],
        sha256=row["sha256"],
        char_count=row["char_count"],
        chunk_count=row["chunk_count"],
        created_at=row["created_at"],
    )


_KB_SELECT = """
SELECT kb.*,
       (SELECT count(*) FROM knowledge_documents d WHERE d.knowledge_base_id = kb.id)::int AS document_count,
       (SELECT coalesce(sum(d.chunk_count), 0) FROM knowledge_documents d
         WHERE d.knowledge_base_id = kb.id)::int AS chunk_count
FROM knowledge_bases kb
"""

_HIT_COLUMNS = """c.id AS chunk_id, c.document_id, d.title, d.source, c.chunk_index, c.heading, c.page,
       c.content, c.metadata"""


class KnowledgeRepository:
    """SQL for knowledge bases; the service above it checks inputs and ownership."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- knowledge bases ---------------------------------------------------------------------------

    async def valid_language(self, language: str) -> bool:
        """Whether ``language`` names a text search configuration of this server."""
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = $1)", language
            )
        )

    async def create(self, user_id: str, fields: dict[str, Any]) -> KnowledgeBaseRecord | None:
        """Insert a knowledge base and its HNSW index; None when the user has one of that name."""
        async with self.pool.acquire() as conn, conn.transaction():
            kb_id = await conn.fetchval(
                """INSERT INTO knowledge_bases (user_id, name, description, embedding_model, dimension,
                                                language, chunk_size, chunk_overlap, metadata)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT (user_id, name) DO NOTHING RETURNING id""",
                uuid.UUID(user_id),
                fields["name"],
                fields["description"],
                fields["embedding_model"],
                fields["dimension"],
                fields["language"],
                fields["chunk_size"],
                fields["chunk_overlap"],
                fields["metadata"],
            )
            if kb_id is None:
                return None
            await self.create_vector_index(str(kb_id), fields["dimension"], conn)
            row = await conn.fetchrow(_KB_SELECT + " WHERE kb.id = $1", kb_id)
        return _kb(row)

    async def create_vector_index(
        self, kb_id: str, dimension: int, conn: asyncpg.Connection | None = None
    ) -> None:
        """(Re)create the knowledge base's HNSW index for cosine distance."""
        sql = (
            f"CREATE INDEX IF NOT EXISTS {index_name(kb_id)} ON knowledge_chunks "
            f"USING hnsw ((embedding::vector({int(dimension)})) vector_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
            f"WHERE knowledge_base_id = {_kb_literal(kb_id)}"
        )
        if conn is None:
            await self.pool.execute(sql)
        else:
            await conn.execute(sql)

    async def drop_vector_index(self, kb_id: str) -> None:
        """Drop the knowledge base's HNSW index (bulk loads build it once at the end)."""
        await self.pool.execute(f"DROP INDEX IF EXISTS {index_name(kb_id)}")

    async def get(self, kb_id: str, user_id: str) -> KnowledgeBaseRecord | None:
        """The user's knowledge base with this id."""
        row = await self.pool.fetchrow(
            _KB_SELECT + " WHERE kb.id = $1 AND kb.user_id = $2", uuid.UUID(kb_id), uuid.UUID(user_id)
        )
        return _kb(row) if row else None

    async def get_by_name(self, name: str, user_id: str) -> KnowledgeBaseRecord | None:
        """The user's knowledge base with this name."""
        row = await self.pool.fetchrow(
            _KB_SELECT + " WHERE kb.name = $1 AND kb.user_id = $2", name, uuid.UUID(user_id)
        )
        return _kb(row) if row else None

    async def list(self, user_id: str, limit: int, offset: int) -> tuple[list[KnowledgeBaseRecord], int]:
        """The user's knowledge bases, newest first, and how many there are."""
        uid = uuid.UUID(user_id)
        rows = await self.pool.fetch(
            _KB_SELECT + " WHERE kb.user_id = $1 ORDER BY kb.created_at DESC, kb.id LIMIT $2 OFFSET $3",
            uid,
            limit,
            offset,
        )
        total = await self.pool.fetchval("SELECT count(*) FROM knowledge_bases WHERE user_id = $1", uid)
        return [_kb(r) for r in rows], total

    async def delete(self, kb_id: str, user_id: str) -> bool:
        """Delete the knowledge base, its documents, chunks and index; False if not the user's."""
        async with self.pool.acquire() as conn, conn.transaction():
            deleted = await conn.fetchval(
                "DELETE FROM knowledge_bases WHERE id = $1 AND user_id = $2 RETURNING id",
                uuid.UUID(kb_id),
                uuid.UUID(user_id),
            )
            if deleted is not None:
                await conn.execute(f"DROP INDEX IF EXISTS {index_name(kb_id)}")
        return deleted is not None

    # ---- documents ---------------------------------------------------------------------------------

    async def add_document(
        self, kb: KnowledgeBaseRecord, document: dict[str, Any], chunks: Sequence[ChunkRow]
    ) -> DocumentRecord:
        """Insert a document and its chunks in one transaction."""
        kb_id = uuid.UUID(kb.id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO knowledge_documents (knowledge_base_id, title, source, content_type, metadata,
                                                    sha256, char_count, chunk_count)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
                kb_id,
                document["title"],
                document["source"],
                document["content_type"],
                document["metadata"],
                document["sha256"],
                document["char_count"],
                len(chunks),
            )
            await self.insert_chunks(conn, kb, row["id"], document["metadata"], chunks)
            await conn.execute("UPDATE knowledge_bases SET updated_at = now() WHERE id = $1", kb_id)
        return _doc(row)

    async def insert_chunks(
        self,
        conn: asyncpg.Connection,
        kb: KnowledgeBaseRecord,
        document_id: uuid.UUID,
        metadata: dict[str, Any],
        chunks: Sequence[ChunkRow],
    ) -> None:
        """Insert chunks of a document (pipelined); the full-text vector is computed here."""
        await conn.executemany(
            """INSERT INTO knowledge_chunks (knowledge_base_id, document_id, chunk_index, heading, page,
                                             content, metadata, embedding, tsv)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::real[]::vector,
                       setweight(to_tsvector($9::regconfig, $4), 'A')
                       || setweight(to_tsvector($9::regconfig, $6), 'B'))""",
            [
                (
                    uuid.UUID(kb.id),
                    document_id,
                    c.chunk_index,
                    c.heading,
                    c.page,
                    c.content,
                    metadata,
                    list(c.embedding),
                    kb.language,
                )
                for c in chunks
            ],
        )

    async def get_document(self, kb_id: str, document_id: str) -> DocumentRecord | None:
        """A document of the knowledge base."""
        row = await self.pool.fetchrow(
            "SELECT * FROM knowledge_documents WHERE id = $1 AND knowledge_base_id = $2",
            uuid.UUID(document_id),
            uuid.UUID(kb_id),
        )
        return _doc(row) if row else None

    async def list_documents(self, kb_id: str, limit: int, offset: int) -> tuple[list[DocumentRecord], int]:
        """The knowledge base's documents, newest first, and how many there are."""
        kid = uuid.UUID(kb_id)
        rows = await self.pool.fetch(
            """SELECT * FROM knowledge_documents WHERE knowledge_base_id = $1
               ORDER BY created_at DESC, id LIMIT $2 OFFSET $3""",
            kid,
            limit,
            offset,
        )
        total = await self.pool.fetchval(
            "SELECT count(*) FROM knowledge_documents WHERE knowledge_base_id = $1", kid
        )
        return [_doc(r) for r in rows], total

    async def delete_document(self, kb_id: str, document_id: str) -> bool:
        """Delete a document and its chunks; False if the knowledge base has no such document."""
        deleted = await self.pool.fetchval(
            "DELETE FROM knowledge_documents WHERE id = $1 AND knowledge_base_id = $2 RETURNING id",
            uuid.UUID(document_id),
            uuid.UUID(kb_id),
        )
        return deleted is not None

    # ---- search ------------------------------------------------------------------------------------

    async def vector_search(
        self,
        kb: KnowledgeBaseRecord,
        vector: Sequence[float],
        limit: int,
        metadata_filter: dict[str, Any] | None = None,
        *,
        exact: bool = False,
        ef_search: int = 100,
    ) -> list[ChunkHit]:
        """The chunks nearest ``vector`` (cosine), score = 1 - cosine distance.

        The HNSW index returns at most ``ef_search`` candidates, and a metadata filter is applied to
        those; ``exact`` scans every chunk of the knowledge base instead (no index).
        """
        args: list[Any] = [list(vector), limit]
        if metadata_filter:
            args.append(metadata_filter)
        sql = vector_sql(kb, filtered=bool(metadata_filter))
        async with self.pool.acquire() as conn, conn.transaction():
            if exact:
                await conn.execute("SET LOCAL enable_indexscan = off")
            else:
                await conn.execute(f"SET LOCAL hnsw.ef_search = {max(1, min(int(ef_search), 1000))}")
            rows = await conn.fetch(sql, *args)
        return _hits(rows)

    async def keyword_search(
        self, kb: KnowledgeBaseRecord, query: str, limit: int, metadata_filter: dict[str, Any] | None = None
    ) -> list[ChunkHit]:
        """Chunks matching ``query`` by full-text search, best ``ts_rank`` first.

        A query with web search operators (``"a phrase"``, ``or``, ``-word``) is taken as written
        (``websearch_to_tsquery``). A plain query (a question, a few words) finds the chunks that
        have any of its words, and ranks those that have all of them first, then by ``ts_rank``.
        """
        strict = bool(_OPERATORS.search(query))
        args: list[Any] = [uuid.UUID(kb.id), kb.language, query, limit]
        extra = ""
        if metadata_filter:
            args.append(metadata_filter)
            extra = " AND c.metadata @> $5"
        match = "q.q_all" if strict else "q.q_any"
        rows = await self.pool.fetch(
            f"""WITH q AS (
                    SELECT websearch_to_tsquery($2::regconfig, $3) AS q_all,
                           replace(plainto_tsquery($2::regconfig, $3)::text, ' & ', ' | ')::tsquery AS q_any)
                SELECT {_HIT_COLUMNS}, ts_rank(c.tsv, {match}, 1) AS score
                FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id, q
                WHERE c.knowledge_base_id = $1 AND c.tsv @@ {match}{extra}
                ORDER BY c.tsv @@ q.q_all DESC, score DESC, c.id LIMIT $4""",
            *args,
        )
        return _hits(rows)


def vector_sql(kb: KnowledgeBaseRecord, *, filtered: bool) -> str:
    """The nearest-chunks query of a knowledge base: ``$1`` the vector (``real[]``), ``$2`` the limit,
    ``$3`` a metadata filter when ``filtered``. Written so that its inner ORDER BY matches the
    knowledge base's partial HNSW index: same expression, the id as a literal."""
    dim = int(kb.dimension)
    where = f"c.knowledge_base_id = {_kb_literal(kb.id)}"
    if filtered:
        where += " AND c.metadata @> $3"
    distance = f"(c.embedding::vector({dim})) <=> $1::real[]::vector({dim})"
    return f"""
        SELECT {_HIT_COLUMNS}, 1 - near.distance AS score
        FROM (SELECT c.id, {distance} AS distance FROM knowledge_chunks c
              WHERE {where} ORDER BY {distance} LIMIT $2) near
        JOIN knowledge_chunks c ON c.id = near.id
        JOIN knowledge_documents d ON d.id = c.document_id
        ORDER BY near.distance, c.id"""


def _hits(rows: list[asyncpg.Record]) -> list[ChunkHit]:
    return [
        ChunkHit(
            chunk_id=r["chunk_id"],
            document_id=str(r["document_id"]),
            title=r["title"],
            source=r["source"],
            chunk_index=r["chunk_index"],
            heading=r["heading"],
            page=r["page"],
            content=r["content"],
            metadata=r["metadata"],
            score=float(r["score"]),
            rank=i + 1,
        )
        for i, r in enumerate(rows)
    ]
