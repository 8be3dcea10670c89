"""/api/v1/auth/oauth: log in with GitHub or Google (OAuth 2.0 authorization code flow, through authlib).

``GET /auth/oauth/{provider}/login`` redirects the browser to the provider with a fresh ``state``, a
PKCE S256 challenge and, for OpenID Connect (Google), a ``nonce``. Those values travel in a short-lived
(10 minutes) cookie that is encrypted and authenticated with a key derived from the server secret, so
any server process sharing the secret can finish the flow and nothing is kept server-side. The
provider sends the browser back to ``GET /auth/oauth/{provider}/callback?code&state``: the state must
match the cookie's; the code is exchanged (authlib's httpx-based ``AsyncOAuth2Client``, with the PKCE
verifier), the user is read (GitHub: ``/user`` and ``/user/emails``; Google: the signed ``id_token``,
checked against the provider's keys, issuer, audience and nonce, and the OIDC userinfo endpoint), and
``AccountService.oauth_login`` turns the identity into our access and refresh tokens.

Joining accounts: an identity seen before logs into its own account; otherwise it joins the account
with the same address only when the provider says the address is verified AND the account verified it
too. An existing account whose address was never verified (anyone can sign up with any address) is
not joined: the callback answers 409 saying that a password reset for the address takes the account
over (it verifies the address and ends everything the account's maker had). An address the provider
does not vouch for is never claimed: such a login gets an account under a placeholder address.

Configuration (environment):

* ``WORKBENCH_OAUTH_{GITHUB,GOOGLE}_CLIENT_ID`` / ``_CLIENT_SECRET``: a provider is enabled when both are set.
* ``WORKBENCH_OAUTH_GITHUB_BASE_URL`` (``https://github.com``) and ``WORKBENCH_OAUTH_GITHUB_API_URL``
  (``https://api.github.com``): GitHub's web and API roots (GitHub Enterprise, tests).
* ``WORKBENCH_OAUTH_GOOGLE_METADATA_URL``: the OIDC discovery document
  (``https://accounts.google.com/.well-known/openid-configuration``).
* ``WORKBENCH_PUBLIC_URL``: the URL browsers reach this server at; the redirect URI registered with the
  provider is ``{public URL}/api/v1/auth/oauth/{provider}/callback`` (the request's own base URL when unset).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import authlib.deprecate  # noqa: F401  (installs authlib's "always warn" filter before ours below)
import httpx
from authlib.oidc.core import CodeIDToken
from cachetools import TTLCache
from cryptography.fernet import Fernet, InvalidToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from litestar import Controller, Request, Response, get
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter, PathParameter, QueryParameter
from litestar.response import Redirect

from server.config import ServerConfig
from server.deps import errors, workbench_of
from server.pages import UI_URL_STATE
from server.schemas import ErrorDetail, ErrorOut, TokenOut
from workbench.ui.session import login_cookies

with warnings.catch_warnings():  # authlib prefers httpx2 and warns when it falls back to httpx
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

try:  # authlib's httpx integration uses httpx2 when it is installed (huggingface_hub brings it)
    import httpx2

    HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - depends on what else is installed
    HTTP_ERRORS = (httpx.HTTPError,)

log = logging.getLogger(__name__)

PROVIDERS = ("github", "google")
COOKIE = "wb_oauth"
COOKIE_PATH = "/api/v1/auth/oauth"
FLOW_TTL = 600
"""Seconds a login may take between the redirect to the provider and the callback."""
HTTP_TIMEOUT = 10.0
METADATA_TTL = 3600.0
GITHUB_BASE = "https://github.com"
GITHUB_API = "https://api.github.com"
GOOGLE_METADATA = "https://accounts.google.com/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class Provider:
    """One configured identity provider."""

    name: str
    client_id: str
    client_secret: str
    scope: str
    oidc: bool
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str | None = None
    metadata_url: str | None = None


def _provider(request: Request[Any, Any, Any], name: str) -> Provider:
    """The provider ``name`` if this server has it configured; 404 otherwise."""
    config: ServerConfig = request.app.state.config
    entry = config.oauth.get(name) if name in PROVIDERS else None
    if entry is None:
        raise NotFoundException(f"OAuth provider {name!r} is not configured on this server")
    client_id, client_secret, metadata_url = entry
    if name == "github":
        base = os.environ.get("WORKBENCH_OAUTH_GITHUB_BASE_URL", GITHUB_BASE).rstrip("/")
        return Provider(
            name,
            client_id,
            client_secret,
            scope="read:user user:email",
            oidc=False,
            authorize_url=f"{base}/login/oauth/authorize",
            token_url=f"{base}/login/oauth/access_token",
            api_url=os.environ.get("WORKBENCH_OAUTH_GITHUB_API_URL", GITHUB_API).rstrip("/"),
        )
    return Provider(
        name, client_id, client_secret, scope="openid email profile", oidc=True,
        metadata_url=metadata_url or GOOGLE_METADATA,
    )  # fmt: skip


# ---- provider documents (OIDC discovery, signing keys), cached per process -------------------------

_cache: TTLCache[str, dict[str, Any]] = TTLCache(64, METADATA_TTL, timer=time.monotonic)
"""Provider documents by URL, for ``METADATA_TTL`` seconds."""


async def _fetch_json(url: str, *, force: bool = False) -> dict[str, Any]:
    hit = _cache.get(url)
    if hit is not None and not force:
        return hit
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
        resp = await client.get(url, headers={"Accept": "application/json"})
        resp.raise_for_status()
        doc = resp.json()
    if not isinstance(doc, dict):
        raise ValueError(f"{url} did not return a JSON object")
    _cache[url] = doc
    return doc


async def _endpoints(provider: Provider) -> dict[str, Any]:
    """authorization_endpoint, token_endpoint (and for OIDC the rest of the discovery document)."""
    if not provider.oidc:
        return {"authorization_endpoint": provider.authorize_url, "token_endpoint": provider.token_url}
    assert provider.metadata_url is not None
    doc = await _fetch_json(provider.metadata_url)
    missing = [
        k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
    ]
    if missing:
        raise ValueError(f"the discovery document lacks {', '.join(missing)}")
    return doc


def _apps_page(request: Request[Any, Any, Any], page: str) -> str:
    """``page`` when it is a page of this server's web apps (same host as this request, the apps'
    port); otherwise a 400: the login must not send the browser, signed in, anywhere else."""
    apps = request.app.state.get(UI_URL_STATE)
    target = urlsplit(page)
    if apps:
        home = urlsplit(apps)
        here = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        same_place = (
            target.scheme == home.scheme
            and target.port == home.port
            and target.hostname in {home.hostname, here}
            and not target.username
        )
        if same_place:
            return page
    raise ClientException("next: must be a page of this server's web apps", status_code=400)


# ---- the flow cookie -------------------------------------------------------------------------------


def _fernet(request: Request[Any, Any, Any]) -> Fernet:
    keys = workbench_of(request).keys
    assert keys is not None
    key = hmac.new(keys.api_keys, b"workbench oauth flow v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _redirect_uri(request: Request[Any, Any, Any], provider: str) -> str:
    config: ServerConfig = request.app.state.config
    base = (config.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/api/v1/auth/oauth/{provider}/callback"


def _bad_state(message: str) -> ClientException:
    return ClientException(f"{message}; start the login again", status_code=400)


def _gateway_error(request: Request[Any, Any, Any], message: str) -> Response[Any]:
    """502 in the API's error shape: the provider could not be reached or answered nonsense."""
    detail = ErrorDetail(
        status=502,
        code="bad_gateway",
        message=message,
        request_id=request.scope.get("state", {}).get("request_id"),
    )
    return Response(ErrorOut(error=detail).model_dump(mode="json"), status_code=502)


# ---- reading the user ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says the user is."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


async def _github_identity(client: AsyncOAuth2Client, provider: Provider) -> Identity:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    resp = await client.get(f"{provider.api_url}/user", headers=headers)
    resp.raise_for_status()
    user = resp.json()
    if not isinstance(user, dict) or user.get("id") in (None, ""):
        raise ValueError("GitHub's /user answer has no id")
    email, verified = None, False
    resp = await client.get(f"{provider.api_url}/user/emails", headers=headers)
    if resp.status_code == 200 and isinstance(resp.json(), list):
        addresses = [e for e in resp.json() if isinstance(e, dict) and e.get("email")]
        best = sorted(addresses, key=lambda e: (not e.get("verified"), not e.get("primary")))
        if best:
            email, verified = str(best[0]["email"]), bool(best[0].get("verified"))
    else:  # the token lacks user:email: only the public address, unverified
        email = user.get("email") or None
    return Identity(str(user["id"]), email, verified, user.get("name") or user.get("login"))


async def _oidc_identity(
    client: AsyncOAuth2Client, provider: Provider, metadata: dict[str, Any], token: dict[str, Any], nonce: str
) -> Identity:
    claims: dict[str, Any] = {}
    id_token = token.get("id_token")
    if id_token:
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"], strict_check_header=False)
        jwks = await _fetch_json(metadata["jwks_uri"])
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), registry=registry)  # type: ignore[arg-type]
        except InvalidKeyIdError:  # the provider rotated its keys
            jwks = await _fetch_json(metadata["jwks_uri"], force=True)
            decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), registry=registry)  # type: ignore[arg-type]
        checked = CodeIDToken(
            decoded.claims,
            decoded.header,
            # authlib checks azp but not aud by itself: the token must be meant for us (OIDC Core 3.1.3.7).
            {
                "iss": {"essential": True, "values": [metadata["issuer"]]},
                "aud": {"essential": True, "values": [provider.client_id]},
            },
            {"nonce": nonce, "client_id": provider.client_id, "access_token": token.get("access_token")},
        )
        checked.validate(leeway=120)
        claims = dict(decoded.claims)
    if metadata.get("userinfo_endpoint"):
        resp = await client.get(metadata["userinfo_endpoint"])
        resp.raise_for_status()
        info = resp.json()
        if not isinstance(info, dict):
            raise ValueError("the userinfo answer is not a JSON object")
        if claims and info.get("sub") != claims.get("sub"):
            raise JoseError("the userinfo subject differs from the id_token's")
        claims.update(info)
    elif not claims:
        raise ValueError("the provider gave neither an id_token nor a userinfo endpoint")
    if not claims.get("sub"):
        raise ValueError("the provider did not name the user (no sub)")
    verified = claims.get("email_verified")
    if isinstance(verified, str):  # some providers send "true"
        verified = verified.lower() == "true"
    return Identity(str(claims["sub"]), claims.get("email") or None, verified is True, claims.get("name"))


# ---- routes ----------------------------------------------------------------------------------------


class OAuthController(Controller):
    """Log in with an external identity provider."""

    path = "/auth/oauth"
    tags = ["auth"]

    @get(
        "/{provider:str}/login",
        status_code=302,
        summary="Start an OAuth login",
        response_description="Redirect to the provider's authorization page.",
        responses={**errors(404), 502: ResponseSpec(ErrorOut, description="The provider is unreachable.")},
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        provider: Annotated[str, PathParameter(description="`github` or `google` (when configured).")],
        next_page: str | None = QueryParameter(
            name="next",
            default=None,
            max_length=2000,
            description="A page of the web apps to come back to, signed in (a session cookie is set).",
        ),
    ) -> Redirect:
        """Redirect to the provider with state, PKCE and (OpenID Connect) nonce; a cookie carries them to
        the callback."""
        conf = _provider(request, provider)
        back_to = _apps_page(request, next_page) if next_page is not None else ""
        try:
            endpoints = await _endpoints(conf)
        except (*HTTP_ERRORS, ValueError) as exc:
            log.warning("OAuth %s discovery failed: %s", provider, exc)
            return _gateway_error(request, f"{provider} is unreachable or misconfigured")  # type: ignore[return-value]
        redirect_uri = _redirect_uri(request, provider)
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(24) if conf.oidc else ""
        extra = {"nonce": nonce} if conf.oidc else {}
        async with AsyncOAuth2Client(
            conf.client_id, scope=conf.scope, redirect_uri=redirect_uri, code_challenge_method="S256"
        ) as client:
            url, _ = client.create_authorization_url(
                endpoints["authorization_endpoint"], state=state, code_verifier=verifier, **extra
            )
        flow = {"p": provider, "s": state, "v": verifier, "n": nonce, "r": redirect_uri, "b": back_to}
        cookie = _fernet(request).encrypt(json.dumps(flow).encode()).decode()
        response = Redirect(url, status_code=302)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=FLOW_TTL,
            path=COOKIE_PATH,
            httponly=True,
            secure=redirect_uri.startswith("https://"),
            samesite="lax",
        )
        return response

    @get(
        "/{provider:str}/callback",
        summary="Finish an OAuth login",
        responses={
            **errors(404, 409, 422),
            502: ResponseSpec(ErrorOut, description="The provider is unreachable or answered nonsense."),
        },
    )
    async def callback(
        self,
        request: Request[Any, Any, Any],
        provider: Annotated[str, PathParameter(description="`github` or `google` (when configured).")],
        code: str | None = Parameter(default=None, max_length=2000, description="The authorization code."),
        oauth_state: str | None = QueryParameter(
            name="state", default=None, max_length=500, description="The state sent at login."
        ),
        error: str | None = Parameter(default=None, max_length=200, description="Set when the user refused."),
    ) -> Response[TokenOut]:
        """Check the state, exchange the code, read the user, and return our access and refresh tokens
        (a first login creates the account; an address verified by the provider AND by an existing
        account joins that account; 409 when the account has not verified it: reset its password)."""
        conf = _provider(request, provider)
        raw = request.cookies.get(COOKIE)
        if not raw:
            raise _bad_state("no OAuth login in progress (the flow cookie is missing)")
        try:
            flow = json.loads(_fernet(request).decrypt(raw.encode(), ttl=FLOW_TTL))
        except (InvalidToken, ValueError):
            raise _bad_state("the OAuth login expired or its cookie was altered") from None
        if flow.get("p") != provider:
            raise _bad_state(f"the OAuth login in progress is not with {provider}")
        if not oauth_state or not hmac.compare_digest(str(flow.get("s", "")), oauth_state):
            raise _bad_state("the state does not match the OAuth login in progress")
        if error:
            raise NotAuthorizedException(f"{provider} did not authorize the login: {error}")
        if not code:
            raise _bad_state("the provider sent no authorization code")
        try:
            endpoints = await _endpoints(conf)
            async with AsyncOAuth2Client(
                conf.client_id,
                conf.client_secret,
                token_endpoint_auth_method="client_secret_post",
                redirect_uri=flow["r"],
                code_challenge_method="S256",
                timeout=HTTP_TIMEOUT,
            ) as client:
                token = await client.fetch_token(
                    endpoints["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=flow["v"],
                    redirect_uri=flow["r"],
                )
                if conf.oidc:
                    identity = await _oidc_identity(client, conf, endpoints, token, flow["n"])
                else:
                    identity = await _github_identity(client, conf)
        except OAuthError as exc:
            raise NotAuthorizedException(f"{provider} refused the authorization code: {exc.error}") from None
        except JoseError as exc:
            log.warning("OAuth %s: id_token rejected: %s", provider, exc)
            raise NotAuthorizedException(f"{provider}'s id_token is not valid") from None
        except (*HTTP_ERRORS, ValueError, KeyError) as exc:
            log.warning("OAuth %s: provider error: %r", provider, exc)
            return _gateway_error(request, f"{provider} is unreachable or answered unexpectedly")
        accounts = workbench_of(request).accounts
        assert accounts is not None
        pair = await accounts.oauth_login(
            provider, identity.subject, identity.email, identity.email_verified, identity.name
        )
        back_to = flow.get("b") or ""
        if back_to:  # started from the web apps' login page: sign the browser in and go back there
            redirect = Redirect(back_to, status_code=303)
            for cookie in login_cookies(pair):
                redirect.set_cookie(
                    cookie.name,
                    cookie.value,
                    max_age=cookie.max_age,
                    path="/",
                    httponly=True,
                    secure=back_to.startswith("https://"),
                    samesite="lax",
                )
            redirect.delete_cookie(COOKIE, path=COOKIE_PATH)
            return redirect  # type: ignore[return-value]
        response = Response(TokenOut(**pair.to_dict()), status_code=200)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response
