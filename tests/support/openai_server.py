"""A local LLM server that speaks the real OpenAI and Anthropic HTTP protocols, for tests.

It runs as a real HTTP server (Litestar under uvicorn, in a thread, on a free port), so the real
client code (:mod:`workbench.llm`) is exercised end to end: auth headers, JSON bodies, SSE streams,
status codes, ``Retry-After``.

Endpoints (under ``/v1``): ``POST /chat/completions`` (plain and ``stream: true`` SSE with
``data: ...`` chunks and ``data: [DONE]``; tool calls in both; ``response_format`` ``json_schema``
checked and answered), ``POST /messages`` (Anthropic Messages API, plain and SSE events),
``POST /embeddings`` (deterministic hashed bag-of-words vectors, L2-normalised: texts sharing words
are near each other), ``POST /images/generations`` (a URL of a PNG this server serves, or
``b64_json``), ``GET /models``. Admin endpoints under ``/_admin`` script replies from another process.

Replies are scripted, never invented: a test queues replies (:meth:`LLMServer.script`), or adds
rules keyed on the last user message (:meth:`LLMServer.rule`); with neither, the server answers
``echo: <last user message>``. A reply is a dict::

    {"content": "text"}                                   # a plain answer
    {"json": {...}}                                       # the answer as JSON text (structured output)
    {"tool_calls": [{"name": "f", "arguments": {...}}]}   # function calls (content optional)
    {"tool_calls": [...], "unoffered_tools": True}        # calls of functions the request did not offer
    {"status": 429, "retry_after": 1}                     # an error answer (consumes the reply)

Every request is recorded (:attr:`LLMServer.requests`) with its path, headers and JSON body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import math
import re
import struct
import threading
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.response import Stream

Reply = dict[str, Any]
WORD = re.compile(r"\w+", re.UNICODE)
TOKEN = re.compile(r"\S+\s*|\s+")


@dataclass(slots=True)
class Recorded:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(slots=True)
class _State:
    api_key: str | None
    embedding_dim: int
    queue: deque[Reply | Callable[[dict[str, Any]], Reply]] = field(default_factory=deque)
    rules: list[tuple[str, Reply | Callable[[dict[str, Any]], Reply]]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    fail_next: deque[tuple[int, float | None]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def count_tokens(text: str) -> int:
    """The server's token count: words (deterministic, so tests can assert exact usage)."""
    return len(WORD.findall(text))


def hashed_embedding(text: str, dim: int) -> list[float]:
    """A bag-of-words vector: each lower-cased word adds ±1 at a hashed index; L2-normalised."""
    vec = [0.0] * dim
    for word in WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dim
        vec[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]


def _png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = _png()


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict):
                parts.append(str(p.get("text") or p.get("content") or ""))
        return "".join(parts)
    return str(content)


def _error(
    status: int, message: str, *, kind: str = "invalid_request_error", anthropic: bool = False
) -> Response:
    if anthropic:
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "code": None}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class LLMServer:
    """The server and its script; use :func:`serve` to run one."""

    def __init__(self, *, api_key: str | None = "test-key", embedding_dim: int = 64) -> None:
        self.state = _State(api_key=api_key, embedding_dim=embedding_dim)
        self.url = ""
        """``http://127.0.0.1:<port>`` once started."""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- scripting ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The base URL clients use (``.../v1``)."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in order."""
        return self.state.requests

    def script(self, *replies: Reply | Callable[[dict[str, Any]], Reply]) -> None:
        """Queue replies (or functions of the request body giving one); each chat request takes the next."""
        with self.state.lock:
            self.state.queue.extend(replies)

    def rule(self, contains: str, reply: Reply | Callable[[dict[str, Any]], Reply]) -> None:
        """Answer ``reply`` when the last user message contains ``contains`` (and the queue is empty)."""
        with self.state.lock:
            self.state.rules.append((contains, reply))

    def rate_limit(self, times: int, retry_after: float | None = None, status: int = 429) -> None:
        """The next ``times`` requests (any endpoint) get ``status`` with ``Retry-After``."""
        with self.state.lock:
            self.state.fail_next.extend([(status, retry_after)] * times)

    def reset(self) -> None:
        """Forget the script, rules, failures and recorded requests."""
        with self.state.lock:
            self.state.queue.clear()
            self.state.rules.clear()
            self.state.fail_next.clear()
            self.state.requests.clear()

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat requests received (both protocols), in order."""
        return [r.body for r in self.requests if r.path.endswith(("/chat/completions", "/messages"))]

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving in a background thread; returns once the port is bound."""
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="llm-test-server", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the local LLM server did not start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- request handling -----------------------------------------------------------------------

    def _next_reply(self, last_user: str, body: dict[str, Any]) -> Reply:
        with self.state.lock:
            if self.state.queue:
                reply = self.state.queue.popleft()
                return reply(body) if callable(reply) else reply
            for contains, reply in self.state.rules:
                if contains in last_user:
                    return reply(body) if callable(reply) else reply
        return {"content": f"echo: {last_user}"}

    def _check(self, request: Request, body: Any, *, anthropic: bool = False) -> Response | None:
        """Record the request; answer auth failures and simulated rate limits."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.state.requests.append(
            Recorded(request.url.path, headers, body if isinstance(body, dict) else {})
        )
        key = self.state.api_key
        if key is not None:
            given = headers.get("x-api-key") if anthropic else None
            auth = headers.get("authorization", "")
            if not anthropic and auth.startswith("Bearer "):
                given = auth[len("Bearer ") :]
            if given != key:
                kind = "authentication_error" if anthropic else "invalid_api_key"
                return _error(401, "Incorrect API key provided.", kind=kind, anthropic=anthropic)
        with self.state.lock:
            failure = self.state.fail_next.popleft() if self.state.fail_next else None
        if failure is not None:
            status, after = failure
            resp = _error(
                status, "Rate limit reached; slow down.", kind="rate_limit_error", anthropic=anthropic
            )
            if after is not None:
                resp.headers["retry-after"] = f"{after:g}"
            return resp
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.", anthropic=anthropic)
        return None

    def app(self) -> Litestar:
        """The Litestar application."""
        server = self

        async def read(request: Request) -> Any:
            raw = await request.body()
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                return None

        @post("/v1/chat/completions", status_code=200)
        async def chat_completions(request: Request) -> Response | Stream:
            body = await read(request)
            if (failed := server._check(request, body)) is not None:
                return failed
            return server._chat(body)

        @post("/v1/messages", status_code=200)
        async def messages(request: Request) -> Response | Stream:
            body = await read(request)
            if (failed := server._check(request, body, anthropic=True)) is not None:
                return failed
            return server._messages(body)

        @post("/v1/embeddings", status_code=200)
        async def embeddings(request: Request) -> Response:
            body = await read(request)
            if (failed := server._check(request, body)) is not None:
                return failed
            return server._embeddings(body)

        @post("/v1/images/generations", status_code=200)
        async def images(request: Request) -> Response:
            body = await read(request)
            if (failed := server._check(request, body)) is not None:
                return failed
            return server._images(body)

        @get("/v1/models")
        async def models(request: Request) -> Response:
            if (failed := server._check(request, {})) is not None:
                return failed
            names = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "dall-e-3", "local-model"]
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "local"} for n in names]
            return Response({"object": "list", "data": data})

        @get("/files/{name:str}")
        async def files() -> Response:
            return Response(PNG, media_type="image/png")

        @post("/_admin/script", status_code=200)
        async def admin_script(request: Request) -> dict[str, int]:
            data = await read(request) or {}
            server.script(*data.get("replies", []))
            for contains, reply in (data.get("rules") or {}).items():
                server.rule(contains, reply)
            return {"queued": len(server.state.queue)}

        @post("/_admin/reset", status_code=200)
        async def admin_reset() -> dict[str, bool]:
            server.reset()
            return {"reset": True}

        @get("/_admin/requests")
        async def admin_requests() -> list[dict[str, Any]]:
            return [{"path": r.path, "body": r.body} for r in server.requests]

        return Litestar(
            [
                chat_completions,
                messages,
                embeddings,
                images,
                models,
                files,
                admin_script,
                admin_reset,
                admin_requests,
            ],
            openapi_config=None,
            logging_config=None,
        )

    # ---- OpenAI chat completions ------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> Response | Stream:
        msgs = body.get("messages")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _error(400, "you must provide a model parameter")
        if not isinstance(msgs, list) or not msgs:
            return _error(400, "'messages' must be a non-empty array")
        problem = _check_openai_messages(msgs)
        if problem:
            return _error(400, problem)
        fmt = body.get("response_format")
        if fmt is not None:
            if fmt.get("type") == "json_schema" and not isinstance(
                (fmt.get("json_schema") or {}).get("schema"), dict
            ):
                return _error(400, "response_format.json_schema.schema must be an object")
            if fmt.get("type") not in ("json_schema", "json_object", "text"):
                return _error(400, f"Invalid response_format type {fmt.get('type')!r}")
        last_user = next((_text(m.get("content")) for m in reversed(msgs) if m.get("role") == "user"), "")
        reply = self._next_reply(last_user, body)
        if "status" in reply:
            resp = _error(int(reply["status"]), str(reply.get("message") or "scripted failure"))
            if reply.get("retry_after") is not None:
                resp.headers["retry-after"] = f"{reply['retry_after']:g}"
            return resp
        content = reply.get("content")
        if "json" in reply:
            content = orjson.dumps(reply["json"]).decode()
        calls = [
            {
                "id": c.get("id") or f"call_{next(self.state.ids)}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"]
                    if isinstance(c.get("arguments"), str)
                    else orjson.dumps(c.get("arguments") or {}).decode(),
                },
            }
            for c in reply.get("tool_calls") or []
        ]
        names = {t.get("function", {}).get("name") for t in body.get("tools") or []}
        for c in calls:
            if c["function"]["name"] not in names and not reply.get("unoffered_tools"):
                return _error(500, f"script error: tool {c['function']['name']!r} was not offered ({names})")
        prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in msgs)
        out_tokens = count_tokens(content or "") + sum(
            count_tokens(c["function"]["arguments"]) for c in calls
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": out_tokens,
            "total_tokens": prompt_tokens + out_tokens,
        }
        finish = "tool_calls" if calls else "stop"
        cid = f"chatcmpl-{next(self.state.ids)}"
        model = body["model"]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            return Response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
                doc = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                    **extra,
                }
                return b"data: " + orjson.dumps(doc) + b"\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for piece in TOKEN.findall(content or ""):
                yield chunk({"content": piece})
                await asyncio.sleep(0)
            for i, c in enumerate(calls):
                head = {
                    "index": i,
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": ""},
                }
                yield chunk({"tool_calls": [head]})
                args = c["function"]["arguments"]
                half = len(args) // 2
                for part in (args[:half], args[half:]):
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
            yield chunk({}, finish)
            if include_usage:
                doc = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + orjson.dumps(doc) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return Stream(events(), media_type="text/event-stream")

    # ---- Anthropic messages ---------------------------------------------------------------------

    def _messages(self, body: dict[str, Any]) -> Response | Stream:
        msgs = body.get("messages")
        if not isinstance(body.get("model"), str):
            return _error(400, "model: Field required", anthropic=True)
        if not isinstance(body.get("max_tokens"), int):
            return _error(400, "max_tokens: Field required", anthropic=True)
        if not isinstance(msgs, list) or not msgs:
            return _error(400, "messages: at least one message is required", anthropic=True)
        for i, m in enumerate(msgs):
            if m.get("role") not in ("user", "assistant"):
                return _error(
                    400, f"messages.{i}.role: Input should be 'user' or 'assistant'", anthropic=True
                )
        if msgs[0]["role"] != "user":
            return _error(400, "messages: first message must use the 'user' role", anthropic=True)
        last_user = ""
        for m in reversed(msgs):
            if m["role"] == "user":
                content = m.get("content")
                if isinstance(content, list):
                    last_user = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
                else:
                    last_user = _text(content)
                if last_user:
                    break
        reply = self._next_reply(last_user, body)
        if "status" in reply:
            resp = _error(
                int(reply["status"]), str(reply.get("message") or "scripted failure"), anthropic=True
            )
            if reply.get("retry_after") is not None:
                resp.headers["retry-after"] = f"{reply['retry_after']:g}"
            return resp
        forced = (body.get("tool_choice") or {}).get("name")
        blocks: list[dict[str, Any]] = []
        if forced and "json" in reply:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(self.state.ids)}",
                    "name": forced,
                    "input": reply["json"],
                }
            )
        else:
            text = reply.get("content") or ""
            if "json" in reply:
                text = orjson.dumps(reply["json"]).decode()
            if text:
                blocks.append({"type": "text", "text": text})
            for c in reply.get("tool_calls") or []:
                args = c.get("arguments") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": c.get("id") or f"toolu_{next(self.state.ids)}",
                        "name": c["name"],
                        "input": orjson.loads(args) if isinstance(args, str) else args,
                    }
                )
        system = body.get("system") or ""
        in_tokens = count_tokens(_text(system)) + sum(count_tokens(_text(m.get("content"))) for m in msgs)
        out_tokens = sum(
            count_tokens(b.get("text") or orjson.dumps(b.get("input", "")).decode()) for b in blocks
        )
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        mid = f"msg_{next(self.state.ids)}"
        model = body["model"]
        if not body.get("stream"):
            return Response(
                {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens},
                }
            )

        async def events() -> AsyncIterator[bytes]:
            def ev(kind: str, data: dict[str, Any]) -> bytes:
                return (
                    f"event: {kind}\n".encode() + b"data: " + orjson.dumps({"type": kind, **data}) + b"\n\n"
                )

            start = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": in_tokens, "output_tokens": 1},
            }
            yield ev("message_start", {"message": start})
            yield ev("ping", {})
            for i, b in enumerate(blocks):
                if b["type"] == "text":
                    yield ev(
                        "content_block_start", {"index": i, "content_block": {"type": "text", "text": ""}}
                    )
                    for piece in TOKEN.findall(b["text"]):
                        yield ev(
                            "content_block_delta",
                            {"index": i, "delta": {"type": "text_delta", "text": piece}},
                        )
                        await asyncio.sleep(0)
                else:
                    head = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
                    yield ev("content_block_start", {"index": i, "content_block": head})
                    raw = orjson.dumps(b["input"]).decode()
                    half = len(raw) // 2
                    for part in (raw[:half], raw[half:]):
                        yield ev(
                            "content_block_delta",
                            {"index": i, "delta": {"type": "input_json_delta", "partial_json": part}},
                        )
                yield ev("content_block_stop", {"index": i})
            yield ev(
                "message_delta",
                {
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": out_tokens},
                },
            )
            yield ev("message_stop", {})

        return Stream(events(), media_type="text/event-stream")

    # ---- embeddings and images -------------------------------------------------------------------

    def _embeddings(self, body: dict[str, Any]) -> Response:
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "'input' must be a string or a non-empty array of strings")
        if not body.get("model"):
            return _error(400, "you must provide a model parameter")
        dim = body.get("dimensions") or self.state.embedding_dim
        if not isinstance(dim, int) or dim < 1:
            return _error(400, "'dimensions' must be a positive integer")
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_embedding(t, dim)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(count_tokens(t) for t in texts)
        return Response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _images(self, body: dict[str, Any]) -> Response:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return _error(400, "'prompt' must be a non-empty string")
        n = body.get("n") or 1
        name = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        if body.get("response_format") == "b64_json":
            items = [{"b64_json": base64.b64encode(PNG).decode(), "revised_prompt": prompt} for _ in range(n)]
        else:
            items = [{"url": f"{self.url}/files/{name}-{i}.png", "revised_prompt": prompt} for i in range(n)]
        return Response({"created": 0, "data": items})


def _check_openai_messages(msgs: list[Any]) -> str | None:
    """What the real API rejects: bad roles, tool results without a matching tool call."""
    open_calls: set[str] = set()
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return f"messages[{i}] must be an object"
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return f"Invalid value for 'messages[{i}].role': {role!r}"
        if role == "assistant":
            open_calls = {str(c.get("id")) for c in m.get("tool_calls") or []}
        elif role == "tool":
            if str(m.get("tool_call_id")) not in open_calls:
                return (
                    f"messages[{i}]: messages with role 'tool' must be a response to a preceding message "
                    "with 'tool_calls'"
                )
            open_calls.discard(str(m.get("tool_call_id")))
        elif open_calls:
            return (
                f"messages[{i}]: an assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id' ({', '.join(sorted(open_calls))})"
            )
    return None


@contextmanager
def serve(**kwargs: Any) -> Iterator[LLMServer]:
    """Run an :class:`LLMServer` for the duration of the block."""
    server = LLMServer(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tagged_reply(payload: Any, prefix: str = "") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A scripted reply that answers AutoGPT-style structured-output instructions: ``payload`` as JSON
    inside the ``<json_output id=...>`` tag the system prompt asked for (after ``prefix``)."""

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
        found = re.search(r'<json_output id="([0-9a-f]+)">', system)
        assert found is not None, "the system prompt asks for no tagged JSON output"
        tag = found.group(1)
        return {"content": f'{prefix}<json_output id="{tag}">{orjson.dumps(payload).decode()}</json_output>'}

    return reply
