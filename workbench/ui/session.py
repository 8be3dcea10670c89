"""Who is looking at a page: the login session carried by the ``wb_session`` cookie.

With accounts, a login sets two cookies, both ``HttpOnly`` and ``SameSite=Lax`` (``Secure`` over
HTTPS), path ``/``:

- ``wb_session``: the access token (a 15-minute JWT of :class:`~workbench.services.accounts.AccountService`),
  expiring with it;
- ``wb_refresh``: the refresh token (single use, 30 days), so a page load after the access token
  expired renews both silently; once it has expired too, or was revoked (log out, password reset), the
  browser is sent to ``/login``.

Browsers send cookies for a host to every port of it, so the API on its own port receives them too (it
ignores them: the API takes bearer tokens and API keys, never cookies, so a foreign page cannot ride
on them).

Bokeh copies a request's headers and cookies into the session token it embeds in the page, where
scripts can read them; the server therefore keeps both cookies (and the ``Cookie`` header) out of
it. What a new page session needs to know about its user travels as a *ticket* instead: a random,
single-use key, valid for a minute, that the page's HTTP request carries to the code that builds the
page (:meth:`SessionResolver.issue_ticket` / :meth:`SessionResolver.take_ticket`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass

from cachetools import TTLCache

from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.errors import AuthError, StoreError
from workbench.services.accounts import REFRESH_TTL, TokenPair

log = logging.getLogger(__name__)

SESSION_COOKIE = "wb_session"
REFRESH_COOKIE = "wb_refresh"
TICKET_HEADER = "X-Workbench-Ticket"
TICKET_TTL = 60.0
"""Seconds between a page's HTTP request and the building of its session (the same request, in fact)."""
REFRESH_GRACE = 30.0
"""Seconds a just-rotated refresh token keeps answering with the pair it was rotated into: two tabs
reloading at once both present the old one, and a second real use would look like a theft."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified user: the id the services take, and the address shown in the header."""

    user_id: str
    email: str | None


LOCAL_IDENTITY = Identity(LOCAL_USER_ID, None)
"""The single local user of ``--auth none``."""


@dataclass(frozen=True, slots=True)
class Cookie:
    """One ``Set-Cookie`` to send: ``value`` None clears it."""

    name: str
    value: str | None
    max_age: int


def login_cookies(pair: TokenPair) -> list[Cookie]:
    """The cookies that hold a login session."""
    return [
        Cookie(SESSION_COOKIE, pair.access_token, pair.expires_in),
        Cookie(REFRESH_COOKIE, pair.refresh_token, int(REFRESH_TTL.total_seconds())),
    ]


def logout_cookies() -> list[Cookie]:
    """The cookies that end a login session in the browser."""
    return [Cookie(SESSION_COOKIE, None, 0), Cookie(REFRESH_COOKIE, None, 0)]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionResolver:
    """Turns a request's cookies into an :class:`Identity` through ``wb.accounts`` (``local``: every
    request is the local user), and hands it to the page session through tickets."""

    def __init__(self, wb: Workbench, *, local: bool) -> None:
        self.wb = wb
        self.local = local
        self._tickets: TTLCache[str, Identity] = TTLCache(maxsize=10_000, ttl=TICKET_TTL)
        self._emails: TTLCache[str, str] = TTLCache(maxsize=10_000, ttl=300)
        self._rotated: TTLCache[str, TokenPair] = TTLCache(maxsize=10_000, ttl=REFRESH_GRACE)
        self._refreshing = asyncio.Lock()

    async def identify(
        self, access: str | None, refresh: str | None, *, may_refresh: bool = True
    ) -> tuple[Identity | None, TokenPair | None]:
        """The user of these cookie values, and the new token pair when the refresh token had to be
        used (the caller sets it as cookies); (None, None) when they prove nobody.

        ``may_refresh`` False (a WebSocket handshake, whose answer may not set cookies): a refresh
        token counts only when it was just rotated by a page request, never rotated here."""
        if self.local:
            return LOCAL_IDENTITY, None
        accounts = self.wb.accounts
        if accounts is None:
            return None, None
        if access:
            try:
                principal = await accounts.authenticate_token(access)
            except AuthError:
                pass
            else:
                return await self._identity(principal.user_id), None
        if not refresh:
            return None, None
        pair = await self._refresh(refresh) if may_refresh else self._rotated.get(_digest(refresh))
        if pair is None:
            return None, None
        principal = await accounts.authenticate_token(pair.access_token)
        return await self._identity(principal.user_id), pair

    async def _refresh(self, refresh: str) -> TokenPair | None:
        """Rotate a refresh token once, however many requests present it at the same moment."""
        assert self.wb.accounts is not None
        key = _digest(refresh)
        async with self._refreshing:
            pair = self._rotated.get(key)
            if pair is not None:
                return pair
            try:
                pair = await self.wb.accounts.refresh(refresh)
            except AuthError:
                return None
            self._rotated[key] = pair
            return pair

    async def _identity(self, user_id: str) -> Identity:
        email = self._emails.get(user_id)
        if email is None:
            assert self.wb.accounts is not None
            try:
                email = (await self.wb.accounts.me(user_id)).email
            except StoreError:  # the header shows no address; the page itself says what is wrong
                log.warning("the address of user %s could not be read", user_id)
                return Identity(user_id, None)
            self._emails[user_id] = email
        return Identity(user_id, email)

    async def logout(self, refresh: str | None) -> None:
        """End the session of this refresh token (its access token expires on its own)."""
        if refresh and self.wb.accounts is not None:
            await self.wb.accounts.logout(refresh)

    def issue_ticket(self, identity: Identity) -> str:
        """A single-use key that names ``identity`` for the next minute."""
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = identity
        return ticket

    def take_ticket(self, ticket: str | None) -> Identity | None:
        """The identity of a ticket, once; None when it is unknown, used or expired."""
        if not ticket:
            return None
        return self._tickets.pop(ticket, None)
