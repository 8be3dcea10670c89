"""Account repository: users, OAuth identities, one-time tokens, API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as stored (the password hash never leaves the service layer)."""

    id: str
    email: str
    name: str | None
    email_verified: bool
    is_active: bool
    timezone: str
    created_at: datetime
    password_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Public fields only."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "email_verified": self.email_verified,
            "timezone": self.timezone,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key's metadata (never the key)."""

    id: str
    user_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": self.scopes,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
        }


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=str(row["id"]),
        email=row["email"],
        name=row["name"],
        email_verified=row["email_verified"],
        is_active=row["is_active"],
        timezone=row["timezone"],
        created_at=row["created_at"],
        password_hash=row["password_hash"],
    )


def _key(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        name=row["name"],
        prefix=row["prefix"],
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class AccountRepository:
    """SQL for accounts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_user(
        self, email: str, name: str | None, password_hash: str | None, verified: bool
    ) -> UserRecord | None:
        """Insert a user; None when the email is taken."""
        row = await self.pool.fetchrow(
            """INSERT INTO users (email, name, password_hash, email_verified) VALUES ($1, $2, $3, $4)
               ON CONFLICT (email) DO NOTHING RETURNING *""",
            email,
            name,
            password_hash,
            verified,
        )
        return _user(row) if row else None

    async def user_by_email(self, email: str) -> UserRecord | None:
        """The user with this (normalized) email."""
        row = await self.pool.fetchrow("SELECT * FROM users WHERE email = $1", email)
        return _user(row) if row else None

    async def user(self, user_id: str) -> UserRecord | None:
        """The user with this id."""
        row = await self.pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        return _user(row) if row else None

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """Replace the password hash (and end every session: refresh tokens are revoked)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user_id,
                password_hash,
            )
            await conn.execute(
                "UPDATE auth_tokens SET used_at = now() WHERE user_id = $1 AND kind = 'refresh' AND used_at IS NULL",
                user_id,
            )

    async def set_verified(self, user_id: str) -> None:
        """Mark the email verified."""
        await self.pool.execute(
            "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1", user_id
        )

    async def oauth_user(self, provider: str, subject: str) -> UserRecord | None:
        """The user linked to an OAuth identity."""
        row = await self.pool.fetchrow(
            """SELECT u.* FROM oauth_accounts o JOIN users u ON u.id = o.user_id
               WHERE o.provider = $1 AND o.subject = $2""",
            provider,
            subject,
        )
        return _user(row) if row else None

    async def link_oauth(self, provider: str, subject: str, user_id: str, email: str | None) -> None:
        """Link an OAuth identity to a user."""
        await self.pool.execute(
            """INSERT INTO oauth_accounts (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
               ON CONFLICT (provider, subject) DO NOTHING""",
            provider,
            subject,
            user_id,
            email,
        )

    # ---- one-time tokens -----------------------------------------------------------------------

    async def add_token(self, token_hash: bytes, user_id: str, kind: str, expires_at: datetime) -> None:
        """Store a token (by hash)."""
        await self.pool.execute(
            "INSERT INTO auth_tokens (token_hash, user_id, kind, expires_at) VALUES ($1, $2, $3, $4)",
            token_hash,
            user_id,
            kind,
            expires_at,
        )

    async def use_token(self, token_hash: bytes, kind: str) -> tuple[str | None, str]:
        """Consume a token: (user id, 'ok') or (user id or None, 'unknown' | 'expired' | 'reused')."""
        row = await self.pool.fetchrow(
            """UPDATE auth_tokens t SET used_at = now()
               FROM (SELECT token_hash, used_at AS was_used FROM auth_tokens
                     WHERE token_hash = $1 AND kind = $2 FOR UPDATE) old
               WHERE t.token_hash = old.token_hash
               RETURNING t.user_id::text, old.was_used, t.expires_at < now() AS expired""",
            token_hash,
            kind,
        )
        if row is None:
            return None, "unknown"
        if row["was_used"] is not None:
            return row["user_id"], "reused"
        if row["expired"]:
            return row["user_id"], "expired"
        return row["user_id"], "ok"

    async def revoke_tokens(self, user_id: str, kind: str) -> None:
        """Revoke every unused token of a kind (e.g. all refresh tokens after a reuse)."""
        await self.pool.execute(
            "UPDATE auth_tokens SET used_at = now() WHERE user_id = $1 AND kind = $2 AND used_at IS NULL",
            user_id,
            kind,
        )

    # ---- API keys ------------------------------------------------------------------------------

    async def add_key(
        self,
        user_id: str,
        name: str,
        prefix: str,
        key_hash: bytes,
        scopes: list[str],
        expires_at: datetime | None,
    ) -> ApiKeyRecord:
        """Store an API key's hash and metadata."""
        row = await self.pool.fetchrow(
            """INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            user_id,
            name,
            prefix,
            key_hash,
            scopes,
            expires_at,
        )
        return _key(row)

    async def keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys, newest first (revoked ones included, marked)."""
        rows = await self.pool.fetch(
            "SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC", user_id
        )
        return [_key(r) for r in rows]

    async def key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        """A live (not revoked, not expired) key by its hash."""
        row = await self.pool.fetchrow(
            """SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > now())""",
            key_hash,
        )
        return _key(row) if row else None

    async def revoke_key(self, user_id: str, key_id: str) -> bool:
        """Revoke a key of the user; False when there is no such live key."""
        result = await self.pool.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            key_id,
            user_id,
        )
        return result != "UPDATE 0"

    async def touch_key(self, key_id: str) -> None:
        """Record that a key was used."""
        await self.pool.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)
