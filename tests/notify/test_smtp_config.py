"""WORKBENCH_SMTP_URL and WORKBENCH_MAIL_FROM: parsing, validation naming the variable, no password
in any message, repr or log line."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.logsafe import MASK, redact
from workbench.notify.smtp_config import SmtpConfig, check_mail_from

SECRET = "pa:ss@w/rd"
ENCODED = "pa%3Ass%40w%2Frd"


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"WORKBENCH_HOME": str(tmp_path), **values}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"smtp://user%40example.com:{ENCODED}@mail.example.com:587",
            SmtpConfig("mail.example.com", 587, "user@example.com", SECRET, False, "require"),
        ),
        (
            "smtp://user:pw@mail.example.com:587?starttls=off",
            SmtpConfig("mail.example.com", 587, "user", "pw", False, "off"),
        ),
        ("smtps://user:pw@mail.example.com", SmtpConfig("mail.example.com", 465, "user", "pw", True, "off")),
        ("smtp://relay.internal:25", SmtpConfig("relay.internal", 25, None, None, False, "auto")),
        ("smtp://relay.internal", SmtpConfig("relay.internal", 25, None, None, False, "auto")),
        (
            "smtp://[::1]:2525?starttls=require&timeout=5",
            SmtpConfig("::1", 2525, None, None, False, "require", 5.0),
        ),
    ],
)
def test_urls(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        (f"smtp://user:{ENCODED}@mail.example.com:notaport", "not a valid URL"),
        ("smtp://mail.example.com:70000", "not a valid URL"),
        ("smtp://:pw@mail.example.com", "password but no user name"),
        ("smtp://mail.example.com/path", "takes no path"),
        ("smtp://mail.example.com?starttls=maybe", "starttls must be one of require, auto, off"),
        ("smtps://mail.example.com?starttls=off", "starttls applies to smtp:// only"),
        ("smtp://mail.example.com?tls=1", "unknown option(s) tls"),
        ("smtp://mail.example.com?timeout=0", "timeout must be between"),
        ("smtp://mail.example.com?timeout=soon", "timeout must be a number"),
    ],
)
def test_bad_urls_name_the_variable_and_never_the_password(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_SMTP_URL") as raised:
        Settings.from_env(env(tmp_path, WORKBENCH_SMTP_URL=url, WORKBENCH_MAIL_FROM="bot@example.com"))
    assert message in str(raised.value)
    assert SECRET not in str(raised.value) and ENCODED not in str(raised.value)


def test_settings_read_both_and_never_print_the_url(tmp_path: Path) -> None:
    url = f"smtp://user:{ENCODED}@mail.example.com:587"
    settings = Settings.from_env(
        env(tmp_path, WORKBENCH_SMTP_URL=url, WORKBENCH_MAIL_FROM="Workbench <bot@example.com>")
    )
    assert settings.smtp_url == url and settings.mail_from == "Workbench <bot@example.com>"
    assert ENCODED not in repr(settings) and "smtp://" not in repr(settings)
    assert SECRET not in repr(SmtpConfig.from_url(url))
    assert Settings.from_env(env(tmp_path)).smtp_url is None


def test_a_server_needs_a_sender(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_MAIL_FROM must be set when WORKBENCH_SMTP_URL is"):
        Settings.from_env(env(tmp_path, WORKBENCH_SMTP_URL="smtp://relay.internal"))


@pytest.mark.parametrize("value", ["bot", "bot@", "a@x.example, b@y.example", "Bot <bot@x.example>\nBcc: y"])
def test_bad_senders(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_MAIL_FROM"):
        Settings.from_env(env(tmp_path, WORKBENCH_MAIL_FROM=value))


def test_good_senders() -> None:
    assert check_mail_from(" bot@example.com ") == "bot@example.com"
    assert check_mail_from('"Workbench, Inc." <bot@example.com>') == '"Workbench, Inc." <bot@example.com>'


@pytest.mark.parametrize(
    "url",
    [
        f"smtp://user:{ENCODED}@mail.example.com:587",
        f"smtps://user%40example.com:{ENCODED}@mail.example.com:465",
        "smtp://user:plain-secret@mail.example.com",
    ],
)
def test_log_redaction_covers_the_url(url: str) -> None:
    line = redact(f"cannot connect to {url}: refused")
    password = url.split("://", 1)[1].split("@")[-2].split(":", 1)[1]
    assert password not in line and MASK in line
    assert "mail.example.com" in line
    assert SmtpConfig.from_url(url).describe().startswith(("smtp://user", "smtps://user"))
    assert password not in SmtpConfig.from_url(url).describe()
