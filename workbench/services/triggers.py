"""Webhook triggers: a URL (``POST /api/v1/hooks/{id}``) with a secret of its own that starts a run of
one of its owner's agents, with inputs taken from the call's JSON payload.

This module holds every rule about triggers; the API's routes and the clients call it.

* **Secrets** (``wbh_`` + 43 random characters) are made here, shown once (when the trigger is made or
  its secret rotated: :class:`IssuedSecret`) and stored encrypted (Fernet, with a key derived by HKDF
  from the credentials vault's key, so it depends on ``WORKBENCH_SECRET_KEY`` the same way). No
  listing, reading or log line carries one.
* **Calls** (:meth:`TriggerService.fire`) are checked in this order: the body's size
  (``WORKBENCH_WEBHOOK_MAX_BYTES``, 413); the trigger (404 when there is none, or its owner's account
  is deactivated); the call's credentials (:mod:`workbench.services.trigger_signing`: an HMAC signature
  with a timestamp within ``WORKBENCH_WEBHOOK_TOLERANCE`` seconds, GitHub's signature of the body
  with a delivery id, or a bearer secret; 401, and nothing starts); the trigger being enabled (409,
  told only to a caller that proved it holds the secret); the replay guard (a signature accepted once
  is refused for the rest of its window; a GitHub delivery id or body for ``UNTIMED_REPLAY_WINDOW``;
  401); the trigger's rate limit (429 with ``retry_after``); the payload (JSON, 415 or 400; mapped to
  the agent's inputs by :mod:`workbench.services.trigger_mapping`, 422 naming each unknown or missing
  input); then the run is submitted as the owner, with the trigger's credentials, like
  ``POST /graphs/{id}/execute``. A call refused after the replay guard started nothing, so the guard
  forgets it: the sender may send it again.
* **Existence is not secret**: an unknown id is a 404, because trigger ids are random UUIDs that grant
  nothing without the secret, and a sender is better told that its trigger is gone than to retry
  forever. Whether a trigger is enabled, and every later check, is told only to holders of the secret.
* **Rate limit**: ``rate_limit_per_minute`` calls (default 60) per trigger as a token bucket in
  PostgreSQL (exact across API replicas). It counts calls that proved the secret only, so a stranger
  who knows the URL cannot use up the sender's allowance; anonymous floods meet the server-wide
  per-address limit (``WORKBENCH_RATE_LIMIT``).

Who may do what: a trigger runs its agent on its owner's behalf, so creating, changing and rotating
need ``graphs:write`` and ``graphs:execute``; disabling and deleting need ``graphs:write``; reading
``graphs:read`` (at the API). A bare user id is the in-process owner (notebooks, CLI), who holds every scope.
Another user's trigger is "not found" on every operation.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from workbench import jsonutil
from workbench.auth import Principal
from workbench.config import Settings
from workbench.errors import (
    AuthError,
    ConflictError,
    InputError,
    InvalidFields,
    NotFoundError,
    RateLimited,
)
from workbench.secrets import Keys
from workbench.services.credentials import CredentialVault
from workbench.services.executions import ExecutionResult, ExecutionService
from workbench.services.graphs import GraphService
from workbench.services.trigger_mapping import map_inputs, path_problem
from workbench.services.trigger_signing import (
    SignatureRefused,
    verify_bearer,
    verify_github,
    verify_signature,
)
from workbench.store.triggers import TriggerRecord, TriggerRepository

log = logging.getLogger(__name__)

SECRET_PREFIX = "wbh_"
AUTH_MODES = ("hmac", "bearer", "github")
UNTIMED_REPLAY_WINDOW = timedelta(days=7)
"""How long the replay guard remembers a call signed without a timestamp (``github``: its delivery
id and body). GitHub lets a delivery be sent again for 3 days; a captured call replayed later than
this is not recognized (the scheme carries no time to refuse it by)."""
DEFAULT_RATE = 60
MAX_RATE = 10_000
MAX_MAPPING = 100
MAX_NAME = 200
MAX_INT = 2**31 - 1
FIELDS = (
    "graph_id",
    "graph_version",
    "name",
    "auth_mode",
    "input_mapping",
    "credentials",
    "enabled",
    "rate_limit_per_minute",
)
"""What a caller may set when creating a trigger."""
FIXED = ("graph_id", "auth_mode")
"""What stays as created (a trigger for another agent or scheme is a new trigger, with a new URL)."""
RUN_SCOPES = ("graphs:write", "graphs:execute")
"""What creating, changing or rotating a trigger needs: it runs the agent on the owner's behalf."""
EDIT_SCOPES = ("graphs:write",)
"""What deleting a trigger needs (it stops runs, never starts one)."""


class TriggerInputError(InvalidFields):
    """Bad trigger fields: ``problems`` lists (field, message) for every one of them."""


class PayloadTooLarge(InputError):
    """A webhook body over ``WORKBENCH_WEBHOOK_MAX_BYTES``."""

    http_status = 413
    error_code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the body is too large: a webhook call takes at most {limit} bytes (WORKBENCH_WEBHOOK_MAX_BYTES)"
        )


class UnsupportedPayload(InputError):
    """A webhook body that does not say it is JSON."""

    http_status = 415
    error_code = "unsupported_media_type"


class MalformedPayload(InputError):
    """A webhook body that says it is JSON and is not."""

    http_status = 400
    error_code = "bad_request"


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A trigger with its secret, given once (creating it, rotating its secret)."""

    trigger: TriggerRecord
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Fired:
    """What a call started: the execution as it is now (finished, when the caller waited for it)."""

    trigger_id: str
    execution: ExecutionResult


def hook_path(trigger_id: str) -> str:
    """Where a trigger is called, on a server: ``/api/v1/hooks/<id>``."""
    return f"/api/v1/hooks/{trigger_id}"


def _fernet(keys: Keys) -> Fernet:
    """The cipher of trigger secrets: a key of its own, derived from the vault's key."""
    return keys.cipher("workbench trigger secrets v1")


def _is_uuid(text: Any) -> bool:
    try:
        uuid.UUID(str(text))
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _owner(user: str | Principal, scopes: tuple[str, ...]) -> str:
    """The caller's user id, once a principal is checked for ``scopes`` (a bare id holds all)."""
    if isinstance(user, str):
        return user
    for scope in scopes:
        user.require(scope)
    return user.user_id


def _media_type(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return value.split(";", 1)[0].strip().lower()


class TriggerService:
    """Webhook triggers: make, read, change, rotate, delete, and fire them (module documentation)."""

    def __init__(
        self,
        repo: TriggerRepository,
        graphs: GraphService,
        executions: ExecutionService,
        vault: CredentialVault,
        keys: Keys,
        *,
        tolerance: int = 300,
        max_bytes: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.graphs = graphs
        self.executions = executions
        self.vault = vault
        self._cipher = _fernet(keys)
        self.tolerance = tolerance
        """How far a signed call's timestamp may be from now, in seconds (``WORKBENCH_WEBHOOK_TOLERANCE``)."""
        self.max_bytes = max_bytes
        """The largest body a call may carry (``WORKBENCH_WEBHOOK_MAX_BYTES``)."""
        self.clock = clock

    @classmethod
    def of(cls, wb: Any, settings: Settings | None = None) -> TriggerService:
        """The service of a started, durable Workbench, with the limits of its settings."""
        if wb.db is None or wb.keys is None or wb.credentials is None:
            raise RuntimeError("triggers need a started workbench with a database")
        settings = settings or wb.settings
        return cls(
            TriggerRepository(wb.db.pool),
            wb.graphs,
            wb.executions,
            wb.credentials,
            wb.keys,
            tolerance=settings.webhook_tolerance,
            max_bytes=settings.webhook_max_bytes,
        )

    # ---- the owner's side ------------------------------------------------------------------------

    async def get(self, trigger_id: str, user_id: str) -> TriggerRecord:
        """A trigger of the user; NotFoundError otherwise."""
        found = await self.repo.get(trigger_id, user_id) if _is_uuid(trigger_id) else None
        if found is None:
            raise NotFoundError(f"trigger {trigger_id} not found")
        return found

    async def list(
        self, user_id: str, *, graph_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[TriggerRecord], int]:
        """The user's triggers (of one graph, if given), newest first, with the total count."""
        if graph_id is not None and not _is_uuid(graph_id):
            return [], 0
        return await self.repo.list(user_id, graph_id=graph_id, limit=limit, offset=offset)

    async def create(self, user: str | Principal, fields: Mapping[str, Any]) -> IssuedSecret:
        """Validate and store a new trigger; its secret comes back this once."""
        user_id = _owner(user, RUN_SCOPES)
        _refuse_unknown(fields, FIELDS)
        values = {name: fields.get(name) for name in FIELDS}
        checked = await self._check(user_id, values, set(FIELDS))
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        stored = await self.repo.insert(user_id, checked, self._cipher.encrypt(secret.encode()))
        log.info("trigger %s made for graph %s", stored.id, stored.graph_id)
        return IssuedSecret(stored, secret)

    async def update(
        self, trigger_id: str, user: str | Principal, changes: Mapping[str, Any]
    ) -> TriggerRecord:
        """Change some fields (PATCH: ``name``, ``graph_version``, ``input_mapping``, ``credentials``,
        ``enabled``, ``rate_limit_per_minute``); the result is validated as a whole. Disabling (and
        renaming) needs ``graphs:write`` only: it starts nothing; any other change needs what creating
        needs."""
        stops_only = set(changes) <= {"enabled", "name"} and changes.get("enabled", False) is False
        user_id = _owner(user, EDIT_SCOPES if stops_only else RUN_SCOPES)
        current = await self.get(trigger_id, user_id)
        _refuse_unknown(changes, tuple(f for f in FIELDS if f not in FIXED))
        values = {**current.values(), "enabled": current.is_enabled, **changes}
        values.pop("is_enabled", None)
        checked = await self._check(user_id, values, set(changes))
        stored = await self.repo.update(current.id, user_id, {k: checked[k] for k in _columns(changes)})
        if stored is None:  # deleted meanwhile
            raise NotFoundError(f"trigger {trigger_id} not found")
        return stored

    async def rotate_secret(self, trigger_id: str, user: str | Principal) -> IssuedSecret:
        """Give the trigger a new secret (shown this once); the old one stops working at once."""
        user_id = _owner(user, RUN_SCOPES)
        current = await self.get(trigger_id, user_id)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        stored = await self.repo.set_secret(current.id, user_id, self._cipher.encrypt(secret.encode()))
        if stored is None:
            raise NotFoundError(f"trigger {trigger_id} not found")
        log.info("trigger %s: secret rotated", stored.id)
        return IssuedSecret(stored, secret)

    async def delete(self, trigger_id: str, user: str | Principal) -> None:
        """Delete a trigger (the executions it started stay); its URL answers 404 from now on."""
        user_id = _owner(user, EDIT_SCOPES)
        if not _is_uuid(trigger_id) or not await self.repo.delete(trigger_id, user_id):
            raise NotFoundError(f"trigger {trigger_id} not found")

    # ---- calls -----------------------------------------------------------------------------------

    async def fire(
        self, trigger_id: str, headers: Mapping[str, str], body: bytes, *, wait: float = 0.0
    ) -> Fired:
        """Check a webhook call and start the trigger's agent with the inputs its payload gives; with
        ``wait``, wait up to that many seconds for the run to end. The checks and their order are in
        the module documentation; a call refused by any of them starts nothing."""
        if len(body) > self.max_bytes:
            raise PayloadTooLarge(self.max_bytes)
        found = await self.repo.for_fire(trigger_id) if _is_uuid(trigger_id) else None
        if found is None:
            raise NotFoundError(f"trigger {trigger_id} not found")
        trigger, encrypted = found
        seen = self._authenticate(trigger, encrypted, headers, body)
        if not trigger.is_enabled:
            raise ConflictError(f"trigger {trigger.id} is disabled: its owner can enable it again")
        if seen and not await self.repo.remember_signatures(trigger.id, seen):
            log.info("trigger %s: refused a replayed call", trigger.id)
            if trigger.auth_mode == "github":
                raise AuthError(
                    "this delivery was received before (a replay: the same delivery id or the same "
                    "signed body)"
                )
            raise AuthError("this signed call was received before (a replay): sign each call anew")
        try:
            execution_id = await self._start(trigger, headers, body)
        except (RateLimited, InputError, ConflictError):  # refused, nothing started: may come again
            await self.repo.forget_signatures(trigger.id, [digest for digest, _ in seen])
            raise
        await self.repo.record_fire(trigger.id, execution_id)
        log.info("trigger %s started execution %s", trigger.id, execution_id)
        result: ExecutionResult | None = None
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                result = await self.executions.wait(execution_id, timeout=wait, user_id=trigger.user_id)
        if result is None:
            result = await self.executions.get(execution_id, trigger.user_id)
        return Fired(trigger.id, result)

    async def _start(self, trigger: TriggerRecord, headers: Mapping[str, str], body: bytes) -> str:
        """What follows the replay guard: the rate limit, the payload, the run; the run's id."""
        wait_for = await self.repo.take_token(trigger.id)
        if wait_for is not None:
            retry = max(1, int(wait_for + 0.999))
            raise RateLimited(
                f"trigger {trigger.id} takes at most {trigger.rate_limit_per_minute} calls a minute: "
                f"try again in {retry} s",
                retry_after=retry,
            )
        inputs, absent = self._inputs(trigger, headers, body)
        return await self._submit(trigger, inputs, absent)

    def _authenticate(
        self, trigger: TriggerRecord, encrypted: bytes, headers: Mapping[str, str], body: bytes
    ) -> list[tuple[bytes, datetime]]:
        """Check the call's credentials: what the replay guard must remember of it, each digest with
        the time until which (none for bearer calls); AuthError when they do not hold."""
        try:
            secret = self._cipher.decrypt(encrypted).decode()
        except InvalidToken:
            log.error(
                "trigger %s: its secret cannot be decrypted (WORKBENCH_SECRET_KEY changed?)", trigger.id
            )
            raise ConflictError(
                f"trigger {trigger.id} cannot check calls: the server's secret key changed since its "
                "secret was made; its owner must rotate the secret"
            ) from None
        try:
            if trigger.auth_mode == "bearer":
                verify_bearer(secret, headers)
                return []
            if trigger.auth_mode == "github":
                until = datetime.fromtimestamp(self.clock(), UTC) + UNTIMED_REPLAY_WINDOW
                return [(digest, until) for digest in verify_github(secret, headers, body)]
            digest, stamp = verify_signature(
                secret, headers, body, now=self.clock(), tolerance=self.tolerance
            )
            return [(digest, datetime.fromtimestamp(stamp + self.tolerance, UTC))]
        except SignatureRefused as exc:
            log.info("trigger %s: refused a call: %s", trigger.id, exc)
            raise AuthError(str(exc)) from None

    def _inputs(
        self, trigger: TriggerRecord, headers: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The run's inputs from the payload, and the mapped inputs whose path led nowhere."""
        payload: Any = {}
        if body.strip():
            kind = _media_type(headers)
            if not (
                kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
            ):
                raise UnsupportedPayload(
                    f"the body is {kind or 'untyped (no Content-Type)'}: a webhook call sends JSON with "
                    "Content-Type: application/json"
                )
            try:
                payload = jsonutil.loads(body)
            except ValueError as exc:
                raise MalformedPayload(f"the body is not valid JSON: {exc}") from None
        if trigger.input_mapping is None:
            if not isinstance(payload, dict):
                raise InputError(
                    "the payload must be a JSON object whose keys are the agent's inputs (or give the "
                    "trigger an input_mapping from inputs to paths in the payload)"
                )
            return payload, {}
        return map_inputs(trigger.input_mapping, payload)

    async def _submit(self, trigger: TriggerRecord, inputs: dict[str, Any], absent: dict[str, str]) -> str:
        """Start the run as the trigger's owner; a refusal says what the payload lacked."""
        try:
            return await self.executions.submit(
                trigger.graph_id,
                inputs,
                user_id=trigger.user_id,
                version=trigger.graph_version,
                credentials=trigger.credentials,
            )
        except NotFoundError as exc:  # the agent, its version or a credential is gone
            raise ConflictError(f"trigger {trigger.id} cannot start its agent: {exc}") from None
        except InputError as exc:
            if not absent:
                raise
            nowhere = ", ".join(f"{path!r} (input {name!r})" for name, path in absent.items())
            raise InputError(f"{exc}; the payload has nothing at {nowhere}") from None

    # ---- validation ------------------------------------------------------------------------------

    async def _check(self, user_id: str, values: dict[str, Any], changed: set[str]) -> dict[str, Any]:
        """Normalize and validate a whole trigger (``values`` by field name); the checks that read
        other data (the graph, its inputs, credentials) run for the fields in ``changed``."""
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}

        name = values.get("name")
        name = "" if name is None else name
        if not isinstance(name, str) or len(name) > MAX_NAME or "\x00" in name:
            problems.append(("name", f"must be text of at most {MAX_NAME} characters"))
        out["name"] = name

        mode = values.get("auth_mode") or "hmac"
        if mode not in AUTH_MODES:
            problems.append(
                (
                    "auth_mode",
                    "must be hmac (a signature with a timestamp), github (GitHub's signature of the "
                    "body, X-Hub-Signature-256) or bearer (the secret)",
                )
            )
        out["auth_mode"] = mode

        enabled = values.get("enabled")
        enabled = True if enabled is None else enabled
        if not isinstance(enabled, bool):
            problems.append(("enabled", "must be true or false"))
        out["is_enabled"] = enabled

        rate = values.get("rate_limit_per_minute")
        rate = DEFAULT_RATE if rate is None else rate
        if not _is_int(rate) or not 1 <= rate <= MAX_RATE:
            problems.append(("rate_limit_per_minute", f"must be a whole number from 1 to {MAX_RATE}"))
        out["rate_limit_per_minute"] = rate

        mapping = values.get("input_mapping")
        if mapping is not None:
            if not isinstance(mapping, dict) or not mapping or len(mapping) > MAX_MAPPING:
                problems.append(
                    (
                        "input_mapping",
                        f"must be an object of 1 to {MAX_MAPPING} input names to paths, or null",
                    )
                )
                mapping = None
            else:
                for key, path in mapping.items():
                    problem = path_problem(path)
                    if problem:
                        problems.append((f"input_mapping.{key}", problem))
        out["input_mapping"] = mapping

        credentials = values.get("credentials")
        credentials = {} if credentials is None else credentials
        if not isinstance(credentials, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in credentials.items()
        ):
            problems.append(("credentials", "must be an object of credential ids by credentials field name"))
        elif credentials and "credentials" in changed:
            for key, credential_id in credentials.items():
                try:
                    await self.vault.check_owned(user_id, [credential_id], where=f"credentials.{key}")
                except NotFoundError as exc:
                    problems.append((f"credentials.{key}", str(exc).split(": ", 1)[-1]))
        out["credentials"] = credentials

        await self._check_target(user_id, values, changed, out, problems)
        if problems:
            raise TriggerInputError(problems)
        return out

    async def _check_target(
        self,
        user_id: str,
        values: dict[str, Any],
        changed: set[str],
        out: dict[str, Any],
        problems: list[tuple[str, str]],
    ) -> None:
        """The graph (the user's), its version, and the mapping's inputs against the graph's inputs."""
        graph_id, version = values.get("graph_id"), values.get("graph_version")
        ok = True
        if not _is_uuid(graph_id) or not isinstance(graph_id, (str, uuid.UUID)):
            problems.append(("graph_id", "must be the id (a UUID) of one of your graphs"))
            ok = False
        else:
            graph_id = str(uuid.UUID(str(graph_id)))
        if version is not None and (not _is_int(version) or not 1 <= version <= MAX_INT):
            problems.append(
                ("graph_version", "must be a version number (1 or more), or null for the active version")
            )
            ok = False
        out["graph_id"], out["graph_version"] = graph_id, version
        if not ok or not changed & {"graph_id", "graph_version", "input_mapping"}:
            return
        try:
            plan = await self.graphs.stored_plan(graph_id, user_id, version)
        except NotFoundError:
            if version is None:
                problems.append(("graph_id", f"graph {graph_id} not found"))
            else:
                problems.append(("graph_version", f"graph {graph_id} has no version {version}"))
            return
        mapping = out.get("input_mapping")
        if mapping:
            known = plan.input_schema()["properties"]
            valid = ", ".join(sorted(known)) or "(this graph takes no inputs)"
            for key in mapping:
                if key not in known:
                    problems.append(
                        (f"input_mapping.{key}", f"is not an input of the graph; its inputs are: {valid}")
                    )


def _refuse_unknown(fields: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise TriggerInputError(
            [(name, "is not a field of a trigger that can be set here") for name in unknown]
        )


def _columns(changes: Mapping[str, Any]) -> list[str]:
    """The stored columns a PATCH of these fields writes."""
    return ["is_enabled" if name == "enabled" else name for name in changes]
