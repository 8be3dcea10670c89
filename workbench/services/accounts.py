"""Accounts: sign-up and login with email and password (argon2), JWT access tokens, rotating refresh
tokens, password reset and email verification by one-time token, OAuth identities, API keys.

Access tokens are short-lived HS256 JWTs (joserfc, from the authlib project); refresh, reset and
verification tokens are random, single-use, and stored only as HMAC-SHA256 hashes. A refresh token
used twice revokes every refresh token of its user (theft detection). API keys are ``wbk_`` + 32
random bytes, stored as a keyed SHA-256, shown once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from workbench.auth import ALL_SCOPES, SCOPES, Principal
from workbench.errors import AuthError, ConflictError, InputError, NotFoundError
from workbench.secrets import Keys
from workbench.store.accounts import AccountRepository, ApiKeyRecord, UserRecord

log = logging.getLogger(__name__)
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
RESET_TTL = timedelta(hours=1)
VERIFY_TTL = timedelta(days=3)
KEY_CACHE_TTL = 10.0
"""Seconds an API key lookup is cached in a process (a revoke elsewhere takes this long to bite)."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAIL_LOG_ENV = "WORKBENCH_DEV_MAIL_LOG"
"""Development and test hook: a file path; every would-be mail is appended to it as a JSON line."""
_DUMMY_HASH = PasswordHasher().hash("timing-equaliser")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def normalize_email(email: str) -> str:
    """Trimmed, lower-cased; InputError when it is not an email address."""
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InputError("email: not a valid email address")
    return email


class AccountService:
    """Users, sessions and API keys."""

    def __init__(self, repo: AccountRepository, keys: Keys, *, mail_log: str | None = None) -> None:
        self.repo = repo
        self._hmac_key = keys.api_keys
        self._jwt_key = OctKey.import_key(keys.jwt)
        self._hasher = PasswordHasher()
        self._key_cache: dict[bytes, tuple[float, Principal | None]] = {}
        """Key hash -> (monotonic time the entry stops being valid, principal or None)."""
        self.outbox: deque[tuple[str, str, str]] = deque(maxlen=100)
        """Mails that would have been sent (kind, address, token) until the notifier delivers them."""
        self.mail_log = mail_log or os.environ.get(MAIL_LOG_ENV) or None
        """``WORKBENCH_DEV_MAIL_LOG``: where would-be mails are appended as JSON lines (tests, local
        development). It holds live one-time tokens in plain text: never set it in production."""
        if self.mail_log:
            log.warning(
                "%s is set: one-time tokens are written in plain text to %s", MAIL_LOG_ENV, self.mail_log
            )

    async def _send(self, kind: str, address: str, token: str) -> None:
        """Hand a mail to the outbox (and the development mail log when configured)."""
        self.outbox.append((kind, address, token))
        if self.mail_log:
            line = json.dumps({"ts": round(time.time(), 3), "kind": kind, "to": address, "token": token})
            try:
                await asyncio.to_thread(_append_line, self.mail_log, line)
            except OSError as exc:  # a development aid must not break sign-up
                log.warning("cannot append to %s %s: %s", MAIL_LOG_ENV, self.mail_log, exc)

    def _hash(self, token: str) -> bytes:
        return hmac.new(self._hmac_key, token.encode(), hashlib.sha256).digest()

    # ---- passwords -----------------------------------------------------------------------------

    async def signup(self, email: str, password: str, name: str | None = None) -> UserRecord:
        """Create an account; ConflictError when the email is taken. Sends (logs) a verification link."""
        email = normalize_email(email)
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password: must be at least {MIN_PASSWORD} characters")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        user = await self.repo.create_user(email, name, password_hash, verified=False)
        if user is None:
            raise ConflictError("email: an account with this email exists already")
        await self.request_verification(user.id)
        return user

    async def login(self, email: str, password: str) -> TokenPair:
        """Tokens for a correct email and password; AuthError otherwise (same message either way)."""
        try:
            email = normalize_email(email)
        except InputError:
            raise AuthError("wrong email or password") from None
        user = await self.repo.user_by_email(email)
        stored = user.password_hash if user is not None and user.is_active else None
        ok = await asyncio.to_thread(self._check_password, stored, password)
        if not ok or user is None:
            raise AuthError("wrong email or password")
        return await self.issue_tokens(user.id)

    def _check_password(self, stored: str | None, password: str) -> bool:
        try:
            # Verify against a dummy hash for unknown users so timing does not reveal accounts.
            return self._hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # ---- tokens --------------------------------------------------------------------------------

    async def issue_tokens(self, user_id: str) -> TokenPair:
        """A new access token and refresh token for the user."""
        now = int(time.time())
        claims = {
            "sub": user_id,
            "iat": now,
            "exp": now + int(ACCESS_TTL.total_seconds()),
            "typ": "access",
            "jti": secrets.token_urlsafe(12),
        }
        access = jwt.encode({"alg": "HS256"}, claims, self._jwt_key)
        refresh = "wbr_" + secrets.token_urlsafe(32)
        await self.repo.add_token(self._hash(refresh), user_id, "refresh", datetime.now(UTC) + REFRESH_TTL)
        return TokenPair(access, refresh, int(ACCESS_TTL.total_seconds()))

    def verify_access(self, token: str) -> str:
        """The user id of a valid access token; AuthError otherwise."""
        try:
            decoded = jwt.decode(token, self._jwt_key, algorithms=["HS256"])
            JWTClaimsRegistry(exp={"essential": True}, sub={"essential": True}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthError(f"invalid or expired access token ({type(exc).__name__})") from None
        if decoded.claims.get("typ") != "access":
            raise AuthError("not an access token")
        return str(decoded.claims["sub"])

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; a reused one revokes the user's whole session family."""
        user_id, state = await self.repo.use_token(self._hash(refresh_token), "refresh")
        if state == "reused" and user_id is not None:
            await self.repo.revoke_tokens(user_id, "refresh")
            log.warning("refresh token reused for user %s: all sessions revoked", user_id)
        if state != "ok" or user_id is None:
            raise AuthError("invalid, expired or already used refresh token")
        return await self.issue_tokens(user_id)

    async def me(self, user_id: str) -> UserRecord:
        """The caller's account."""
        user = await self.repo.user(user_id)
        if user is None:
            raise NotFoundError("user not found")
        return user

    # ---- reset and verification ----------------------------------------------------------------

    async def _one_time(self, user_id: str, kind: str, ttl: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        await self.repo.add_token(self._hash(token), user_id, kind, datetime.now(UTC) + ttl)
        return token

    async def request_password_reset(self, email: str) -> str | None:
        """Create a reset token and send it (logged until the notifier exists). Unknown emails get None,
        but callers must answer the same either way."""
        try:
            user = await self.repo.user_by_email(normalize_email(email))
        except InputError:
            return None
        if user is None:
            return None
        token = await self._one_time(user.id, "reset", RESET_TTL)
        log.info("password reset for %s: token issued (delivery: notifier pending)", user.email)
        await self._send("reset", user.email, token)
        return token

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set a new password with a reset token; every session of the user ends."""
        if len(new_password) < MIN_PASSWORD:
            raise InputError(f"password: must be at least {MIN_PASSWORD} characters")
        user_id, state = await self.repo.use_token(self._hash(token), "reset")
        if state != "ok" or user_id is None:
            raise AuthError("invalid, expired or already used reset token")
        await self.repo.set_password(user_id, await asyncio.to_thread(self._hasher.hash, new_password))
        await self.repo.revoke_tokens(user_id, "reset")  # other reset mails in flight stop working too

    async def request_verification(self, user_id: str) -> str:
        """Create an email verification token and send it (logged until the notifier exists)."""
        user = await self.me(user_id)
        token = await self._one_time(user_id, "verify", VERIFY_TTL)
        log.info("email verification for %s: token issued (delivery: notifier pending)", user.email)
        await self._send("verify", user.email, token)
        return token

    async def verify_email(self, token: str) -> UserRecord:
        """Mark the email of the token's user verified."""
        user_id, state = await self.repo.use_token(self._hash(token), "verify")
        if state != "ok" or user_id is None:
            raise AuthError("invalid, expired or already used verification token")
        await self.repo.set_verified(user_id)
        return await self.me(user_id)

    # ---- OAuth ---------------------------------------------------------------------------------

    async def oauth_login(
        self, provider: str, subject: str, email: str | None, email_verified: bool, name: str | None
    ) -> TokenPair:
        """Log in with an external identity: the linked user, or the user with that verified email,
        or a new user."""
        user = await self.repo.oauth_user(provider, subject)
        if user is None:
            if email and email_verified:
                user = await self.repo.user_by_email(normalize_email(email))
            if user is None:
                address = normalize_email(email) if email else f"{provider}-{subject}@users.noreply.local"
                user = await self.repo.create_user(
                    address, name, None, verified=bool(email and email_verified)
                )
                if user is None:
                    raise ConflictError(
                        "email: an account with this email exists; log in with its password to link it"
                    )
            await self.repo.link_oauth(provider, subject, user.id, email)
        return await self.issue_tokens(user.id)

    # ---- API keys ------------------------------------------------------------------------------

    async def create_key(
        self, user_id: str, name: str, scopes: list[str], expires_at: datetime | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """A new API key: its metadata, and the key itself (shown this once)."""
        unknown = sorted(set(scopes) - ALL_SCOPES)
        if unknown:
            raise InputError(f"scopes: unknown {', '.join(unknown)}; valid: {', '.join(SCOPES)}")
        if not scopes:
            raise InputError("scopes: give at least one")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= datetime.now(UTC):
                raise InputError("expires_at: must be in the future")
        key = "wbk_" + secrets.token_urlsafe(32)
        record = await self.repo.add_key(
            user_id, name, key[:10], self._hash(key), sorted(set(scopes)), expires_at
        )
        return record, key

    async def list_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys (metadata)."""
        return await self.repo.keys(user_id)

    async def revoke_key(self, user_id: str, key_id: str) -> None:
        """Revoke a key at once (other processes within KEY_CACHE_TTL seconds)."""
        if not await self.repo.revoke_key(user_id, key_id):
            raise NotFoundError(f"API key {key_id} not found")
        self._key_cache.clear()

    async def authenticate_key(self, key: str) -> Principal | None:
        """The principal of a live API key, or None. Cached briefly so each request stays cheap."""
        digest = self._hash(key)
        now = time.monotonic()
        hit = self._key_cache.get(digest)
        if hit is not None and now < hit[0]:
            return hit[1]
        record = await self.repo.key_by_hash(digest)
        principal = (
            Principal(record.user_id, frozenset(record.scopes), via="api_key", key_id=record.id)
            if record
            else None
        )
        valid_until = now + KEY_CACHE_TTL
        if record is not None and record.expires_at is not None:
            # An expiring key is not served from the cache past its expiry.
            left = (record.expires_at - datetime.now(UTC)).total_seconds()
            valid_until = min(valid_until, now + left)
        if len(self._key_cache) > 10_000:
            self._key_cache.clear()
        self._key_cache[digest] = (valid_until, principal)
        if record is not None:
            await self.repo.touch_key(record.id)
        return principal
