"""Both counters behind one face, for tests that must hold at each: the office's ``/counter``
routes (``service.web.wallet_api``) and a partner's standalone counter
(``verifier.counter.app``), the latter over the office's chain with its own verifier and key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from verifier.sdjwt import present
from verifier.status_tokens import FetchedLists, office_locator

STANDALONE = "http://zhaoqing.counter.test"
OFFICE = "http://testserver"  # the office's TestClient base


def transport_of(client: TestClient) -> Any:
    """A counter's HTTP fetches, answered by the office's app (no network in tests)."""

    def get(url: str, accept: str, _timeout: float, limit: int) -> bytes:
        response = client.get(url.removeprefix(OFFICE), headers={"Accept": accept})
        if response.status_code != 200:
            raise OSError(f"{url} answered {response.status_code}")
        return response.content[:limit]

    return get


def lists_from(office: TestClient) -> FetchedLists:
    """A standalone counter's Status List Tokens, fetched whole from the office's app."""
    return FetchedLists(locate=office_locator(OFFICE), transport=transport_of(office))


@dataclass
class Counter:
    """One counter under test, and the holder of an anchored SD-JWT VC it can be shown."""

    name: str
    client: TestClient
    base: str
    sd_jwt: str
    holder: ec.EllipticCurvePrivateKey
    anchor: dict[str, Any]

    def ask(self, *fields: str) -> dict[str, Any]:
        made = self.client.post(
            "/v1/oid4vp/requests",
            json={
                "credentialType": "ResidencePermit",
                "fields": list(fields or ("name",)),
                "verifierName": "肇庆",
            },
        )
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body

    def path(self, uri: str) -> str:
        return uri.removeprefix(self.base)

    def post(self, request: dict[str, Any], **kwargs: Any) -> Any:
        """A post to the request's response endpoint."""
        return self.client.post(self.path(request["request"]["response_uri"]), **kwargs)

    def form(self, request: dict[str, Any], fields: dict[str, Any]) -> Any:
        """A ``direct_post`` form: objects as JSON, as OpenID4VP 1.0 §8.2 sends them."""
        from urllib.parse import urlencode

        encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        return self.post(
            request,
            content=urlencode(encoded),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def result(self, request: dict[str, Any]) -> dict[str, Any]:
        got = self.client.get(
            self.path(request["requestUri"]) + "/result",
            headers={"X-Counter-Secret": request["sessionSecret"]},
        )
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    def presentation(self, request: dict[str, Any], names: tuple[str, ...] = ("name",)) -> str:
        """The holder's SD-JWT+KB for ``request`` (its nonce and client_id)."""
        obj = request["request"]
        return present(
            self.sd_jwt, list(names), self.holder, nonce=obj["nonce"], audience=obj["client_id"]
        )

    def answer_fields(self, request: dict[str, Any]) -> dict[str, Any]:
        """The response parameters of a presentation, as OpenID4VP 1.0 §8.1 has them."""
        return {
            "vp_token": {"q0": [self.presentation(request)]},
            "suixin_anchors": {"q0": [self.anchor]},
            "state": request["requestId"],
        }
