"""/api/v1/triggers: webhook triggers of your agents; /api/v1/hooks/{id}: the webhook itself.

``POST /hooks/{id}`` needs no login or API key (it is in ``server.auth.PUBLIC_PATHS``): the call
proves it holds the trigger's secret instead (an HMAC signature with a timestamp, GitHub's signature
of the body, or the secret as a bearer token). The front door (``server.guard``) still applies: senders that are not browsers send no
``Origin`` and pass; the body must say ``application/json``. Every rule is the trigger service's
(``workbench.services.triggers``); the request models give the JSON shape only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field

from server.config import ServerConfig
from server.deps import caller, errors, workbench_of
from server.schemas import Body, ErrorOut, Page
from workbench.services.trigger_signing import (
    GITHUB_DELIVERY_HEADER,
    GITHUB_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from workbench.services.triggers import (
    DEFAULT_RATE,
    MAX_RATE,
    Fired,
    IssuedSecret,
    PayloadTooLarge,
    TriggerService,
    hook_path,
)
from workbench.store.triggers import TriggerRecord

_HELP = {
    "graph_version": "A fixed version (1 or more); null: the agent's active version at each call.",
    "name": "Up to 200 characters.",
    "input_mapping": "Input names to paths into the payload: JSON pointers (`/pull_request/title`) or "
    "dotted paths (`pull_request.title`, `commits.0.id`). Null (the default): the payload is a JSON "
    "object whose keys are the inputs.",
    "credentials": "Credential ids by credentials field name, for every run.",
    "enabled": "A disabled trigger refuses calls (409, after checking their signature).",
    "rate_limit_per_minute": f"Calls a minute, 1 to {MAX_RATE} (default {DEFAULT_RATE}); bursts up to "
    "a minute's worth; beyond, 429 with Retry-After.",
}


def _field(name: str) -> Any:
    return Field(default=None, description=_HELP[name])


class TriggerFieldsIn(Body):
    """What PATCH changes (the others stay). The agent and the signing scheme stay as created."""

    name: str | None = _field("name")
    graph_version: int | None = _field("graph_version")
    input_mapping: dict[str, str] | None = _field("input_mapping")
    credentials: dict[str, str] | None = _field("credentials")
    enabled: bool | None = _field("enabled")
    rate_limit_per_minute: int | None = _field("rate_limit_per_minute")


class TriggerIn(TriggerFieldsIn):
    """A new trigger: which agent, how calls prove themselves, how the payload becomes inputs."""

    graph_id: UUID
    auth_mode: Literal["hmac", "bearer", "github"] = Field(
        default="hmac",
        description=f"hmac: `{TIMESTAMP_HEADER}` and `{SIGNATURE_HEADER}: v1=<hex HMAC-SHA256 of "
        "'<timestamp>.<body>'>` (replays refused); github: GitHub's webhook signature, "
        f"`{GITHUB_SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>` with "
        f"`{GITHUB_DELIVERY_HEADER}` (a delivery id or body seen before is refused); bearer: "
        "`Authorization: Bearer <secret>`.",
    )


class TriggerOut(BaseModel):
    """A trigger (never its secret)."""

    id: str
    graph_id: str
    graph_version: int | None
    name: str
    auth_mode: Literal["hmac", "bearer", "github"]
    input_mapping: dict[str, str] | None
    credentials: dict[str, str]
    enabled: bool
    rate_limit_per_minute: int
    path: str = Field(description="Where to POST calls on this server: `/api/v1/hooks/{id}`.")
    url: str = Field(description="The full URL of the webhook (`WORKBENCH_PUBLIC_URL`, else as reached).")
    fire_count: int = Field(description="Calls that started a run.")
    last_fired_at: datetime | None
    last_execution_id: str | None
    secret_rotated_at: datetime
    created_at: datetime
    updated_at: datetime


class TriggerSecretOut(TriggerOut):
    """A trigger with its secret: shown this once (save it in the sender now)."""

    secret: str = Field(description="The trigger's secret (`wbh_…`); it is never shown again.")


class HookOut(BaseModel):
    """What a webhook call started."""

    trigger_id: str
    execution_id: str
    status: Literal["QUEUED", "RUNNING", "REVIEW", "COMPLETED", "FAILED", "CANCELLED"]
    outputs: dict[str, list[Any]] = Field(description="Outputs by name (complete once the run has ended).")
    error: str | None


def _service(request: Request[Any, Any, Any]) -> TriggerService:
    return TriggerService.of(workbench_of(request))


def _base_url(request: Request[Any, Any, Any]) -> str:
    config: ServerConfig = request.app.state.config
    return (config.public_url or str(request.base_url)).rstrip("/")


def trigger_out(request: Request[Any, Any, Any], t: TriggerRecord) -> TriggerOut:
    """The API form of a trigger."""
    path = hook_path(t.id)
    return TriggerOut(
        id=t.id,
        graph_id=t.graph_id,
        graph_version=t.graph_version,
        name=t.name,
        auth_mode=t.auth_mode,  # type: ignore[arg-type]
        input_mapping=t.input_mapping,
        credentials=t.credentials,
        enabled=t.is_enabled,
        rate_limit_per_minute=t.rate_limit_per_minute,
        path=path,
        url=_base_url(request) + path,
        fire_count=t.fire_count,
        last_fired_at=t.last_fired_at,
        last_execution_id=t.last_execution_id,
        secret_rotated_at=t.secret_rotated_at,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _issued(request: Request[Any, Any, Any], issued: IssuedSecret) -> TriggerSecretOut:
    return TriggerSecretOut(**trigger_out(request, issued.trigger).model_dump(), secret=issued.secret)


def _fields(data: BaseModel) -> dict[str, Any]:
    fields = data.model_dump(exclude_unset=True)
    if fields.get("graph_id") is not None:
        fields["graph_id"] = str(fields["graph_id"])
    return fields


class TriggerController(Controller):
    """Webhook triggers: a URL and a secret that start one of your agents."""

    path = "/triggers"
    tags = ["triggers"]

    @post("/", status_code=201, responses=errors(422), summary="Create a trigger")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[TriggerIn]) -> TriggerSecretOut:
        """A webhook URL for one of your agents, with a secret of its own, shown this once.

        Needs ``graphs:write`` and ``graphs:execute``: calls run the agent on your behalf."""
        issued = await _service(request).create(caller(request), _fields(data))
        return _issued(request, issued)

    @get("/", responses=errors(), summary="List triggers")
    async def list_triggers(
        self,
        request: Request[Any, Any, Any],
        graph_id: UUID | None = Parameter(default=None, description="Only the triggers of this agent."),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[TriggerOut]:
        """Your triggers, newest first (never their secrets)."""
        principal = caller(request, "graphs:read")
        items, total = await _service(request).list(
            principal.user_id, graph_id=str(graph_id) if graph_id else None, limit=limit, offset=offset
        )
        return Page(items=[trigger_out(request, t) for t in items], total=total, limit=limit, offset=offset)

    @get("/{trigger_id:uuid}", responses=errors(404), summary="Get a trigger")
    async def get_trigger(self, request: Request[Any, Any, Any], trigger_id: FromPath[UUID]) -> TriggerOut:
        """One of your triggers, with how often it fired."""
        principal = caller(request, "graphs:read")
        return trigger_out(request, await _service(request).get(str(trigger_id), principal.user_id))

    @patch("/{trigger_id:uuid}", responses=errors(404, 422), summary="Change a trigger")
    async def update(
        self, request: Request[Any, Any, Any], trigger_id: FromPath[UUID], data: JSONBody[TriggerFieldsIn]
    ) -> TriggerOut:
        """Enable or disable it, change its mapping, rate, version, credentials or name. Needs
        ``graphs:write`` and ``graphs:execute``; disabling (or renaming) only ``graphs:write``."""
        changed = await _service(request).update(str(trigger_id), caller(request), _fields(data))
        return trigger_out(request, changed)

    @delete("/{trigger_id:uuid}", status_code=204, responses=errors(404), summary="Delete a trigger")
    async def delete_trigger(self, request: Request[Any, Any, Any], trigger_id: FromPath[UUID]) -> None:
        """Delete it: its URL answers 404 from now on (the runs it started stay)."""
        await _service(request).delete(str(trigger_id), caller(request))

    @post(
        "/{trigger_id:uuid}/rotate-secret",
        status_code=200,
        responses=errors(404),
        summary="Rotate a trigger's secret",
    )
    async def rotate_secret(
        self, request: Request[Any, Any, Any], trigger_id: FromPath[UUID]
    ) -> TriggerSecretOut:
        """A new secret, shown this once; the old one is refused from now on."""
        issued = await _service(request).rotate_secret(str(trigger_id), caller(request))
        return _issued(request, issued)


async def _body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The raw body (the signature covers its exact bytes), refused as soon as it is over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def hook_out(fired: Fired) -> HookOut:
    """The API form of what a call started."""
    run = fired.execution
    return HookOut(
        trigger_id=fired.trigger_id,
        execution_id=run.execution_id,
        status=str(run.status),  # type: ignore[arg-type]
        outputs=run.outputs,
        error=run.error,
    )


_UNSUPPORTED = ResponseSpec(
    data_container=ErrorOut, description="The body is not JSON (Content-Type).", generate_examples=False
)


@post(
    "/hooks/{trigger_id:uuid}",
    status_code=202,
    tags=["triggers"],
    security=[{}],
    responses={
        200: ResponseSpec(HookOut, description="The run ended within `wait`."),
        **errors(404, 409, 413, 422),
        415: _UNSUPPORTED,
    },
    summary="Call a webhook trigger",
    description=(
        "Start the trigger's agent with the JSON body as its inputs (or what the trigger's "
        "`input_mapping` takes from it). No login or API key: prove the secret instead, with "
        f"`{TIMESTAMP_HEADER}` (unix seconds) and `{SIGNATURE_HEADER}: v1=<hex HMAC-SHA256 of "
        "'<timestamp>.<raw body>' keyed with the secret>` (hmac triggers; a timestamp more than "
        "`WORKBENCH_WEBHOOK_TOLERANCE` seconds off, or a signature seen before, is refused), "
        f"`{GITHUB_SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the raw body>` and "
        f"`{GITHUB_DELIVERY_HEADER}` (github triggers, as GitHub sends them; a delivery id or body seen "
        "before is refused), or `Authorization: Bearer <secret>` (bearer triggers). 401 starts nothing; 404: no such trigger; "
        "409: disabled, or its agent is gone; 422 names unknown or missing inputs; 429: the trigger's "
        "rate limit, with Retry-After."
    ),
)
async def fire_hook(
    request: Request[Any, Any, Any],
    trigger_id: FromPath[UUID],
    wait: float = Parameter(default=0, ge=0, le=300, description="Seconds to wait for the run to end."),
) -> Response[HookOut]:
    """202 with the execution's id at once, or 200 with its outputs if it ends within ``wait``."""
    service = _service(request)
    body = await _body(request, service.max_bytes)
    fired = await service.fire(str(trigger_id), request.headers, body, wait=wait)
    # Without ``wait`` the answer is always 202, however fast the run (as for execute).
    final = wait > 0 and fired.execution.status.is_final
    return Response(hook_out(fired), status_code=200 if final else 202)
