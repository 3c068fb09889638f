"""The console's sign-in: the session cookie is HttpOnly, SameSite=Strict, Secure behind TLS, and
a wrong key sets nothing."""

from __future__ import annotations

from tests.service.conftest import Api, TestClient

_HEADERS = {"X-Suixin-Console": "1"}


def test_sign_in_sets_a_strict_http_only_cookie_secure_over_https(api: Api) -> None:
    plain = api.client.post("/office/login", json={"apiKey": api.permit_key}, headers=_HEADERS)
    assert plain.status_code == 200
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    with TestClient(api.client.app, base_url="https://testserver") as tls:
        answer = tls.post("/office/login", json={"apiKey": api.permit_key}, headers=_HEADERS)
    assert answer.status_code == 200
    assert "secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_key_signs_in_nobody(api: Api) -> None:
    answer = api.client.post("/office/login", json={"apiKey": "sx_nope_nope"}, headers=_HEADERS)
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
