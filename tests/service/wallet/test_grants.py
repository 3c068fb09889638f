"""Authorised use (授权调用) through the API, on SQLite and PostgreSQL and a real chain.

A holder (did:key in the credential) grants a partner office access to one credential; the
partner fetches it with requests signed by its own key; every attempt is logged for the holder.
The service's clock is a test clock, so windows and timestamps move without sleeping.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from service.api.routes.grants import RegistryKeys
from service.app import create_app
from service.audit.trail import check_log, sequence
from service.storage.models import AccessEntry, AuditEntry, Grant, RequestNonce
from service.wallet.grants import GrantService
from tests.service.conftest import OfficeWorld, TestClient, assert_problem, auth, settings
from tests.verifier.factories import residence_permit_subject
from verifier.http_signatures import did_jwk, sign_request
from verifier.keys import Ed25519KeyPair
from verifier.proofs import Ed25519Signer
from verifier.sdjwt import _sign_jws, es256_sign, jwk_from_p256

PURPOSE = "肇庆市政务服务中心办理子女入学 / school enrolment in Zhaoqing"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Party:
    """Someone who signs requests: a key and the DID URL it is known by."""

    key: Ed25519Signer | ec.EllipticCurvePrivateKey
    keyid: str

    @property
    def did(self) -> str:
        return self.keyid.partition("#")[0]

    @classmethod
    def new(cls) -> Party:
        pair = Ed25519KeyPair.generate()
        return cls(pair, pair.verification_method)

    @classmethod
    def wallet(cls) -> Party:
        """A wallet's WebCrypto-style P-256 key, known by its did:jwk."""
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, did_jwk(jwk_from_p256(key.public_key())) + "#0")


@dataclass
class GrantsApi:
    client: TestClient
    world: OfficeWorld
    clock: Clock
    permit_key: str
    holder: Party
    partner: Party

    def headers(
        self,
        who: Party,
        method: str,
        path: str,
        body: Any = None,
        *,
        age: float = 0,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        created = int(self.clock.now.timestamp() - age)
        headers = sign_request(
            method, path, key=who.key, keyid=who.keyid, body=raw, created=created, nonce=nonce
        )
        if raw:
            headers["Content-Type"] = "application/json"
        return headers, raw

    def send(self, who: Party, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers, raw = self.headers(who, method, path, body, **kw)
        return self.client.request(method, path, content=raw, headers=headers)

    def issue(self, holder_did: str | None) -> dict[str, Any]:
        subject = residence_permit_subject(self.world.rng)
        if holder_did is not None:
            subject["id"] = holder_did
        response = self.client.post(
            "/v1/credentials",
            json={"type": "ResidencePermit", "subject": subject},
            headers=auth(self.permit_key),
        )
        assert response.status_code == 201, response.text
        bundle: dict[str, Any] = response.json()
        return bundle

    def grant(self, credential_id: str, partner: str | None = None, **terms: Any) -> Any:
        body = {
            "credentialId": credential_id,
            "partner": partner or self.partner.did,
            "purpose": PURPOSE,
            "validUntil": (self.clock.now + timedelta(days=7)).isoformat(),
            **terms,
        }
        return self.send(self.holder, "POST", "/v1/grants", body)

    def fetch(
        self,
        grant_id: str,
        who: Party | None = None,
        purpose: str = PURPOSE,
        nonce: str | None = None,
    ) -> Any:
        path = f"/v1/grants/{grant_id}/credential"
        return self.send(who or self.partner, "POST", path, {"purpose": purpose}, nonce=nonce)

    def accesses(self, grant_id: str) -> list[dict[str, Any]]:
        response = self.send(self.holder, "GET", f"/v1/grants/{grant_id}")
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["accesses"]
        return entries

    def claim(self, credential_id: str, wallet: Party) -> None:
        """Claim the credential into a wallet (OpenID4VCI), binding it to the wallet's key."""
        assert isinstance(wallet.key, ec.EllipticCurvePrivateKey)
        offer = self.client.post(
            f"/v1/credentials/{credential_id}/offer", headers=auth(self.permit_key)
        )
        assert offer.status_code == 201, offer.text
        code = offer.json()["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
        token = self.client.post(
            "/v1/oid4vci/token",
            content=f"grant_type={PRE_AUTH}&pre-authorized_code={code}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).json()
        header = {
            "typ": "openid4vci-proof+jwt",
            "alg": "ES256",
            "jwk": jwk_from_p256(wallet.key.public_key()),
        }
        payload = {"aud": "http://testserver", "iat": int(time.time()), "nonce": token["c_nonce"]}
        key = wallet.key
        proof = _sign_jws(header, payload, lambda data: es256_sign(key, data))
        response = self.client.post(
            "/v1/oid4vci/credential",
            json={
                "credential_configuration_id": "ResidencePermit_sd_jwt",
                "proofs": {"jwt": [proof]},
            },
            headers=auth(token["access_token"]),
        )
        assert response.status_code == 200, response.text

    def audit_actions(self) -> list[str]:
        sequence(self.world.office.db)  # as the worker does: the committed rows, chained
        with self.world.office.db.session() as s:
            return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


@pytest.fixture
def g(world: OfficeWorld, tmp_path: Path) -> Iterator[GrantsApi]:
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    clock = Clock()
    with TestClient(app) as client:
        state = app.state.suixin
        app.state.grants = GrantService(world.office, RegistryKeys(state.verification), clock=clock)
        yield GrantsApi(
            client,
            world,
            clock,
            world.key(world.permits, "issue:ResidencePermit"),
            Party.new(),
            Party.new(),
        )


@pytest.fixture
def granted(g: GrantsApi) -> tuple[dict[str, Any], str]:
    """A credential of the holder and a grant of it to the partner."""
    bundle = g.issue(g.holder.did)
    response = g.grant(bundle["credential"]["id"])
    assert response.status_code == 201, response.text
    return bundle, response.json()["id"]


def problem_code(response: Any, status: int) -> str:
    code: str = assert_problem(response, status)["code"]
    return code


# ---------------------------------------------------------------------- served


def test_a_granted_credential_is_served_logged_and_visible_to_the_holder(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    bundle, grant_id = granted
    response = g.fetch(grant_id)
    assert response.status_code == 200, response.text
    assert response.json() == bundle
    assert response.headers["cache-control"] == "no-store"

    [access] = g.accesses(grant_id)
    assert access["partner"] == g.partner.did
    assert (access["outcome"], access["code"]) == ("served", "served")

    listed = g.send(g.holder, "GET", "/v1/grants").json()["items"]
    assert [(x["id"], x["state"], x["partner"]) for x in listed] == [
        (grant_id, "active", g.partner.did)
    ]
    assert listed[0]["credentialId"] == bundle["credential"]["id"]
    assert g.audit_actions()[-2:] == ["grant.create", "grant.access"]
    with g.world.office.db.session() as s:
        assert check_log(s)[0].finding is None
        consent = s.get(Grant, grant_id).consent  # type: ignore[union-attr]
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.like("grant.%"))).all()
    # the holder's signed request is kept as evidence of consent
    assert json.loads(consent["body"])["partner"] == g.partner.did
    assert consent["signatureInput"].startswith("sig1=(") and consent["signature"]
    # audit rows name DIDs and the grant, never the holder's free-text purpose
    assert all(PURPOSE not in json.dumps(r.details, ensure_ascii=False) for r in rows)


def test_an_accredited_authority_can_be_the_partner(g: GrantsApi) -> None:
    office = g.world.office
    signer = office.signer(g.world.licences.id)
    authority = Party(signer.pair, f"{g.world.licences.did}#{signer.key_id}")
    bundle = g.issue(g.holder.did)
    grant = g.grant(bundle["credential"]["id"], partner=authority.did)
    assert grant.status_code == 201, grant.text
    response = g.fetch(grant.json()["id"], who=authority)
    assert response.status_code == 200, response.text
    assert response.json()["credential"]["id"] == bundle["credential"]["id"]
    # an authority DID with a key fragment it never registered is not a key
    ghost = Party(signer.pair, f"{g.world.licences.did}#key-99")
    assert problem_code(g.fetch(grant.json()["id"], who=ghost), 401) == "signer_unknown"


# ---------------------------------------------------------------------- refused


def test_an_expired_grant_serves_nothing(g: GrantsApi, granted: tuple[dict[str, Any], str]) -> None:
    _, grant_id = granted
    g.clock.advance(days=7)
    response = g.fetch(grant_id)
    assert problem_code(response, 403) == "grant_expired"
    assert "到期" in response.json()["detail"] and "expired" in response.json()["detail"]
    assert [a["code"] for a in g.accesses(grant_id)] == ["grant_expired"]
    [listed] = g.send(g.holder, "GET", "/v1/grants").json()["items"]
    assert listed["state"] == "expired"


def test_a_withdrawn_grant_serves_nothing(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    assert g.fetch(grant_id).status_code == 200
    withdrawn = g.send(g.holder, "DELETE", f"/v1/grants/{grant_id}")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] == "withdrawn" and withdrawn.json()["withdrawnAt"]
    g.clock.advance(seconds=30)
    again = g.send(g.holder, "DELETE", f"/v1/grants/{grant_id}")
    assert again.json()["withdrawnAt"] == withdrawn.json()["withdrawnAt"]  # changes nothing

    assert problem_code(g.fetch(grant_id), 403) == "grant_withdrawn"
    assert [a["outcome"] for a in g.accesses(grant_id)] == ["served", "refused"]
    assert g.audit_actions().count("grant.withdraw") == 1


def test_a_grant_not_yet_valid_or_for_another_purpose_serves_nothing(g: GrantsApi) -> None:
    bundle = g.issue(g.holder.did)
    later = (g.clock.now + timedelta(days=1)).isoformat()
    grant = g.grant(bundle["credential"]["id"], validFrom=later)
    assert grant.json()["state"] == "scheduled"
    grant_id = grant.json()["id"]
    assert problem_code(g.fetch(grant_id), 403) == "grant_not_yet_valid"
    g.clock.advance(days=1)
    assert problem_code(g.fetch(grant_id, purpose="购房资格审核"), 403) == "purpose_mismatch"
    assert g.fetch(grant_id).status_code == 200


def test_another_office_is_told_nothing_and_the_holder_sees_the_attempt(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    stranger = Party.new()
    refused = g.fetch(grant_id, who=stranger)
    unknown = g.fetch(uuid.uuid4().hex, who=stranger)
    assert problem_code(refused, 404) == problem_code(unknown, 404) == "grant_unknown"
    assert refused.json()["detail"] == unknown.json()["detail"]
    [attempt] = g.accesses(grant_id)
    assert (attempt["partner"], attempt["code"]) == (stranger.did, "not_named")


def test_a_forged_office_signature_is_refused_and_serves_nothing(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    impostor = Party(Ed25519KeyPair.generate(), g.partner.keyid)  # claims the partner's key
    response = g.fetch(grant_id, who=impostor)
    assert problem_code(response, 401) == "signature_invalid"
    assert response.headers["www-authenticate"].startswith("Signature")

    # a genuine request whose body is changed on the way
    path = f"/v1/grants/{grant_id}/credential"
    headers, _ = g.headers(g.partner, "POST", path, {"purpose": PURPOSE})
    changed = json.dumps({"purpose": "购房资格审核"}).encode()
    tampered = g.client.post(path, content=changed, headers=headers)
    assert problem_code(tampered, 401) == "content_digest_mismatch"
    # the signature covers the path: the same signature for another grant fails
    body = json.dumps({"purpose": PURPOSE}, ensure_ascii=False).encode()
    other = f"/v1/grants/{uuid.uuid4().hex}/credential"
    assert problem_code(g.client.post(other, content=body, headers=headers), 401) == (
        "signature_invalid"
    )
    unsigned = g.client.post(path, json={"purpose": PURPOSE})
    assert problem_code(unsigned, 401) == "signature_missing"
    assert g.accesses(grant_id) == []  # nothing authenticated, nothing logged, nothing served


def test_a_replayed_request_is_refused(g: GrantsApi, granted: tuple[dict[str, Any], str]) -> None:
    _, grant_id = granted
    path = f"/v1/grants/{grant_id}/credential"
    headers, raw = g.headers(g.partner, "POST", path, {"purpose": PURPOSE})
    assert g.client.post(path, content=raw, headers=headers).status_code == 200
    replay = g.client.post(path, content=raw, headers=headers)
    assert problem_code(replay, 401) == "request_replayed"
    assert len(g.accesses(grant_id)) == 1
    # a forged request cannot burn a nonce: the genuine one with that nonce still goes through
    nonce = "fresh-nonce-0123456789"
    impostor = Party(Ed25519KeyPair.generate(), g.partner.keyid)
    assert g.fetch(grant_id, who=impostor, nonce=nonce).status_code == 401
    assert g.fetch(grant_id, nonce=nonce).status_code == 200


def test_stale_and_future_requests_are_refused(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    path = f"/v1/grants/{grant_id}/credential"
    stale = g.send(g.partner, "POST", path, {"purpose": PURPOSE}, age=6 * 60)
    assert problem_code(stale, 401) == "request_stale"
    future = g.send(g.partner, "POST", path, {"purpose": PURPOSE}, age=-5 * 60)
    assert problem_code(future, 401) == "request_from_future"
    absurd = g.send(g.partner, "POST", path, {"purpose": PURPOSE}, age=-(10**14))
    assert problem_code(absurd, 401) == "request_from_future"  # year 3 million: not a crash
    assert g.send(g.partner, "POST", path, {"purpose": PURPOSE}, age=60).status_code == 200


def test_no_grant_no_credential(g: GrantsApi) -> None:
    bundle = g.issue(g.holder.did)
    for grant_id in (uuid.uuid4().hex, "not-a-grant-id", bundle["credential"]["id"][9:]):
        assert problem_code(g.fetch(grant_id), 404) == "grant_unknown"


def test_used_nonces_are_kept_only_until_they_would_be_stale(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    assert g.fetch(grant_id).status_code == 200

    def nonces() -> int:
        with g.world.office.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(RequestNonce)) or 0)

    assert nonces() == 2  # the holder's grant request and the partner's fetch
    g.clock.advance(minutes=7)
    assert g.fetch(grant_id).status_code == 200
    assert nonces() == 1  # only the newest request's nonce is left


# ---------------------------------------------------------------------- the holder's side


def test_only_the_holder_can_grant(g: GrantsApi) -> None:
    bundle = g.issue(g.holder.did)
    credential_id = bundle["credential"]["id"]
    body = {
        "credentialId": credential_id,
        "partner": g.partner.did,
        "purpose": PURPOSE,
        "validUntil": (g.clock.now + timedelta(days=1)).isoformat(),
    }
    assert problem_code(g.send(Party.new(), "POST", "/v1/grants", body), 403) == "not_holder"

    anonymous = g.issue(None)["credential"]["id"]
    response = g.send(g.holder, "POST", "/v1/grants", {**body, "credentialId": anonymous})
    assert problem_code(response, 422) == "holder_did_missing"
    assert "did:key" in response.json()["detail"] and "持证人" in response.json()["detail"]

    missing = {**body, "credentialId": f"urn:uuid:{uuid.uuid4()}"}
    assert problem_code(g.send(g.holder, "POST", "/v1/grants", missing), 404) == (
        "credential_unknown"
    )
    stranger = {**body, "partner": "did:web:unaccredited.example.cn"}
    assert problem_code(g.send(g.holder, "POST", "/v1/grants", stranger), 422) == (
        "partner_unknown"
    )
    past = {**body, "validUntil": (g.clock.now - timedelta(minutes=1)).isoformat()}
    assert problem_code(g.send(g.holder, "POST", "/v1/grants", past), 422) == "window_invalid"
    long = {**body, "validUntil": (g.clock.now + timedelta(days=400)).isoformat()}
    assert problem_code(g.send(g.holder, "POST", "/v1/grants", long), 422) == "window_too_long"
    extra = assert_problem(g.send(g.holder, "POST", "/v1/grants", {**body, "scope": "all"}), 422)
    assert extra["errors"][0]["path"] == "scope"
    # the bare UUID of the credential names it too
    bare = {**body, "credentialId": credential_id.removeprefix("urn:uuid:")}
    assert g.send(g.holder, "POST", "/v1/grants", bare).status_code == 201
    with g.world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grant)) == 1


def test_the_holders_grants_are_private_to_the_holder(
    g: GrantsApi, granted: tuple[dict[str, Any], str]
) -> None:
    _, grant_id = granted
    other = Party.new()
    assert g.send(other, "GET", "/v1/grants").json() == {"items": []}
    assert problem_code(g.send(other, "GET", f"/v1/grants/{grant_id}"), 404) == "grant_unknown"
    assert problem_code(g.send(other, "DELETE", f"/v1/grants/{grant_id}"), 404) == "grant_unknown"
    # the partner cannot read the holder's log nor withdraw the grant either
    assert g.send(g.partner, "DELETE", f"/v1/grants/{grant_id}").status_code == 404
    assert g.fetch(grant_id).status_code == 200
    with g.world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AccessEntry)) == 1


# ---------------------------------------------------------------------- the wallet key (ES256)


def wallet_grant(g: GrantsApi, wallet: Party, credential_id: str, **terms: Any) -> Any:
    body = {
        "credentialId": credential_id,
        "partner": g.partner.did,
        "purpose": PURPOSE,
        "validUntil": (g.clock.now + timedelta(days=7)).isoformat(),
        **terms,
    }
    return g.send(wallet, "POST", "/v1/grants", body)


def test_the_wallet_key_bound_at_claim_grants_lists_reads_and_withdraws(g: GrantsApi) -> None:
    wallet = Party.wallet()
    bundle = g.issue(None)  # no holder DID: only the wallet claim makes a holder
    credential_id = bundle["credential"]["id"]
    g.claim(credential_id, wallet)

    beijing = timezone(timedelta(hours=8))
    until = (g.clock.now + timedelta(days=7)).astimezone(beijing)  # as the wallet page sends it
    created = wallet_grant(g, wallet, credential_id, validUntil=until.isoformat())
    assert created.status_code == 201, created.text
    grant = created.json()
    stored = g.send(wallet, "GET", f"/v1/grants/{grant['id']}").json()["validUntil"]
    assert datetime.fromisoformat(stored) == until  # the same instant (stored in UTC)
    assert grant["holder"] == wallet.did and grant["holder"].startswith("did:jwk:")
    with g.world.office.db.session() as s:
        consent = s.get(Grant, grant["id"]).consent  # type: ignore[union-attr]
    assert 'alg="ecdsa-p256-sha256"' in consent["signatureInput"]

    assert g.fetch(grant["id"]).json() == bundle  # the partner is served
    listed = g.send(wallet, "GET", "/v1/grants").json()["items"]
    assert [x["id"] for x in listed] == [grant["id"]]
    read = g.send(wallet, "GET", f"/v1/grants/{grant['id']}").json()
    assert [(a["partner"], a["outcome"]) for a in read["accesses"]] == [(g.partner.did, "served")]
    assert g.send(wallet, "DELETE", f"/v1/grants/{grant['id']}").json()["state"] == "withdrawn"
    assert problem_code(g.fetch(grant["id"]), 403) == "grant_withdrawn"
    assert g.audit_actions()[-3:] == ["grant.create", "grant.access", "grant.withdraw"]


def test_another_p256_key_or_a_key_bound_to_another_credential_is_refused(g: GrantsApi) -> None:
    wallet, other_wallet = Party.wallet(), Party.wallet()
    mine = g.issue(None)["credential"]["id"]
    theirs = g.issue(None)["credential"]["id"]
    g.claim(mine, wallet)
    g.claim(theirs, other_wallet)

    stranger = wallet_grant(g, Party.wallet(), mine)  # a P-256 key never bound to anything
    assert problem_code(stranger, 403) == "not_holder"
    assert "钱包" in stranger.json()["detail"] and "wallet" in stranger.json()["detail"]
    # a key bound to another credential: for that credential only
    assert problem_code(wallet_grant(g, other_wallet, mine), 403) == "not_holder"
    assert wallet_grant(g, other_wallet, theirs).status_code == 201
    with g.world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grant)) == 1
    # the wallet key cannot read or withdraw another wallet's grant
    [theirs_grant] = g.send(other_wallet, "GET", "/v1/grants").json()["items"]
    assert g.send(wallet, "GET", "/v1/grants").json() == {"items": []}
    assert problem_code(g.send(wallet, "GET", f"/v1/grants/{theirs_grant['id']}"), 404) == (
        "grant_unknown"
    )


def test_a_wallet_request_replayed_or_signed_by_another_key_is_refused(g: GrantsApi) -> None:
    wallet = Party.wallet()
    credential_id = g.issue(None)["credential"]["id"]
    g.claim(credential_id, wallet)
    body = {
        "credentialId": credential_id,
        "partner": g.partner.did,
        "purpose": PURPOSE,
        "validUntil": (g.clock.now + timedelta(days=7)).isoformat(),
    }
    headers, raw = g.headers(wallet, "POST", "/v1/grants", body)
    assert g.client.post("/v1/grants", content=raw, headers=headers).status_code == 201
    replay = g.client.post("/v1/grants", content=raw, headers=headers)
    assert problem_code(replay, 401) == "request_replayed"

    # a request naming the wallet's did:jwk but signed by another P-256 key
    impostor = Party(Party.wallet().key, wallet.keyid)
    assert problem_code(wallet_grant(g, impostor, credential_id), 401) == "signature_invalid"
    # the ES256 signature relabelled as ed25519 does not hold either
    headers, raw = g.headers(wallet, "POST", "/v1/grants", body)
    headers["Signature-Input"] = headers["Signature-Input"].replace("ecdsa-p256-sha256", "ed25519")
    relabelled = g.client.post("/v1/grants", content=raw, headers=headers)
    assert problem_code(relabelled, 401) == "signature_invalid"
    # a malformed did:jwk is not a key
    broken = Party(wallet.key, "did:jwk:bm90LWEtandr#0")
    assert problem_code(wallet_grant(g, broken, credential_id), 401) == "signer_unknown"
    # a wallet key is a holder's, never a partner's
    to_wallet = g.send(wallet, "POST", "/v1/grants", {**body, "partner": Party.wallet().did})
    assert problem_code(to_wallet, 422) == "partner_unknown"
    with g.world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Grant)) == 1
