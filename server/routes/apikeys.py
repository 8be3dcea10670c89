"""/api/v1/api-keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut
from workbench.services.accounts import AccountService


def _accounts(request: Request[Any, Any, Any]) -> AccountService:
    accounts = workbench_of(request).accounts
    assert accounts is not None
    return accounts


class ApiKeyController(Controller):
    """API keys with scopes."""

    path = "/api-keys"
    tags = ["api keys"]

    @post("/", status_code=201, responses=errors(422), summary="Create an API key")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[ApiKeyIn]) -> ApiKeyCreatedOut:
        """A new key with the given scopes. The key is in this response only; it is stored hashed.
        Made with an API key, the new key holds at most that key's scopes and expires no later than
        it (403 naming what is in excess); a login (access token) may create any key."""
        principal = caller(request, "apikeys:manage")
        record, key = await _accounts(request).create_key(
            principal.user_id, data.name, data.scopes, data.expires_at, by=principal
        )
        return ApiKeyCreatedOut(**record.to_dict(), key=key)

    @get("/", responses=errors(), summary="List API keys")
    async def list_keys(self, request: Request[Any, Any, Any]) -> list[ApiKeyOut]:
        """The caller's keys (metadata; never the key)."""
        principal = caller(request, "apikeys:manage")
        return [ApiKeyOut(**k.to_dict()) for k in await _accounts(request).list_keys(principal.user_id)]

    @delete("/{key_id:uuid}", status_code=204, responses=errors(404), summary="Revoke an API key")
    async def revoke(self, request: Request[Any, Any, Any], key_id: FromPath[UUID]) -> None:
        """Revoke a key; it stops working at once. With an API key, only itself or keys within its
        own scopes and lifetime (403 otherwise)."""
        principal = caller(request, "apikeys:manage")
        await _accounts(request).revoke_key(principal.user_id, str(key_id), by=principal)
