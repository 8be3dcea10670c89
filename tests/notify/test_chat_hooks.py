"""Slack and Discord payloads checked field by field against their documented formats and limits,
and sent through the guarded, retrying path to a real local receiver."""

from __future__ import annotations

import re

from tests.notify.conftest import RecordingSleep
from tests.notify.peers import Answer, receiving
from workbench.notify.channel import ChannelName, Target
from workbench.notify.chat_hooks import (
    DISCORD_COLORS,
    DiscordSender,
    SlackSender,
    discord_payload,
    slack_clip,
    slack_escape,
    slack_payload,
)
from workbench.notify.http_delivery import HttpDelivery
from workbench.notify.message import Notification, custom, run_completed, run_failed, verify_email

RUN_URL = "https://workbench.example/monitor/run?id=r1&tab=nodes"


def failed(
    error: str = "KeyError: 'x' <@U123> & <!channel>", agent: str = "Scraper <b>&</b>"
) -> Notification:
    return run_failed(agent_name=agent, run_id="r1", node="fetch", error=error, run_url=RUN_URL)


def no_bare_control_characters(mrkdwn: str) -> bool:
    """Every &, <, > is part of an escape (&amp; &lt; &gt;): user text makes no links or mentions."""
    return "<" not in mrkdwn and ">" not in mrkdwn and re.search(r"&(?!amp;|lt;|gt;)", mrkdwn) is None


# --- Slack ----------------------------------------------------------------------------------------


def test_slack_escaping_is_exactly_ampersand_and_angle_brackets() -> None:
    assert slack_escape("a & b < c > d *e* _f_ `g`") == "a &amp; b &lt; c &gt; d *e* _f_ `g`"
    assert slack_escape("&amp;") == "&amp;amp;"  # escaped once, as given


def test_slack_payload_shape() -> None:
    payload = slack_payload(failed())
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == "Run of Scraper &lt;b&gt;&amp;&lt;/b&gt; failed"
    header, body, facts = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Run of Scraper <b>&</b> failed", "emoji": True},
    }
    assert body["type"] == "section" and body["text"]["type"] == "mrkdwn"
    text = body["text"]["text"]
    assert "KeyError: 'x' &lt;@U123&gt; &amp; &lt;!channel&gt;" in text
    assert "Scraper &lt;b&gt;&amp;&lt;/b&gt;" in text
    assert "id=r1&amp;tab=nodes" in text
    assert no_bare_control_characters(text) and no_bare_control_characters(payload["text"])
    assert facts == {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Agent*\nScraper &lt;b&gt;&amp;&lt;/b&gt;"},
            {"type": "mrkdwn", "text": "*Run*\nr1"},
            {"type": "mrkdwn", "text": "*Failing node*\nfetch"},
        ],
    }


def test_slack_limits_with_an_ellipsis() -> None:
    payload = slack_payload(failed(error="&" * 20_000, agent="A" * 400))
    header, body, facts = payload["blocks"]
    assert header["text"]["text"] == f"Run of {'A' * 119}… failed"  # the template cuts the name
    long_title = slack_payload(custom(title="T" * 300, text="x"))["blocks"][0]["text"]["text"]
    assert len(long_title) == 150 and long_title.endswith("…")
    section = body["text"]["text"]
    assert len(section) <= 3000 and section.endswith("…")
    assert no_bare_control_characters(section[:-1])  # no entity cut in half
    assert all(len(f["text"]) <= 2000 for f in facts["fields"])

    many = custom(title="t", text="x", data={f"k{i}": "v" * 5000 for i in range(15)})
    fields = slack_payload(many)["blocks"][2]["fields"]
    assert len(fields) == 10
    assert all(len(f["text"]) <= 2000 and f["text"].endswith("…") for f in fields)


def test_slack_clip_counts_escapes() -> None:
    assert slack_clip("<<<", 12) == "&lt;&lt;&lt;"
    assert slack_clip("<<<<", 12) == "&lt;&lt;…"
    assert slack_clip("abc", 3) == "abc"


# --- Discord --------------------------------------------------------------------------------------


def test_discord_payload_shape() -> None:
    n = run_completed(
        agent_name="@everyone Agent", run_id="r9", run_url=RUN_URL, duration=125, tokens=12345, cost=0.5
    )
    payload = discord_payload(n)
    assert set(payload) == {"content", "embeds", "allowed_mentions"}
    assert payload["allowed_mentions"] == {"parse": []}  # @everyone in a name pings nobody
    assert payload["content"] == "Run of @everyone Agent completed"
    [embed] = payload["embeds"]
    assert set(embed) == {"title", "description", "color", "timestamp", "fields", "url"}
    assert embed["title"] == "Run of @everyone Agent completed"
    assert embed["color"] == DISCORD_COLORS[n.kind] == 0x2DA44E
    assert embed["url"] == RUN_URL
    assert embed["timestamp"] == n.created_at.isoformat()
    assert "Duration: 2 min 5 s" in embed["description"]
    assert embed["fields"] == [
        {"name": "Agent", "value": "@everyone Agent", "inline": True},
        {"name": "Run", "value": "r9", "inline": True},
        {"name": "Duration", "value": "2 min 5 s", "inline": True},
        {"name": "Tokens", "value": "12,345", "inline": True},
        {"name": "Cost", "value": "$0.50", "inline": True},
    ]


def test_discord_limits_with_an_ellipsis() -> None:
    long_error = discord_payload(failed(error="e" * 9000))["embeds"][0]
    assert len(long_error["description"]) <= 4096 and long_error["description"].endswith("…")

    many = custom(title="T" * 300, text="x" * 5000, data={"n" * 300 + str(i): "v" * 2000 for i in range(30)})
    payload = discord_payload(many)
    [embed] = payload["embeds"]
    assert len(payload["content"]) <= 2000
    assert len(embed["title"]) <= 256 and embed["title"].endswith("…")
    assert len(embed["fields"]) <= 25
    for field in embed["fields"]:
        assert len(field["name"]) <= 256 and field["name"].endswith("…")
        assert len(field["value"]) <= 1024 and field["value"].endswith("…")
        assert field["inline"] is False
    total = len(embed["title"]) + len(embed["description"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert "url" not in embed  # no http(s) link among the data


def test_discord_color_of_failures() -> None:
    assert discord_payload(failed())["embeds"][0]["color"] == 0xD70015
    assert discord_payload(custom(title="t", text="x"))["embeds"][0]["color"] == 0x6E6E73


# --- sending --------------------------------------------------------------------------------------


async def test_slack_through_the_guarded_path(delivery: HttpDelivery, sleeps: RecordingSleep) -> None:
    n = failed()
    with receiving([Answer(500), Answer(200, body=b"ok")]) as receiver:
        report = await SlackSender(delivery).send(Target(receiver.url), n)

    assert report.delivered and report.channel is ChannelName.SLACK
    assert [a.status for a in report.attempts] == [500, 200] and sleeps.waits == [0.01]
    last = receiver.requests[-1]
    assert last.json() == slack_payload(n)
    assert last.signature_ok is None and "x-workbench-timestamp" not in last.headers  # unsigned


async def test_discord_rate_limit_then_204(delivery: HttpDelivery, sleeps: RecordingSleep) -> None:
    n = failed()
    rate_limited = Answer(
        429, {"Retry-After": "0.5", "content-type": "application/json"}, b'{"retry_after": 0.5}'
    )
    with receiving([rate_limited, Answer(204, body=b"")]) as receiver:
        report = await DiscordSender(delivery).send(Target(receiver.url), n)

    assert report.delivered and report.channel is ChannelName.DISCORD
    assert [a.status for a in report.attempts] == [429, 204] and sleeps.waits == [0.5]
    assert receiver.requests[-1].json() == discord_payload(n)


async def test_chat_channels_refuse_account_mails(delivery: HttpDelivery) -> None:
    with receiving() as receiver:
        for sender in (SlackSender(delivery), DiscordSender(delivery)):
            report = await sender.send(Target(receiver.url), verify_email(link="https://wb.example/v?t=1"))
            assert not report.delivered and not report.retryable and report.attempts == ()
    assert receiver.connections == 0
