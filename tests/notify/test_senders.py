"""The registry of channels: names, configuration, refusals, and send() end to end."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.notify.conftest import FAST
from tests.notify.peers import receiving, smtp_server
from workbench.config import Settings
from workbench.errors import ConfigError, InputError, RegistryError
from workbench.notify.channel import Channel, ChannelName, Target
from workbench.notify.email import SmtpMailer
from workbench.notify.http_delivery import HttpDelivery
from workbench.notify.message import Notification, password_reset, run_failed
from workbench.notify.senders import SenderRegistry, default_senders
from workbench.notify.webhook import WebhookSender


def failed() -> Notification:
    return run_failed(agent_name="Agent", run_id="r1", node="n1", error="boom")


async def test_default_channels_without_mail(loopback_settings: Settings) -> None:
    senders = default_senders(loopback_settings, retry=FAST)
    assert senders.names() == [ChannelName.DISCORD, ChannelName.SLACK, ChannelName.WEBHOOK]
    assert all(isinstance(senders.get(name), Channel) for name in senders.names())
    with pytest.raises(ConfigError, match="WORKBENCH_SMTP_URL"):
        senders.get("email")
    with pytest.raises(ConfigError, match="notifier service"):
        senders.get(ChannelName.IN_APP)
    with pytest.raises(InputError, match="unknown notification channel 'pigeon'"):
        await senders.send("pigeon", "x", failed())
    await senders.aclose()


async def test_names_are_registered_once(loopback_settings: Settings) -> None:
    senders = SenderRegistry()
    async with HttpDelivery.from_settings(loopback_settings, FAST) as http:
        senders.register(WebhookSender(http))
        with pytest.raises(RegistryError, match="'webhook' has a sender already"):
            senders.register(WebhookSender(http))
        senders.register(WebhookSender(http), allow_override=True)


async def test_send_by_name_end_to_end(tmp_path: Path) -> None:
    with smtp_server() as (mail, smtp_port), receiving() as receiver:
        settings = Settings.from_env(
            {
                "WORKBENCH_HOME": str(tmp_path),
                "WORKBENCH_HTTP_ALLOW": "127.0.0.1",
                "WORKBENCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "WORKBENCH_MAIL_FROM": "bot@workbench.example",
            }
        )
        senders = default_senders(settings, retry=FAST)
        assert isinstance(senders.get("email"), SmtpMailer)
        by_mail = await senders.send("email", "ops@example.com", failed())
        by_hook = await senders.send(ChannelName.WEBHOOK, Target(receiver.url, "s3cret"), failed())
        refused = await senders.send("slack", receiver.url, password_reset(link="https://wb.example/r?t=1"))
        await senders.aclose()

    assert by_mail.delivered and by_hook.delivered, (by_mail.error, by_hook.error)
    subject = email.message_from_bytes(mail.messages[0].content, policy=email.policy.default)["Subject"]
    assert subject == "Run of Agent failed"
    assert [r.signature_ok for r in receiver.requests] == [True]
    assert not refused.delivered and refused.attempts == () and "email only" in (refused.error or "")
