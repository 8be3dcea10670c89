"""Your own retention bounds through the client, the same on both transports."""

from __future__ import annotations

import pytest

from workbench.client import LocalClient, RemoteClient
from workbench.errors import InputError


async def test_retention_is_read_and_set_the_same_locally_and_remotely(
    clients: tuple[LocalClient, RemoteClient],
) -> None:
    for client in clients:
        assert await client.retention() == {
            "days": None,
            "per_agent": None,
            "server": {"days": None, "per_agent": None},
            "effective": {"days": None, "per_agent": None},
        }
        changed = await client.set_retention(days=14, per_agent=50)
        assert changed["effective"] == {"days": 14, "per_agent": 50}
        assert (await client.retention())["days"] == 14
        with pytest.raises(InputError):
            await client.set_retention(days=0)
        assert (await client.retention())["days"] == 14  # a refused change changes nothing
        assert (await client.set_retention())["effective"] == {"days": None, "per_agent": None}
