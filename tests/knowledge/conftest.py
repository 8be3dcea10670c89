"""Fixtures of the knowledge tests: the service on the test run's database, users, a small corpus."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.knowledge import KnowledgeService

CORPUS = Path(__file__).parent / "corpus"


async def delete_all(service: KnowledgeService, user_id: str) -> None:
    """Delete every knowledge base of a user (their HNSW indexes with them)."""
    items, _ = await service.list(user_id, limit=500)
    for kb in items:
        await service.delete(kb.id, user_id)


@pytest.fixture
async def service(wb: Workbench) -> AsyncIterator[KnowledgeService]:
    """The knowledge service; the local user's knowledge bases are deleted afterwards."""
    svc = KnowledgeService.of(wb)
    yield svc
    await delete_all(svc, LOCAL_USER_ID)


@pytest.fixture
async def other_user(wb: Workbench, service: KnowledgeService) -> AsyncIterator[str]:
    """A second user (a row in users); their knowledge bases are deleted afterwards."""
    assert wb.db is not None
    user_id = str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email, name) VALUES ($1, 'Other') RETURNING id",
            f"other-{uuid.uuid4().hex[:10]}@example.com",
        )
    )
    yield user_id
    await delete_all(service, user_id)
    await wb.db.pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(user_id))


def corpus_files() -> list[Path]:
    """The small test corpus: Markdown, text and HTML documents on unrelated topics."""
    return sorted(p for p in CORPUS.iterdir() if p.is_file())
