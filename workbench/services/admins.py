"""Administrators: who may manage the database through the API (``/api/v1/admin/...``).

The rules, for every front door:

* the local no-login mode's user is an administrator (it is the machine's own user);
* with accounts, the first account made on a database becomes one (``AccountRepository.create_user``);
  ``workbench admin grant EMAIL`` / ``revoke EMAIL`` (on the server's machine) change the others;
* an administrator acts through a login (an access token). API keys are refused, whatever their
  scopes: no scope covers the whole database, and a key is easier to leak than a session;
* being an administrator is read from the database on every check (never cached), so a revoke bites
  at once, in every process; a deactivated account is no administrator.
"""

from __future__ import annotations

import logging
from typing import Any

from workbench.auth import LOCAL_USER_ID, Principal
from workbench.errors import InputError, NotFoundError, PermissionDenied
from workbench.store.accounts import AccountRepository, UserRecord

log = logging.getLogger(__name__)


def _address(email: str) -> str:
    """An address as accounts store it (trimmed, lower case); not checked further: one that is no
    account's is simply not found."""
    return email.strip().lower()


class AdminService:
    """Checks and changes who is an administrator."""

    def __init__(self, repo: AccountRepository) -> None:
        self.repo = repo

    @classmethod
    def of(cls, wb: Any) -> AdminService:
        """The service of a started, durable Workbench."""
        if wb.db is None:
            raise RuntimeError("administrators need a started workbench with a database")
        return cls(AccountRepository(wb.db.pool))

    async def require(self, principal: Principal) -> None:
        """PermissionDenied unless ``principal`` is an administrator acting through a login (or the
        local mode)."""
        if principal.via == "local":
            return
        if principal.via == "api_key":
            raise PermissionDenied(
                "managing the database needs an administrator's login (an access token), not an API key"
            )
        if not await self.repo.is_admin(principal.user_id):
            raise PermissionDenied("managing the database is for administrators only")

    async def grant(self, email: str) -> UserRecord:
        """Make the account with this address an administrator (NotFoundError: no such account)."""
        user = await self.repo.set_admin(_address(email), True)
        if user is None:
            raise NotFoundError(f"no account with the address {email.strip()}")
        log.warning("user %s is an administrator now", user.id)
        return user

    async def revoke(self, email: str) -> UserRecord:
        """The account with this address is no administrator any more (the local mode's user
        always is: InputError)."""
        address = _address(email)
        found = await self.repo.user_by_email(address)
        if found is None:
            raise NotFoundError(f"no account with the address {email.strip()}")
        if found.id == LOCAL_USER_ID:
            raise InputError("the local mode's user is always an administrator")
        user = await self.repo.set_admin(address, False)
        assert user is not None
        log.warning("user %s is no administrator any more", user.id)
        return user

    async def list(self) -> list[UserRecord]:
        """Every administrator with an account (the local mode's user left out)."""
        return [u for u in await self.repo.admins() if u.id != LOCAL_USER_ID]
