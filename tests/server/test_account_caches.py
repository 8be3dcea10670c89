"""The account service's per-process caches (cachetools): an API key lookup for ``KEY_CACHE_TTL``
seconds (never past the key's own expiry), a user's token state for ``USER_CACHE_TTL``, both bounded,
and forgotten at once when this process changes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.services import accounts
from workbench.services.accounts import KEY_CACHE_TTL, USER_CACHE_TTL, AccountService
from workbench.store.accounts import ApiKeyRecord


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Repo:
    """The repository calls the caches stand in front of, counted."""

    def __init__(self) -> None:
        self.keys: dict[bytes, tuple[ApiKeyRecord, int]] = {}
        self.states: dict[str, tuple[int, bool]] = {}
        self.lookups = 0

    async def key_by_hash(self, digest: bytes) -> tuple[ApiKeyRecord, int] | None:
        self.lookups += 1
        return self.keys.get(digest)

    async def user_state(self, user_id: str) -> tuple[int, bool] | None:
        self.lookups += 1
        return self.states.get(user_id)

    async def touch_key(self, key_id: str) -> None:
        pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(accounts, "time", SimpleNamespace(monotonic=c, time=lambda: c.now))
    return c


@pytest.fixture
def repo() -> Repo:
    return Repo()


@pytest.fixture
def service(clock: Clock, repo: Repo) -> AccountService:
    keys = SimpleNamespace(api_keys=b"k" * 32, jwt=b"j" * 32, credentials=b"c" * 32)
    return AccountService(repo, keys)  # type: ignore[arg-type]


def record(expires_at: datetime | None = None) -> ApiKeyRecord:
    now = datetime.now(UTC)
    return ApiKeyRecord("key1", "user1", "k", "wbk_x", ["graphs:read"], now, None, expires_at, None)


def add_key(service: AccountService, repo: Repo, key: str, **kwargs: Any) -> None:
    repo.keys[service._hash(key)] = (record(**kwargs), 3)


async def test_a_key_lookup_is_cached_for_its_ttl(service: AccountService, repo: Repo, clock: Clock) -> None:
    add_key(service, repo, "wbk_live")
    first = await service.authenticate_key("wbk_live")
    assert first is not None and first.user_id == "user1" and first.generation == 3
    clock.now += KEY_CACHE_TTL - 0.5
    assert await service.authenticate_key("wbk_live") == first
    assert repo.lookups == 1
    clock.now += 1
    await service.authenticate_key("wbk_live")
    assert repo.lookups == 2


async def test_an_unknown_key_is_cached_too(service: AccountService, repo: Repo) -> None:
    assert await service.authenticate_key("wbk_nope") is None
    assert await service.authenticate_key("wbk_nope") is None
    assert repo.lookups == 1


async def test_an_expiring_key_is_not_served_past_its_expiry(
    service: AccountService, repo: Repo, clock: Clock
) -> None:
    add_key(service, repo, "wbk_short", expires_at=datetime.now(UTC) + timedelta(seconds=3))
    assert await service.authenticate_key("wbk_short") is not None
    clock.now += 2
    await service.authenticate_key("wbk_short")
    assert repo.lookups == 1
    clock.now += 2  # past the key's expiry, well within KEY_CACHE_TTL
    await service.authenticate_key("wbk_short")
    assert repo.lookups == 2


async def test_revoking_here_forgets_at_once(service: AccountService, repo: Repo) -> None:
    add_key(service, repo, "wbk_live")
    await service.authenticate_key("wbk_live")
    service._forget("user1")
    await service.authenticate_key("wbk_live")
    assert repo.lookups == 2


async def test_a_users_state_is_cached_for_its_ttl(service: AccountService, repo: Repo, clock: Clock) -> None:
    repo.states["user1"] = (4, True)
    assert await service._user_state("user1") == (4, True)
    repo.states["user1"] = (5, False)  # changed by another process
    clock.now += USER_CACHE_TTL - 0.1
    assert await service._user_state("user1") == (4, True)
    clock.now += 0.2
    assert await service._user_state("user1") == (5, False)
    assert await service._user_state("nobody") is None


async def test_the_caches_are_bounded(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "CACHE_SIZE", 10)
    small = AccountService(repo, SimpleNamespace(api_keys=b"k" * 32, jwt=b"j" * 32))  # type: ignore[arg-type]
    for n in range(50):
        repo.states[f"u{n}"] = (1, True)
        await small._user_state(f"u{n}")
        await small.authenticate_key(f"wbk_{n}")
    assert len(small._user_cache) == len(small._key_cache) == 10
