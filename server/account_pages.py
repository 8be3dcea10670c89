"""The pages account mails link to: ``/reset-password`` (choose a new password) and ``/verify-email``
(confirm the address), served by the API server itself, so a mail's link is rooted where its routes
are (``WORKBENCH_PUBLIC_URL``, else the bind address: ``workbench.services.account_mail``).

How the one-time token is kept safe:

- **In the fragment** (``/reset-password#token=…``): browsers never send a fragment to a server, so the
  token is in no request line, access log (ours or a proxy's) or ``Referer``; the page's script reads
  it and takes it off the address bar. ``?token=`` works too (the same script), for links typed by
  hand; mails use the fragment.
- **Nothing happens on GET**: mail scanners and link previews open links. The token is used only when
  the person submits the form (a new password, typed twice; or the verify page's button), by the
  page's script posting JSON to the API's own routes (``POST /api/v1/auth/password-reset/confirm``,
  ``/verify-email``): the same ``AccountService`` calls, checks and errors as any API client, and the
  front door's rules unchanged (same origin, JSON). An expired or used token, a refused password, too
  many attempts or a server that cannot be reached are said in words; the page never shows the API's
  raw answer.
- **Headers**: ``Referrer-Policy: no-referrer`` (on every answer of this server; a ``fetch`` still
  sends its ``Origin``), ``Cache-Control: no-store``, and a policy (:data:`ACCOUNT_CSP`) allowing this
  server's stylesheets, icon and one script, requests to this server, and nothing else (no inline
  script, no form submission to anywhere: the form is only ever sent by the script).

Without JavaScript the page says so and shows the API call to make instead.
"""

from __future__ import annotations

from typing import Any

import jinja2
from litestar import MediaType, Request, Response

from server.config import ServerConfig
from server.pages import HERE, ICON_URL, UI_URL_STATE, asset_url, html_page
from workbench.services.account_mail import (
    RESET_CONFIRM_PATH,
    RESET_PAGE_PATH,
    RESET_REQUEST_PATH,
    VERIFY_PAGE_PATH,
    VERIFY_PATH,
)
from workbench.services.accounts import MIN_PASSWORD, RESET_TTL

ACCOUNT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The account pages' policy: this server's files and API, nothing inline, no form submission."""
MAX_PASSWORD = 1000
"""Characters of a password at most (the API's ``ResetIn``)."""
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGE_HEADERS = {
    "content-security-policy": ACCOUNT_CSP,
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
}


def _login_url(request: Request[Any, Any, Any]) -> str | None:
    """The web apps' login page, when this process serves them."""
    ui_url = request.app.state.get(UI_URL_STATE)
    return f"{ui_url}/login" if ui_url else None


def render_account_page(kind: str, *, accounts: bool, login_url: str | None) -> str:
    """The HTML of ``reset`` (``/reset-password``) or ``verify`` (``/verify-email``)."""
    reset = kind == "reset"
    data: dict[str, Any] = {}
    if accounts:
        data = {"kind": kind, "confirm": RESET_CONFIRM_PATH if reset else VERIFY_PATH}
        if reset:
            data.update(
                {"request": RESET_REQUEST_PATH, "min-password": MIN_PASSWORD, "max-password": MAX_PASSWORD}
            )
    fallback = (
        f'POST {RESET_CONFIRM_PATH}\n{{"token": "<the token>", "password": "<your new password>"}}'
        if reset
        else f'POST {VERIFY_PATH}\n{{"token": "<the token>"}}'
    )
    return _TEMPLATES.get_template("reset_password.html" if reset else "verify_email.html").render(
        kind=kind,
        title="Choose a new password" if reset else "Confirm your email address",
        accounts=accounts,
        data=data,
        fallback=fallback,
        login_url=login_url,
        min_password=MIN_PASSWORD,
        max_password=MAX_PASSWORD,
        valid_minutes=int(RESET_TTL.total_seconds() // 60),
        css_url=asset_url("home.css"),
        account_css_url=asset_url("account.css"),
        script_url=asset_url("account.js"),
        icon_url=ICON_URL,
    )


def _page(request: Request[Any, Any, Any], kind: str) -> Response[str]:
    config: ServerConfig = request.app.state.config
    html = render_account_page(kind, accounts=config.auth == "accounts", login_url=_login_url(request))
    return Response(html, media_type=MediaType.HTML, headers=PAGE_HEADERS)


@html_page(RESET_PAGE_PATH, "reset-password-page")
def reset_password_page(request: Request[Any, Any, Any]) -> Response[str]:
    """The page a reset mail links to: a new password, typed twice (the token is used on submit)."""
    return _page(request, "reset")


@html_page(VERIFY_PAGE_PATH, "verify-email-page")
def verify_email_page(request: Request[Any, Any, Any]) -> Response[str]:
    """The page a verification mail links to: a button that confirms the address."""
    return _page(request, "verify")
