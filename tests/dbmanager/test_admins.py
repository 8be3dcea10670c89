"""Administrators: the local user always, the first account of a database, and whoever
``workbench admin grant`` names; API keys never act as one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dbmanager.conftest import NewDatabase
from workbench.auth import LOCAL_PRINCIPAL, LOCAL_USER_ID, Principal
from workbench.config import Settings
from workbench.errors import InputError, NotFoundError, PermissionDenied
from workbench.services.admins import AdminService
from workbench.store.accounts import AccountRepository
from workbench.store.database import Database

ROOT = Path(__file__).resolve().parents[2]


async def test_the_first_account_of_a_database_is_its_one_administrator(
    new_database: NewDatabase, settings: Settings
) -> None:
    db = Database(settings.with_(database_url=await new_database(migrated=True)))
    await db.start()
    try:
        repo = AccountRepository(db.pool)
        local = await repo.user(LOCAL_USER_ID)
        assert local is not None and local.is_admin  # the local mode's user, from the migration
        # Ten sign-ups at the same moment on a database without accounts: one of them is the first.
        made = await asyncio.gather(
            *(repo.create_user(f"first-{i}@example.com", None, "x", verified=False) for i in range(10))
        )
        assert sum(1 for u in made if u is not None and u.is_admin) == 1
        later = await repo.create_user("later@example.com", None, "x", verified=False)
        assert later is not None and not later.is_admin
        assert await repo.create_user("later@example.com", None, "x", verified=False) is None  # taken

        service = AdminService(repo)
        first = next(u for u in made if u is not None and u.is_admin)
        assert [u.id for u in await service.list()] == [first.id]
        await service.require(Principal(first.id, via="token"))
        await service.require(LOCAL_PRINCIPAL)
        with pytest.raises(PermissionDenied, match="administrators only"):
            await service.require(Principal(later.id, via="token"))
        with pytest.raises(PermissionDenied, match="not an API key"):
            await service.require(Principal(first.id, via="api_key", key_id="k"))

        assert (await service.grant("  LATER@example.com ")).is_admin
        await service.require(Principal(later.id, via="token"))
        await repo.set_active(later.id, False)  # a deactivated administrator is none
        with pytest.raises(PermissionDenied):
            await service.require(Principal(later.id, via="token"))
        assert not (await service.revoke("later@example.com")).is_admin
        with pytest.raises(InputError, match="always an administrator"):
            await service.revoke("local@localhost")
        with pytest.raises(NotFoundError, match=r"no account with the address nobody@example\.com"):
            await service.grant("nobody@example.com")
    finally:
        await db.stop()


async def test_admin_commands_grant_revoke_and_list(
    new_database: NewDatabase, settings: Settings, workbench_home: Path
) -> None:
    url = await new_database(migrated=True)
    db = Database(settings.with_(database_url=url))
    await db.start()
    try:
        repo = AccountRepository(db.pool)
        await repo.create_user("owner@example.com", None, "x", verified=True)
        await repo.create_user("ops@example.com", None, "x", verified=True)
    finally:
        await db.stop()
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home), "PYTHONPATH": str(ROOT), "DATABASE_URL": url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "launch.cli", "admin", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    granted = cli("grant", "ops@example.com")
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout == "ops@example.com is an administrator now\n"
    listed = cli("list", "--json")
    assert [u["email"] for u in json.loads(listed.stdout)] == ["owner@example.com", "ops@example.com"]
    assert cli("revoke", "owner@example.com").returncode == 0
    revoked = cli("revoke", "ops@example.com")
    assert revoked.stdout == "ops@example.com is no administrator any more\n"
    assert "`workbench admin grant EMAIL` makes one" in revoked.stderr
    unknown = cli("grant", "nobody@example.com")
    assert unknown.returncode == 2 and "no account with the address" in unknown.stderr
