"""Account repository: users, OAuth identities, one-time tokens, API keys, per-address mail counts.

Ending sessions is one transaction per user (``end_sessions``, ``reset_password``, ``set_active``):
the user's row is locked, its ``token_generation`` bumped and its refresh tokens (and, as asked, API
keys) revoked together. New refresh tokens and API keys are inserted only while the generation the
caller authenticated with is still the current one (``FOR SHARE`` on the user's row), so a credential
that was valid a moment before sessions ended cannot mint a new one that survives the ending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from workbench.auth import LOCAL_USER_ID

FIRST_ACCOUNT_LOCK = 0x776266697273742D  # "wbfirst-": serializes sign-ups while a database has no account


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
    token_generation: int = 0
    """Bumped whenever every session of the user ends; access tokens carry the one they were issued in."""
    is_admin: bool = False
    """May use the database manager's routes (``/api/v1/admin``); see migration 0018."""

    def to_dict(self) -> dict[str, Any]:
        """Public fields only."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "email_verified": self.email_verified,
            "timezone": self.timezone,
            "created_at": self.created_at.isoformat(),
            "is_admin": self.is_admin,
        }


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """What ending every session of a user did."""

    generation: int
    """The user's new token generation."""
    refresh_tokens: int
    """Refresh tokens revoked."""
    api_keys: int
    """API keys revoked."""
    oauth_links: int = 0
    """OAuth identities unlinked (a reset of an account whose email was not verified)."""
    was_verified: bool = True
    """Whether the email was verified before (a reset verifies it)."""


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
        token_generation=row["token_generation"],
        is_admin=row["is_admin"],
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
        """Insert a user; None when the email is taken. The first account of a database (no account
        but the local mode's user exists) is an administrator; concurrent first sign-ups are
        serialized, so there is one such account."""
        insert = """INSERT INTO users (email, name, password_hash, email_verified, is_admin)
                    SELECT $1, $2, $3, $4, $5 AND NOT EXISTS (SELECT 1 FROM users WHERE id <> $6)
                    ON CONFLICT (email) DO NOTHING RETURNING *"""
        if await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id <> $1)", LOCAL_USER_ID):
            row = await self.pool.fetchrow(insert, email, name, password_hash, verified, False, LOCAL_USER_ID)
        else:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", FIRST_ACCOUNT_LOCK)
                row = await conn.fetchrow(insert, email, name, password_hash, verified, True, LOCAL_USER_ID)
        return _user(row) if row else None

    async def set_admin(self, email: str, admin: bool) -> UserRecord | None:
        """Make the user with this (normalized) address an administrator, or no longer one; the user
        as it is now, or None when there is no such user."""
        row = await self.pool.fetchrow(
            "UPDATE users SET is_admin = $2, updated_at = now() WHERE email = $1 RETURNING *", email, admin
        )
        return _user(row) if row else None

    async def is_admin(self, user_id: str) -> bool:
        """Whether the user is an active administrator (read now, never cached)."""
        return bool(
            await self.pool.fetchval("SELECT is_admin AND is_active FROM users WHERE id = $1", user_id)
        )

    async def admins(self) -> list[UserRecord]:
        """Every administrator, oldest account first (the local mode's user included)."""
        rows = await self.pool.fetch("SELECT * FROM users WHERE is_admin ORDER BY created_at, id")
        return [_user(r) for r in rows]

    async def user_by_email(self, email: str) -> UserRecord | None:
        """The user with this (normalized) email."""
        row = await self.pool.fetchrow("SELECT * FROM users WHERE email = $1", email)
        return _user(row) if row else None

    async def user(self, user_id: str) -> UserRecord | None:
        """The user with this id."""
        row = await self.pool.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        return _user(row) if row else None

    async def user_state(self, user_id: str) -> tuple[int, bool] | None:
        """(token generation, is active) of a user; None when there is no such user."""
        row = await self.pool.fetchrow("SELECT token_generation, is_active FROM users WHERE id = $1", user_id)
        return (row["token_generation"], row["is_active"]) if row else None

    @staticmethod
    async def _end_sessions(
        conn: asyncpg.Connection, user_id: str, revoke_keys: bool
    ) -> tuple[int, int, int]:
        """Bump the generation, revoke refresh tokens (and keys): (generation, tokens, keys). The
        caller holds a transaction."""
        generation = await conn.fetchval(
            """UPDATE users SET token_generation = token_generation + 1, updated_at = now()
               WHERE id = $1 RETURNING token_generation""",
            user_id,
        )
        tokens = await conn.execute(
            """UPDATE auth_tokens SET used_at = now()
               WHERE user_id = $1 AND kind = 'refresh' AND used_at IS NULL""",
            user_id,
        )
        keys = "UPDATE 0"
        if revoke_keys:
            keys = await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user_id
            )
        return generation, int(tokens.split()[-1]), int(keys.split()[-1])

    async def end_sessions(self, user_id: str, *, revoke_keys: bool) -> SessionsEnded:
        """End every session of the user: older access tokens and every refresh token stop working
        (and every API key, when ``revoke_keys``)."""
        async with self.pool.acquire() as conn, conn.transaction():
            generation, tokens, keys = await self._end_sessions(conn, user_id, revoke_keys)
        return SessionsEnded(generation, tokens, keys)

    async def reset_password(self, user_id: str, password_hash: str) -> SessionsEnded:
        """Set a new password after a reset: the email counts as verified from now on (the reset
        proved control of it), every session, refresh token, outstanding one-time token and API key
        ends, and, when the email was NOT verified before, every OAuth identity is unlinked (whoever
        linked it never proved the address: the account may have been planted)."""
        async with self.pool.acquire() as conn, conn.transaction():
            was_verified = await conn.fetchval(
                "SELECT email_verified FROM users WHERE id = $1 FOR UPDATE", user_id
            )
            await conn.execute(
                """UPDATE users SET password_hash = $2, email_verified = true, updated_at = now()
                   WHERE id = $1""",
                user_id,
                password_hash,
            )
            generation, tokens, keys = await self._end_sessions(conn, user_id, revoke_keys=True)
            await conn.execute(
                """UPDATE auth_tokens SET used_at = now()
                   WHERE user_id = $1 AND kind IN ('reset', 'verify') AND used_at IS NULL""",
                user_id,
            )
            links = "DELETE 0"
            if not was_verified:
                links = await conn.execute("DELETE FROM oauth_accounts WHERE user_id = $1", user_id)
        return SessionsEnded(generation, tokens, keys, int(links.split()[-1]), bool(was_verified))

    async def set_active(self, user_id: str, active: bool) -> SessionsEnded | None:
        """Deactivate (every session ends; keys stay but are refused while inactive) or reactivate a
        user; None when there is no such user."""
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchval(
                "UPDATE users SET is_active = $2, updated_at = now() WHERE id = $1 RETURNING true",
                user_id,
                active,
            )
            if not found:
                return None
            generation, tokens, keys = await self._end_sessions(conn, user_id, revoke_keys=False)
        return SessionsEnded(generation, tokens, keys)

    async def set_verified(self, user_id: str) -> None:
        """Mark the email verified."""
        await self.pool.execute(
            "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1", user_id
        )

    async def update_profile(
        self, user_id: str, *, set_name: bool, name: str | None, timezone: str | None
    ) -> UserRecord | None:
        """Change the user's name (when ``set_name``; None clears it) and timezone (unless None);
        the user as it is now, or None when there is no such user."""
        row = await self.pool.fetchrow(
            """UPDATE users SET name = CASE WHEN $2 THEN $3 ELSE name END,
                                timezone = COALESCE($4, timezone), updated_at = now()
               WHERE id = $1 RETURNING *""",
            user_id,
            set_name,
            name,
            timezone,
        )
        return _user(row) if row else None

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
        """Link an OAuth identity to a user (an identity linked already keeps its user, and records
        the address the provider gives now)."""
        await self.pool.execute(
            """INSERT INTO oauth_accounts (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
               ON CONFLICT (provider, subject) DO UPDATE SET email = EXCLUDED.email""",
            provider,
            subject,
            user_id,
            email,
        )

    async def claim_mail(self, user_id: str, kind: str, limit: int, window_seconds: float) -> bool:
        """Count one mail of ``kind`` to the user unless ``limit`` were sent in the last
        ``window_seconds``: True when this one may go. Serialized per user (row lock), so a burst of
        concurrent requests cannot overshoot."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT true FROM users WHERE id = $1 FOR UPDATE", user_id):
                return False
            await conn.execute(
                """DELETE FROM account_mails
                   WHERE user_id = $1 AND created_at < now() - make_interval(secs => $2)""",
                user_id,
                window_seconds,
            )
            sent = await conn.fetchval(
                "SELECT count(*) FROM account_mails WHERE user_id = $1 AND kind = $2", user_id, kind
            )
            if sent >= limit:
                return False
            await conn.execute("INSERT INTO account_mails (user_id, kind) VALUES ($1, $2)", user_id, kind)
            return True

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
        user_id, state, _ = await self.use_token_generation(token_hash, kind)
        return user_id, state

    async def use_token_generation(self, token_hash: bytes, kind: str) -> tuple[str | None, str, int | None]:
        """Like ``use_token``, with the generation the token was issued in (refresh tokens)."""
        row = await self.pool.fetchrow(
            """UPDATE auth_tokens t SET used_at = now()
               FROM (SELECT token_hash, used_at AS was_used FROM auth_tokens
                     WHERE token_hash = $1 AND kind = $2 FOR UPDATE) old
               WHERE t.token_hash = old.token_hash
               RETURNING t.user_id::text, old.was_used, t.expires_at < now() AS expired, t.generation""",
            token_hash,
            kind,
        )
        if row is None:
            return None, "unknown", None
        if row["was_used"] is not None:
            return row["user_id"], "reused", row["generation"]
        if row["expired"]:
            return row["user_id"], "expired", row["generation"]
        return row["user_id"], "ok", row["generation"]

    async def add_refresh_token(
        self, token_hash: bytes, user_id: str, generation: int, expires_at: datetime
    ) -> bool:
        """Store a refresh token, only while the user is active and still in ``generation`` (the
        sessions the token belongs to have not been ended meanwhile); False otherwise."""
        row = await self.pool.fetchrow(
            """INSERT INTO auth_tokens (token_hash, user_id, kind, expires_at, generation)
               SELECT $1, u.id, 'refresh', $4, $3 FROM (
                   SELECT id FROM users WHERE id = $2 AND token_generation = $3 AND is_active FOR SHARE
               ) u
               RETURNING true""",
            token_hash,
            user_id,
            generation,
            expires_at,
        )
        return row is not None

    async def forget_token(self, token_hash: bytes, kind: str) -> str | None:
        """Delete one unused token (a logout: presenting it later is just unknown, never a reuse);
        the user id it belonged to, or None (unknown, or used already)."""
        return await self.pool.fetchval(
            """DELETE FROM auth_tokens WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL
               RETURNING user_id::text""",
            token_hash,
            kind,
        )

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
        generation: int | None = None,
    ) -> ApiKeyRecord | None:
        """Store an API key's hash and metadata. With ``generation`` (the one the creating credential
        was authenticated in), only while the user is active and still in it; None otherwise."""
        row = await self.pool.fetchrow(
            """INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
               SELECT u.id, $2, $3, $4, $5, $6 FROM (
                   SELECT id FROM users
                   WHERE id = $1 AND is_active AND ($7::integer IS NULL OR token_generation = $7)
                   FOR SHARE
               ) u
               RETURNING *""",
            user_id,
            name,
            prefix,
            key_hash,
            scopes,
            expires_at,
            generation,
        )
        return _key(row) if row else None

    async def key(self, user_id: str, key_id: str) -> ApiKeyRecord | None:
        """One key of the user (revoked or not)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM api_keys WHERE id = $1 AND user_id = $2", key_id, user_id
        )
        return _key(row) if row else None

    async def keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys, newest first (revoked ones included, marked)."""
        rows = await self.pool.fetch(
            "SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC", user_id
        )
        return [_key(r) for r in rows]

    async def key_by_hash(self, key_hash: bytes) -> tuple[ApiKeyRecord, int] | None:
        """A live key (not revoked, not expired, of an active user) by its hash, with its user's
        token generation."""
        row = await self.pool.fetchrow(
            """SELECT k.*, u.token_generation FROM api_keys k JOIN users u ON u.id = k.user_id
               WHERE k.key_hash = $1 AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > now()) AND u.is_active""",
            key_hash,
        )
        return (_key(row), row["token_generation"]) if row else None

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
