"""The trust list a wallet fetches whole (``GET /v1/trust-list``), and a counter that asks in
an accredited authority's name because its key is that authority's registered key."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from tests.service.conftest import Api
from tests.service.web.counters import lists_from
from tests.service.web.test_standalone_counter import COUNTER, ask, path, presentation
from tests.service.web.test_wallet_api import anchored_state, claim
from verifier.counter.app import create_counter_app
from verifier.keys import Ed25519KeyPair, ed25519_verify
from verifier.registry import AuthorityStatus, RegistryIndex
from verifier.sdjwt import b64url_decode
from verifier.trust_list import accredited_identity, trust_list
from verifier.verify import Verifier


def test_the_office_serves_every_authority_with_names_and_keys(api: Api) -> None:
    got = api.client.get("/v1/trust-list")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["version"] == "suixin-trust-list/1"
    assert body["trustRegistry"] == api.world.office.deployment.trust_registry
    by_did = {a["did"]: a for a in body["authorities"]}
    permits = by_did[api.world.permits.did]
    assert (permits["nameZh"], permits["nameEn"]) == (
        api.world.permits.name_zh,
        api.world.permits.name_en,
    )
    assert permits["status"] == "active"
    signer = api.world.office.signer(api.world.permits.id)
    (key,) = [k for k in permits["keys"] if k["id"] == f"{permits['did']}#{signer.key_id}"]
    assert key["revokedAt"] == 0 and key["validFrom"] > 0
    assert b64url_decode(key["publicKeyJwk"]["x"]) == signer.public_key
    # public chain facts only: nothing about credentials or holders
    assert set(body) == {"version", "chainId", "trustRegistry", "block", "authorities"}


def test_a_registered_key_makes_the_counter_ask_as_its_authority(api: Api, tmp_path: Any) -> None:
    """肇庆's authority runs the counter with its registered issuer key: the request object is
    signed with that key, client_id the authority's DID, kid the registered key; a wallet's
    presentation to it (audience that client_id) is VALID."""
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    signer = api.world.office.signer(api.world.permits.id)
    assert isinstance(signer.pair, Ed25519KeyPair)
    key_file = tmp_path / "issuer.key"
    key_file.write_text(signer.pair.private_bytes().hex() + "\n")
    from verifier.counter.core import load_or_create_key

    app = create_counter_app(
        verifier,
        load_or_create_key(key_file),
        name="自称的名字",
        status_lists=lists_from(api.client),
    )
    did = api.world.permits.did
    with TestClient(app, base_url=COUNTER) as counter:
        assert counter.get("/healthz").json()["clientId"] == f"decentralized_identifier:{did}"
        page = counter.get("/counter").text  # the clerk sees in whose name the counter asks
        assert 'data-identity="accredited"' in page and api.world.permits.name_zh in page
        request = ask(counter, "name")
        assert request["request"]["client_id"] == f"decentralized_identifier:{did}"
        signed = counter.get(
            path(request["requestUri"]), headers={"Accept": "application/oauth-authz-req+jwt"}
        )
        head, body, signature = signed.text.split(".")
        header = json.loads(b64url_decode(head))
        assert header["kid"] == f"{did}#{signer.key_id}"
        assert json.loads(b64url_decode(body))["client_id"] == f"decentralized_identifier:{did}"
        assert ed25519_verify(
            signer.public_key, b64url_decode(signature), f"{head}.{body}".encode()
        )
        holder = ec.generate_private_key(ec.SECP256R1())
        _credential_id, sd_jwt, sd_id = claim(api, holder)
        envelope = presentation(request, sd_jwt, holder, anchored_state(api, sd_id)["anchor"])
        answered = counter.post(
            path(request["request"]["response_uri"]),
            json={"vp_token": {"q0": [envelope]}, "state": request["requestId"]},
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["report"]["verdict"] == "VALID"


def test_an_unregistered_key_asks_as_its_own_did_key(api: Api) -> None:
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    key = Ed25519KeyPair.generate()
    # a counter calling itself by a registered authority's name is still its did:key
    app = create_counter_app(
        verifier, key, name=api.world.permits.name_zh, status_lists=lists_from(api.client)
    )
    with TestClient(app, base_url=COUNTER) as counter:
        request = ask(counter, "name")
        assert request["request"]["client_id"] == f"decentralized_identifier:{key.did}"
        assert 'data-identity="unverified"' in counter.get("/counter").text


@pytest.fixture
def index(api: Api) -> RegistryIndex:
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    verifier.refresh(force=True)
    return verifier.index


def test_identity_needs_a_valid_key_of_an_active_authority(api: Api, index: RegistryIndex) -> None:
    signer = api.world.office.signer(api.world.permits.id)
    authority = index.authority(api.world.permits.did)
    assert authority is not None
    record = index.key(authority.id, signer.key_id)
    assert record is not None
    now = record.valid_from + 10
    did = api.world.permits.did
    assert accredited_identity(index, signer.public_key, now) == (did, f"{did}#{signer.key_id}")
    assert accredited_identity(index, Ed25519KeyPair.generate().public_bytes, now) is None
    assert accredited_identity(index, signer.public_key, record.valid_from - 1) is None
    # revoked (rotated out or compromised) from some time on: not from then
    index.keys[(authority.id, signer.key_id)] = replace(record, revoked_at=now)
    assert accredited_identity(index, signer.public_key, now) is None
    assert accredited_identity(index, signer.public_key, now - 1) is not None
    listed = {a["did"]: a for a in trust_list(index)["authorities"]}[did]
    assert {k["id"]: k["revokedAt"] for k in listed["keys"]}[f"{did}#{signer.key_id}"] == now
    # a suspended authority's key makes no identity, and the list says suspended
    index.keys[(authority.id, signer.key_id)] = record
    index.authorities[authority.id] = replace(authority, status=AuthorityStatus.SUSPENDED)
    assert accredited_identity(index, signer.public_key, now) is None
    assert {a["did"]: a for a in trust_list(index)["authorities"]}[did]["status"] == "suspended"


def test_the_counter_reads_a_key_file_keygen_wrote(tmp_path: Any) -> None:
    from verifier.counter.core import load_or_create_key
    from verifier.keys import encode_private_multikey_ed25519

    pair = Ed25519KeyPair.generate()
    path = tmp_path / "k.key"
    path.write_text(encode_private_multikey_ed25519(pair.private_bytes()) + "\n")
    assert load_or_create_key(path).did == pair.did
    path.write_text(pair.private_bytes().hex() + "\n")  # the counter's own format
    assert load_or_create_key(path).did == pair.did


def test_a_purpose_reaches_the_request_object_and_a_long_one_is_refused(
    api: Api, tmp_path: Any
) -> None:
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    app = create_counter_app(verifier, Ed25519KeyPair.generate())
    body = {"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "肇庆"}
    with TestClient(app, base_url=COUNTER) as counter:
        for client in (counter, api.client):
            made = client.post("/v1/oid4vp/requests", json={**body, "purpose": "办理子女入学"})
            assert made.status_code == 201, made.text
            assert made.json()["request"]["purpose"] == "办理子女入学"
            plain = client.post("/v1/oid4vp/requests", json=body)
            assert "purpose" not in plain.json()["request"]
            long = client.post("/v1/oid4vp/requests", json={**body, "purpose": "长" * 201})
            assert long.status_code == 422, long.text
            assert long.headers["content-type"].startswith("application/problem+json")
