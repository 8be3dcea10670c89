"""Knowledge base benchmark on the embedded PostgreSQL (pgvector 0.6, HNSW). Prints JSON.

1. Vector search latency: a knowledge base of N chunks (default 100,000) with synthetic unit
   384-d vectors (the dimension of all-MiniLM-L6-v2) clustered around 2,000 random "topics" as real
   embeddings are (uniformly random vectors have no meaningful neighbours), loaded in bulk and then indexed (the
   knowledge base's partial HNSW index, m=16, ef_construction=64). Then Q sequential top-10
   searches through ``KnowledgeRepository.vector_search`` (the query the service runs: HNSW scan
   plus the join to the documents), each with a fresh random query vector: p50/p95/p99 in ms.
   Target: p99 < 20 ms. Recall@10 against an exact scan on a sample of the queries is reported too.
   Also end to end: ``KnowledgeService.search`` in vector mode, which embeds the query text with
   the local model first.
2. Ingestion throughput: real Markdown (this repository's README and docs) added through
   ``KnowledgeService.add_document`` with the offline all-MiniLM-L6-v2 model on the CPU (load,
   chunk, embed, store): chunks per second, and the embedding step alone.

Usage: python tests/benchmarks/bench_vector.py [--chunks 100000] [--queries 1000] [--ingest-chunks 1000]
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.app import Workbench  # noqa: E402
from workbench.auth import LOCAL_USER_ID  # noqa: E402
from workbench.config import Settings  # noqa: E402
from workbench.knowledge import KnowledgeService, LocalEmbedder  # noqa: E402
from workbench.knowledge.chunking import chunk_sections  # noqa: E402
from workbench.knowledge.loaders import load_document  # noqa: E402
from workbench.knowledge.store import ChunkRow  # noqa: E402

DIM = 384
DOC_SIZE = 1000  # chunks per synthetic document
CLUSTERS = 2000  # topics the synthetic vectors cluster around
NOISE = 0.8  # spread around a topic: cosine to its centre about 0.8


def unit_vectors(rng: np.random.Generator, n: int, centers: np.ndarray | None = None) -> np.ndarray:
    """Random unit vectors; with ``centers``, each near a random one of them (like real embeddings,
    which cluster by topic: uniformly random 384-d vectors have no near neighbours to find)."""
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    if centers is not None:
        v = centers[rng.integers(0, len(centers), n)] + NOISE * v / np.sqrt(DIM)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "max_ms": round(ordered[-1], 3),
    }


async def search_latency(service: KnowledgeService, chunks: int, queries: int) -> dict[str, Any]:
    rng = np.random.default_rng(42)
    centers = unit_vectors(rng, CLUSTERS)
    repo = service.repo
    kb = await service.create(LOCAL_USER_ID, "bench-vectors")
    await repo.drop_vector_index(kb.id)  # bulk load first, build the index once
    started = time.perf_counter()
    for start in range(0, chunks, DOC_SIZE):
        n = min(DOC_SIZE, chunks - start)
        vectors = unit_vectors(rng, n, centers)
        rows = [ChunkRow(i, f"synthetic chunk {start + i}", "", None, vectors[i].tolist()) for i in range(n)]
        fields = {
            "title": f"synthetic {start // DOC_SIZE}",
            "source": "",
            "content_type": "text/plain",
            "metadata": {"batch": start // DOC_SIZE},
            "sha256": "0" * 64,
            "char_count": 0,
        }
        await repo.add_document(kb, fields, rows)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    async with repo.pool.acquire() as conn:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await repo.create_vector_index(kb.id, DIM, conn)
        await conn.execute("RESET maintenance_work_mem")
        await conn.execute("ANALYZE knowledge_chunks")
        index_bytes = await conn.fetchval(
            "SELECT pg_relation_size(indexrelid) FROM pg_index WHERE indexrelid = $1::regclass",
            f"knowledge_chunks_hnsw_{kb.id.replace('-', '')}",
        )
    index_s = time.perf_counter() - started
    kb = await service.get(kb.id, LOCAL_USER_ID)

    qs = unit_vectors(rng, queries + 50, centers)
    for q in qs[:50]:  # warm up: index pages into the buffer cache
        await repo.vector_search(kb, q.tolist(), 10)
    samples = []
    for q in qs[50:]:
        t = time.perf_counter()
        hits = await repo.vector_search(kb, q.tolist(), 10)
        samples.append((time.perf_counter() - t) * 1000)
        assert len(hits) == 10
    recall = []
    for q in qs[50 : 50 + min(100, queries)]:
        approx = {h.chunk_id for h in await repo.vector_search(kb, q.tolist(), 10)}
        exact = {h.chunk_id for h in await repo.vector_search(kb, q.tolist(), 10, exact=True)}
        recall.append(len(approx & exact) / 10)
    exact_samples = []
    for q in qs[50:70]:
        t = time.perf_counter()
        await repo.vector_search(kb, q.tolist(), 10, exact=True)
        exact_samples.append((time.perf_counter() - t) * 1000)

    texts = [f"question number {i} about databases, cats and sourdough bread" for i in range(200)]
    end_to_end = []
    for text in texts[:10]:
        await service.search(kb.id, LOCAL_USER_ID, text, mode="vector", top_k=10)
    for text in texts[10:]:
        t = time.perf_counter()
        await service.search(kb.id, LOCAL_USER_ID, text, mode="vector", top_k=10)
        end_to_end.append((time.perf_counter() - t) * 1000)
    await service.delete(kb.id, LOCAL_USER_ID)
    return {
        "chunks": chunks,
        "dimension": DIM,
        "data": f"synthetic unit vectors around {CLUSTERS} random centres (cosine to centre ~0.8)",
        "bulk_load_s": round(load_s, 1),
        "bulk_load_rows_per_s": round(chunks / load_s),
        "hnsw_build_s": round(index_s, 1),
        "hnsw_index_mb": round(index_bytes / 1e6, 1),
        "queries": queries,
        "top_k": 10,
        "ef_search": 100,
        "latency": percentiles(samples),
        "recall_at_10_vs_exact": round(statistics.fmean(recall), 3),
        "exact_scan_latency": percentiles(exact_samples),
        "service_search_with_query_embedding": percentiles(end_to_end),
        "target_p99_ms": 20,
        "meets_target": percentiles(samples)["p99_ms"] < 20,
    }


def real_markdown() -> list[tuple[str, str]]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [(p.name, p.read_text(encoding="utf-8")) for p in files if p.is_file()]


async def ingestion(service: KnowledgeService, target_chunks: int) -> dict[str, Any]:
    kb = await service.create(LOCAL_USER_ID, "bench-ingest")
    docs = real_markdown()
    per_round = sum(
        len(chunk_sections(load_document(text, filename=name).sections, kb.chunk_size, kb.chunk_overlap))
        for name, text in docs
    )
    rounds = max(1, -(-target_chunks // per_round))
    await service.add_document(kb.id, LOCAL_USER_ID, "warm up the model", filename="warm.txt")

    stored = 0
    started = time.perf_counter()
    for r in range(rounds):
        for name, text in docs:
            added = await service.add_document(kb.id, LOCAL_USER_ID, text, filename=f"{r}/{name}")
            stored += added.document.chunk_count
    total_s = time.perf_counter() - started

    texts = [
        c.embedding_text()
        for name, text in docs
        for c in chunk_sections(load_document(text, filename=name).sections, kb.chunk_size, kb.chunk_overlap)
    ]
    embedder = LocalEmbedder()
    started = time.perf_counter()
    await embedder.embed(texts)
    embed_s = time.perf_counter() - started
    await service.delete(kb.id, LOCAL_USER_ID)
    import torch

    return {
        "model": "local:all-MiniLM-L6-v2 (sentence-transformers, CPU)",
        "torch_threads": torch.get_num_threads(),
        "documents": rounds * len(docs),
        "chunks": stored,
        "chunk_size_chars": kb.chunk_size,
        "seconds": round(total_s, 2),
        "chunks_per_s": round(stored / total_s, 1),
        "embedding_only_chunks_per_s": round(len(texts) / embed_s, 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wb-bench-vector-") as home:
        os.environ["WORKBENCH_HOME"] = home
        settings = Settings.from_env({"WORKBENCH_HOME": home})
        async with Workbench(settings) as wb:
            service = KnowledgeService.of(wb)
            result: dict[str, Any] = {"cpu_count": os.cpu_count()}
            if args.ingest_chunks:
                result["ingestion"] = await ingestion(service, args.ingest_chunks)
            if args.chunks:
                result["vector_search"] = await search_latency(service, args.chunks, args.queries)
            return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ingest-chunks", type=int, default=1000)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
