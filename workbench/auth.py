"""Who is calling: the principal of a request, and the scopes it may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workbench.errors import PermissionDenied

LOCAL_USER_ID = "00000000-0000-0000-0000-000000000001"

SCOPES: dict[str, str] = {
    "graphs:read": "read graphs and their executions",
    "graphs:write": "create, update and delete graphs",
    "graphs:execute": "run, cancel and delete executions",
    "blocks:read": "read the block catalogue",
    "blocks:execute": "run a single block",
    "credentials:manage": "create, list and delete credentials",
    "apikeys:manage": "create, list and revoke API keys",
    "knowledge:read": "list, read and search knowledge bases",
    "knowledge:write": "create and delete knowledge bases, add and delete their documents",
    "files:read": "list and download your files",
    "files:write": "upload and delete your files",
    "notifications:read": "read your notifications, their delivery log and your notification settings",
    "notifications:manage": "change notification channels and preferences, mark notifications read",
}
ALL_SCOPES = frozenset(SCOPES)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user, acting through a token, an API key or the local mode."""

    user_id: str
    scopes: frozenset[str] = ALL_SCOPES
    via: str = "token"
    key_id: str | None = None
    generation: int | None = None
    """The user's token generation the credential was checked against (None: the local mode); what
    it creates (API keys, refresh tokens) is refused once the user's sessions have ended since."""
    expires_at: datetime | None = None
    """When the API key expires (None: never, or not a key)."""

    def require(self, scope: str) -> None:
        """Raise PermissionDenied unless the principal holds ``scope``."""
        if scope not in self.scopes:
            raise PermissionDenied(
                f"this {'API key' if self.via == 'api_key' else 'caller'} lacks the scope {scope!r}"
            )


LOCAL_PRINCIPAL = Principal(LOCAL_USER_ID, ALL_SCOPES, via="local")
