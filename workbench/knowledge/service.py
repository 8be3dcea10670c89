"""Knowledge service: a user's knowledge bases, their documents, and search over them.

Every call names the user; another user's knowledge base or document is :class:`NotFoundError`,
exactly as an unknown id is. Bad fields are a :class:`KnowledgeInputError` that lists each one
(``(field, message)``; a 422 at the API), unreadable documents a ``DocumentError``.

Adding a document: scan it for viruses (the file service's check, when ``WORKBENCH_FILE_SCAN`` is
on: an infected document is refused before anything reads it), read it (:mod:`.loaders`), cut it into
chunks (:mod:`.chunking`), embed each chunk's heading path and text with the knowledge base's model
(:mod:`.embedders`), and store the document and its chunks in one transaction: a failure leaves
nothing half-added.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.errors import InputError, NotFoundError
from workbench.knowledge.chunking import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    chunk_sections,
)
from workbench.knowledge.embedders import (
    DEFAULT_MODEL,
    KNOWN_DIMENSIONS,
    LOCAL_PREFIX,
    MAX_DIMENSION,
    Embedder,
    EmbedderFactory,
    EmbeddingConfigError,
    probe_dimension,
)
from workbench.knowledge.loaders import DocumentError, LoadedDocument, load_document_async
from workbench.knowledge.search import (
    SEARCH_MODES,
    SearchHit,
    SearchMode,
    reciprocal_rank_fusion,
    single,
)
from workbench.knowledge.store import ChunkRow, DocumentRecord, KnowledgeBaseRecord, KnowledgeRepository
from workbench.net.errors import BlockedAddress

MAX_TOP_K = 100
MAX_QUERY_LENGTH = 10_000
MAX_CHUNKS_PER_DOCUMENT = 20_000
EMBED_BATCH = 256
HYBRID_CANDIDATES = 4
"""Hybrid search fuses this many times ``top_k`` results of each list (at least 20, at most 200)."""


class KnowledgeInputError(InputError):
    """Bad fields: ``problems`` lists (field, message) for every one of them."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


@dataclass(frozen=True, slots=True)
class AddedDocument:
    """A stored document, and what embedding it cost (tokens and dollars; zero for local models)."""

    document: DocumentRecord
    embedding_tokens: int = 0
    cost_usd: float = 0.0


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _text_problem(value: Any, max_length: int, *, required: bool = False) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if required and not value.strip():
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def _endpoint_refused(exc: BlockedAddress) -> tuple[str, str]:
    """The located problem of an embeddings endpoint the outbound guard refused: only a base URL from
    the user's own ``openai`` credential is checked (the operator's, from the environment, is not),
    so the fix is there."""
    return (
        "embedding_model",
        f"the embeddings endpoint (the base_url of your 'openai' credential) is not allowed: {exc}",
    )


def hit_to_dict(hit: SearchHit) -> dict[str, Any]:
    """A search result as plain JSON data (the API and the blocks return this)."""
    c = hit.chunk
    return {
        "chunk_id": c.chunk_id,
        "document_id": c.document_id,
        "title": c.title,
        "source": c.source,
        "chunk_index": c.chunk_index,
        "heading": c.heading,
        "page": c.page,
        "content": c.content,
        "metadata": c.metadata,
        "score": hit.score,
        "rank": hit.rank,
        "vector_rank": hit.vector_rank,
        "keyword_rank": hit.keyword_rank,
    }


class KnowledgeService:
    """Knowledge bases of users: create, list, delete; add, list, delete documents; search."""

    def __init__(
        self,
        repo: KnowledgeRepository,
        embedders: EmbedderFactory | None = None,
        *,
        scan: Callable[[bytes | str, str], Awaitable[None]] | None = None,
    ) -> None:
        """``scan(content, name)``: the file service's virus check, raising to refuse a document."""
        self.repo = repo
        self.embedders = embedders or EmbedderFactory()
        self.scan = scan

    @classmethod
    def of(cls, wb: Any) -> KnowledgeService:
        """The service of a started, durable Workbench (its ``knowledge``): one per application."""
        if wb.knowledge is None:
            raise NotFoundError("knowledge bases need a database: this workbench is ephemeral")
        return wb.knowledge

    # ---- knowledge bases ---------------------------------------------------------------------------

    async def create(
        self,
        user_id: str,
        name: str,
        *,
        description: str = "",
        embedding_model: str = DEFAULT_MODEL,
        dimension: int | None = None,
        language: str = "english",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        metadata: Mapping[str, Any] | None = None,
    ) -> KnowledgeBaseRecord:
        """A new knowledge base. Its model's dimension is known, given, or found by one probe request."""
        problems: list[tuple[str, str]] = []
        for key, value, limit, required in (
            ("name", name, 200, True),
            ("description", description, 5000, False),
            ("embedding_model", embedding_model, 200, True),
            ("language", language, 63, True),
        ):
            problem = _text_problem(value, limit, required=required)
            if problem:
                problems.append((key, problem))
        if dimension is not None and not (isinstance(dimension, int) and 1 <= dimension <= MAX_DIMENSION):
            problems.append(("dimension", f"must be an integer from 1 to {MAX_DIMENSION}"))
        if not (isinstance(chunk_size, int) and MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE):
            problems.append(("chunk_size", f"must be from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} characters"))
        elif not (isinstance(chunk_overlap, int) and 0 <= chunk_overlap <= chunk_size // 2):
            problems.append(("chunk_overlap", "must be from 0 to half of chunk_size"))
        if metadata is not None and not isinstance(metadata, Mapping):
            problems.append(("metadata", "must be a JSON object"))
        if not any(k == "language" for k, _ in problems) and not await self.repo.valid_language(language):
            problems.append(
                ("language", f"unknown text search configuration {language!r} (e.g. english, simple)")
            )
        if not problems:
            dimension = await self._dimension(user_id, embedding_model, dimension, problems)
        if problems:
            raise KnowledgeInputError(problems)
        created = await self.repo.create(
            user_id,
            {
                "name": name.strip(),
                "description": description,
                "embedding_model": embedding_model,
                "dimension": dimension,
                "language": language,
                "chunk_size": chunk_size,
                "chunk_overlap": chunk_overlap,
                "metadata": dict(metadata or {}),
            },
        )
        if created is None:
            raise KnowledgeInputError([("name", f"you already have a knowledge base named {name.strip()!r}")])
        return created

    async def _dimension(
        self, user_id: str, model: str, dimension: int | None, problems: list[tuple[str, str]]
    ) -> int:
        native = KNOWN_DIMENSIONS.get(model)
        if model.startswith(LOCAL_PREFIX):
            if dimension is not None and dimension != native:
                problems.append(("dimension", f"{model} makes {native}-dimensional vectors"))
            try:
                await self.embedders.create(model, user_id)
            except EmbeddingConfigError as exc:
                problems.append(("embedding_model", str(exc)))
            return native or 0
        if dimension is not None or native is not None:
            try:
                await self.embedders.create(model, user_id, dimension)  # is a provider configured?
            except EmbeddingConfigError as exc:
                problems.append(("embedding_model", str(exc)))
                return 0
        if dimension is None and native is not None:
            if native > MAX_DIMENSION:
                problems.append(
                    ("dimension", f"{model} makes {native} dimensions, more than an HNSW index takes "
                     f"({MAX_DIMENSION}): give a smaller dimension (the model shortens its vectors)"),
                )  # fmt: skip
            return native
        if dimension is not None:
            return dimension
        try:
            embedder = await self.embedders.create(model, user_id)
            found = await probe_dimension(embedder)
        except EmbeddingConfigError as exc:
            problems.append(("embedding_model", str(exc)))
            return 0
        except BlockedAddress as exc:
            problems.append(_endpoint_refused(exc))
            return 0
        if found > MAX_DIMENSION:
            problems.append(("embedding_model", f"{model} makes {found} dimensions; at most {MAX_DIMENSION}"))
        return found

    async def get(self, kb: str, user_id: str) -> KnowledgeBaseRecord:
        """The user's knowledge base by id or by name (every method here takes either, as blocks,
        notebooks and the API do); NotFoundError otherwise."""
        found = await self.repo.get(kb, user_id) if _is_uuid(kb) else None
        if found is None:
            found = await self.repo.get_by_name(kb, user_id)
        if found is None:
            raise NotFoundError(f"knowledge base {kb!r} not found")
        return found

    async def list(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[KnowledgeBaseRecord], int]:
        """The user's knowledge bases, newest first, and their total."""
        return await self.repo.list(user_id, limit, offset)

    async def delete(self, kb: str, user_id: str) -> None:
        """Delete a knowledge base with all it holds; NotFoundError if it is not the user's."""
        found = await self.get(kb, user_id)
        if not await self.repo.delete(found.id, user_id):
            raise NotFoundError(f"knowledge base {kb!r} not found")

    # ---- documents ---------------------------------------------------------------------------------

    async def add_document(
        self,
        kb_id: str,
        user_id: str,
        content: bytes | str,
        *,
        content_type: str | None = None,
        filename: str | None = None,
        title: str | None = None,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AddedDocument:
        """Read, chunk, embed and store one document (text, Markdown, HTML or PDF)."""
        kb = await self.get(kb_id, user_id)
        problems: list[tuple[str, str]] = []
        if not content or (isinstance(content, str) and not content.strip()):
            problems.append(("content", "must not be empty"))
        for key, value, limit in (
            ("title", title, 500),
            ("source", source, 2000),
            ("filename", filename, 500),
        ):
            problem = _text_problem(value, limit) if value is not None else None
            if problem:
                problems.append((key, problem))
        if metadata is not None and not isinstance(metadata, Mapping):
            problems.append(("metadata", "must be a JSON object"))
        if problems:
            raise KnowledgeInputError(problems)
        if self.scan is not None:  # before any loader (or anything else) reads it
            await self.scan(content, filename or title or "")
        try:
            loaded: LoadedDocument = await load_document_async(content, content_type, filename)
        except DocumentError as exc:
            raise KnowledgeInputError([("content", str(exc))]) from None
        chunks = chunk_sections(loaded.sections, kb.chunk_size, kb.chunk_overlap)
        if len(chunks) > MAX_CHUNKS_PER_DOCUMENT:
            raise KnowledgeInputError(
                [("content", f"the document makes {len(chunks)} chunks; at most {MAX_CHUNKS_PER_DOCUMENT}")]
            )
        embedder = await self._embedder(kb, user_id)
        vectors: list[list[float]] = []
        texts = [c.embedding_text() for c in chunks]
        for start in range(0, len(texts), EMBED_BATCH):
            vectors.extend(await self._embed(embedder, kb, texts[start : start + EMBED_BATCH]))
        raw = content.encode("utf-8") if isinstance(content, str) else content
        record = await self.repo.add_document(
            kb,
            {
                "title": (title or loaded.title or filename or "").strip()[:500],
                "source": source or filename or "",
                "content_type": loaded.content_type,
                "metadata": dict(metadata or {}),
                "sha256": hashlib.sha256(raw).hexdigest(),
                "char_count": loaded.char_count,
            },
            [ChunkRow(c.index, c.text, c.heading, c.page, v) for c, v in zip(chunks, vectors, strict=True)],
        )
        usage = getattr(embedder, "usage", None)
        return AddedDocument(
            record, getattr(usage, "tokens", 0) or 0, float(getattr(usage, "cost_usd", 0.0) or 0.0)
        )

    async def _embedder(self, kb: KnowledgeBaseRecord, user_id: str) -> Embedder:
        try:
            return await self.embedders.create(kb.embedding_model, user_id, kb.dimension)
        except EmbeddingConfigError as exc:
            raise KnowledgeInputError([("embedding_model", str(exc))]) from None

    async def _embed(
        self, embedder: Embedder, kb: KnowledgeBaseRecord, texts: list[str]
    ) -> list[list[float]]:
        """Vectors of ``texts``; a model that answers the wrong number or length names the model."""
        try:
            vectors = await embedder.embed(texts)
        except BlockedAddress as exc:
            raise KnowledgeInputError([_endpoint_refused(exc)]) from None
        problem = None
        if len(vectors) != len(texts):
            problem = f"returned {len(vectors)} vectors for {len(texts)} texts"
        elif any(len(v) != kb.dimension for v in vectors):
            got = next(len(v) for v in vectors if len(v) != kb.dimension)
            problem = f"returned {got} dimensions; knowledge base {kb.name!r} stores {kb.dimension}"
        if problem:
            raise KnowledgeInputError(
                [("embedding_model", f"the embedding model {kb.embedding_model!r} {problem}")]
            )
        return vectors

    async def list_documents(
        self, kb_id: str, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[DocumentRecord], int]:
        """The documents of the user's knowledge base, newest first, and their total."""
        kb = await self.get(kb_id, user_id)
        return await self.repo.list_documents(kb.id, limit, offset)

    async def get_document(self, kb_id: str, document_id: str, user_id: str) -> DocumentRecord:
        """One document of the user's knowledge base."""
        kb = await self.get(kb_id, user_id)
        found = await self.repo.get_document(kb.id, document_id) if _is_uuid(document_id) else None
        if found is None:
            raise NotFoundError(f"document {document_id} not found in knowledge base {kb_id}")
        return found

    async def delete_document(self, kb_id: str, document_id: str, user_id: str) -> None:
        """Delete a document and its chunks."""
        kb = await self.get(kb_id, user_id)
        if not _is_uuid(document_id) or not await self.repo.delete_document(kb.id, document_id):
            raise NotFoundError(f"document {document_id} not found in knowledge base {kb_id}")

    # ---- search ------------------------------------------------------------------------------------

    async def search(
        self,
        kb_id: str,
        user_id: str,
        query: str,
        *,
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        metadata_filter: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The ``top_k`` chunks that best answer ``query``.

        ``vector``: nearest by cosine similarity of embeddings (score: the similarity);
        ``keyword``: full-text match ranked by ``ts_rank`` (web search syntax: ``"a phrase"``,
        ``or``, ``-word``); ``hybrid``: both, fused by reciprocal rank (score: the RRF score).
        ``metadata_filter`` keeps chunks whose document metadata contains it (JSON containment).
        """
        problems: list[tuple[str, str]] = []
        problem = _text_problem(query, MAX_QUERY_LENGTH, required=True)
        if problem:
            problems.append(("query", problem))
        if mode not in SEARCH_MODES:
            problems.append(("mode", f"must be one of {', '.join(SEARCH_MODES)}"))
        if not (isinstance(top_k, int) and 1 <= top_k <= MAX_TOP_K):
            problems.append(("top_k", f"must be an integer from 1 to {MAX_TOP_K}"))
        if metadata_filter is not None and not isinstance(metadata_filter, Mapping):
            problems.append(("filter", "must be a JSON object"))
        if problems:
            raise KnowledgeInputError(problems)
        kb = await self.get(kb_id, user_id)
        filt = dict(metadata_filter) if metadata_filter else None
        if mode == "keyword":
            return single(await self.repo.keyword_search(kb, query, top_k, filt), "keyword")
        embedder = await self._embedder(kb, user_id)
        (vector,) = await self._embed(embedder, kb, [query])
        if mode == "vector":
            return single(await self._nearest(kb, vector, top_k, filt), "vector")
        candidates = min(200, max(20, top_k * HYBRID_CANDIDATES))
        vector_hits = await self._nearest(kb, vector, candidates, filt)
        keyword_hits = await self.repo.keyword_search(kb, query, candidates, filt)
        return reciprocal_rank_fusion(vector_hits, keyword_hits, top_k)

    async def _nearest(
        self, kb: KnowledgeBaseRecord, vector: list[float], limit: int, filt: dict[str, Any] | None
    ) -> list[Any]:
        """HNSW search; with a filter that leaves fewer than ``limit`` of the candidates, an exact scan."""
        ef = min(1000, max(100, limit * 4))
        hits = await self.repo.vector_search(kb, vector, limit, filt, ef_search=1000 if filt else ef)
        if filt and len(hits) < limit and len(hits) < kb.chunk_count:
            hits = await self.repo.vector_search(kb, vector, limit, filt, exact=True)
        return hits
