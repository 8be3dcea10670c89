"""Accounts over HTTP on a real server: sign-up, login, refresh-token rotation (and reuse detection),
``/me``, password reset and email verification (tokens read from the development mail log)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.server.api_support import (
    PASSWORD,
    api,
    database_rows_containing,
    mail_log,
    mailed_token,
    mailed_tokens,
    signup,
    unique_email,
)
from tests.support.servers import ServerProcess


def _claims(jwt: str) -> dict[str, object]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_signup_then_login_gives_tokens_and_me_shows_the_account(configured_server: ServerProcess) -> None:
    email = unique_email("signup")
    with api(configured_server) as c:
        r = c.post("/auth/signup", json={"email": f"  {email.upper()} ", "password": PASSWORD, "name": "Sig"})
        assert r.status_code == 202
        answer = r.json()
        assert set(answer) == {"message"} and "/auth/login" in answer["message"]
        r = c.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200
        tokens = r.json()
        assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
        assert tokens["refresh_token"].startswith("wbr_")
        claims = _claims(tokens["access_token"])
        assert claims["typ"] == "access" and claims["exp"] - claims["iat"] == 900

        me = c.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        user = me.json()
        assert set(user) == {"id", "email", "name", "email_verified", "timezone", "created_at", "is_admin"}
        assert isinstance(user["is_admin"], bool)  # the server's first account is its administrator
        assert user["email"] == email.lower() and user["name"] == "Sig"
        assert user["email_verified"] is False and user["id"] == claims["sub"]
        assert "password" not in me.text

        # The same address in any case is taken: the same answer, and the account is unchanged.
        again = c.post("/auth/signup", json={"email": email.upper(), "password": PASSWORD + "2"})
        assert again.status_code == 202 and again.json() == answer
        assert c.post("/auth/login", json={"email": email, "password": PASSWORD + "2"}).status_code == 401
    # The password is stored hashed (argon2), never as itself.
    assert database_rows_containing(configured_server, PASSWORD) == []


def test_signup_refuses_bad_addresses_and_short_passwords(configured_server: ServerProcess) -> None:
    with api(configured_server) as c:
        for body in (
            {"email": "not-an-address", "password": PASSWORD},
            {"email": "a b@example.com", "password": PASSWORD},
            {"email": unique_email(), "password": "short"},
            {"email": unique_email()},
            {"email": unique_email(), "password": PASSWORD, "admin": True},
            {"email": 42, "password": PASSWORD},
        ):
            r = c.post("/auth/signup", json=body)
            assert r.status_code == 422, body
            assert r.json()["error"]["code"] == "invalid_input"


def test_password_guesses_on_an_account_are_slowed_down(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "guessed")
    other = signup(configured_server, "bystander")
    try:
        with api(configured_server) as c:
            guesses = [
                c.post("/auth/login", json={"email": user.email, "password": f"guess {i}"}) for i in range(5)
            ]
            assert [r.status_code for r in guesses] == [401] * 5  # a few mistakes are free
            # The next attempt must wait, even with the right password (no oracle, and no hash made).
            for password in ("guess 5", PASSWORD):
                r = c.post("/auth/login", json={"email": user.email.upper(), "password": password})
                assert r.status_code == 429, r.text
                assert r.json()["error"]["code"] == "rate_limited"
                assert r.json()["error"]["message"] == "too many failed logins: try again in 1 s"
                assert r.headers["Retry-After"] == "1"
            # Another account is not affected.
            assert c.post("/auth/login", json={"email": other.email, "password": PASSWORD}).status_code == 200
            time.sleep(1.1)
            assert c.post("/auth/login", json={"email": user.email, "password": "guess 6"}).status_code == 401
            r = c.post("/auth/login", json={"email": user.email, "password": PASSWORD})
            assert r.status_code == 429 and r.headers["Retry-After"] == "2"  # the delay doubles
            time.sleep(2.1)
            assert c.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
            # The right password cleared the count: mistakes are free again.
            assert c.post("/auth/login", json={"email": user.email, "password": "oops"}).status_code == 401
            assert c.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
    finally:
        user.close()
        other.close()


def test_login_with_the_right_password_only(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "login")
    try:
        with api(configured_server) as c:
            r = c.post("/auth/login", json={"email": user.email.upper(), "password": PASSWORD})
            assert r.status_code == 200
            access = r.json()["access_token"]
            assert c.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).json()["id"] == user.id

            wrong = c.post("/auth/login", json={"email": user.email, "password": PASSWORD + "!"})
            unknown = c.post("/auth/login", json={"email": unique_email(), "password": PASSWORD})
            malformed = c.post("/auth/login", json={"email": "nobody", "password": PASSWORD})
            for r in (wrong, unknown, malformed):
                assert r.status_code == 401
                assert r.json()["error"]["message"] == "wrong email or password"  # no account oracle
            assert c.post("/auth/login", json={"email": user.email}).status_code == 422
    finally:
        user.close()


def test_refresh_rotates_and_a_reused_token_revokes_the_family(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "refresh")
    try:
        with api(configured_server) as c:
            first = user.refresh_token
            r = c.post("/auth/refresh", json={"refresh_token": first})
            assert r.status_code == 200
            second = r.json()["refresh_token"]
            assert second != first
            new_access = r.json()["access_token"]
            assert c.get("/auth/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200

            # Another login of the same user: a second session.
            other_session = c.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()

            # The old token again: refused, and every session of the user ends (refresh and access
            # tokens: the thief's fresh access token too).
            r = c.post("/auth/refresh", json={"refresh_token": first})
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            assert c.get("/auth/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 401
            assert c.post("/auth/refresh", json={"refresh_token": second}).status_code == 401
            assert (
                c.post("/auth/refresh", json={"refresh_token": other_session["refresh_token"]}).status_code
                == 401
            )

            # Logging in again starts a new family.
            fresh = c.post("/auth/login", json={"email": user.email, "password": PASSWORD}).json()
            assert c.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 200

            for junk in ("", "wbr_nope", user.access_token):
                assert c.post("/auth/refresh", json={"refresh_token": junk}).status_code == 401
            assert c.post("/auth/refresh", json={"token": first}).status_code == 422
    finally:
        user.close()


def test_tokens_that_are_not_access_tokens_are_401(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "tokens")
    try:
        header, payload, signature = user.access_token.split(".")
        forged_payload = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        forged_payload["sub"] = "00000000-0000-0000-0000-000000000001"
        forged = ".".join(
            [
                header,
                base64.urlsafe_b64encode(json.dumps(forged_payload).encode()).decode().rstrip("="),
                signature,
            ]
        )
        for credential in (user.refresh_token, "garbage", forged, "wbk_not-a-key", user.access_token + "x"):
            with api(configured_server, token=credential) as c:
                r = c.get("/auth/me")
                assert r.status_code == 401, credential
        with api(configured_server, headers={"Authorization": f"Basic {user.access_token}"}) as c:
            assert c.get("/auth/me").status_code == 401
    finally:
        user.close()


def test_password_reset_by_mailed_token(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "reset")
    new_password = "a brand new passphrase"
    try:
        with api(configured_server) as c:
            r = c.post("/auth/password-reset", json={"email": user.email})
            assert r.status_code == 202
            unknown = c.post("/auth/password-reset", json={"email": unique_email()})
            assert unknown.status_code == 202 and unknown.json() == r.json()  # no account oracle
            token = mailed_token(configured_server, user.email, "reset")

            assert (
                c.post("/auth/password-reset/confirm", json={"token": token, "password": "short"}).status_code
                == 422
            )
            r = c.post("/auth/password-reset/confirm", json={"token": token, "password": new_password})
            assert r.status_code == 200

            assert c.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
            assert (
                c.post("/auth/login", json={"email": user.email, "password": new_password}).status_code == 200
            )
            # Every session of the account ended.
            assert c.post("/auth/refresh", json={"refresh_token": user.refresh_token}).status_code == 401
            # A token works once.
            again = c.post(
                "/auth/password-reset/confirm", json={"token": token, "password": "yet another one"}
            )
            assert again.status_code == 401
            bogus = c.post("/auth/password-reset/confirm", json={"token": "bogus", "password": new_password})
            assert bogus.status_code == 401
        assert token not in configured_server.log.read_text()
        assert database_rows_containing(configured_server, token) == []
    finally:
        user.close()


def test_a_password_reset_ends_the_other_reset_tokens(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "resets")
    try:
        with api(configured_server) as c:
            c.post("/auth/password-reset", json={"email": user.email})
            first = mailed_token(configured_server, user.email, "reset")
            c.post("/auth/password-reset", json={"email": user.email})
            second = mailed_tokens(configured_server, user.email, "reset", 2)[-1]
            assert first != second
            r = c.post(
                "/auth/password-reset/confirm", json={"token": second, "password": "second passphrase"}
            )
            assert r.status_code == 200
            r = c.post("/auth/password-reset/confirm", json={"token": first, "password": "first passphrase"})
            assert r.status_code == 401
            ok = c.post("/auth/login", json={"email": user.email, "password": "second passphrase"})
            assert ok.status_code == 200
    finally:
        user.close()


def test_email_verification_by_mailed_token(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "verify")
    try:
        token = mailed_token(configured_server, user.email, "verify")  # sent at sign-up
        with api(configured_server) as c:
            r = c.post("/auth/verify-email", json={"token": token})
            assert r.status_code == 200
            assert r.json()["email_verified"] is True and r.json()["id"] == user.id
            assert c.post("/auth/verify-email", json={"token": token}).status_code == 401
            assert c.post("/auth/verify-email", json={}).status_code == 422
            # Asking for another mail needs a login.
            assert c.post("/auth/verify-email/request").status_code == 401
        assert user.client.get("/auth/me").json()["email_verified"] is True

        r = user.client.post("/auth/verify-email/request")
        assert r.status_code == 202
        mails = [json.loads(line) for line in mail_log(configured_server).read_text().splitlines()]
        assert [m["kind"] for m in mails if m["to"] == user.email] == ["verify", "verify"]
    finally:
        user.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/me"),
        ("POST", "/auth/verify-email/request"),
        ("POST", "/auth/logout-all"),
        ("GET", "/graphs"),
        ("POST", "/graphs"),
        ("GET", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("PUT", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("DELETE", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("GET", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01/versions"),
        ("PUT", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01/versions/active"),
        ("GET", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01/export"),
        ("POST", "/graphs/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01/execute"),
        ("GET", "/executions"),
        ("GET", "/executions/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("POST", "/executions/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01/cancel"),
        ("DELETE", "/executions/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("GET", "/blocks"),
        ("GET", "/blocks/db7d8f02-2f44-4c55-ab7a-eae0941f0c30"),
        ("POST", "/blocks/db7d8f02-2f44-4c55-ab7a-eae0941f0c30/execute"),
        ("GET", "/credentials"),
        ("POST", "/credentials"),
        ("DELETE", "/credentials/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
        ("GET", "/api-keys"),
        ("POST", "/api-keys"),
        ("DELETE", "/api-keys/5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a01"),
    ],
)
def test_every_route_but_the_public_ones_needs_authentication(
    accounts_server: ServerProcess, method: str, path: str
) -> None:
    with api(accounts_server) as c:
        r = c.request(method, path, json={})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in r.json()["error"]["message"]


def test_public_routes_need_no_authentication(accounts_server: ServerProcess) -> None:
    with api(accounts_server) as c:
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health.json()["database"]["ok"] is True
    with accounts_server.client() as raw:
        schema = raw.get("/api/openapi.json")
        assert schema.status_code == 200
        assert schema.json()["info"]["title"] == "Agent Workbench API"
        docs = raw.get("/api/docs")
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
