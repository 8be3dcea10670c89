"""Knowledge bases: documents chunked, embedded and stored in PostgreSQL (pgvector), searched by
meaning, by keywords, or both.

Public API::

    service = KnowledgeService.of(wb)                      # a durable Workbench
    kb = await service.create(user_id, "Handbook")         # local all-MiniLM-L6-v2 by default
    added = await service.add_document(kb.id, user_id, markdown_text, filename="setup.md")
    hits = await service.search(kb.id, user_id, "how do I install it?", mode="hybrid", top_k=5)

Modules: :mod:`.loaders` (text, Markdown, HTML, PDF), :mod:`.chunking`, :mod:`.embedders` (local
or OpenAI-compatible), :mod:`.store` (SQL), :mod:`.search` (rank fusion), :mod:`.service`.
"""

from __future__ import annotations

from workbench.knowledge.chunking import Chunk, Section, chunk_sections
from workbench.knowledge.embedders import (
    DEFAULT_MODEL,
    Embedder,
    EmbedderFactory,
    EmbeddingConfigError,
    LocalEmbedder,
    RemoteEmbedder,
)
from workbench.knowledge.loaders import DocumentError, LoadedDocument, load_document
from workbench.knowledge.search import SEARCH_MODES, SearchHit, SearchMode
from workbench.knowledge.service import AddedDocument, KnowledgeInputError, KnowledgeService, hit_to_dict
from workbench.knowledge.store import DocumentRecord, KnowledgeBaseRecord, KnowledgeRepository

__all__ = [
    "DEFAULT_MODEL",
    "SEARCH_MODES",
    "AddedDocument",
    "Chunk",
    "DocumentError",
    "DocumentRecord",
    "Embedder",
    "EmbedderFactory",
    "EmbeddingConfigError",
    "KnowledgeBaseRecord",
    "KnowledgeInputError",
    "KnowledgeRepository",
    "KnowledgeService",
    "LoadedDocument",
    "LocalEmbedder",
    "RemoteEmbedder",
    "SearchHit",
    "SearchMode",
    "Section",
    "chunk_sections",
    "hit_to_dict",
    "load_document",
]
