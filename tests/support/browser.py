"""The browser the page tests drive: Debian's Chromium through Python Playwright (never a download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless, and nothing of Chromium's own that reaches for the network."""

TIMEOUT = 60_000
"""Milliseconds a page test waits for what a person would see: an upper bound, never a pause. Generous
because CI shares two cores between the suite's workers, their servers and the browsers."""


def async_playwright() -> Any:
    """Playwright's async entry point; the test fails (never skips) when the browser or the package is
    missing, saying how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}, which is missing: "
            "apt-get install -y chromium (never `playwright install`)"
        )
    try:
        from playwright.async_api import async_playwright as entry
    except ImportError:
        pytest.fail("the browser tests need Playwright: pip install -e '.[dev]'")
    return entry
