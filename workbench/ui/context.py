"""What every page of the web front end receives: the services and who is looking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.app import Workbench
from workbench.auth import Principal

if TYPE_CHECKING:
    from workbench.ui.notifications_data import LiveNotifications


@dataclass(frozen=True)
class UiContext:
    """What a page needs: the process's services and who is looking."""

    wb: Workbench  # workbench.app.Workbench, started
    user_id: str
    email: str | None  # None in --auth none (the local user)
    links: Mapping[str, str] = field(default_factory=dict)
    """Where things are, by the label the header shows: ``Home``, ``Chat``, ``Monitor`` (the pages
    present), ``API docs`` and ``Notebooks`` (URLs on other ports). Filled by the UI server."""
    notifications: LiveNotifications | None = None
    """The session's unread count and new notifications, live (the header's bell; the inbox page
    listens to it); None without a database."""

    @property
    def principal(self) -> Principal:
        """Who is looking, as the services check callers: the local no-login user, or a signed-in one."""
        return Principal(self.user_id, via="local" if self.email is None else "token")
