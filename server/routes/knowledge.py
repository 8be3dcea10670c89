"""/api/v1/knowledge: knowledge bases, their documents (JSON text or a multipart file upload), and
vector, keyword and hybrid search."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from server.deps import caller, errors, workbench_of
from server.schemas import Body, ErrorOut, Page
from server.uploads import body_type, form_with_file
from workbench.knowledge import KnowledgeInputError, KnowledgeService, hit_to_dict
from workbench.knowledge.chunking import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)
from workbench.knowledge.embedders import DEFAULT_MODEL, MAX_DIMENSION
from workbench.knowledge.service import MAX_QUERY_LENGTH, MAX_TOP_K
from workbench.knowledge.store import DocumentRecord, KnowledgeBaseRecord
from workbench.llm import LLMError

T = TypeVar("T")
_UNSUPPORTED = ResponseSpec(
    data_container=ErrorOut,
    description="Unsupported media type: send JSON or multipart/form-data.",
    generate_examples=False,
)


class KnowledgeBaseIn(Body):
    """A new knowledge base."""

    name: str = Field(min_length=1, max_length=200, description="Unique among your knowledge bases.")
    description: str = Field(default="", max_length=5000)
    embedding_model: str = Field(
        default=DEFAULT_MODEL,
        max_length=200,
        description="`local:all-MiniLM-L6-v2` (offline, 384 dimensions), or a model of your "
        "OpenAI-compatible embeddings endpoint (your `openai` credential or the server's), e.g. "
        "`text-embedding-3-small`. Fixed for the knowledge base's life.",
    )
    dimension: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DIMENSION,
        description="Vector length; default: the model's (asked from the endpoint when unknown).",
    )
    language: str = Field(
        default="english",
        max_length=63,
        description="PostgreSQL text search configuration: english, simple...",
    )
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=MIN_CHUNK_SIZE, le=MAX_CHUNK_SIZE)
    chunk_overlap: int = Field(default=DEFAULT_CHUNK_OVERLAP, ge=0, le=MAX_CHUNK_SIZE // 2)
    metadata: dict[str, Any] = Field(default_factory=dict)


class KnowledgeBaseOut(BaseModel):
    """A knowledge base."""

    id: str
    name: str
    description: str
    embedding_model: str
    dimension: int
    language: str
    chunk_size: int
    chunk_overlap: int
    metadata: dict[str, Any]
    document_count: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class DocumentIn(Body):
    """A document sent as JSON text (upload files as multipart/form-data, field `file`)."""

    content: str = Field(min_length=1, description="Plain text, Markdown or HTML.")
    title: str | None = Field(default=None, max_length=500, description="Default: its first heading.")
    source: str | None = Field(default=None, max_length=2000, description="A URL, a file name...")
    content_type: str | None = Field(
        default=None, max_length=100, description="text/plain, text/markdown, text/html; default: guessed."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Filterable at search time.")


class DocumentOut(BaseModel):
    """A document of a knowledge base."""

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


class SearchIn(Body):
    """A search."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_LENGTH)
    mode: Literal["vector", "keyword", "hybrid"] = Field(
        default="hybrid",
        description="vector: cosine similarity of embeddings; keyword: full-text search (web search "
        'syntax: "a phrase", or, -word); hybrid: both, fused by reciprocal rank.',
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    filter: dict[str, Any] = Field(
        default_factory=dict, description="Only chunks of documents whose metadata contains this object."
    )


class SearchResultOut(BaseModel):
    """One passage found."""

    chunk_id: int
    document_id: str
    title: str
    source: str
    chunk_index: int
    heading: str
    page: int | None
    content: str
    metadata: dict[str, Any]
    score: float = Field(description="vector: cosine similarity; keyword: ts_rank; hybrid: RRF score.")
    rank: int
    vector_rank: int | None
    keyword_rank: int | None


class SearchOut(BaseModel):
    """Search results, best first."""

    query: str
    mode: str
    results: list[SearchResultOut]


def kb_out(kb: KnowledgeBaseRecord) -> KnowledgeBaseOut:
    """The API form of a knowledge base."""
    return KnowledgeBaseOut(
        id=kb.id,
        name=kb.name,
        description=kb.description,
        embedding_model=kb.embedding_model,
        dimension=kb.dimension,
        language=kb.language,
        chunk_size=kb.chunk_size,
        chunk_overlap=kb.chunk_overlap,
        metadata=kb.metadata,
        document_count=kb.document_count,
        chunk_count=kb.chunk_count,
        created_at=kb.created_at,
        updated_at=kb.updated_at,
    )


def doc_out(d: DocumentRecord) -> DocumentOut:
    """The API form of a document."""
    return DocumentOut(
        id=d.id,
        knowledge_base_id=d.knowledge_base_id,
        title=d.title,
        source=d.source,
        content_type=d.content_type,
        metadata=d.metadata,
        sha256=d.sha256,
        char_count=d.char_count,
        chunk_count=d.chunk_count,
        created_at=d.created_at,
    )


def _invalid(problems: list[tuple[str, str]]) -> ValidationException:
    return ValidationException(
        detail="the request is not valid",
        extra=[{"key": key, "message": message, "source": "body"} for key, message in problems],
    )


async def _located(call: Callable[[], Awaitable[T]]) -> T:
    """Run a service call: its field problems become a located 422, a failing embeddings endpoint a 503."""
    try:
        return await call()
    except KnowledgeInputError as exc:
        raise _invalid(exc.problems) from None
    except LLMError as exc:
        raise HTTPException(status_code=503, detail=f"the embeddings endpoint failed: {exc}") from None


def _service(request: Request[Any, Any, Any]) -> KnowledgeService:
    return KnowledgeService.of(workbench_of(request))


async def _document_fields(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The document of a JSON or a multipart request, validated."""
    kind = body_type(request)
    if kind == "multipart/form-data":
        form, upload = await form_with_file(request)
        fields: dict[str, Any] = {"content": await upload.read(), "filename": upload.filename or None}
        for key in ("title", "source", "content_type"):
            value = form.get(key)
            if isinstance(value, str) and value:
                fields[key] = value
        if not fields.get("content_type") and upload.content_type not in (
            None,
            "",
            "application/octet-stream",
        ):
            fields["content_type"] = upload.content_type
        raw_meta = form.get("metadata")
        if isinstance(raw_meta, str) and raw_meta.strip():
            try:
                fields["metadata"] = json.loads(raw_meta)
            except ValueError:
                raise _invalid([("metadata", "must be a JSON object (as text)")]) from None
        return fields
    if kind not in ("application/json", ""):
        raise HTTPException(
            status_code=415, detail="send the document as application/json or multipart/form-data"
        )
    try:
        body = await request.json()
    except Exception:
        raise HTTPException(status_code=400, detail="the body is not valid JSON") from None
    if body is None:
        raise HTTPException(status_code=400, detail="a JSON body is required")
    try:
        doc = DocumentIn.model_validate(body)
    except PydanticValidationError as exc:
        raise _invalid(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None
    return doc.model_dump()


class KnowledgeController(Controller):
    """Knowledge bases: documents chunked and embedded for search."""

    path = "/knowledge"
    tags = ["knowledge"]

    @post("/", status_code=201, responses=errors(422, 503), summary="Create a knowledge base")
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[KnowledgeBaseIn]
    ) -> KnowledgeBaseOut:
        """A new, empty knowledge base with its embedding model and chunking settings."""
        principal = caller(request, "knowledge:write")
        service = _service(request)
        fields = data.model_dump()
        return kb_out(await _located(lambda: service.create(principal.user_id, **fields)))

    @get("/", responses=errors(), summary="List knowledge bases")
    async def list_kbs(
        self,
        request: Request[Any, Any, Any],
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[KnowledgeBaseOut]:
        """Your knowledge bases, newest first."""
        principal = caller(request, "knowledge:read")
        items, total = await _service(request).list(principal.user_id, limit=limit, offset=offset)
        return Page(items=[kb_out(k) for k in items], total=total, limit=limit, offset=offset)

    @get("/{knowledge_base:str}", responses=errors(404), summary="Get a knowledge base")
    async def get_kb(
        self, request: Request[Any, Any, Any], knowledge_base: FromPath[str]
    ) -> KnowledgeBaseOut:
        """A knowledge base with its document and chunk counts."""
        principal = caller(request, "knowledge:read")
        return kb_out(await _service(request).get(knowledge_base, principal.user_id))

    @delete(
        "/{knowledge_base:str}", status_code=204, responses=errors(404), summary="Delete a knowledge base"
    )
    async def delete_kb(self, request: Request[Any, Any, Any], knowledge_base: FromPath[str]) -> None:
        """Delete a knowledge base with its documents and chunks."""
        principal = caller(request, "knowledge:write")
        await _service(request).delete(knowledge_base, principal.user_id)

    @post(
        "/{knowledge_base:str}/documents",
        status_code=201,
        responses={**errors(404, 413, 422, 503), 415: _UNSUPPORTED},
        summary="Add a document",
        description="Send JSON (`DocumentIn`: `content`, `title`, `source`, `content_type`, `metadata`), "
        "or multipart/form-data with `file` (text, Markdown, HTML or PDF) and optional fields `title`, "
        "`source`, `content_type` and `metadata` (a JSON object as text). The document is chunked, "
        "embedded and stored. With virus scanning on it is scanned first: an infected document is a "
        "422 with code `file_infected`, a scanner that cannot answer a 503 with code "
        "`scanner_unavailable`; neither is stored.",
    )
    async def add_document(
        self, request: Request[Any, Any, Any], knowledge_base: FromPath[str]
    ) -> DocumentOut:
        """Add a document (text, Markdown, HTML or PDF): it is chunked, embedded and stored."""
        principal = caller(request, "knowledge:write")
        service = _service(request)
        await service.get(knowledge_base, principal.user_id)  # 404 before reading the body
        fields = await _document_fields(request)
        content = fields.pop("content")
        added = await _located(
            lambda: service.add_document(knowledge_base, principal.user_id, content, **fields)
        )
        return doc_out(added.document)

    @get("/{knowledge_base:str}/documents", responses=errors(404), summary="List documents")
    async def list_documents(
        self,
        request: Request[Any, Any, Any],
        knowledge_base: FromPath[str],
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[DocumentOut]:
        """The knowledge base's documents, newest first."""
        principal = caller(request, "knowledge:read")
        items, total = await _service(request).list_documents(
            knowledge_base, principal.user_id, limit=limit, offset=offset
        )
        return Page(items=[doc_out(d) for d in items], total=total, limit=limit, offset=offset)

    @get("/{knowledge_base:str}/documents/{doc_id:uuid}", responses=errors(404), summary="Get a document")
    async def get_document(
        self, request: Request[Any, Any, Any], knowledge_base: FromPath[str], doc_id: FromPath[UUID]
    ) -> DocumentOut:
        """One document's record (its text is in its chunks)."""
        principal = caller(request, "knowledge:read")
        return doc_out(await _service(request).get_document(knowledge_base, str(doc_id), principal.user_id))

    @delete(
        "/{knowledge_base:str}/documents/{doc_id:uuid}",
        status_code=204,
        responses=errors(404),
        summary="Delete a document",
    )
    async def delete_document(
        self, request: Request[Any, Any, Any], knowledge_base: FromPath[str], doc_id: FromPath[UUID]
    ) -> None:
        """Delete a document and its chunks."""
        principal = caller(request, "knowledge:write")
        await _service(request).delete_document(knowledge_base, str(doc_id), principal.user_id)

    @post("/{knowledge_base:str}/search", status_code=200, responses=errors(404, 422, 503), summary="Search")
    async def search(
        self, request: Request[Any, Any, Any], knowledge_base: FromPath[str], data: JSONBody[SearchIn]
    ) -> SearchOut:
        """The passages that best answer the query, best first."""
        principal = caller(request, "knowledge:read")
        service = _service(request)
        hits = await _located(
            lambda: service.search(
                knowledge_base,
                principal.user_id,
                data.query,
                mode=data.mode,
                top_k=data.top_k,
                metadata_filter=data.filter or None,
            )
        )
        return SearchOut(
            query=data.query, mode=data.mode, results=[SearchResultOut(**hit_to_dict(h)) for h in hits]
        )
