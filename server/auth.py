"""Authentication: who is calling, from a bearer token, an API key, or the local no-login mode."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from workbench.app import Workbench
from workbench.auth import LOCAL_PRINCIPAL, Principal
from workbench.errors import AuthError

# Reachable without credentials: health, docs, the login flows themselves, and webhook calls (which
# prove their trigger's secret instead: workbench.services.triggers).
PUBLIC_PATHS = [
    "^/api/v1/health$",
    "^/api/v1/hooks/[^/]+$",
    "^/api/docs",
    "^/api/openapi",
    "^/api/v1/auth/(signup|login|refresh|logout|password-reset|password-reset/confirm|verify-email|oauth/.*)$",
]


def _credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    key = connection.headers.get("x-api-key")
    if key:
        return key.strip()
    if connection.scope["type"] == "websocket":  # browsers cannot set headers on a WebSocket
        return connection.query_params.get("token") or connection.query_params.get("api_key")
    return None


async def principal_for(wb: Workbench, credential: str) -> Principal:
    """The principal behind a bearer token or API key; AuthError when it is not valid: a bad, expired
    or revoked one, one of a deactivated account, or an access token issued before the account's
    sessions were ended (password reset, log out everywhere). HTTP and WebSocket both come here."""
    assert wb.accounts is not None
    if credential.startswith("wbk_"):
        principal = await wb.accounts.authenticate_key(credential)
        if principal is None:
            raise AuthError("invalid, revoked or expired API key, or its account is deactivated")
        return principal
    return await wb.accounts.authenticate_token(credential)


class AccountsAuthMiddleware(AbstractAuthenticationMiddleware):
    """``--auth accounts``: every route but the public ones needs a token or an API key."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        credential = _credential(connection)
        if not credential:
            raise NotAuthorizedException("authentication required: a Bearer token or an X-API-Key header")
        wb: Workbench = connection.app.state.workbench
        try:
            principal = await principal_for(wb, credential)
        except AuthError as exc:
            raise NotAuthorizedException(str(exc)) from None
        return AuthenticationResult(user=principal, auth=credential)


class LocalAuthMiddleware(AbstractAuthenticationMiddleware):
    """``--auth none``: the single local user, on loopback only."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        return AuthenticationResult(user=LOCAL_PRINCIPAL, auth=None)


def auth_middleware(mode: str) -> DefineMiddleware:
    """The authentication middleware of an auth mode."""
    if mode == "accounts":
        return DefineMiddleware(AccountsAuthMiddleware, exclude=PUBLIC_PATHS)
    return DefineMiddleware(LocalAuthMiddleware, exclude=["^/api/docs", "^/api/openapi"])
