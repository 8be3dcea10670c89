"""/api/v1/auth: sign-up, login, token refresh, the caller's account, password reset, email
verification. OAuth login lives in ``server/routes/oauth.py``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import (
    EmailIn,
    LoginIn,
    MessageOut,
    RefreshIn,
    ResetIn,
    SignupIn,
    TokenIn,
    TokenOut,
    UserOut,
)
from workbench.services.accounts import AccountService


def accounts_of(request: Request[Any, Any, Any]) -> AccountService:
    """The account service."""
    accounts = workbench_of(request).accounts
    assert accounts is not None
    return accounts


class AccountController(Controller):
    """Accounts and sessions."""

    path = "/auth"
    tags = ["auth"]

    @post("/signup", status_code=201, responses=errors(409, 422), summary="Create an account")
    async def signup(self, request: Request[Any, Any, Any], data: JSONBody[SignupIn]) -> TokenOut:
        """Create an account with email and password; returns tokens. A verification mail is sent."""
        accounts = accounts_of(request)
        user = await accounts.signup(data.email, data.password, data.name)
        return TokenOut(**(await accounts.issue_tokens(user.id)).to_dict())

    @post("/login", status_code=200, responses=errors(422), summary="Log in")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[LoginIn]) -> TokenOut:
        """Access token (15 minutes) and refresh token (30 days, single use)."""
        return TokenOut(**(await accounts_of(request).login(data.email, data.password)).to_dict())

    @post("/refresh", status_code=200, responses=errors(422), summary="Refresh tokens")
    async def refresh(self, request: Request[Any, Any, Any], data: JSONBody[RefreshIn]) -> TokenOut:
        """Trade a refresh token for new tokens; the old one stops working."""
        return TokenOut(**(await accounts_of(request).refresh(data.refresh_token)).to_dict())

    @get("/me", responses=errors(), summary="The caller's account")
    async def me(self, request: Request[Any, Any, Any]) -> UserOut:
        """Who the token or API key belongs to."""
        return UserOut(**(await accounts_of(request).me(caller(request).user_id)).to_dict())

    @post("/password-reset", status_code=202, responses=errors(422), summary="Ask for a password reset")
    async def password_reset(self, request: Request[Any, Any, Any], data: JSONBody[EmailIn]) -> MessageOut:
        """Send a reset token to the address (the answer is the same whether or not it has an account)."""
        await accounts_of(request).request_password_reset(data.email)
        return MessageOut(message="if the address has an account, a reset token was sent to it")

    @post("/password-reset/confirm", status_code=200, responses=errors(422), summary="Set a new password")
    async def password_reset_confirm(
        self, request: Request[Any, Any, Any], data: JSONBody[ResetIn]
    ) -> MessageOut:
        """Set a new password with a reset token; every session of the account ends."""
        await accounts_of(request).reset_password(data.token, data.password)
        return MessageOut(message="password changed; log in again")

    @post("/verify-email", status_code=200, responses=errors(422), summary="Verify an email address")
    async def verify_email(self, request: Request[Any, Any, Any], data: JSONBody[TokenIn]) -> UserOut:
        """Confirm the address with the token that was mailed."""
        return UserOut(**(await accounts_of(request).verify_email(data.token)).to_dict())

    @post("/verify-email/request", status_code=202, responses=errors(), summary="Send the verification again")
    async def request_verification(self, request: Request[Any, Any, Any]) -> MessageOut:
        """Mail a new verification token to the caller's address."""
        await accounts_of(request).request_verification(caller(request).user_id)
        return MessageOut(message="a verification token was sent")
