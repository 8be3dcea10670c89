"""/api/v1/credentials: the vault. Secrets go in; only metadata comes out."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody, Parameter

from server.deps import caller, errors, workbench_of
from server.errors import check_text_parameter
from server.schemas import CredentialIn, CredentialOut
from workbench.services.credentials import CredentialVault


def _vault(request: Request[Any, Any, Any]) -> CredentialVault:
    vault = workbench_of(request).credentials
    assert vault is not None
    return vault


class CredentialController(Controller):
    """Secrets for blocks, encrypted at rest."""

    path = "/credentials"
    tags = ["credentials"]

    @post("/", status_code=201, responses=errors(422), summary="Store a credential")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[CredentialIn]) -> CredentialOut:
        """Encrypt and store a secret; the response has its metadata only."""
        principal = caller(request, "credentials:manage")
        meta = await _vault(request).create(
            principal.user_id, data.provider, data.type, data.secret, data.title, data.expires_at
        )
        return CredentialOut(**meta.to_dict())

    @get("/", responses=errors(), summary="List credentials")
    async def list_credentials(
        self,
        request: Request[Any, Any, Any],
        provider: str | None = Parameter(default=None, max_length=100),
    ) -> list[CredentialOut]:
        """The caller's credentials (metadata; never a secret)."""
        principal = caller(request, "credentials:manage")
        provider = check_text_parameter("provider", provider)
        return [CredentialOut(**m.to_dict()) for m in await _vault(request).list(principal.user_id, provider)]

    @delete("/{credential_id:uuid}", status_code=204, responses=errors(404), summary="Delete a credential")
    async def delete_credential(self, request: Request[Any, Any, Any], credential_id: FromPath[UUID]) -> None:
        """Delete a credential."""
        principal = caller(request, "credentials:manage")
        await _vault(request).delete(principal.user_id, str(credential_id))
