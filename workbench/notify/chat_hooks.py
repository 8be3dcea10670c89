"""Slack and Discord incoming webhooks: their payloads, within their documented limits, and their
channels (``slack``, ``discord``), sent like webhooks (:mod:`workbench.notify.http_delivery`: the
outbound guard, retries, a report) but unsigned: those services authenticate by the secret URL.

Slack (``{"text", "blocks"}``): ``text`` is the fallback shown in notifications; the blocks are a
``header`` (plain text, at most 150 characters), a ``section`` with the body as mrkdwn (at most
3,000 characters) and, when the notification has facts (agent, run, node...), a ``section`` of up
to 10 ``fields`` (2,000 characters each). In mrkdwn text ``&``, ``<`` and ``>`` are escaped as
``&amp;``, ``&lt;``, ``&gt;``, as Slack asks: user content cannot make links or mentions.

Discord (``{"content", "embeds", "allowed_mentions"}``): ``content`` at most 2,000 characters; one
embed with ``title`` (256), ``description`` (4,096), ``color``, ``url``, ``timestamp`` and up to 25
``fields`` (name 256, value 1,024), all its text within Discord's 6,000 characters per message;
``allowed_mentions: {"parse": []}``, so ``@everyone`` in an agent's error pings nobody.

Text longer than a limit is cut, ending with an ellipsis (…).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from workbench.notify.channel import ChannelName
from workbench.notify.http_delivery import HttpSender, check_url
from workbench.notify.message import (
    ELLIPSIS,
    EventKind,
    Notification,
    clip,
    format_duration,
    format_money,
    format_number,
)

SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000
SLACK_FIELDS_LIMIT = 10
SLACK_FIELD_LIMIT = 2000
SLACK_TEXT_LIMIT = 3000
"""Our cap on the fallback ``text`` (Slack truncates at 40,000)."""

DISCORD_CONTENT_LIMIT = 2000
DISCORD_TITLE_LIMIT = 256
DISCORD_DESCRIPTION_LIMIT = 4096
DISCORD_FIELDS_LIMIT = 25
DISCORD_FIELD_NAME_LIMIT = 256
DISCORD_FIELD_VALUE_LIMIT = 1024
DISCORD_EMBED_TOTAL_LIMIT = 6000

DISCORD_COLORS = {
    EventKind.RUN_COMPLETED: 0x2DA44E,
    EventKind.RUN_FAILED: 0xD70015,
    EventKind.SCHEDULE_MISSED: 0xF5A623,
    EventKind.SUMMARY: 0x0071E3,
}
DISCORD_DEFAULT_COLOR = 0x6E6E73

_FACT_LABELS = {
    "agent_name": "Agent",
    "run_id": "Run",
    "node": "Failing node",
    "duration": "Duration",
    "tokens": "Tokens",
    "cost": "Cost",
    "schedule_id": "Schedule",
    "missed_at": "Missed at",
    "period": "Period",
    "runs": "Runs",
    "failures": "Failures",
}
"""The facts of our kinds shown as fields, in this order, and their labels."""
_LINK_KEYS = ("run_url", "url")


def slack_escape(text: str) -> str:
    """``text`` with Slack's control characters escaped: ``&`` ``<`` ``>`` (nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_clip(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn and cut to at most ``limit`` characters, escapes included (an
    entity is never cut in half), ending with an ellipsis when cut."""
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    kept, size = [], 0
    for char in text:
        piece = slack_escape(char)
        if size + len(piece) > limit - len(ELLIPSIS):
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept).rstrip() + ELLIPSIS


def facts(notification: Notification) -> list[tuple[str, str]]:
    """``(label, value)`` pairs worth a field: our kinds' known facts, or a custom one's scalar data."""
    data = notification.data
    if notification.kind is EventKind.CUSTOM:
        pairs = [
            (str(key), _fact_text(key, value))
            for key, value in data.items()
            if isinstance(value, str | int | float | bool) and str(value).strip()
        ]
    else:
        pairs = [
            (label, _fact_text(key, data[key]))
            for key, label in _FACT_LABELS.items()
            if data.get(key) is not None and str(data[key]).strip()
        ]
    return pairs


def _fact_text(key: str, value: Any) -> str:
    if key == "duration" and isinstance(value, int | float):
        return format_duration(value)
    if key == "cost" and isinstance(value, int | float):
        return format_money(value)
    if key in ("tokens", "runs", "failures") and isinstance(value, int):
        return format_number(value)
    return " ".join(str(value).split())


def link(data: Mapping[str, Any]) -> str | None:
    """The notification's web link (a run, the runs page), when it has an http(s) one."""
    for key in _LINK_KEYS:
        value = data.get(key)
        if isinstance(value, str) and check_url(value) is None:
            return value
    return None


def slack_payload(notification: Notification) -> dict[str, Any]:
    """The Slack incoming-webhook message for ``notification``."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clip(notification.title, SLACK_HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_clip(notification.text.strip(), SLACK_SECTION_LIMIT)},
        },
    ]
    pairs = facts(notification)[:SLACK_FIELDS_LIMIT]
    if pairs:
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": _slack_field(label, value)} for label, value in pairs],
            }
        )
    return {"text": slack_clip(notification.title, SLACK_TEXT_LIMIT), "blocks": blocks}


def _slack_field(label: str, value: str) -> str:
    head = f"*{slack_clip(label, 100)}*\n"
    return head + slack_clip(value, SLACK_FIELD_LIMIT - len(head))


def discord_payload(notification: Notification) -> dict[str, Any]:
    """The Discord webhook message for ``notification``."""
    title = clip(notification.title, DISCORD_TITLE_LIMIT)
    fields: list[dict[str, Any]] = [
        {
            "name": clip(label, DISCORD_FIELD_NAME_LIMIT),
            "value": clip(value, DISCORD_FIELD_VALUE_LIMIT),
            "inline": len(value) <= 40,
        }
        for label, value in facts(notification)[:DISCORD_FIELDS_LIMIT]
    ]
    used = len(title) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    room = DISCORD_EMBED_TOTAL_LIMIT - used
    while room < 0 and fields:  # only possible with many long custom facts: drop from the end
        dropped = fields.pop()
        room += len(dropped["name"]) + len(dropped["value"])
    description = clip(notification.text.strip(), min(DISCORD_DESCRIPTION_LIMIT, room))
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": DISCORD_COLORS.get(notification.kind, DISCORD_DEFAULT_COLOR),
        "timestamp": notification.created_at.isoformat(),
        "fields": fields,
    }
    url = link(notification.data)
    if url is not None:
        embed["url"] = url
    return {
        "content": clip(notification.title, DISCORD_CONTENT_LIMIT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


class SlackSender(HttpSender):
    """The ``slack`` channel: POSTs :func:`slack_payload` to an incoming-webhook URL."""

    channel: ClassVar[ChannelName] = ChannelName.SLACK

    def payload(self, notification: Notification, delivery_id: str) -> dict[str, Any]:
        """Slack's message for ``notification``."""
        return slack_payload(notification)


class DiscordSender(HttpSender):
    """The ``discord`` channel: POSTs :func:`discord_payload` to a Discord webhook URL."""

    channel: ClassVar[ChannelName] = ChannelName.DISCORD

    def payload(self, notification: Notification, delivery_id: str) -> dict[str, Any]:
        """Discord's message for ``notification``."""
        return discord_payload(notification)
