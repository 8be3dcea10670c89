"""Accounts: sign-up and login with email and password (argon2), JWT access tokens, rotating refresh
tokens, password reset and email verification by one-time token, OAuth identities, API keys.

Access tokens are short-lived HS256 JWTs (joserfc, from the authlib project); refresh, reset and
verification tokens are random, single-use, and stored only as HMAC-SHA256 hashes. API keys are
``wbk_`` + 32 random bytes, stored as a keyed SHA-256, shown once.

Security rules (issue 10; the threat model is docs/security.md):

* Sessions end together. Every user has a token *generation*; access tokens carry the one they were
  issued in and are refused once it changed. A password reset, "log out everywhere", a deactivation
  and a reused refresh token (theft) bump it and revoke the user's refresh tokens; a reset also
  revokes every API key. Authentication reads the generation and the active flag of the user
  (cached ``USER_CACHE_TTL`` seconds per process; this process forgets at once what it changes).
* A deactivated user's tokens and keys are refused everywhere (HTTP and WebSocket authenticate here).
* No account oracle: sign-up answers the same for a new and a taken address (the owner of a taken one
  gets a notice mail); a reset request answers at once and does its lookup and mail in the
  background; at most ``WORKBENCH_RESET_PER_HOUR`` mails of each kind go to one address per hour.
* OAuth identities join an existing account by email only when both the provider and the account
  have verified that address; an address the provider does not vouch for is never claimed. A reset
  takes over an account whose email was not verified (a planted one): it verifies the email, ends
  everything the account had and unlinks its OAuth identities.
* An API key acts within itself: it creates and revokes only keys with a subset of its scopes and
  no later expiry.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import zoneinfo
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TLRUCache, TTLCache
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from workbench.auth import ALL_SCOPES, SCOPES, Principal
from workbench.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    InputError,
    InvalidFields,
    NotFoundError,
    PermissionDenied,
)
from workbench.secrets import Keys
from workbench.services.account_mail import AccountMail, AccountMailer, MailKind, account_mailer
from workbench.services.login_throttle import LoginThrottle
from workbench.store.accounts import AccountRepository, ApiKeyRecord, SessionsEnded, UserRecord

log = logging.getLogger(__name__)
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
RESET_TTL = timedelta(hours=1)
VERIFY_TTL = timedelta(days=3)
KEY_CACHE_TTL = 10.0
"""Seconds an API key lookup is cached in a process (a revoke elsewhere takes this long to bite)."""
USER_CACHE_TTL = 2.0
"""Seconds a user's token generation and active flag are cached in a process for checking access
tokens (sessions ended or a deactivation in another process take this long to bite there)."""
CACHE_SIZE = 10_000
"""Entries of each of those caches (the least recently used go first)."""
_UNKNOWN = object()
"""Not in the key cache (None there means: no live key)."""


def _key_valid_until(_digest: bytes, principal: Principal | None, now: float) -> float:
    """When a cached key lookup expires: after ``KEY_CACHE_TTL`` seconds, or when the key itself
    expires if that is sooner (an expiring key is not served from the cache past its expiry)."""
    if principal is None or principal.expires_at is None:
        return now + KEY_CACHE_TTL
    left = (principal.expires_at - datetime.now(UTC)).total_seconds()
    return now + min(KEY_CACHE_TTL, left)


RESET_PER_HOUR_ENV = "WORKBENCH_RESET_PER_HOUR"
"""Setting: mails of each kind (password reset, verification, sign-up notice) one address gets per
hour at most (default 3); beyond it requests are answered the same but nothing is sent."""
DEFAULT_MAILS_PER_HOUR = 3
MAIL_WINDOW = 3600.0
MAX_BACKGROUND = 1000
"""Account mail jobs pending at once in a process; more are dropped (the answer does not change)."""
RESERVED_DOMAIN = "users.noreply.local"
"""Placeholder addresses of OAuth accounts whose provider vouched for no address; nobody signs up there."""
SIGNUP_MESSAGE = (
    "sign-up received: if the address had no account, it has one now and you can log in with this email "
    "and password (POST /api/v1/auth/login); a mail was sent to the address either way"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_NAME = 200
"""Characters of an account's display name at most."""


@functools.cache
def timezone_names() -> tuple[str, ...]:
    """The IANA timezone names an account may choose, sorted (``zoneinfo.available_timezones()``
    less the system's ``localtime`` and ``Factory`` entries, which name no place)."""
    return tuple(sorted(zoneinfo.available_timezones() - {"localtime", "Factory"}))


@functools.cache
def _dummy_hash() -> str:
    """An argon2 hash that unknown users' logins are verified against (so timing does not tell
    whether an account exists). Computed on first use, not at import: it costs a few hundred ms."""
    return PasswordHasher().hash("timing-equaliser")


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


def _mails_per_hour(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_MAILS_PER_HOUR
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{RESET_PER_HOUR_ENV} must be a whole number of at least 1, got {raw!r}")
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _beyond(by: Principal, scopes: set[str], expires_at: datetime | None) -> list[str]:
    """How a key with ``scopes`` and ``expires_at`` exceeds the API key ``by`` (empty: it does not)."""
    problems = []
    extra = sorted(scopes - by.scopes)
    if extra:
        problems.append(f"scopes {', '.join(extra)} (this key holds {', '.join(sorted(by.scopes))})")
    if by.expires_at is not None:
        if expires_at is None:
            problems.append(f"no expiry (this key expires at {_iso(by.expires_at)})")
        elif expires_at > by.expires_at:
            problems.append(f"expiry {_iso(expires_at)}, later than this key's {_iso(by.expires_at)}")
    return problems


def normalize_email(email: str) -> str:
    """Trimmed, lower-cased; InputError when it is not an email address."""
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InputError("email: not a valid email address")
    return email


class AccountService:
    """Users, sessions and API keys."""

    def __init__(
        self,
        repo: AccountRepository,
        keys: Keys,
        *,
        mail_log: str | None = None,
        mails_per_hour: int | None = None,
        mailer: AccountMailer | None = None,
    ) -> None:
        """``mailer`` sends the account mails (:func:`~workbench.services.account_mail.account_mailer`
        of the settings); without one, only the mail log (``mail_log``, default
        ``WORKBENCH_DEV_MAIL_LOG``) receives them, when set."""
        self.repo = repo
        self._hmac_key = keys.api_keys
        self._jwt_key = OctKey.import_key(keys.jwt)
        self._hasher = PasswordHasher()
        self._key_cache: TLRUCache[bytes, Principal | None] = TLRUCache(
            CACHE_SIZE, ttu=_key_valid_until, timer=time.monotonic
        )
        """Key hash -> its principal, or None for no live key (``KEY_CACHE_TTL``, less when it expires)."""
        self._user_cache: TTLCache[str, tuple[int, bool]] = TTLCache(
            CACHE_SIZE, USER_CACHE_TTL, timer=time.monotonic
        )
        """User id -> (token generation, is active), for ``USER_CACHE_TTL`` seconds."""
        self._background: set[asyncio.Task[Any]] = set()
        self.throttle = LoginThrottle()
        """Failed logins per account address: the next attempts wait."""
        self.outbox: deque[tuple[str, str, str | None]] = deque(maxlen=100)
        """The last mails handed to the mailer (kind, address, token), for in-process callers."""
        self.mails_per_hour = mails_per_hour or _mails_per_hour(os.environ.get(RESET_PER_HOUR_ENV))
        """``WORKBENCH_RESET_PER_HOUR``: mails of one kind one address gets per hour at most."""
        self.mailer: AccountMailer = mailer or account_mailer(mail_log=mail_log)
        """Sends the account mails (SMTP, the development mail log, or nothing)."""

    # ---- mail and background work ----------------------------------------------------------------

    async def _send(
        self, kind: MailKind, user: UserRecord, token: str | None, valid_for: timedelta | None = None
    ) -> None:
        """Hand a mail to the outbox and the mailer (which sends it in the background: never waits
        on a mail server, never raises for a failed delivery)."""
        self.outbox.append((kind, user.email, token))
        await self.mailer.deliver(AccountMail(kind, user.email, user.id, token, user.name, valid_for))

    async def _may_mail(self, user_id: str, kind: str) -> bool:
        """Count a mail of ``kind`` to the user against the hourly limit; False when it is reached."""
        if await self.repo.claim_mail(user_id, kind, self.mails_per_hour, MAIL_WINDOW):
            return True
        log.info("%s mail to user %s not sent: %d per hour reached", kind, user_id, self.mails_per_hour)
        return False

    def _spawn(self, job: Coroutine[Any, Any, Any]) -> None:
        """Run account mail work after the answer, so its duration reveals nothing."""
        if len(self._background) >= MAX_BACKGROUND:
            job.close()
            log.warning("account mail work dropped: %d jobs pending already", MAX_BACKGROUND)
            return
        task = asyncio.get_running_loop().create_task(job)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("account mail work failed: %r", exc, exc_info=exc)

    async def drain(self, *, sending: bool = True) -> None:
        """Wait until the background mail work started so far is done (tests, shutdown): the
        lookups and tokens, then, with ``sending``, the sending of the mails and their retries."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if sending:
            await self.mailer.drain()

    def _hash(self, token: str) -> bytes:
        return hmac.new(self._hmac_key, token.encode(), hashlib.sha256).digest()

    # ---- sign-up and passwords -------------------------------------------------------------------

    async def _create(self, email: str, password: str, name: str | None) -> tuple[str, UserRecord | None]:
        """(normalized address, the new user or None when the address is taken)."""
        email = normalize_email(email)
        if email.endswith(("@" + RESERVED_DOMAIN, "." + RESERVED_DOMAIN)):
            raise InputError(f"email: addresses at {RESERVED_DOMAIN} are reserved")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password: must be at least {MIN_PASSWORD} characters")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        return email, await self.repo.create_user(email, name, password_hash, verified=False)

    async def signup(self, email: str, password: str, name: str | None = None) -> UserRecord:
        """Create an account (in-process callers); ConflictError when the email is taken. Sends (logs)
        a verification link. The API uses :meth:`register`, which reveals nothing."""
        _, user = await self._create(email, password, name)
        if user is None:
            raise ConflictError("email: an account with this email exists already")
        await self._verification_mail(user)
        return user

    async def register(self, email: str, password: str, name: str | None = None) -> UserRecord | None:
        """Sign-up without an account oracle: the new user (a verification mail follows), or None
        when the address is taken (its owner gets a notice mail and nothing else changes). The work
        after the insert runs in the background; callers answer the same either way."""
        email, user = await self._create(email, password, name)
        if user is None:
            self._spawn(self._signup_notice(email))
        else:
            self._spawn(self._verification_mail(user))
        return user

    async def _signup_notice(self, email: str) -> None:
        """Tell the owner of a taken address that someone tried to sign up with it."""
        user = await self.repo.user_by_email(email)
        if user is None or not await self._may_mail(user.id, "signup_notice"):
            return
        log.info("sign-up attempt with the address of user %s: notice mailed", user.id)
        await self._send("signup_notice", user, None)

    async def login(self, email: str, password: str) -> TokenPair:
        """Tokens for a correct email and password; AuthError otherwise (same message either way).
        After a few failures for an address, TooManyAttempts says how long to wait
        (:mod:`workbench.services.login_throttle`)."""
        try:
            email = normalize_email(email)
        except InputError:
            raise AuthError("wrong email or password") from None
        self.throttle.check(email)
        user = await self.repo.user_by_email(email)
        stored = user.password_hash if user is not None and user.is_active else None
        ok = await asyncio.to_thread(self._check_password, stored, password)
        if not ok or user is None:
            self.throttle.failed(email)
            raise AuthError("wrong email or password")
        self.throttle.succeeded(email)
        return await self.issue_tokens(user.id, user.token_generation)

    def _check_password(self, stored: str | None, password: str) -> bool:
        # Made on every login's path (known user or not), so the first login's extra cost tells nothing.
        dummy = _dummy_hash()
        try:
            # Verify against a dummy hash for unknown users so timing does not reveal accounts.
            return self._hasher.verify(stored or dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # ---- tokens and sessions ---------------------------------------------------------------------

    async def issue_tokens(self, user_id: str, generation: int | None = None) -> TokenPair:
        """A new access token and refresh token for the user, in ``generation`` (default: the
        user's current one). AuthError when the user is deactivated or its sessions were ended since."""
        if generation is None:
            state = await self.repo.user_state(user_id)
            if state is None or not state[1]:
                raise AuthError("this account is deactivated")
            generation = state[0]
        refresh = "wbr_" + secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + REFRESH_TTL
        if not await self.repo.add_refresh_token(self._hash(refresh), user_id, generation, expires):
            raise AuthError("the account's sessions were ended, or it was deactivated; log in again")
        now = int(time.time())
        claims = {
            "sub": user_id,
            "iat": now,
            "exp": now + int(ACCESS_TTL.total_seconds()),
            "typ": "access",
            "gen": generation,
            "jti": secrets.token_urlsafe(12),
        }
        access = jwt.encode({"alg": "HS256"}, claims, self._jwt_key)
        return TokenPair(access, refresh, int(ACCESS_TTL.total_seconds()))

    def _decode_access(self, token: str) -> dict[str, Any]:
        """The claims of a well-signed, unexpired access token; AuthError otherwise."""
        try:
            decoded = jwt.decode(token, self._jwt_key, algorithms=["HS256"])
            JWTClaimsRegistry(exp={"essential": True}, sub={"essential": True}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthError(f"invalid or expired access token ({type(exc).__name__})") from None
        if decoded.claims.get("typ") != "access":
            raise AuthError("not an access token")
        return decoded.claims

    async def _user_state(self, user_id: str) -> tuple[int, bool] | None:
        """(token generation, is active), cached briefly."""
        hit = self._user_cache.get(user_id)
        if hit is not None:
            return hit
        state = await self.repo.user_state(user_id)
        if state is None:
            return None
        self._user_cache[user_id] = (state[0], state[1])
        return state

    def _forget(self, user_id: str) -> None:
        """Drop what this process cached about the user's credentials (they just changed)."""
        self._user_cache.pop(user_id, None)
        self._key_cache.clear()

    async def connection_ended(self, principal: Principal, credential: str | None) -> str | None:
        """Why a long-lived connection (a WebSocket) authenticated as ``principal`` must end now, or
        None: its account was deactivated, its sessions were ended (password reset, log out
        everywhere), or its API key was revoked or expired. The 15-minute expiry of the access token
        it was opened with does not end it."""
        if principal.via == "local":
            return None
        if principal.via == "api_key":
            if credential is None or await self.authenticate_key(credential) is None:
                return "the API key was revoked or expired, or its account deactivated"
            return None
        state = await self._user_state(principal.user_id)
        if state is None or not state[1]:
            return "the account is deactivated"
        if state[0] != principal.generation:
            return "the account's sessions were ended (password reset, log out everywhere)"
        return None

    async def authenticate_token(self, token: str) -> Principal:
        """The principal of a valid access token: well signed, unexpired, of an active user whose
        sessions have not been ended since it was issued; AuthError otherwise."""
        claims = self._decode_access(token)
        user_id = str(claims["sub"])
        generation = claims.get("gen", 0)
        if not isinstance(generation, int):
            raise AuthError("invalid access token (gen)")
        state = await self._user_state(user_id)
        if state is None:
            raise AuthError("the account of this access token does not exist")
        if not state[1]:
            raise AuthError("this account is deactivated")
        if generation != state[0]:
            raise AuthError(
                "access token revoked: the account's sessions were ended (password reset, log out "
                "everywhere); log in again"
            )
        return Principal(user_id, via="token", generation=generation)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; a reused one ends every session of the user (theft detection)."""
        user_id, state, generation = await self.repo.use_token_generation(
            self._hash(refresh_token), "refresh"
        )
        if state == "reused" and user_id is not None:
            # Only a token of the sessions alive now is evidence of theft: one from before the
            # sessions were last ended (reset, log out everywhere) is dead anyway, and replaying it
            # must not let its holder end the owner's new sessions again and again.
            current = await self.repo.user_state(user_id)
            if current is not None and current[0] == (generation or 0):
                await self.repo.end_sessions(user_id, revoke_keys=False)
                self._forget(user_id)
                log.warning("refresh token reused for user %s: all sessions ended", user_id)
        if state != "ok" or user_id is None:
            raise AuthError("invalid, expired or already used refresh token")
        return await self.issue_tokens(user_id, generation or 0)

    async def logout(self, refresh_token: str) -> None:
        """End one session: its refresh token stops working (its access token expires within
        ``ACCESS_TTL``; :meth:`logout_all` ends those too). Unknown or used tokens are ignored (a used
        one stays on record, so replaying it still reveals a theft)."""
        user_id = await self.repo.forget_token(self._hash(refresh_token), "refresh")
        if user_id is not None:
            log.info("user %s logged out a session", user_id)

    async def logout_all(self, principal: Principal, *, revoke_keys: bool = False) -> SessionsEnded:
        """Log out everywhere: every access and refresh token of the user stops working (and every
        API key, with ``revoke_keys``). Needs a login session, not an API key."""
        if principal.via != "token":
            raise PermissionDenied("logging out everywhere needs a login (an access token), not an API key")
        ended = await self.repo.end_sessions(principal.user_id, revoke_keys=revoke_keys)
        self._forget(principal.user_id)
        log.info(
            "user %s logged out everywhere: %d refresh tokens, %d API keys revoked",
            principal.user_id,
            ended.refresh_tokens,
            ended.api_keys,
        )
        return ended

    async def deactivate(self, user_id: str) -> SessionsEnded:
        """Deactivate a user: no login, and every token and API key of it is refused (the keys are
        kept, so :meth:`reactivate` restores them; sessions are not restored)."""
        ended = await self.repo.set_active(user_id, False)
        if ended is None:
            raise NotFoundError("user not found")
        self._forget(user_id)
        log.warning("user %s deactivated", user_id)
        return ended

    async def reactivate(self, user_id: str) -> None:
        """Let a deactivated user log in again (its API keys work again)."""
        if await self.repo.set_active(user_id, True) is None:
            raise NotFoundError("user not found")
        self._forget(user_id)
        log.warning("user %s reactivated", user_id)

    async def me(self, user_id: str) -> UserRecord:
        """The caller's account."""
        user = await self.repo.user(user_id)
        if user is None:
            raise NotFoundError("user not found")
        return user

    async def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        timezone: str | None = None,
        by: Principal | None = None,
    ) -> UserRecord:
        """Change the caller's own name and timezone (None: left as it is; a blank name clears it).

        The timezone is an IANA name (:func:`timezone_names`); schedules created afterwards without
        one of their own use it. InvalidFields names each bad field; asked ``by`` an API key,
        PermissionDenied (an account's settings are not within any key's scopes)."""
        if by is not None and by.via == "api_key":
            raise PermissionDenied(
                "changing the account's profile needs a login (an access token), not an API key"
            )
        problems: list[tuple[str, str]] = []
        clean_name = None if name is None else name.strip()
        if clean_name is not None and len(clean_name) > MAX_NAME:
            problems.append(("name", f"at most {MAX_NAME} characters"))
        elif clean_name is not None and any(ord(c) < 32 or ord(c) == 127 for c in clean_name):
            problems.append(("name", "must not contain control characters (line breaks, NUL...)"))
        if timezone is not None and timezone not in timezone_names():
            problems.append(
                (
                    "timezone",
                    f"unknown IANA timezone {timezone!r} (examples: UTC, Europe/Madrid, America/New_York)",
                )
            )
        if problems:
            raise InvalidFields(problems)
        user = await self.repo.update_profile(
            user_id, set_name=name is not None, name=clean_name or None, timezone=timezone
        )
        if user is None:
            raise NotFoundError("user not found")
        changed = [field for field, value in (("name", name), ("timezone", timezone)) if value is not None]
        log.info("user %s changed the profile: %s", user_id, ", ".join(changed) or "nothing")
        return user

    # ---- reset and verification ----------------------------------------------------------------

    async def _one_time(self, user_id: str, kind: str, ttl: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        await self.repo.add_token(self._hash(token), user_id, kind, datetime.now(UTC) + ttl)
        return token

    async def request_password_reset(self, email: str) -> None:
        """Start a password reset and return at once: looking the address up, the token and the mail
        happen in the background (:meth:`issue_password_reset`), so the caller's answer takes the
        same time whether or not the address has an account."""
        self._spawn(self.issue_password_reset(email))

    async def issue_password_reset(self, email: str) -> str | None:
        """Create a reset token and mail it (in the background); None for an unknown
        or deactivated address, or when the address had ``mails_per_hour`` resets this hour."""
        try:
            user = await self.repo.user_by_email(normalize_email(email))
        except InputError:
            return None
        if user is None or not user.is_active or not await self._may_mail(user.id, "reset"):
            return None
        token = await self._one_time(user.id, "reset", RESET_TTL)
        log.info("password reset for user %s: token issued, mailing it", user.id)
        await self._send("reset", user, token, RESET_TTL)
        return token

    async def reset_password(self, token: str, new_password: str) -> SessionsEnded:
        """Set a new password with a reset token. The reset proves control of the address: the email
        becomes verified, and every session, refresh token, one-time token and API key of the account
        ends; if the email was not verified before, its OAuth identities are unlinked too (so a
        planted account is taken over by the address's owner with nothing of the planter left in
        control)."""
        if len(new_password) < MIN_PASSWORD:
            raise InputError(f"password: must be at least {MIN_PASSWORD} characters")
        user_id, state = await self.repo.use_token(self._hash(token), "reset")
        if state != "ok" or user_id is None:
            raise AuthError("invalid, expired or already used reset token")
        password_hash = await asyncio.to_thread(self._hasher.hash, new_password)
        ended = await self.repo.reset_password(user_id, password_hash)
        self._forget(user_id)
        log.info(
            "password reset of user %s: %d refresh tokens, %d API keys, %d OAuth links ended%s",
            user_id,
            ended.refresh_tokens,
            ended.api_keys,
            ended.oauth_links,
            "" if ended.was_verified else "; its email is verified now",
        )
        return ended

    async def _verification_mail(self, user: UserRecord) -> str | None:
        if not await self._may_mail(user.id, "verify"):
            return None
        token = await self._one_time(user.id, "verify", VERIFY_TTL)
        log.info("email verification for user %s: token issued, mailing it", user.id)
        await self._send("verify", user, token, VERIFY_TTL)
        return token

    async def request_verification(self, user_id: str) -> str | None:
        """Create an email verification token and mail it (in the background); None
        when the address had ``mails_per_hour`` verification mails this hour."""
        return await self._verification_mail(await self.me(user_id))

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
        """Log in with an external identity.

        * An identity linked already logs into its account, whatever address the provider gives now.
        * Else, with an address the provider verified: the account with that address, if that
          account's address is verified too (ConflictError when it is not: the account may have been
          planted by someone who never proved the address; a password reset takes it over), or a new
          account with the address, verified.
        * Else (no address, or one the provider does not vouch for): a new account under a
          placeholder address, so nobody can claim an address through a provider that did not check it.
        """
        address: str | None = None
        if email:
            try:
                address = normalize_email(email)
            except InputError:
                address = None
        user = await self.repo.oauth_user(provider, subject)
        if user is not None:
            if not user.is_active:
                raise AuthError("this account is deactivated")
            await self.repo.link_oauth(provider, subject, user.id, address)  # records today's address
            if address == user.email and email_verified and not user.email_verified:
                await self.repo.set_verified(user.id)
            return await self.issue_tokens(user.id, user.token_generation)
        if address and email_verified:
            user = await self.repo.user_by_email(address)
            if user is not None:
                if not user.is_active:
                    raise AuthError("this account is deactivated")
                if not user.email_verified:
                    raise ConflictError(
                        f"an account with the address {address} exists, but that address was never "
                        f"verified on it, so your {provider} login is not joined to it. If the "
                        f"address is yours, take the account over: ask for a password reset for "
                        f"{address} (POST /api/v1/auth/password-reset) and set a new password with "
                        f"the mailed token; that verifies the address and ends every session and API "
                        f"key anyone else had on the account. Then log in with {provider} again."
                    )
            else:
                user = await self.repo.create_user(address, name, None, verified=True)
        else:
            user = await self.repo.create_user(
                f"{provider}-{subject}@{RESERVED_DOMAIN}".lower(), name, None, verified=False
            )
        if user is None:
            raise ConflictError("email: an account with this address was created at the same moment; retry")
        await self.repo.link_oauth(provider, subject, user.id, address)
        return await self.issue_tokens(user.id, user.token_generation)

    # ---- API keys ------------------------------------------------------------------------------

    async def create_key(
        self,
        user_id: str,
        name: str,
        scopes: list[str],
        expires_at: datetime | None = None,
        *,
        by: Principal | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new API key: its metadata, and the key itself (shown this once). Made ``by`` an API key,
        it holds at most that key's scopes and expires no later than it (PermissionDenied saying
        what is in excess)."""
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
        if by is not None and by.via == "api_key":
            problems = _beyond(by, set(scopes), expires_at)
            if problems:
                raise PermissionDenied(
                    "an API key can only create keys within its own scopes and lifetime; the new key "
                    f"would have {'; and '.join(problems)}"
                )
        key = "wbk_" + secrets.token_urlsafe(32)
        record = await self.repo.add_key(
            user_id,
            name,
            key[:10],
            self._hash(key),
            sorted(set(scopes)),
            expires_at,
            by.generation if by is not None else None,
        )
        if record is None:
            raise AuthError(
                "the account's sessions were ended, or it was deactivated, since this credential was "
                "checked; authenticate again"
            )
        return record, key

    async def list_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """The user's keys (metadata)."""
        return await self.repo.keys(user_id)

    async def revoke_key(self, user_id: str, key_id: str, *, by: Principal | None = None) -> None:
        """Revoke a key at once (other processes within KEY_CACHE_TTL seconds). Asked ``by`` an API
        key, only itself or a key it could have created (scopes within its own, expiry no later)."""
        if by is not None and by.via == "api_key" and by.key_id != key_id:
            target = await self.repo.key(user_id, key_id)
            if target is None or target.revoked_at is not None:
                raise NotFoundError(f"API key {key_id} not found")
            problems = _beyond(by, set(target.scopes), target.expires_at)
            if problems:
                raise PermissionDenied(
                    "an API key can only revoke keys within its own scopes and lifetime; key "
                    f"{key_id} has {'; and '.join(problems)}"
                )
        if not await self.repo.revoke_key(user_id, key_id):
            raise NotFoundError(f"API key {key_id} not found")
        self._key_cache.clear()

    async def authenticate_key(self, key: str) -> Principal | None:
        """The principal of a live API key of an active user, or None. Cached briefly so each request
        stays cheap."""
        digest = self._hash(key)
        hit = self._key_cache.get(digest, _UNKNOWN)
        if hit is not _UNKNOWN:
            return hit  # type: ignore[return-value]
        found = await self.repo.key_by_hash(digest)
        record = found[0] if found else None
        principal = (
            Principal(
                record.user_id,
                frozenset(record.scopes),
                via="api_key",
                key_id=record.id,
                generation=found[1],
                expires_at=record.expires_at,
            )
            if found and record
            else None
        )
        self._key_cache[digest] = principal
        if record is not None:
            await self.repo.touch_key(record.id)
        return principal
