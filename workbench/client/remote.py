"""The remote transport: a workbench server's REST API (httpx) and its WebSocket (websockets).

Authenticate with an API key (``wbk_...``, from ``POST /api/v1/api-keys``) or an access token; a
server started with ``--auth none`` needs neither. Errors come back as the same exceptions the local
transport raises (NotFoundError, GraphValidationError with its located problems, InputError...).

A remote server runs only the blocks installed on it: a block defined in this process (``@block`` in a
notebook cell) cannot run there, and using one fails before anything is sent, saying how to install it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
import websockets

from workbench import jsonutil
from workbench.block.registry import BlockRegistry, default_registry
from workbench.client.base import AsyncClient, GraphLike, GraphRef, as_graph, graph_ref
from workbench.client.files import RemoteFiles
from workbench.client.types import (
    AgentToolInfo,
    BlockInfo,
    CredentialInfo,
    DeliveryInfo,
    DocumentInfo,
    GraphInfo,
    KnowledgeBaseInfo,
    NotificationChannelInfo,
    NotificationInfo,
    ReviewInfo,
    ScheduleInfo,
    ScheduleRun,
    SearchResult,
    TemplateInfo,
    TriggerInfo,
)
from workbench.drafting import Proposal
from workbench.errors import (
    AuthError,
    ConflictError,
    GraphValidationError,
    InputError,
    NotFoundError,
    Problem,
    ServerError,
    error_class,
)
from workbench.files.scanning import FileInfected, ScannerUnavailable
from workbench.graph.model import Graph
from workbench.graph.validate import LinkProblem, normalize
from workbench.knowledge import KnowledgeInputError
from workbench.knowledge.chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from workbench.knowledge.embedders import DEFAULT_MODEL
from workbench.knowledge.search import SearchMode
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import BlockRun, ExecutionResult
from workbench.services.reviews import UNCHANGED

MAX_WAIT = 300.0
"""The longest ``?wait=`` the server accepts."""
_EVENT_TYPES = {str(t) for t in EventType}


class RemoteBlockError(InputError):
    """A graph uses blocks the server does not have (a notebook's own blocks cannot run remotely)."""


def _raise_for(response: httpx.Response, fields_error: type[KnowledgeInputError] | None = None) -> None:
    """Turn an error response into the exception the local transport would have raised.

    With ``fields_error``, a 422 listing field problems raises it with ``(field, message)`` pairs,
    as the local service does."""
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        message = str(error.get("message") or response.reason_phrase)
    except (ValueError, KeyError, TypeError, AttributeError):  # not our JSON error shape
        error, message = {}, response.text[:500] or response.reason_phrase
    status = response.status_code
    details = error.get("details") or []
    said = [f"{d.get('key') or d.get('source') or ''}: {d.get('message')}".lstrip(": ") for d in details]
    said = [text for text in said if text not in message]  # a message may already say it
    if said:
        message += ": " + "; ".join(said)
    if status == 422 and error.get("code") == FileInfected.error_code:  # as the local service raises
        raise FileInfected("", "", message)
    if status == 503 and error.get("code") == ScannerUnavailable.error_code:
        raise ScannerUnavailable(message)
    cls = error_class(status, error.get("code"))
    if cls is InputError and status == 422 and fields_error is not None and details:
        raise fields_error(
            [(str(d.get("key") or d.get("source") or "body"), str(d.get("message"))) for d in details]
        )
    if status == 422 and error.get("problems"):
        raise GraphValidationError([_problem(p) for p in error["problems"]])
    if cls is ServerError:
        raise ServerError(f"the server failed ({status}): {message}")
    if cls is GraphValidationError:  # said so, but without located problems to carry
        cls = InputError
    raise cls(message)


def _problem(doc: dict[str, Any]) -> Problem:
    """A problem as the server located it (a link's by its ends, in its message, as here)."""
    message = str(doc.get("message"))
    kind = LinkProblem if doc.get("link_id") and "link from " in message else Problem
    return kind(
        message,
        node_id=doc.get("node_id"),
        pin=doc.get("pin"),
        link_id=doc.get("link_id"),
        code=str(doc.get("code") or "invalid"),
    )


def _content(graph: Graph) -> Any:
    return jsonutil.normalize(graph.model_dump(mode="json", exclude={"version", "is_active", "sub_graphs"}))


class RemoteClient(AsyncClient):
    """The client of a workbench server at ``url`` (see the module documentation)."""

    kind: Literal["local", "remote"] = "remote"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        registry: BlockRegistry | None = None,
    ) -> None:
        """``registry`` is this process's, used to explain unknown blocks (default: the process-wide one)."""
        if not url.startswith(("http://", "https://")):
            raise InputError(f"the server URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.headers: dict[str, str] = {}
        if api_key:
            self.headers["X-API-Key"] = api_key
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.registry = registry
        self._http: httpx.AsyncClient | None = None
        self._catalogue: dict[str, BlockInfo] | None = None
        self.files = RemoteFiles(self, _raise_for)

    @property
    def where(self) -> str:
        """The server's URL."""
        return self.url

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return self.url.replace("http", "ws", 1) + "/ws"

    async def start(self) -> RemoteClient:
        """Open the HTTP connection pool and check the credentials (one request)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.url + "/api/v1", headers=self.headers, timeout=self.timeout
            )
            try:
                await self._catalogue_blocks()
            except BaseException:
                await self.close()
                raise
        return self

    async def close(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        fields_error: type[KnowledgeInputError] | None = None,
        **kwargs: Any,
    ) -> Any:
        if self._http is None:
            raise RuntimeError("RemoteClient.start() has not been called")
        if "content" in kwargs:  # bodies are JSON text encoded here; the server requires the type
            kwargs["headers"] = {"Content-Type": "application/json", **(kwargs.get("headers") or {})}
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the workbench server at {self.url}: {exc}") from exc
        _raise_for(response, fields_error)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # ---- blocks ----------------------------------------------------------------------------------

    async def _catalogue_blocks(self) -> dict[str, BlockInfo]:
        if self._catalogue is None:
            docs = await self._request("GET", "/blocks")
            self._catalogue = {d["id"]: BlockInfo.from_dict(d) for d in docs}
        return self._catalogue

    async def blocks(self, search: str | None = None, category: str | None = None) -> list[BlockInfo]:
        """The server's catalogue."""
        found = (await self._catalogue_blocks()).values()
        return sorted((b for b in found if b.matches(search, category)), key=lambda b: b.name)

    async def block(self, ref: str) -> BlockInfo:
        """One block of the server by id or name."""
        catalogue = await self._catalogue_blocks()
        if ref in catalogue:
            return catalogue[ref]
        for info in catalogue.values():
            if ref.lower() in (info.name.lower(), info.name.lower().removesuffix("block")):
                return info
        raise NotFoundError(f"the server has no block {ref!r}")

    async def _check_blocks(self, graph: Graph) -> None:
        """Refuse a graph using blocks the server lacks, naming them and how to install them."""
        catalogue = await self._catalogue_blocks()
        missing: dict[str, list[str]] = {}
        for g in [graph, *graph.sub_graphs]:
            for n in g.nodes:
                if n.block_id not in catalogue:
                    missing.setdefault(n.block_id, []).append(n.id)
        if not missing:
            return
        registry = self.registry or default_registry()
        parts = []
        notebook = False
        for block_id, node_ids in missing.items():
            nodes = ("node " if len(node_ids) == 1 else "nodes ") + ", ".join(map(repr, node_ids))
            if block_id in registry:
                source = registry.source(block_id)
                name = registry.get(block_id).name
                here = not source.startswith(("blocks.", "entry point"))
                notebook |= here
                origin = "defined in this notebook/process" if here else f"from {source}"
                parts.append(f"{name!r} ({nodes}, {origin})")
            else:
                parts.append(f"block id {block_id} ({nodes})")
        message = f"the server at {self.url} does not have the block(s) " + ", ".join(parts) + "."
        if notebook:
            message += (
                " A remote server does not run notebook code: put the block in a package, declare it "
                'under [project.entry-points."workbench.blocks"] and install that package on the server; '
                "or run this graph with the local client."
            )
        raise RemoteBlockError(message)

    # ---- graphs ----------------------------------------------------------------------------------

    async def graphs(self, search: str | None = None) -> list[GraphInfo]:
        """The server's graphs of this user."""
        params: dict[str, Any] = {"limit": 500}
        if search:
            params["search"] = search
        page = await self._request("GET", "/graphs", params=params)
        return [GraphInfo.from_dict(g) for g in page["items"]]

    async def _send_graph(self, method: str, path: str, graph: Graph) -> Graph:
        await self._check_blocks(graph)
        doc = await self._request(method, path, content=graph.model_dump_json())
        return Graph.model_validate(doc)

    async def create_graph(self, graph: GraphLike) -> Graph:
        """Store a new graph on the server."""
        return await self._send_graph("POST", "/graphs", as_graph(graph))

    async def update_graph(self, graph_id: str, graph: GraphLike) -> Graph:
        """Store a new version on the server."""
        return await self._send_graph("PUT", f"/graphs/{graph_id}", as_graph(graph))

    async def save_graph(self, graph: GraphLike) -> Graph:
        """Store on the server unless its active version is the same."""
        graph = as_graph(graph)
        await self._check_blocks(graph)
        try:
            current = await self.load_graph(graph.id)
        except NotFoundError:
            try:
                return await self.create_graph(graph)
            except ConflictError:  # saved meanwhile by another caller: compare with that
                current = await self.load_graph(graph.id)
        mine = normalize(graph.model_copy(deep=True), self.registry or default_registry())
        if _content(current) == _content(mine):
            return current
        return await self.update_graph(graph.id, graph)

    async def load_graph(self, graph_id: str, version: int | None = None) -> Graph:
        """A graph stored on the server."""
        params = {"version": version} if version is not None else None
        return Graph.model_validate(await self._request("GET", f"/graphs/{graph_id}", params=params))

    async def export_graph(self, graph_id: str, version: int | None = None) -> dict[str, Any]:
        """The AutoGPT-format document."""
        params = {"version": version} if version is not None else None
        return await self._request("GET", f"/graphs/{graph_id}/export", params=params)

    async def delete_graph(self, graph_id: str) -> None:
        """Delete a graph on the server."""
        await self._request("DELETE", f"/graphs/{graph_id}")

    async def agent_tools(self) -> list[AgentToolInfo]:
        """Your agents the server offers at ``/mcp``."""
        return [AgentToolInfo.from_dict(d) for d in await self._request("GET", "/mcp/tools")]

    async def serve_as_tool(self, graph_id: str, enabled: bool | None = True) -> AgentToolInfo | None:
        """Serve a graph as an MCP tool on the server, or not (None: the server's default)."""
        state = await self._request("PUT", f"/graphs/{graph_id}/mcp-tool", json={"enabled": enabled})
        return AgentToolInfo.from_dict(state["tool"]) if state.get("tool") else None

    # ---- runs ------------------------------------------------------------------------------------

    async def _execute(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None,
        version: int | None,
        credentials: dict[str, str] | None,
        wait: float = 0,
        safe_mode: bool = True,
    ) -> dict[str, Any]:
        ref = graph_ref(graph)
        graph_id = ref if isinstance(ref, str) else (await self.save_graph(ref)).id
        body: dict[str, Any] = {"inputs": inputs or {}, "credentials": credentials or {}}
        if version is not None:
            body["version"] = version
        if not safe_mode:
            body["safe_mode"] = False
        return await self._request(
            "POST", f"/graphs/{graph_id}/execute", params={"wait": wait} if wait else None, json=body
        )

    async def submit(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> str:
        """Start a run on the server (a graph object is saved first)."""
        return str((await self._execute(graph, inputs, version, credentials, safe_mode=safe_mode))["id"])

    async def run(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> ExecutionResult:
        """Run and wait: one request when the run ends within the server's longest wait."""
        wait = min(timeout or MAX_WAIT, MAX_WAIT)
        doc = await self._execute(graph, inputs, version, credentials, wait=wait, safe_mode=safe_mode)
        result = ExecutionResult.from_dict(doc)
        if result.status.is_final:
            return result
        return await self.wait(result.execution_id, None if timeout is None else max(timeout - wait, 0.001))

    @contextlib.asynccontextmanager
    async def _socket(self) -> AsyncIterator[Any]:
        try:
            async with websockets.connect(
                self.ws_url, additional_headers=self.headers, open_timeout=self.timeout
            ) as socket:
                yield socket
        except websockets.InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise AuthError(f"the server refused the WebSocket ({code}): check the API key") from None
            raise ServerError(f"the server refused the WebSocket ({code})") from None
        except OSError as exc:
            raise ServerError(f"cannot reach the workbench WebSocket at {self.ws_url}: {exc}") from exc

    @staticmethod
    async def _frames(socket: Any) -> AsyncIterator[dict[str, Any]]:
        async for raw in socket:
            frame = jsonutil.loads(raw)
            if frame.get("type") == "error":
                raise InputError(str(frame.get("message")))
            yield frame

    async def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """Wait for the end of a run, told by the WebSocket (no polling)."""
        async with asyncio.timeout(timeout):
            async with self._socket() as socket:
                await socket.send(jsonutil.dumps({"action": "subscribe", "execution_id": execution_id}))
                async for frame in self._frames(socket):
                    if frame.get("type") == "EXECUTION_STATE":
                        if ExecutionResult.from_dict(frame["execution"]).status.is_final:
                            break
                    elif (
                        frame.get("execution_id") == execution_id
                        and frame.get("type") in _EVENT_TYPES
                        and ExecutionEvent.from_dict(frame).is_final
                    ):
                        break
        return await self.execution(execution_id)

    async def events(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> AsyncIterator[ExecutionEvent]:
        """Start a run on the server and yield its events as the WebSocket delivers them."""
        ref = graph_ref(graph)
        graph_id = ref if isinstance(ref, str) else (await self.save_graph(ref)).id
        async with self._socket() as socket:
            # Subscribed to the graph before the run starts, so no event of it is missed.
            await socket.send(jsonutil.dumps({"action": "subscribe", "graph_id": graph_id}))
            frames = self._frames(socket)
            async for frame in frames:
                if frame.get("type") == "subscribed":
                    break
            execution_id = await self.submit(graph_id, inputs, version=version, credentials=credentials)
            async for frame in frames:
                if frame.get("execution_id") != execution_id or frame.get("type") not in _EVENT_TYPES:
                    continue
                event = ExecutionEvent.from_dict(frame)
                yield event
                if event.is_final:
                    return
            raise ServerError(f"the WebSocket closed before execution {execution_id} ended")

    async def cancel(self, execution_id: str) -> str:
        """Stop a run on the server."""
        return str((await self._request("POST", f"/executions/{execution_id}/cancel"))["status"])

    async def delete_execution(self, execution_id: str) -> None:
        """Delete a finished run on the server."""
        await self._request("DELETE", f"/executions/{execution_id}")

    async def run_block(
        self, block: str, inputs: dict[str, Any] | None = None, *, credentials: dict[str, str] | None = None
    ) -> BlockRun:
        """Run one block of the server outside a graph."""
        info = await self.block(block)
        body = {"inputs": dict(inputs or {}), "credentials": dict(credentials or {})}
        doc = await self._request("POST", f"/blocks/{info.id}/execute", content=jsonutil.dumps(body))
        return BlockRun(outputs=[(o[0], o[1]) for o in doc.get("outputs") or []], error=doc.get("error"))

    async def execution(self, execution_id: str) -> ExecutionResult:
        """A run with its node executions."""
        return ExecutionResult.from_dict(await self._request("GET", f"/executions/{execution_id}"))

    async def executions(
        self, graph_id: str | None = None, *, status: str | None = None, limit: int = 20
    ) -> list[ExecutionResult]:
        """Runs on the server, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if graph_id:
            params["graph_id"] = graph_id
        if status:
            params["status"] = status
        page = await self._request("GET", "/executions", params=params)
        return [ExecutionResult.from_dict(e) for e in page["items"]]

    async def retention(self) -> dict[str, Any]:
        """Your retention bounds on the server, the server's and the effective ones."""
        return await self._request("GET", "/executions/retention")

    async def set_retention(self, *, days: int | None = None, per_agent: int | None = None) -> dict[str, Any]:
        """Replace your own retention bounds on the server."""
        body = {"days": days, "per_agent": per_agent}
        return await self._request("PUT", "/executions/retention", content=jsonutil.dumps(body))

    # ---- human reviews ---------------------------------------------------------------------------

    async def reviews(
        self, execution_id: str | None = None, *, status: str | None = "WAITING", limit: int = 50
    ) -> list[ReviewInfo]:
        """Reviews on the server, newest first (by default those waiting for you)."""
        params: dict[str, Any] = {"status": status} if status else {}
        if execution_id is not None:
            docs = await self._request(
                "GET", f"/executions/{quote(execution_id, safe='')}/reviews", params=params
            )
            return [ReviewInfo.from_dict(d) for d in docs[:limit]]
        page = await self._request("GET", "/reviews", params={**params, "limit": limit})
        return [ReviewInfo.from_dict(d) for d in page["items"]]

    async def review(self, review_id: str) -> ReviewInfo:
        """One review, with its signed link while it waits."""
        return ReviewInfo.from_dict(await self._request("GET", f"/reviews/{quote(review_id, safe='')}"))

    async def decide_review(
        self,
        review_id: str,
        decision: Literal["approve", "reject"],
        *,
        data: Any = UNCHANGED,
        message: str | None = None,
    ) -> ReviewInfo:
        """Answer a review on the server; the run goes on there."""
        body: dict[str, Any] = {"decision": decision}
        if data is not UNCHANGED:
            body["data"] = data
        if message is not None:
            body["message"] = message
        doc = await self._request(
            "POST", f"/reviews/{quote(review_id, safe='')}", content=jsonutil.dumps(body)
        )
        return ReviewInfo.from_dict(doc)

    # ---- schedules -------------------------------------------------------------------------------

    async def create_schedule(
        self,
        graph_id: str,
        schedule_type: str,
        *,
        inputs: dict[str, Any] | None = None,
        name: str = "",
        **timing: Any,
    ) -> ScheduleInfo:
        """Store a schedule on the server."""
        body = {"graph_id": graph_id, "schedule_type": schedule_type, "name": name, "inputs": inputs or {}}
        body.update(timing)
        return ScheduleInfo.from_dict(await self._request("POST", "/schedules", content=jsonutil.dumps(body)))

    async def schedules(self, graph_id: str | None = None) -> list[ScheduleInfo]:
        """Schedules on the server."""
        params: dict[str, Any] = {"limit": 500}
        if graph_id:
            params["graph_id"] = graph_id
        page = await self._request("GET", "/schedules", params=params)
        return [ScheduleInfo.from_dict(s) for s in page["items"]]

    async def update_schedule(self, schedule_id: str, **changes: Any) -> ScheduleInfo:
        """Change some fields."""
        doc = await self._request("PATCH", f"/schedules/{schedule_id}", content=jsonutil.dumps(changes))
        return ScheduleInfo.from_dict(doc)

    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Pause."""
        return ScheduleInfo.from_dict(await self._request("POST", f"/schedules/{schedule_id}/pause"))

    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Resume."""
        return ScheduleInfo.from_dict(await self._request("POST", f"/schedules/{schedule_id}/resume"))

    async def schedule_runs(self, schedule_id: str) -> list[ScheduleRun]:
        """Fires, latest first."""
        page = await self._request("GET", f"/schedules/{schedule_id}/runs", params={"limit": 500})
        return [ScheduleRun.from_dict(r) for r in page["items"]]

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule."""
        await self._request("DELETE", f"/schedules/{schedule_id}")

    # ---- webhook triggers ------------------------------------------------------------------------

    async def create_trigger(
        self,
        graph_id: str,
        *,
        name: str = "",
        auth_mode: Literal["hmac", "bearer", "github"] = "hmac",
        input_mapping: dict[str, str] | None = None,
        rate_limit_per_minute: int | None = None,
        graph_version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> TriggerInfo:
        """Store a trigger on the server; its secret is in the result, this once."""
        body: dict[str, Any] = {"graph_id": graph_id, "name": name, "auth_mode": auth_mode}
        optional = {
            "input_mapping": input_mapping,
            "rate_limit_per_minute": rate_limit_per_minute,
            "graph_version": graph_version,
            "credentials": credentials,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return TriggerInfo.from_dict(await self._request("POST", "/triggers", content=jsonutil.dumps(body)))

    async def triggers(self, graph_id: str | None = None) -> list[TriggerInfo]:
        """Triggers on the server."""
        params: dict[str, Any] = {"limit": 500}
        if graph_id:
            params["graph_id"] = graph_id
        page = await self._request("GET", "/triggers", params=params)
        return [TriggerInfo.from_dict(t) for t in page["items"]]

    async def rotate_trigger_secret(self, trigger_id: str) -> TriggerInfo:
        """A new secret (in the result, this once)."""
        return TriggerInfo.from_dict(await self._request("POST", f"/triggers/{trigger_id}/rotate-secret"))

    async def delete_trigger(self, trigger_id: str) -> None:
        """Delete a trigger."""
        await self._request("DELETE", f"/triggers/{trigger_id}")

    # ---- notifications ---------------------------------------------------------------------------

    async def notifications(self, *, unread: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """Your in-app notifications on the server, newest first."""
        page = await self._request(
            "GET", "/notifications", params={"unread": str(unread).lower(), "limit": limit}
        )
        return [NotificationInfo.from_dict(n) for n in page["items"]]

    async def unread_count(self) -> int:
        """How many are unread."""
        page = await self._request("GET", "/notifications", params={"unread": "true", "limit": 1})
        return int(page["unread"])

    async def mark_read(self, ids: list[str] | None = None, *, read: bool = True) -> int:
        """Mark notifications read (or unread)."""
        body: dict[str, Any] = {"read": read}
        if ids is not None:
            body["ids"] = ids
        done = await self._request("POST", "/notifications/read", content=jsonutil.dumps(body))
        return int(done["changed"])

    async def notification_preferences(self) -> dict[str, Any]:
        """Your preferences, defaults filled in."""
        return await self._request("GET", "/notifications/preferences")

    async def set_notification_preferences(
        self, preferences: dict[str, Any] | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Replace (PUT) or change (PATCH) your preferences."""
        if preferences is not None:
            doc = {**preferences, **changes}
            return await self._request("PUT", "/notifications/preferences", content=jsonutil.dumps(doc))
        return await self._request("PATCH", "/notifications/preferences", content=jsonutil.dumps(changes))

    async def add_notification_channel(self, kind: str, name: str, target: str) -> NotificationChannelInfo:
        """Add a channel on the server (a webhook's secret in the result, this once)."""
        body = {"kind": kind, "name": name, "target": target}
        doc = await self._request("POST", "/notifications/channels", content=jsonutil.dumps(body))
        return NotificationChannelInfo.from_dict(doc)

    async def notification_channels(self) -> list[NotificationChannelInfo]:
        """Your channels."""
        return [
            NotificationChannelInfo.from_dict(c)
            for c in await self._request("GET", "/notifications/channels")
        ]

    async def delete_notification_channel(self, channel_id: str) -> None:
        """Remove a channel."""
        await self._request("DELETE", f"/notifications/channels/{channel_id}")

    async def notification_deliveries(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[DeliveryInfo]:
        """The delivery log."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return [
            DeliveryInfo.from_dict(d)
            for d in await self._request("GET", "/notifications/deliveries", params=params)
        ]

    async def notify(self, title: str, text: str = "", *, channel: str | None = None) -> str:
        """Send yourself a message through the server's notifier."""
        body = {"title": title, "text": text, "channel": channel}
        return str(
            (await self._request("POST", "/notifications/messages", content=jsonutil.dumps(body)))["key"]
        )

    # ---- credentials -----------------------------------------------------------------------------

    async def add_credential(
        self, provider: str, secret: dict[str, Any], *, type: str = "api_key", title: str | None = None
    ) -> CredentialInfo:
        """Store a secret on the server."""
        body = {"provider": provider, "type": type, "title": title, "secret": secret}
        return CredentialInfo.from_dict(await self._request("POST", "/credentials", json=body))

    async def credentials(self, provider: str | None = None) -> list[CredentialInfo]:
        """Credentials' metadata."""
        params = {"provider": provider} if provider else None
        return [
            CredentialInfo.from_dict(c) for c in await self._request("GET", "/credentials", params=params)
        ]

    async def delete_credential(self, credential_id: str) -> None:
        """Delete a credential."""
        await self._request("DELETE", f"/credentials/{credential_id}")

    # ---- drafting by chat ------------------------------------------------------------------------

    async def draft(
        self,
        request: str,
        base: GraphLike | None = None,
        *,
        history: Sequence[Mapping[str, str]] = (),
        credential_id: str | None = None,
        model: str | None = None,
    ) -> Proposal:
        """The drafting assistant's proposal, from the server (its blocks, your credentials there)."""
        body: dict[str, Any] = {
            "request": request,
            "history": [dict(turn) for turn in history],
            "credential_id": credential_id,
            "model": model,
        }
        if base is not None:
            body["graph"] = as_graph(base).model_dump(mode="json")
        doc = await self._request("POST", "/graphs/draft", content=jsonutil.dumps(body))
        proposal = Proposal.from_dict(doc)
        return dataclasses.replace(proposal, problems=[_problem(p) for p in doc.get("problems") or []])

    # ---- marketplace -------------------------------------------------------------------------------

    async def publish_template(
        self,
        graph_id: str,
        *,
        description: str | None = None,
        version: int | None = None,
        name: str | None = None,
    ) -> TemplateInfo:
        """Publish a graph as a template."""
        body = {"graph_id": graph_id, "description": description, "version": version, "name": name}
        doc = await self._request("POST", "/templates", json={k: v for k, v in body.items() if v is not None})
        return TemplateInfo.from_dict(doc)

    async def templates(
        self, search: str | None = None, *, mine: bool = False, limit: int = 50, offset: int = 0
    ) -> list[TemplateInfo]:
        """Templates, newest first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if search:
            params["search"] = search
        if mine:
            params["mine"] = "true"
        page = await self._request("GET", "/templates", params=params)
        return [TemplateInfo.from_dict(t) for t in page["items"]]

    async def template(self, template_id: str) -> TemplateInfo:
        """One template."""
        return TemplateInfo.from_dict(await self._request("GET", f"/templates/{quote(template_id, safe='')}"))

    async def template_graph(self, template_id: str) -> Graph:
        """A template's graph."""
        doc = await self._request("GET", f"/templates/{quote(template_id, safe='')}/graph")
        return Graph.model_validate(doc)

    async def fork_template(self, template_id: str, *, name: str | None = None) -> Graph:
        """Fork a template into the library."""
        body = {"name": name} if name else {}
        doc = await self._request("POST", f"/templates/{quote(template_id, safe='')}/fork", json=body)
        return Graph.model_validate(doc)

    async def unpublish_template(self, template_id: str) -> None:
        """Unpublish a template."""
        await self._request("DELETE", f"/templates/{quote(template_id, safe='')}")

    # ---- knowledge bases -------------------------------------------------------------------------

    @staticmethod
    def _kb_path(knowledge_base: str) -> str:
        """The API path of a knowledge base named by id or name (the API takes either)."""
        return "/" + quote(knowledge_base, safe="")

    async def _kb_request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A knowledge API request (``body`` sent as JSON); field problems raise KnowledgeInputError."""
        if body is not None:
            kwargs.update(content=jsonutil.dumps(body), headers={"Content-Type": "application/json"})
        return await self._request(method, "/knowledge" + path, fields_error=KnowledgeInputError, **kwargs)

    async def _pages(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = await self._kb_request("GET", path, params={"limit": 500, "offset": len(found)})
            found += page["items"]
            if not page["items"] or len(found) >= page["total"]:
                return found

    async def create_knowledge_base(
        self,
        name: str,
        *,
        description: str = "",
        embedding_model: str = DEFAULT_MODEL,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        language: str = "english",
        metadata: dict[str, Any] | None = None,
        dimension: int | None = None,
    ) -> KnowledgeBaseInfo:
        """Create a knowledge base on the server."""
        body = {
            "name": name,
            "description": description,
            "embedding_model": embedding_model,
            "dimension": dimension,
            "language": language,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "metadata": {} if metadata is None else metadata,
        }
        return KnowledgeBaseInfo.from_dict(await self._kb_request("POST", "", body))

    async def knowledge_bases(self) -> list[KnowledgeBaseInfo]:
        """Knowledge bases on the server, newest first."""
        return [KnowledgeBaseInfo.from_dict(k) for k in await self._pages("")]

    async def knowledge_base(self, knowledge_base: str) -> KnowledgeBaseInfo:
        """One knowledge base by id or name."""
        doc = await self._kb_request("GET", self._kb_path(knowledge_base))
        return KnowledgeBaseInfo.from_dict(doc)

    async def delete_knowledge_base(self, knowledge_base: str) -> None:
        """Delete a knowledge base on the server."""
        await self._kb_request("DELETE", self._kb_path(knowledge_base))

    async def add_document(
        self,
        knowledge_base: str,
        content: str | Path,
        *,
        title: str | None = None,
        source: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> DocumentInfo:
        """Send a document: text as JSON, a file as a multipart upload."""
        path = f"{self._kb_path(knowledge_base)}/documents"
        if not isinstance(content, Path):
            body = {"content": content, "title": title, "source": source, "content_type": content_type}
            body["metadata"] = {} if metadata is None else metadata
            return DocumentInfo.from_dict(await self._kb_request("POST", path, body))
        fields = {"title": title, "source": source, "content_type": content_type}
        form = {k: v for k, v in fields.items() if v is not None}
        if metadata is not None:
            form["metadata"] = jsonutil.dumps(metadata)
        # No guessed type on the upload: the server guesses from the name, as the local transport does.
        upload = (content.name, content.read_bytes(), content_type or "application/octet-stream")
        doc = await self._kb_request("POST", path, data=form, files={"file": upload})
        return DocumentInfo.from_dict(doc)

    async def documents(self, knowledge_base: str) -> list[DocumentInfo]:
        """Documents, newest first."""
        return [
            DocumentInfo.from_dict(d) for d in await self._pages(f"{self._kb_path(knowledge_base)}/documents")
        ]

    async def delete_document(self, knowledge_base: str, document_id: str) -> None:
        """Delete a document on the server."""
        path = f"{self._kb_path(knowledge_base)}/documents/{quote(document_id, safe='')}"
        await self._kb_request("DELETE", path)

    async def search(
        self,
        knowledge_base: str,
        query: str,
        *,
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        filter: dict[str, Any] | None = None,
    ) -> list[SearchResult]:
        """Search a knowledge base on the server."""
        body = {"query": query, "mode": mode, "top_k": top_k, "filter": {} if filter is None else filter}
        doc = await self._kb_request("POST", f"{self._kb_path(knowledge_base)}/search", body)
        return [SearchResult.from_dict(r) for r in doc["results"]]
