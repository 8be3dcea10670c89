"""Notifications rendered from the templates: titles, text and HTML bodies, escaping, data, dedupe keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workbench.errors import InputError
from workbench.notify.message import (
    AgentSummary,
    EventKind,
    Notification,
    clip,
    custom,
    password_reset,
    run_completed,
    run_failed,
    schedule_missed,
    signup_notice,
    summary,
    verify_email,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "workbench" / "notify" / "templates"
EVIL = '<img src=x onerror=alert(1)> & "quotes"'


def test_every_kind_but_custom_has_both_templates() -> None:
    for kind in EventKind:
        if kind is not EventKind.CUSTOM:
            assert (TEMPLATES / f"{kind.value}.txt").is_file(), kind
            assert (TEMPLATES / f"{kind.value}.html").is_file(), kind


def test_run_failed_names_the_node_and_its_error() -> None:
    n = run_failed(agent_name=EVIL, run_id="r1", node=EVIL, error=f"Traceback:\n  {EVIL}")
    assert n.kind is EventKind.RUN_FAILED and n.dedupe_key == "run_failed:r1"
    assert n.title == f"Run of {EVIL} failed"
    assert f"Failing node: {EVIL}" in n.text and f"Traceback:\n  {EVIL}" in n.text
    assert n.html is not None and "<img" not in n.html
    escaped = "&lt;img src=x onerror=alert(1)&gt; &amp; &#34;quotes&#34;"
    assert n.html.count(escaped) >= 4  # <title>, heading, agent, node, error
    assert n.data == {
        "agent_name": EVIL,
        "run_id": "r1",
        "node": EVIL,
        "error": f"Traceback:\n  {EVIL}",
        "run_url": None,
    }


def test_run_completed_with_its_numbers_and_link() -> None:
    n = run_completed(
        agent_name="Digest",
        run_id="r2",
        run_url="https://wb.example/run?id=r2&x=1",
        duration=3725,
        tokens=1234567,
        cost=0.004,
    )
    assert n.title == "Run of Digest completed"
    for line in (
        "Duration: 1 h 2 min",
        "Tokens: 1,234,567",
        "Cost: $0.0040",
        "See the run: https://wb.example/run?id=r2&x=1",
    ):
        assert line in n.text
    assert 'href="https://wb.example/run?id=r2&amp;x=1"' in (n.html or "")
    bare = run_completed(agent_name="Digest", run_id="r3")
    assert "Duration" not in bare.text and "See the run" not in bare.text


def test_account_mails_carry_their_link() -> None:
    link = "https://wb.example/reset?token=abc&u=1"
    reset = password_reset(link=link, expires_in_minutes=30, name="Ada")
    assert reset.title == "Reset your Agent Workbench password"
    assert reset.text.startswith("Hello Ada,") and link in reset.text and "within 30 minutes" in reset.text
    assert 'href="https://wb.example/reset?token=abc&amp;u=1"' in (reset.html or "")
    assert "abc" not in reset.dedupe_key  # a dedupe key may be logged: never the token
    verify = verify_email(link="https://wb.example/verify?token=xyz")
    assert (
        verify.title == "Confirm your email address" and "https://wb.example/verify?token=xyz" in verify.text
    )
    assert "xyz" not in verify.dedupe_key


def test_account_mails_without_a_page_carry_their_token_and_route() -> None:
    route = "https://wb.example/api/v1/auth/password-reset/confirm"
    reset = password_reset(token="tok-abc", confirm_url=route, name=EVIL)
    assert "tok-abc" in reset.text and f"POST {route}" in reset.text and "tok-abc" in (reset.html or "")
    assert "<img" not in (reset.html or "") and "&lt;img" in (reset.html or "")
    assert "tok-abc" not in reset.dedupe_key
    verify = verify_email(token="tok-v", confirm_url="/api/v1/auth/verify-email")  # a path will do
    assert "tok-v" in verify.text and "POST /api/v1/auth/verify-email" in verify.text
    with pytest.raises(InputError, match="link or its token"):
        verify_email()
    with pytest.raises(InputError, match="confirm_url must be an http"):
        password_reset(token="t", confirm_url="javascript:alert(1)")
    notice = signup_notice(name=EVIL, reset_url="/api/v1/auth/password-reset")
    assert (
        notice.kind is EventKind.SIGNUP_NOTICE
        and notice.title == "Someone tried to sign up with your address"
    )
    assert "POST /api/v1/auth/password-reset" in notice.text and "&lt;img" in (notice.html or "")
    assert signup_notice().dedupe_key != signup_notice().dedupe_key  # each notice is news


@pytest.mark.parametrize("link", ["javascript:alert(1)", "data:text/html,x", "/relative", "https://"])
def test_links_must_be_web_urls(link: str) -> None:
    with pytest.raises(InputError, match="link must be an http"):
        password_reset(link=link)
    with pytest.raises(InputError, match="run_url must be an http"):
        run_failed(agent_name="a", run_id="r", node="n", error="e", run_url=link)


def test_summary_counts_runs_failures_tokens_cost() -> None:
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC)
    n = summary(
        period="weekly",
        start=start,
        end=end,
        runs=120,
        failures=7,
        tokens=2_500_000,
        cost=12.5,
        agents=[
            AgentSummary("Digest <daily>", 100, 2, 2_000_000, 10.0),
            AgentSummary("Other", 20, 5, 500_000, 2.5),
        ],
        url="https://wb.example/monitor",
        recipient="user-1",
    )
    assert n.title == "Your weekly Agent Workbench summary"
    for line in ("Runs: 120", "Failures: 7", "Tokens: 2,500,000", "Cost: $12.50", "2025-03-01 00:00 UTC"):
        assert line in n.text
    assert "- Digest <daily>: 100 runs, 2 failed, 2,000,000 tokens, $10.00" in n.text
    assert "Digest &lt;daily&gt;" in (n.html or "") and "<daily>" not in (n.html or "")
    assert n.dedupe_key == "summary:weekly:user-1:2025-03-01T00:00:00+00:00"
    assert json.loads(json.dumps(n.data))["agents"][0] == {
        "name": "Digest <daily>",
        "runs": 100,
        "failures": 2,
        "tokens": 2_000_000,
        "cost": 10.0,
    }
    with pytest.raises(InputError, match="period"):
        summary(period="hourly", start=start, end=end, runs=0, failures=0, tokens=0, cost=0)  # type: ignore[arg-type]


def test_schedule_missed() -> None:
    n = schedule_missed(
        agent_name="Nightly",
        schedule_id="s1",
        missed_at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
        reason="scheduler down",
    )
    assert n.title == "A schedule of Nightly missed its time"
    assert "did not run at 2025-01-02 03:04 UTC" in n.text and "Why: scheduler down" in n.text


def test_titles_are_one_line_and_bounded() -> None:
    n = custom(title="two\nlines\r\n  and   more", text="body")
    assert n.title == "two lines and more" and n.html is None
    assert len(custom(title="x" * 500, text="").title) == 200
    assert custom(title="   ", text="").title == "custom"
    assert custom(title="a", text="b").dedupe_key != custom(title="a", text="b").dedupe_key
    assert custom(title="a", text="b", dedupe_key="k").dedupe_key == "k"


def test_long_errors_are_cut_with_an_ellipsis() -> None:
    n = run_failed(agent_name="a", run_id="r", node="n", error="x" * 50_000)
    assert len(n.data["error"]) == 10_000 and n.data["error"].endswith("…")
    assert "x" * 3999 + "…" in n.text and "x" * 4001 not in n.text


def test_clip() -> None:
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdef", 4) == "abc…"
    assert clip("ab   cdef", 4) == "ab…"
    assert clip("abc", 0) == ""


def test_kind_from_a_string() -> None:
    assert Notification("run_failed", "t", "x").kind is EventKind.RUN_FAILED  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Notification("unknown", "t", "x")  # type: ignore[arg-type]
