"""The credentials vault: secrets for blocks (API keys of providers...), encrypted at rest (Fernet).

The secret goes in once and comes out only to a running block that declares a credentials input:
listings return metadata, logs never see it, and an execution stores the metadata reference only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from cryptography.fernet import Fernet, InvalidToken

from workbench import jsonutil
from workbench.errors import InputError, NotFoundError, StoreError
from workbench.net.hostscope import HostScope
from workbench.secrets import Keys

CREDENTIAL_TYPES = ("api_key", "oauth2", "user_password", "host_scoped")


@dataclass(frozen=True, slots=True)
class CredentialMeta:
    """What may be shown about a credential."""

    id: str
    provider: str
    type: str
    title: str | None
    created_at: datetime
    expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secret)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "type": self.type,
            "title": self.title,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential with its decrypted secret, for a block at run time only."""

    meta: CredentialMeta
    secret: dict[str, Any]

    def __repr__(self) -> str:  # never print the secret
        return f"<Credential {self.meta.provider}/{self.meta.type} {self.meta.id}>"

    __str__ = __repr__


def _meta(row: asyncpg.Record) -> CredentialMeta:
    return CredentialMeta(
        id=str(row["id"]),
        provider=row["provider"],
        type=row["type"],
        title=row["title"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


class CredentialVault:
    """Stores, lists, deletes and resolves a user's credentials."""

    def __init__(self, pool: asyncpg.Pool, keys: Keys) -> None:
        self.pool = pool
        self._fernet = Fernet(keys.credentials)

    async def create(
        self,
        user_id: str,
        provider: str,
        type: str,
        secret: dict[str, Any],
        title: str | None = None,
        expires_at: datetime | None = None,
    ) -> CredentialMeta:
        """Encrypt and store a secret."""
        if type not in CREDENTIAL_TYPES:
            raise InputError(f"type: must be one of {', '.join(CREDENTIAL_TYPES)}")
        if not provider.strip():
            raise InputError("provider: must not be empty")
        if not secret:
            raise InputError("secret: must not be empty")
        if type == "host_scoped":  # {host, headers}: refused now rather than when a block needs it
            HostScope.from_secret(secret)
        token = self._fernet.encrypt(jsonutil.dumpb(secret))
        row = await self.pool.fetchrow(
            """INSERT INTO credentials (user_id, provider, type, title, encrypted_data, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            user_id,
            provider.strip(),
            type,
            title,
            token,
            expires_at,
        )
        return _meta(row)

    async def list(self, user_id: str, provider: str | None = None) -> list[CredentialMeta]:
        """The user's credentials (metadata only)."""
        rows = await self.pool.fetch(
            """SELECT id, provider, type, title, created_at, expires_at FROM credentials
               WHERE user_id = $1 AND ($2::text IS NULL OR provider = $2) ORDER BY created_at DESC""",
            user_id,
            provider,
        )
        return [_meta(r) for r in rows]

    async def delete(self, user_id: str, credential_id: str) -> None:
        """Delete a credential of the user."""
        result = await self.pool.execute(
            "DELETE FROM credentials WHERE id = $1 AND user_id = $2", credential_id, user_id
        )
        if result == "DELETE 0":
            raise NotFoundError(f"credential {credential_id} not found")

    async def check_owned(
        self, user_id: str, credential_ids: Iterable[str], where: str = "credentials"
    ) -> None:
        """NotFoundError naming the first of ``credential_ids`` that is not ``user_id``'s (or not an id)."""
        wanted = list(dict.fromkeys(credential_ids))
        for cid in wanted:
            try:
                uuid.UUID(cid)
            except (ValueError, TypeError, AttributeError):
                raise NotFoundError(f"{where}: credential {cid!r} not found") from None
        if not wanted:
            return
        rows = await self.pool.fetch(
            "SELECT id::text AS id FROM credentials WHERE id = ANY($1::uuid[]) AND user_id = $2",
            wanted,
            user_id,
        )
        owned = {r["id"] for r in rows}
        for cid in wanted:
            if str(uuid.UUID(cid)) not in owned:
                raise NotFoundError(f"{where}: credential {cid} not found")

    async def update_secret(self, user_id: str, credential_id: str, secret: dict[str, Any]) -> None:
        """Replace the secret of a credential of the user, keeping its id and metadata (a block stores
        an OAuth2 access token it refreshed); NotFoundError when the user has no such credential."""
        if not secret:
            raise InputError("secret: must not be empty")
        token = self._fernet.encrypt(jsonutil.dumpb(secret))
        result = await self.pool.execute(
            """UPDATE credentials SET encrypted_data = $3, updated_at = now()
               WHERE id = $1 AND user_id = $2""",
            credential_id,
            user_id,
            token,
        )
        if result == "UPDATE 0":
            raise NotFoundError(f"credential {credential_id} not found")

    async def resolve(self, user_id: str, credential_id: str) -> Credential:
        """Decrypt a credential of the user for a block."""
        row = await self.pool.fetchrow(
            "SELECT * FROM credentials WHERE id = $1 AND user_id = $2", credential_id, user_id
        )
        if row is None:
            raise NotFoundError(f"credential {credential_id} not found")
        try:
            secret = jsonutil.loads(self._fernet.decrypt(row["encrypted_data"]))
        except InvalidToken as exc:
            raise StoreError(
                f"credential {credential_id} cannot be decrypted: the secret key changed (WORKBENCH_SECRET_KEY)"
            ) from exc
        return Credential(_meta(row), secret)
