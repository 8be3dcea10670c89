"""Knowledge base blocks: add documents to a knowledge base of the running user, and search one.

A knowledge base is named by its id or its name. Adding to a name that does not exist yet creates
it with the default embedding model (local all-MiniLM-L6-v2) unless ``create_if_missing`` is off.
Both blocks need the platform database (a durable run); they see only the running user's
knowledge bases. See :mod:`workbench.knowledge` for chunking, embedding and the search modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, NotFoundError, RetryableError, ServiceUnavailable
from workbench.files.scanning import ScannerUnavailable

if TYPE_CHECKING:  # workbench.knowledge (loaders, pgvector store) is imported when a block runs
    from workbench.knowledge import KnowledgeService
    from workbench.knowledge.search import SearchHit


def knowledge_service(context: RunContext) -> KnowledgeService:
    """The application's knowledge service; a clear error when the run has no database."""
    found = context.services.named.get("knowledge") if context.services is not None else None
    if found is None:
        raise ServiceUnavailable(
            "knowledge bases: this block needs the platform database, which this run does not have"
        )
    return found


def format_context(hits: list[dict[str, Any]]) -> str:
    """Search results as numbered passages for a prompt: ``[1] Title > Heading`` then the text."""
    parts = []
    for hit in hits:
        title, heading = hit["title"], hit["heading"]
        where = (
            heading if title and heading.startswith(title) else " > ".join(x for x in (title, heading) if x)
        )
        if hit.get("page"):
            where += f" (page {hit['page']})"
        parts.append(f"[{hit['rank']}] {where}\n{hit['content']}")
    return "\n\n".join(parts)


class DocumentIn(BlockSchema):
    """One document to add."""

    content: str = Field(description="The document: plain text, Markdown or HTML.")
    title: str | None = Field(default=None, description="Default: its first heading or line.")
    source: str | None = Field(default=None, description="Where it comes from (a URL, a file name).")
    content_type: str | None = Field(
        default=None, description="text/plain, text/markdown or text/html; default: guessed."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Searchable with a filter.")


class AddToKnowledgeBaseBlock(Block):
    """Adds documents to a knowledge base: chunked, embedded, stored for search."""

    id = "23b938bc-b117-437e-aec1-41bc6100f3f2"
    name = "Add to Knowledge Base"
    description = (
        "Adds text, Markdown or HTML documents to one of your knowledge bases (by id or name): "
        "they are cut into chunks, embedded and stored for vector, keyword and hybrid search."
    )
    categories = (BlockCategory.AI, BlockCategory.DATA)

    class Input(BlockSchema):
        knowledge_base: str = Field(description="The knowledge base's id or name.")
        content: str = Field(default="", description="One document (or use documents).")
        title: str | None = Field(default=None, description="Title of content.")
        source: str | None = Field(default=None, description="Source of content (a URL, a file name).")
        content_type: str | None = Field(default=None, description="Format of content; default: guessed.")
        metadata: dict[str, Any] = Field(default_factory=dict, description="Metadata of content.")
        documents: list[DocumentIn] = Field(default_factory=list, description="Several documents.")
        create_if_missing: bool = Field(
            default=True, description="Create a knowledge base of that name if you have none."
        )

    class Output(BlockSchema):
        document_id: str = Field(description="Each added document's id, as it is stored.")
        document_ids: list[str] = Field(description="All added documents' ids.")
        chunk_count: int = Field(description="Chunks stored for all of them.")
        knowledge_base_id: str

    test_input = {"knowledge_base": "notes", "content": "# Cats\n\nCats purr.", "metadata": {"k": 1}}
    test_output = [
        ("document_id", "d1"),
        ("document_ids", ["d1"]),
        ("chunk_count", 1),
        ("knowledge_base_id", "kb1"),
    ]
    test_mock = {
        "_add": lambda context, knowledge_base, documents, create: ("kb1", [("d1", 1)]),
    }

    async def _add(
        self, context: RunContext, knowledge_base: str, documents: list[DocumentIn], create: bool
    ) -> tuple[str, list[tuple[str, int]]]:
        """Store the documents; (knowledge base id, [(document id, chunk count)])."""
        service = knowledge_service(context)
        try:
            kb = await service.get(knowledge_base, context.user_id)
        except NotFoundError:
            if not create:
                raise
            kb = await service.create(context.user_id, knowledge_base)
        added = []
        for doc in documents:
            try:
                result = await service.add_document(
                    kb.id,
                    context.user_id,
                    doc.content,
                    content_type=doc.content_type,
                    title=doc.title,
                    source=doc.source,
                    metadata=doc.metadata,
                )
            except ScannerUnavailable as exc:  # the virus scanner is down: worth another try
                raise RetryableError(str(exc)) from exc
            if result.embedding_tokens or result.cost_usd:
                context.add_stats(embedding_tokens=result.embedding_tokens, cost_usd=result.cost_usd)
            added.append((result.document.id, result.document.chunk_count))
        return kb.id, added

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        documents = list(input_data.documents)
        if input_data.content.strip():
            documents.insert(
                0,
                DocumentIn(
                    content=input_data.content,
                    title=input_data.title,
                    source=input_data.source,
                    content_type=input_data.content_type,
                    metadata=input_data.metadata,
                ),
            )
        if not documents:
            yield "error", "nothing to add: give content or documents"
            return
        from workbench.knowledge import KnowledgeInputError

        try:
            kb_id, added = await self._add(
                get_context(kwargs), input_data.knowledge_base, documents, input_data.create_if_missing
            )
        except (KnowledgeInputError, NotFoundError) as exc:
            raise BlockError(str(exc)) from None
        for doc_id, _ in added:
            yield "document_id", doc_id
        yield "document_ids", [doc_id for doc_id, _ in added]
        yield "chunk_count", sum(count for _, count in added)
        yield "knowledge_base_id", kb_id


class SearchKnowledgeBaseBlock(Block):
    """Finds the passages of a knowledge base that answer a query."""

    id = "87eab29d-7355-4046-b92a-6ab20b446319"
    name = "Search Knowledge Base"
    description = (
        "Searches one of your knowledge bases (by id or name): by meaning (vector), by keywords "
        "(full-text) or both (hybrid, reciprocal rank fusion). Gives the passages with their scores "
        "and a numbered context text ready for a prompt."
    )
    categories = (BlockCategory.AI, BlockCategory.SEARCH)

    class Input(BlockSchema):
        knowledge_base: str = Field(description="The knowledge base's id or name.")
        query: str = Field(description="What to look for: a question, or keywords.")
        mode: Literal["vector", "keyword", "hybrid"] = Field(default="hybrid")
        top_k: int = Field(default=5, ge=1, le=100, description="How many passages.")
        filter: dict[str, Any] = Field(
            default_factory=dict, description="Only documents whose metadata contains this object."
        )

    class Output(BlockSchema):
        results: list[dict[str, Any]] = Field(
            description="Best first: content, title, heading, source, page, metadata, score, rank..."
        )
        context: str = Field(description="The passages numbered [1], [2]... with their titles.")

    _HIT = {
        "chunk_id": 1,
        "document_id": "d1",
        "title": "Cats",
        "source": "cats.md",
        "chunk_index": 0,
        "heading": "Cats > Food",
        "page": None,
        "content": "Cats eat fish.",
        "metadata": {},
        "score": 0.5,
        "rank": 1,
        "vector_rank": 1,
        "keyword_rank": None,
    }
    test_input = {"knowledge_base": "notes", "query": "what do cats eat?", "mode": "vector"}
    test_output = [("results", [_HIT]), ("context", "[1] Cats > Food\nCats eat fish.")]
    test_mock = {"_search": lambda context, data: [SearchKnowledgeBaseBlock._HIT]}

    async def _search(self, context: RunContext, data: Input) -> list[dict[str, Any]]:
        """The hits as plain data."""
        from workbench.knowledge import hit_to_dict

        hits: list[SearchHit] = await knowledge_service(context).search(
            data.knowledge_base,
            context.user_id,
            data.query,
            mode=data.mode,
            top_k=data.top_k,
            metadata_filter=data.filter or None,
        )
        return [hit_to_dict(h) for h in hits]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        from workbench.knowledge import KnowledgeInputError

        try:
            hits = await self._search(get_context(kwargs), input_data)
        except (KnowledgeInputError, NotFoundError) as exc:
            raise BlockError(str(exc)) from None
        yield "results", hits
        yield "context", format_context(hits)
