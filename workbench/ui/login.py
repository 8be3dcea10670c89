"""The login page (``/login``) and log out (``/logout``) of the UI server: plain Tornado handlers,
so the page works before any script has loaded and the session cookie is set by the server that
reads it.

``GET /login`` shows an email + password form (and a button per OAuth provider configured on the
API); ``POST /login`` checks them with ``wb.accounts.login``, sets the session cookies
(``workbench.ui.session``) and goes on to the page asked for (``next``, a path on this server), or
shows the form again with the reason. ``GET /logout`` ends the session (its refresh token stops
working) and clears the cookies. Without accounts there is nobody to log in: both go to Home.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tornado.web import RequestHandler

from workbench.errors import AuthError, StoreError, TooManyAttempts
from workbench.ui.gate import OAUTH_LABELS, Gate
from workbench.ui.session import REFRESH_COOKIE, login_cookies, logout_cookies
from workbench.ui.shell import SHELL_CSS, TEMPLATES, render_header

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The login page loads its stylesheet and nothing else, and posts only to this server."""
MAX_FIELD = 1000


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this server, else ``/`` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


class _GateHandler(RequestHandler):
    """A handler of the UI server that knows its :class:`~workbench.ui.gate.Gate`."""

    gate: Gate

    def initialize(self, gate: Gate) -> None:
        """Tornado's per-request set-up: the gate comes from the route."""
        self.gate = gate

    def set_default_headers(self) -> None:
        """Every answer: the page's security headers."""
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")  # no-referrer: the form posts Origin: null
        self.set_header("Cache-Control", "no-store")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors in the page's own look (a refused Host or Origin, a malformed post)."""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(error_page(status_code, self._reason))


class LoginHandler(_GateHandler):
    """``/login``: the form, and its post."""

    def get(self) -> None:
        """The form (Home without accounts)."""
        self.gate.check(self, changes=False)
        if self.gate.settings.local:
            self.redirect("/")
            return
        self._form(next_path=safe_next(self.get_query_argument("next", "/")))

    async def post(self) -> None:
        """Log in: cookies and on to ``next``, or the form again with the reason."""
        self.gate.check(self, changes=True)
        next_path = safe_next(self.get_body_argument("next", "/"))
        if self.gate.settings.local:
            self.redirect(next_path, status=303)
            return
        email = self.get_body_argument("email", "").strip()[:MAX_FIELD]
        password = self.get_body_argument("password", "")[:MAX_FIELD]
        if not email or not password:
            self._form(next_path, email, "Enter your email and your password.", status=400)
            return
        accounts = self.gate.resolver.wb.accounts
        assert accounts is not None
        try:
            pair = await accounts.login(email, password)
        except TooManyAttempts as exc:
            self.set_header("Retry-After", str(exc.retry_after))
            self._form(
                next_path, email, f"Too many failed logins: try again in {exc.retry_after} s.", status=429
            )
            return
        except AuthError:
            self._form(next_path, email, "Wrong email or password.", status=401)
            return
        except StoreError:
            self._form(
                next_path, email, "The database cannot be reached right now: try again shortly.", status=503
            )
            return
        self.gate.set_cookies(self, login_cookies(pair))
        self.redirect(next_path, status=303)

    def _form(self, next_path: str, email: str = "", error: str | None = None, *, status: int = 200) -> None:
        settings = self.gate.settings
        back_to = f"{self.request.protocol}://{self.request.host}{next_path}"
        providers = [
            {"label": OAUTH_LABELS.get(name, name), "href": settings.oauth_login_url(name, back_to)}
            for name in settings.oauth_providers
        ]
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            TEMPLATES.get_template("login.html").render(
                css_url=SHELL_CSS,
                header=render_header([], "", None, show_user=False, can_log_out=False),
                error=error,
                next=next_path,
                email=email,
                providers=providers,
                api_docs=f"{settings.api_url}/api/docs",
                reset_url=f"{settings.api_url}/reset-password",
            )
        )


class LogoutHandler(_GateHandler):
    """``/logout``: end the session and go to the login page."""

    async def get(self) -> None:
        """Log out (refused from another site's page, so a foreign page cannot log users out)."""
        self.gate.check(self, changes=True)
        if self.gate.settings.local:
            self.redirect("/")
            return
        try:
            await self.gate.resolver.logout(self.get_cookie(REFRESH_COOKIE))
        except StoreError:
            pass  # the cookies go anyway; the refresh token expires on its own
        self.gate.set_cookies(self, logout_cookies())
        self.redirect("/login")


def error_page(status: int, reason: str) -> str:
    """A short HTML page saying what went wrong, in the apps' look."""
    return TEMPLATES.get_template("error.html").render(
        css_url=SHELL_CSS,
        header=render_header([], "", None, show_user=False, can_log_out=False),
        status=status,
        reason=reason,
    )
