"""/api/v1/auth: sign-up, login, token refresh, logout (one session or everywhere), the caller's
account, password reset, email verification. OAuth login lives in ``server/routes/oauth.py``.

Nothing here tells whether an address has an account: sign-up and reset requests answer the same
(status, body, time) for a new and a taken or unknown address, and login failures share one message.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import Body, JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import (
    EmailIn,
    LoginIn,
    LogoutAllIn,
    MessageOut,
    ProfileIn,
    RefreshIn,
    ResetIn,
    SessionsEndedOut,
    SignupIn,
    TokenIn,
    TokenOut,
    UserOut,
)
from workbench.services.accounts import SIGNUP_MESSAGE, AccountService


def accounts_of(request: Request[Any, Any, Any]) -> AccountService:
    """The account service."""
    accounts = workbench_of(request).accounts
    assert accounts is not None
    return accounts


class AccountController(Controller):
    """Accounts and sessions."""

    path = "/auth"
    tags = ["auth"]

    @post("/signup", status_code=202, responses=errors(422), summary="Create an account")
    async def signup(self, request: Request[Any, Any, Any], data: JSONBody[SignupIn]) -> MessageOut:
        """Create an account with email and password, then log in with ``POST /auth/login``. The
        answer is the same whether or not the address had an account already (no account oracle):
        a new account gets a verification mail, the owner of a taken address a notice that someone
        tried to sign up with it (and nothing about that account changes)."""
        await accounts_of(request).register(data.email, data.password, data.name)
        return MessageOut(message=SIGNUP_MESSAGE)

    @post("/login", status_code=200, responses=errors(422, 429), summary="Log in")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginIn]) -> TokenOut:
        """Access token (15 minutes) and refresh token (30 days, single use)."""
        return TokenOut(**(await accounts_of(request).login(data.email, data.password)).to_dict())

    @post("/refresh", status_code=200, responses=errors(422), summary="Refresh tokens")
    async def refresh(self, request: Request[Any, Any, Any], data: JSONBody[RefreshIn]) -> TokenOut:
        """Trade a refresh token for new tokens; the old one stops working."""
        return TokenOut(**(await accounts_of(request).refresh(data.refresh_token)).to_dict())

    @post("/logout", status_code=204, responses=errors(422), summary="Log out (one session)")
    async def logout(self, request: Request[Any, Any, Any], data: JSONBody[RefreshIn]) -> None:
        """End the session of this refresh token: it cannot be refreshed any more. Its access token
        still works until it expires (15 minutes at most); ``/auth/logout-all`` ends those too. An
        unknown or used token is accepted silently."""
        await accounts_of(request).logout(data.refresh_token)

    @post("/logout-all", status_code=200, responses=errors(422), summary="Log out everywhere (every session)")
    async def logout_all(
        self,
        request: Request[Any, Any, Any],
        data: LogoutAllIn | None = Body(default=None, description="Optional; `{}` by default."),
    ) -> SessionsEndedOut:
        """End every session of the account at once: every access token (this one included) and every
        refresh token stop working; with ``revoke_api_keys`` every API key too. Needs a login (an
        access token), not an API key."""
        revoke_keys = data.revoke_api_keys if data is not None else False
        ended = await accounts_of(request).logout_all(caller(request), revoke_keys=revoke_keys)
        return SessionsEndedOut(
            message="every session ended; log in again"
            + ("; every API key is revoked" if revoke_keys else "; API keys still work"),
            refresh_tokens_revoked=ended.refresh_tokens,
            api_keys_revoked=ended.api_keys,
        )

    @get("/me", responses=errors(), summary="The caller's account")
    async def me(self, request: Request[Any, Any, Any]) -> UserOut:
        """Who the token or API key belongs to."""
        return UserOut(**(await accounts_of(request).me(caller(request).user_id)).to_dict())

    @patch("/me", responses=errors(422), summary="Change the caller's profile")
    async def update_me(self, request: Request[Any, Any, Any], data: JSONBody[ProfileIn]) -> UserOut:
        """Change the caller's own name and timezone (the fields given; the others stay). Schedules
        created afterwards without a timezone of their own use this one. Needs a login (an access
        token) or the local mode, not an API key (403)."""
        principal = caller(request)
        user = await accounts_of(request).update_profile(
            principal.user_id, name=data.name, timezone=data.timezone, by=principal
        )
        return UserOut(**user.to_dict())

    @post("/password-reset", status_code=202, responses=errors(422), summary="Ask for a password reset")
    async def password_reset(self, request: Request[Any, Any, Any], data: JSONBody[EmailIn]) -> MessageOut:
        """Send a reset token to the address. The answer is the same, and as fast, whether or not it
        has an account: the work happens after it. At most ``WORKBENCH_RESET_PER_HOUR`` (3) reset
        mails go to one address per hour; further requests are answered the same and send nothing."""
        await accounts_of(request).request_password_reset(data.email)
        return MessageOut(message="if the address has an account, a reset token was sent to it")

    @post("/password-reset/confirm", status_code=200, responses=errors(422), summary="Set a new password")
    async def password_reset_confirm(
        self, request: Request[Any, Any, Any], data: JSONBody[ResetIn]
    ) -> MessageOut:
        """Set a new password with a reset token. The address counts as verified from now on, and every
        session, refresh token and API key of the account ends (so does every OAuth link, when the
        address had not been verified before: whoever made the account never proved it)."""
        await accounts_of(request).reset_password(data.token, data.password)
        return MessageOut(message="password changed; every session and API key ended; log in again")

    @post("/verify-email", status_code=200, responses=errors(422), summary="Verify an email address")
    async def verify_email(self, request: Request[Any, Any, Any], data: JSONBody[TokenIn]) -> UserOut:
        """Confirm the address with the token that was mailed."""
        return UserOut(**(await accounts_of(request).verify_email(data.token)).to_dict())

    @post("/verify-email/request", status_code=202, responses=errors(), summary="Send the verification again")
    async def request_verification(self, request: Request[Any, Any, Any]) -> MessageOut:
        """Mail a new verification token to the caller's address (at most ``WORKBENCH_RESET_PER_HOUR``
        per hour)."""
        accounts = accounts_of(request)
        if await accounts.request_verification(caller(request).user_id) is None:
            return MessageOut(
                message=f"no mail sent: {accounts.mails_per_hour} verification mails per hour at most; "
                "use one of those already sent"
            )
        return MessageOut(message="a verification token was sent")
