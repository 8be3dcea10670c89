"""Merging ranked lists: reciprocal rank fusion (RRF) of vector and keyword results.

RRF (Cormack, Clarke and Büttcher, 2009) scores a chunk by the sum, over the lists that found it,
of ``1 / (k + rank)``. It needs no calibration between cosine similarities and ``ts_rank`` values,
which live on unrelated scales; ``k = 60`` is the value of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from workbench.knowledge.store import ChunkHit

SearchMode = Literal["vector", "keyword", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
RRF_K = 60


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A search result: the chunk, its final score and rank, and its rank in each list (1-based)."""

    chunk: ChunkHit
    score: float
    rank: int
    vector_rank: int | None = None
    keyword_rank: int | None = None


def single(hits: list[ChunkHit], mode: SearchMode) -> list[SearchHit]:
    """Results of one list as they are."""
    return [
        SearchHit(
            chunk=h,
            score=h.score,
            rank=h.rank,
            vector_rank=h.rank if mode == "vector" else None,
            keyword_rank=h.rank if mode == "keyword" else None,
        )
        for h in hits
    ]


def reciprocal_rank_fusion(
    vector_hits: list[ChunkHit], keyword_hits: list[ChunkHit], limit: int, k: int = RRF_K
) -> list[SearchHit]:
    """The ``limit`` best chunks of both lists by RRF score (ties: better vector rank first)."""
    chunks: dict[int, ChunkHit] = {}
    vector_rank: dict[int, int] = {}
    keyword_rank: dict[int, int] = {}
    for hit in vector_hits:
        chunks.setdefault(hit.chunk_id, hit)
        vector_rank[hit.chunk_id] = hit.rank
    for hit in keyword_hits:
        chunks.setdefault(hit.chunk_id, hit)
        keyword_rank[hit.chunk_id] = hit.rank

    def score(chunk_id: int) -> float:
        total = 0.0
        if chunk_id in vector_rank:
            total += 1.0 / (k + vector_rank[chunk_id])
        if chunk_id in keyword_rank:
            total += 1.0 / (k + keyword_rank[chunk_id])
        return total

    never = len(vector_hits) + len(keyword_hits) + 1
    order = sorted(
        chunks,
        key=lambda cid: (-score(cid), vector_rank.get(cid, never), keyword_rank.get(cid, never), cid),
    )
    out = []
    for i, cid in enumerate(order[:limit]):
        fused = score(cid)
        out.append(
            SearchHit(
                chunk=replace(chunks[cid], score=fused, rank=i + 1),
                score=fused,
                rank=i + 1,
                vector_rank=vector_rank.get(cid),
                keyword_rank=keyword_rank.get(cid),
            )
        )
    return out
