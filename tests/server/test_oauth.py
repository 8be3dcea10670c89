"""OAuth login with GitHub and Google against a local OAuth 2.0 / OIDC provider (real HTTP on both ends),
and the account takeover the outside probe found (issue 10): an identity joins an existing account by
email only when both sides verified the address, and a password reset takes over a planted account."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.server.api_support import database_fetch, mailed_token
from tests.server.oauth_provider import GITHUB_CLIENT, GOOGLE_CLIENT, GitHubUser, GoogleUser, OAuthProvider
from tests.support.servers import ServerProcess, free_port, start_server, stop_server

OAUTH = "/api/v1/auth/oauth"


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    p = OAuthProvider().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def oauth_server(
    tmp_path_factory: pytest.TempPathFactory, provider: OAuthProvider
) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("srv-oauth")
    server = start_server(
        base / "home",
        "accounts",
        {"WORKBENCH_RATE_LIMIT": "off", "WORKBENCH_DEV_MAIL_LOG": str(base / "mail.jsonl"), **provider.env()},
    )
    provider.register(server.base_url)
    yield server
    stop_server(server)


@pytest.fixture(autouse=True)
def fresh_provider(provider: OAuthProvider) -> Iterator[None]:
    """Each test starts with the provider's default users and honest behaviour."""
    yield
    provider.reset()


def login(server: ServerProcess, flavour: str) -> httpx.Response:
    """The whole browser dance: our login -> provider -> our callback, following redirects."""
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        return client.get(f"{server.base_url}{OAUTH}/{flavour}/login")


def me(server: ServerProcess, token: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert body["error"]["request_id"] == r.headers["x-request-id"]
    return body["error"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# ---- happy paths -----------------------------------------------------------------------------------


def test_github_login_creates_the_user_then_finds_it(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    provider.log.clear()
    r = login(oauth_server, "github")
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}

    # Two redirects: to the provider's authorize page (state, PKCE), and back to our callback.
    to_provider, back = r.history
    assert to_provider.status_code == 302 and back.status_code == 302
    assert to_provider.headers["location"].startswith(f"{provider.url}/github/login/oauth/authorize?")
    sent = query(to_provider.headers["location"])
    assert sent["client_id"] == GITHUB_CLIENT[0]
    assert sent["response_type"] == "code"
    assert sent["redirect_uri"] == f"{oauth_server.base_url}{OAUTH}/github/callback"
    assert set(sent["scope"].split()) == {"read:user", "user:email"}
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 32
    cookie = to_provider.headers["set-cookie"]
    assert "HttpOnly" in cookie and f"Path={OAUTH}" in cookie and "SameSite=lax" in cookie
    assert back.headers["location"].startswith(f"{oauth_server.base_url}{OAUTH}/github/callback?code=")
    assert query(back.headers["location"])["state"] == sent["state"]

    # The server exchanged the code with the PKCE verifier and its secret, then read /user and /user/emails.
    calls = [(m, p) for m, p, _ in provider.log]
    assert ("POST", "/github/login/oauth/access_token") in calls
    assert ("GET", "/github/api/user") in calls and ("GET", "/github/api/user/emails") in calls
    exchange = next(params for m, p, params in provider.log if p.endswith("/access_token"))
    assert exchange["client_secret"] == GITHUB_CLIENT[1] and exchange["code_verifier"]

    user = me(oauth_server, tokens["access_token"])
    assert user["email"] == "octo@example.com"
    assert user["email_verified"] is True
    assert user["name"] == "Octo Cat"

    # Logging in again: the same user, new tokens.
    again = login(oauth_server, "github")
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] != tokens["refresh_token"]
    assert me(oauth_server, again.json()["access_token"])["id"] == user["id"]

    # The refresh token works like a password login's.
    r = httpx.post(
        f"{oauth_server.base_url}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 200, r.text


def test_google_login_checks_the_id_token_and_links_a_verified_email(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    provider.log.clear()
    r = login(oauth_server, "google")
    assert r.status_code == 200, r.text
    sent = query(r.history[0].headers["location"])
    assert r.history[0].headers["location"].startswith(f"{provider.url}/google/authorize?")
    assert sent["client_id"] == GOOGLE_CLIENT[0]
    assert set(sent["scope"].split()) == {"openid", "email", "profile"}
    assert sent["nonce"] and sent["code_challenge_method"] == "S256"
    paths = [p for _, p, _ in provider.log]
    assert "/google/token" in paths and "/google/userinfo" in paths
    gina = me(oauth_server, r.json()["access_token"])
    assert (gina["email"], gina["name"], gina["email_verified"]) == ("gina@example.com", "Gina", True)
    assert me(oauth_server, login(oauth_server, "google").json()["access_token"])["id"] == gina["id"]

    # A Google account with the verified address of the GitHub user logs into that same account.
    octo = me(oauth_server, login(oauth_server, "github").json()["access_token"])
    provider.google_user = GoogleUser("google-sub-octo", "OCTO@example.com", True, "Octo G.")
    linked = login(oauth_server, "google")
    assert linked.status_code == 200, linked.text
    assert me(oauth_server, linked.json()["access_token"])["id"] == octo["id"]


def test_a_github_user_without_an_email_still_gets_an_account(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    provider.github_user = GitHubUser(777, "ghost", None, [])
    r = login(oauth_server, "github")
    assert r.status_code == 200, r.text
    user = me(oauth_server, r.json()["access_token"])
    assert user["email_verified"] is False
    assert user["name"] == "ghost"
    assert me(oauth_server, login(oauth_server, "github").json()["access_token"])["id"] == user["id"]


# ---- refusals --------------------------------------------------------------------------------------


def test_state_tampering_and_replays_are_refused(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    base = oauth_server.base_url
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{base}{OAUTH}/github/login")
        assert start.status_code == 302
        at_provider = browser.get(start.headers["location"])
        assert at_provider.status_code == 302
        callback = at_provider.headers["location"]
        params = query(callback)
        cookie = browser.cookies.get("wb_oauth")
        assert cookie

        # Another state than the one of this browser's login.
        forged = f"{base}{OAUTH}/github/callback?" + urlencode(
            {**params, "state": params["state"][:-2] + "xx"}
        )
        assert "state" in error_of(browser.get(forged), 400)["message"]
        # No state at all.
        no_state = f"{base}{OAUTH}/github/callback?" + urlencode({"code": params["code"]})
        error_of(browser.get(no_state), 400)
        # The right state from a browser without the login cookie (login CSRF).
        with httpx.Client(timeout=30) as other:
            assert "cookie" in error_of(other.get(callback), 400)["message"]
            # A forged or altered cookie.
            other.cookies.set("wb_oauth", cookie[:-4] + "AAAA", path=OAUTH)
            error_of(other.get(callback), 400)
        # The github login's cookie at the google callback.
        google_cb = f"{base}{OAUTH}/google/callback?" + urlencode(params)
        error_of(browser.get(google_cb), 400)

        # None of that used the code: the genuine callback works, and clears the cookie.
        ok = browser.get(callback)
        assert ok.status_code == 200, ok.text
        assert browser.cookies.get("wb_oauth") is None
        error_of(browser.get(callback), 400)

    # Replaying the code with the old cookie: the provider refuses the used code.
    with httpx.Client(timeout=30) as replay:
        replay.cookies.set("wb_oauth", cookie, path=OAUTH)
        assert "refused" in error_of(replay.get(callback), 401)["message"]


def test_a_refused_authorization_is_401(oauth_server: ServerProcess, provider: OAuthProvider) -> None:
    provider.deny = True
    r = login(oauth_server, "github")
    assert "access_denied" in error_of(r, 401)["message"]
    r = login(oauth_server, "google")
    error_of(r, 401)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"key": True}, id="foreign-signing-key"),
        pytest.param({"nonce": "not-the-one-we-sent"}, id="wrong-nonce"),
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"iss": "http://evil.example"}, id="wrong-issuer"),
        pytest.param({"exp": 1000}, id="expired"),
    ],
)
def test_a_bad_id_token_is_refused(
    oauth_server: ServerProcess, provider: OAuthProvider, tamper: dict[str, Any]
) -> None:
    provider.google_user = GoogleUser(f"sub-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex[:8]}@example.com")
    if tamper.pop("key", False):
        provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": provider.key.kid})
    provider.id_token_claims = tamper
    r = login(oauth_server, "google")
    assert "id_token" in error_of(r, 401)["message"]


def _api(server: ServerProcess, path: str, bearer: str | None = None, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.post(f"{server.base_url}/api/v1{path}", json=body, headers=headers, timeout=30)


def _plant(server: ServerProcess, email: str, password: str) -> dict[str, Any]:
    """What the attacker of the probe did: sign up with someone else's address (no verification
    needed to use the account), log in, and leave an API key behind."""
    assert _api(server, "/auth/signup", email=email, password=password).status_code == 202
    r = _api(server, "/auth/login", email=email, password=password)
    assert r.status_code == 200, r.text
    tokens = r.json()
    key = _api(server, "/api-keys", tokens["access_token"], name="backdoor", scopes=["graphs:read"])
    assert key.status_code == 201, key.text
    return {**tokens, "id": me(server, tokens["access_token"])["id"], "key": key.json()["key"]}


def test_a_planted_account_is_not_joined_by_oauth_and_a_reset_takes_it_over(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    planted = _plant(oauth_server, victim, "attacker knows this")

    # The owner of the address logs in with GitHub, then Google (both verified the address): no
    # login, no link, and an error saying what to do.
    provider.github_user = GitHubUser(
        int(uuid.uuid4().int % 10**9), "victim", "V", [{"email": victim, "primary": True, "verified": True}]
    )
    refused = error_of(login(oauth_server, "github"), 409)
    assert "never verified" in refused["message"] and "password reset" in refused["message"]
    provider.google_user = GoogleUser(f"google-{uuid.uuid4().hex[:8]}", victim, True, "V")
    error_of(login(oauth_server, "google"), 409)
    links = database_fetch(
        oauth_server, "SELECT count(*) AS n FROM oauth_accounts WHERE user_id = $1", uuid.UUID(planted["id"])
    )
    assert links[0]["n"] == 0
    assert me(oauth_server, planted["access_token"])["email_verified"] is False

    # The owner takes the account over with a password reset: the planter loses everything.
    assert _api(oauth_server, "/auth/password-reset", email=victim).status_code == 202
    token = mailed_token(oauth_server, victim, "reset")
    r = _api(oauth_server, "/auth/password-reset/confirm", token=token, password="the owner's own")
    assert r.status_code == 200, r.text
    for credential in (planted["access_token"], planted["key"]):
        r = httpx.get(
            f"{oauth_server.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {credential}"}
        )
        assert r.status_code == 401
    assert _api(oauth_server, "/auth/refresh", refresh_token=planted["refresh_token"]).status_code == 401
    assert _api(oauth_server, "/auth/login", email=victim, password="attacker knows this").status_code == 401

    # Now verified, the account is joined by the owner's GitHub and Google logins.
    for flavour in ("github", "google"):
        r = login(oauth_server, flavour)
        assert r.status_code == 200, r.text
        mine = me(oauth_server, r.json()["access_token"])
        assert mine["id"] == planted["id"] and mine["email_verified"] is True


def test_an_address_the_provider_did_not_verify_is_never_claimed(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    r = _api(oauth_server, "/auth/signup", email=victim, password="victim password")
    assert r.status_code == 202
    victim_id = me(
        oauth_server,
        _api(oauth_server, "/auth/login", email=victim, password="victim password").json()["access_token"],
    )["id"]

    # Mallory's GitHub and Google accounts claim the victim's address without having verified it:
    # each gets an account of its own under a placeholder address, never the victim's.
    provider.github_user = GitHubUser(
        9001, "mallory", "M", [{"email": victim, "primary": True, "verified": False}]
    )
    github = me(oauth_server, login(oauth_server, "github").json()["access_token"])
    assert github["id"] != victim_id
    assert github["email"] == "github-9001@users.noreply.local" and github["email_verified"] is False
    provider.google_user = GoogleUser("google-mallory", victim, email_verified=False)
    google = me(oauth_server, login(oauth_server, "google").json()["access_token"])
    assert google["id"] not in (victim_id, github["id"])
    assert google["email"] == "google-google-mallory@users.noreply.local"

    # An unverified address of a NEW person is not claimed either: it stays free for its owner.
    free = f"free-{uuid.uuid4().hex[:8]}@example.com"
    provider.github_user = GitHubUser(
        9002, "squatter", "S", [{"email": free, "primary": True, "verified": False}]
    )
    assert me(oauth_server, login(oauth_server, "github").json()["access_token"])["email"] != free
    assert _api(oauth_server, "/auth/signup", email=free, password="the owner's own").status_code == 202
    assert _api(oauth_server, "/auth/login", email=free, password="the owner's own").status_code == 200


def test_a_linked_identity_keeps_its_account_when_the_provider_address_changes(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    first, second = (f"{n}-{uuid.uuid4().hex[:8]}@example.com" for n in ("first", "second"))
    provider.google_user = GoogleUser(f"google-{uuid.uuid4().hex[:8]}", second, True, "Second")
    other = me(oauth_server, login(oauth_server, "google").json()["access_token"])
    github_id = int(uuid.uuid4().int % 10**9)
    provider.github_user = GitHubUser(
        github_id, "mover", "M", [{"email": first, "primary": True, "verified": True}]
    )
    mine = me(oauth_server, login(oauth_server, "github").json()["access_token"])
    assert mine["email"] == first

    # The GitHub account now shows (verified) the address of another account: it still logs into
    # its own account, and is not moved to the other one.
    provider.github_user = GitHubUser(
        github_id, "mover", "M", [{"email": second, "primary": True, "verified": True}]
    )
    again = me(oauth_server, login(oauth_server, "github").json()["access_token"])
    assert again["id"] == mine["id"] != other["id"]
    stored = database_fetch(
        oauth_server,
        "SELECT email FROM oauth_accounts WHERE provider = 'github' AND subject = $1",
        str(github_id),
    )
    assert stored == [{"email": second}]


def test_a_reset_of_an_unverified_account_unlinks_the_identities_linked_to_it(
    oauth_server: ServerProcess, provider: OAuthProvider
) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    planted = _plant(oauth_server, victim, "attacker knows this")
    # An identity linked to the unverified account (as the old code did for an unverified provider
    # address): the planter's way back in after the owner's reset, unless the reset unlinks it.
    database_fetch(
        oauth_server,
        "INSERT INTO oauth_accounts (provider, subject, user_id, email) "
        "VALUES ('github', '31337', $1, $2) RETURNING 1",
        uuid.UUID(planted["id"]),
        victim,
    )
    provider.github_user = GitHubUser(
        31337, "mallory", "M", [{"email": victim, "primary": True, "verified": False}]
    )
    assert me(oauth_server, login(oauth_server, "github").json()["access_token"])["id"] == planted["id"]

    assert _api(oauth_server, "/auth/password-reset", email=victim).status_code == 202
    token = mailed_token(oauth_server, victim, "reset")
    r = _api(oauth_server, "/auth/password-reset/confirm", token=token, password="owner's now")
    assert r.status_code == 200, r.text
    back = me(oauth_server, login(oauth_server, "github").json()["access_token"])
    assert back["id"] != planted["id"]


def test_unknown_and_unconfigured_providers_are_404(
    oauth_server: ServerProcess, accounts_server: ServerProcess
) -> None:
    for path in ("/facebook/login", "/facebook/callback?code=x&state=y"):
        error_of(httpx.get(f"{oauth_server.base_url}{OAUTH}{path}"), 404)
    # The shared accounts server has no OAuth configuration at all.
    for path in ("/github/login", "/google/login", "/github/callback?code=x&state=y"):
        assert (
            "not configured"
            in error_of(httpx.get(f"{accounts_server.base_url}{OAUTH}{path}"), 404)["message"]
        )


def test_callback_without_code_is_400(oauth_server: ServerProcess) -> None:
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{oauth_server.base_url}{OAUTH}/github/login")
        state = query(start.headers["location"])["state"]
        r = browser.get(f"{oauth_server.base_url}{OAUTH}/github/callback", params={"state": state})
        assert "code" in error_of(r, 400)["message"]


def test_an_unreachable_provider_is_502(tmp_path_factory: pytest.TempPathFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    server = start_server(
        tmp_path_factory.mktemp("srv-oauth-dead") / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_OAUTH_GITHUB_CLIENT_ID": "id",
            "WORKBENCH_OAUTH_GITHUB_CLIENT_SECRET": "secret",
            "WORKBENCH_OAUTH_GITHUB_BASE_URL": dead,
            "WORKBENCH_OAUTH_GOOGLE_CLIENT_ID": "id",
            "WORKBENCH_OAUTH_GOOGLE_CLIENT_SECRET": "secret",
            "WORKBENCH_OAUTH_GOOGLE_METADATA_URL": f"{dead}/.well-known/openid-configuration",
        },
    )
    try:
        with httpx.Client(timeout=30) as browser:
            error_of(browser.get(f"{server.base_url}{OAUTH}/google/login"), 502)
            # GitHub needs no discovery: the redirect works, the code exchange cannot.
            start = browser.get(f"{server.base_url}{OAUTH}/github/login")
            assert start.status_code == 302 and start.headers["location"].startswith(dead)
            state = query(start.headers["location"])["state"]
            r = browser.get(f"{server.base_url}{OAUTH}/github/callback", params={"code": "c", "state": state})
            assert error_of(r, 502)["code"] == "bad_gateway"
        assert httpx.get(f"{server.base_url}/api/v1/health").status_code == 200
    finally:
        stop_server(server)


def test_the_routes_are_in_the_openapi_schema(oauth_server: ServerProcess) -> None:
    paths = httpx.get(f"{oauth_server.base_url}/api/openapi.json").json()["paths"]
    login_op = paths[f"{OAUTH}/{{provider}}/login"]["get"]
    callback_op = paths[f"{OAUTH}/{{provider}}/callback"]["get"]
    assert "302" in login_op["responses"] and "404" in login_op["responses"]
    assert {"200", "400", "401", "404", "409", "502"} <= set(callback_op["responses"])


def test_a_login_from_the_web_apps_signs_the_browser_in_and_goes_back(
    tmp_path_factory: pytest.TempPathFactory, provider: OAuthProvider
) -> None:
    """The apps' login page sends the browser through OAuth with ``next``: the callback sets the session
    cookies (httpOnly) and returns to that page; a ``next`` elsewhere is refused."""
    base = tmp_path_factory.mktemp("srv-oauth-ui")
    server = start_server(
        base / "home", "accounts", {"WORKBENCH_RATE_LIMIT": "off", **provider.env()}, ui=True
    )
    try:
        provider.register(server.base_url)
        assert server.ui_url is not None
        home = f"{server.ui_url}/"
        with httpx.Client(follow_redirects=True, timeout=30) as client:
            r = client.get(f"{server.base_url}{OAUTH}/github/login", params={"next": home})
            assert r.status_code == 200, r.text
            back = r.history[-1]
            assert back.status_code == 303 and back.headers["location"] == home
            cookies = back.headers.get_list("set-cookie")
            session = next(c for c in cookies if c.startswith("wb_session="))
            assert "HttpOnly" in session and "SameSite=lax" in session
            assert any(c.startswith("wb_refresh=") for c in cookies)
            assert str(r.url) == home and "octo@example.com" in r.text  # the apps show who is signed in
            for elsewhere in ("https://evil.example/", f"{server.base_url}/", "javascript:alert(1)"):
                refused = client.get(f"{server.base_url}{OAUTH}/github/login", params={"next": elsewhere})
                assert error_of(refused, 400)["message"].startswith("next: must be a page")
    finally:
        stop_server(server)
