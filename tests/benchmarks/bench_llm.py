"""Overhead of the LLM client layer against the local OpenAI-compatible server. Prints JSON.

Measures what workbench.llm adds around a provider (HTTP, JSON, SSE parsing), not a model:
  chat_ms      median round trip of a non-streamed chat call
  stream_tps   tokens per second of a streamed 500-token answer delivered to the callback
  embed_ms     median time to embed 100 short texts in one call

Usage: python tests/benchmarks/bench_llm.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.openai_server import serve
from workbench.llm import ProviderConfig, chat, embed


async def main(runs: int) -> dict[str, float]:
    with serve() as server:
        config = ProviderConfig.for_provider("openai", api_key="test-key", base_url=server.base_url)
        messages = [{"role": "user", "content": "hello"}]
        server.rule("hello", {"content": "hi there"})
        await chat(messages, config=config, model="gpt-4o-mini")  # warm the connection
        chat_times = []
        for _ in range(runs):
            started = time.perf_counter()
            await chat(messages, config=config, model="gpt-4o-mini")
            chat_times.append((time.perf_counter() - started) * 1000)
        long_answer = " ".join(f"tok{i}" for i in range(500))
        server.rule("long", {"content": long_answer})
        tokens: list[str] = []
        started = time.perf_counter()
        await chat(
            [{"role": "user", "content": "long"}], config=config, model="gpt-4o-mini", on_token=tokens.append
        )
        stream_tps = len(tokens) / (time.perf_counter() - started)
        texts = [f"document number {i} about topic {i % 7}" for i in range(100)]
        embed_times = []
        for _ in range(max(1, runs // 5)):
            started = time.perf_counter()
            await embed(texts, config=config)
            embed_times.append((time.perf_counter() - started) * 1000)
    return {
        "chat_ms": round(statistics.median(chat_times), 2),
        "stream_tps": round(stream_tps),
        "embed_ms": round(statistics.median(embed_times), 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    print(json.dumps(asyncio.run(main(parser.parse_args().runs))))
