"""A local OAuth 2.0 / OpenID Connect provider for the OAuth login tests: a real HTTP server on 127.0.0.1.

It speaks the protocol the way GitHub and Google do, each under its own prefix:

* ``/github``: ``/login/oauth/authorize`` (redirects back with ``code`` and ``state``),
  ``/login/oauth/access_token`` (form or JSON answer depending on ``Accept``; errors as HTTP 200 with
  an ``error`` member, as GitHub does), and the API at ``/github/api``: ``/user`` and ``/user/emails``.
* ``/google``: the discovery document ``/.well-known/openid-configuration``, ``/authorize``, ``/token``
  (with an RS256 ``id_token`` carrying ``nonce`` and ``at_hash``), ``/userinfo`` and the keys ``/certs``.

Both require PKCE (S256), check the client's id, secret and registered redirect URI, and make codes
single-use and short-lived. Nobody types a password here: the user "logged in at the provider" is
whatever the test puts in ``github_user`` / ``google_user``; ``deny`` makes the provider answer
``error=access_denied``. ``log`` records every request (method, path, parameters).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

GITHUB_CLIENT = ("gh-client-id", "gh-client-secret")
GOOGLE_CLIENT = ("google-client-id.apps.example", "google-client-secret")
CODE_TTL = 60


@dataclass
class GitHubUser:
    """A GitHub account as /user and /user/emails show it."""

    id: int
    login: str
    name: str | None
    emails: list[dict[str, Any]] = field(default_factory=list)

    @property
    def public_email(self) -> str | None:
        return next((e["email"] for e in self.emails if e.get("primary")), None)


@dataclass
class GoogleUser:
    """A Google account as the id_token and userinfo show it."""

    sub: str
    email: str
    email_verified: bool = True
    name: str | None = None


@dataclass
class Grant:
    flavour: str
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    user: Any
    nonce: str | None
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OAuthProvider:
    """The provider; ``start()`` it, point the server at ``url``, ``register`` the redirect URIs."""

    def __init__(self) -> None:
        self.clients = {GITHUB_CLIENT[0]: GITHUB_CLIENT[1], GOOGLE_CLIENT[0]: GOOGLE_CLIENT[1]}
        self.flavour_of = {GITHUB_CLIENT[0]: "github", GOOGLE_CLIENT[0]: "google"}
        self.redirect_uris: set[str] = set()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"})
        self.reset()
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, tuple[str, Any, str]] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reset(self) -> None:
        """The default users, and honest behaviour."""
        self.github_user = GitHubUser(
            4242, "octo", "Octo Cat", [{"email": "octo@example.com", "primary": True, "verified": True}]
        )
        self.google_user = GoogleUser("google-sub-1", "gina@example.com", True, "Gina")
        self.deny = False
        self.signing_key = self.key
        """The key id_tokens are signed with (a test may swap in a foreign one)."""
        self.id_token_claims: dict[str, Any] = {}
        """Claims a test wants to override in the next id_tokens (e.g. a wrong nonce or audience)."""

    # ---- lifetime ----------------------------------------------------------------------------------

    def start(self) -> OAuthProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def register(self, server_base_url: str) -> None:
        """Accept the callbacks of a Workbench server at ``server_base_url``."""
        for flavour in ("github", "google"):
            self.redirect_uris.add(f"{server_base_url}/api/v1/auth/oauth/{flavour}/callback")

    def env(self) -> dict[str, str]:
        """The server's environment for using this provider."""
        return {
            "WORKBENCH_OAUTH_GITHUB_CLIENT_ID": GITHUB_CLIENT[0],
            "WORKBENCH_OAUTH_GITHUB_CLIENT_SECRET": GITHUB_CLIENT[1],
            "WORKBENCH_OAUTH_GITHUB_BASE_URL": f"{self.url}/github",
            "WORKBENCH_OAUTH_GITHUB_API_URL": f"{self.url}/github/api",
            "WORKBENCH_OAUTH_GOOGLE_CLIENT_ID": GOOGLE_CLIENT[0],
            "WORKBENCH_OAUTH_GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT[1],
            "WORKBENCH_OAUTH_GOOGLE_METADATA_URL": f"{self.url}/google/.well-known/openid-configuration",
        }

    @property
    def issuer(self) -> str:
        return f"{self.url}/google"

    # ---- protocol ----------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name", "iss", "aud", "exp", "iat"],
        }

    def authorize(self, flavour: str, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        # A bad client or redirect URI is shown to the user, never redirected to (RFC 6749 4.1.2.1).
        if self.flavour_of.get(client_id) != flavour:
            return 400, {}, b"unknown client_id"
        if redirect_uri not in self.redirect_uris:
            return 400, {}, b"redirect_uri is not registered for this client"
        state = q.get("state")

        def back(params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": redirect_uri + sep + urlencode(params)}, b""

        if q.get("response_type") != "code":
            return back({"error": "unsupported_response_type"})
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            return back({"error": "invalid_request", "error_description": "PKCE (S256) is required"})
        scope = q.get("scope", "")
        if flavour == "google" and "openid" not in scope.split():
            return back({"error": "invalid_scope"})
        if self.deny:
            return back({"error": "access_denied"})
        code = secrets.token_urlsafe(24)
        user = self.github_user if flavour == "github" else self.google_user
        with self._lock:
            self.codes[code] = Grant(
                flavour, client_id, redirect_uri, q["code_challenge"], scope, user, q.get("nonce"),
                time.time() + CODE_TTL,
            )  # fmt: skip
        return back({"code": code})

    def token(
        self, flavour: str, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        def answer(status: int, doc: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
            if flavour == "github":
                status = 200  # GitHub reports token errors with 200
                if "application/json" not in headers.get("accept", ""):
                    return (
                        status,
                        {"Content-Type": "application/x-www-form-urlencoded"},
                        urlencode(doc).encode(),
                    )
            return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()

        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (
            client_id is None
            or self.clients.get(client_id) != secret
            or self.flavour_of[client_id] != flavour
        ):
            return answer(401, {"error": "invalid_client"})
        if form.get("grant_type") != "authorization_code":
            return answer(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None or grant.expires < time.time() or grant.client_id != client_id:
            return answer(400, {"error": "invalid_grant", "error_description": "bad or used code"})
        if form.get("redirect_uri") != grant.redirect_uri:
            return answer(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return answer(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        access = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[access] = (flavour, grant.user, grant.scope)
        if flavour == "github":
            return answer(200, {"access_token": access, "token_type": "bearer", "scope": grant.scope})
        user: GoogleUser = grant.user
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + 3600,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "at_hash": _b64(hashlib.sha256(access.encode()).digest()[:16]),
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **self.id_token_claims,
        }
        header = {"alg": "RS256", "kid": self.signing_key.kid or "x"}
        id_token = jwt.encode(header, claims, self.signing_key)
        return answer(
            200,
            {
                "access_token": access,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": grant.scope,
                "id_token": id_token,
            },
        )

    def bearer(self, headers: dict[str, str]) -> tuple[str, Any, str] | None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith(("bearer ", "token ")):
            return None
        return self.tokens.get(auth.split(" ", 1)[1].strip())

    def resource(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        def doc(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
            return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

        held = self.bearer(headers)
        if held is None:
            return doc(401, {"message": "Bad credentials"})
        flavour, user, scope = held
        if path == "/github/api/user" and flavour == "github":
            return doc(
                200, {"id": user.id, "login": user.login, "name": user.name, "email": user.public_email}
            )
        if path == "/github/api/user/emails" and flavour == "github":
            if "user:email" not in scope.split():
                return doc(404, {"message": "Not Found"})
            return doc(200, user.emails)
        if path == "/google/userinfo" and flavour == "google":
            return doc(
                200,
                {
                    "sub": user.sub,
                    "email": user.email,
                    "email_verified": user.email_verified,
                    "name": user.name,
                },
            )
        return doc(404, {"message": "Not Found"})

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()} if method == "POST" else {}
        self.log.append((method, parts.path, {**query, **form}))
        path = parts.path
        json_doc = {"Content-Type": "application/json"}
        if method == "GET" and path == "/google/.well-known/openid-configuration":
            return 200, json_doc, json.dumps(self.discovery()).encode()
        if method == "GET" and path == "/google/certs":
            return 200, json_doc, json.dumps({"keys": [self.key.as_dict(private=False)]}).encode()
        if method == "GET" and path == "/github/login/oauth/authorize":
            return self.authorize("github", query)
        if method == "GET" and path == "/google/authorize":
            return self.authorize("google", query)
        if method == "POST" and path == "/github/login/oauth/access_token":
            return self.token("github", form, headers)
        if method == "POST" and path == "/google/token":
            return self.token("google", form, headers)
        if method == "GET":
            return self.resource(path, headers)
        return 405, {}, b""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, payload = provider.handle(self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
