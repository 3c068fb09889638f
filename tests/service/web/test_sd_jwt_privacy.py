"""Private by default (issue 16, item 4): SD-JWT VCs carry no credential id; their status is an
entry of their own in the authority's Token Status Lists, committed on chain through its list
set; a claim gives a batch of single-use copies, each with its own key, salts, status index and
anchored JWT. The standalone counter reads the status from the token list it fetches whole."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from service.anchoring.worker import AnchorWorker
from service.issuing import status_lists
from service.lifecycle.status_queue import enqueue
from service.wallet.oid4vci import BATCH_SIZE, configuration_id
from tests.service.conftest import Api, auth
from tests.service.web.counters import lists_from
from tests.service.web.test_wallet_api import (
    BASE,
    PRE_AUTH,
    issue_permit,
    offer,
    proof_jwt,
    redeem,
)
from verifier.counter.app import create_counter_app
from verifier.counter.core import load_or_create_key
from verifier.keys import Ed25519KeyPair
from verifier.sdjwt import (
    b64url_decode,
    make_presentation_envelope,
    parse_sd_jwt,
    present,
    sign_jws,
)
from verifier.status_tokens import FetchedLists, token_list_status
from verifier.token_status_list import StatusListReference
from verifier.verify import Verifier

COUNTER = "http://zhaoqing.counter.test"
PERMIT_CONFIGURATION = configuration_id("ResidencePermit")


def claim_copies(api: Api, keys: list[Any], credential_id: str | None = None) -> dict[str, Any]:
    """A permit issued (or ``credential_id``) and claimed with one proof per key."""
    credential_id = credential_id or issue_permit(api)
    code = offer(api, credential_id)["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    token = redeem(api, code)
    response = api.client.post(
        "/v1/oid4vci/credential",
        json={
            "credential_configuration_id": PERMIT_CONFIGURATION,
            "proofs": {"jwt": [proof_jwt(k, token["c_nonce"]) for k in keys]},
        },
        headers=auth(token["access_token"]),
    )
    return {
        "status": response.status_code,
        "body": response.json(),
        "credentialId": credential_id,
        "token": token,
    }


def keys(n: int) -> list[ec.EllipticCurvePrivateKey]:
    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(n)]


def plain_text(sd_jwt: str) -> str:
    """Every part of an SD-JWT decoded: what a counter could read out of it."""
    jwt, *disclosures = [p for p in sd_jwt.split("~") if p]
    head, body, _ = jwt.split(".")
    parts = [b64url_decode(head), b64url_decode(body), *(b64url_decode(d) for d in disclosures)]
    return " ".join(p.decode() for p in parts) + " " + sd_jwt


def drain(api: Api) -> None:
    AnchorWorker(api.world.office).drain()


@pytest.fixture
def fetched(api: Api) -> FetchedLists:
    return lists_from(api.client)


@pytest.fixture
def counter(api: Api, tmp_path: Any, fetched: FetchedLists) -> Iterator[TestClient]:
    """The 肇庆 counter: its own Verifier over the chain, its lists fetched from the office."""
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    app = create_counter_app(
        verifier,
        load_or_create_key(tmp_path / "counter.key"),
        name="肇庆",
        wallet_url=f"{BASE}/wallet",
        status_lists=fetched,
    )
    with TestClient(app, base_url=COUNTER) as client:
        yield client


def ask_and_answer(
    counter: TestClient, sd_jwt: str, key: Any, anchor: Any, sent: list[Any] | None = None
) -> dict[str, Any]:
    made = counter.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "肇庆"},
    ).json()
    obj = made["request"]
    text = present(sd_jwt, ["name"], key, nonce=obj["nonce"], audience=obj["client_id"])
    envelope = make_presentation_envelope(text, anchor)
    body = {"vp_token": {"q0": [envelope]}, "state": made["requestId"]}
    if sent is not None:
        sent.append(body)
    answered = counter.post(obj["response_uri"].removeprefix(COUNTER), json=body)
    return {"made": made, "answer": answered}


def status_check(report: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c["name"] == "status")
    return found


def recheck(counter: TestClient, made: dict[str, Any]) -> dict[str, Any]:
    response = counter.post(
        f"/v1/oid4vp/requests/{made['requestId']}/recheck",
        headers={"X-Counter-Secret": made["sessionSecret"]},
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()["report"]
    return report


def test_the_issuer_says_how_many_copies_a_claim_gives(api: Api) -> None:
    metadata = api.client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["batch_credential_issuance"] == {"batch_size": BATCH_SIZE} == {"batch_size": 10}


def test_copies_are_unlinkable_and_carry_no_credential_id(api: Api) -> None:
    held = keys(3)
    claimed = claim_copies(api, held)
    assert claimed["status"] == 200, claimed["body"]
    body = claimed["body"]
    copies = [c["credential"] for c in body["credentials"]]
    ids = body["walletCredentialIds"]
    assert len(copies) == len(ids) == 3 and len(set(ids)) == 3
    parsed = [parse_sd_jwt(c) for c in copies]
    # no credential id, in any part of any copy
    for copy in copies:
        assert claimed["credentialId"] not in plain_text(copy)
        assert claimed["credentialId"].removeprefix("urn:uuid:") not in plain_text(copy)
    assert all("credentialId" not in p.payload for p in parsed)
    # different issuer JWTs, holder keys, salts, decoys and status indices
    assert len({p.issuer_jwt for p in parsed}) == 3
    assert len({json.dumps(p.payload["cnf"], sort_keys=True) for p in parsed}) == 3
    salts = [{d.salt for d in p.disclosures} for p in parsed]
    assert not (salts[0] & salts[1]) and not (salts[0] & salts[2]) and not (salts[1] & salts[2])
    digests = [set(p.payload["_sd"]) for p in parsed]
    assert not (digests[0] & digests[1])
    references = [StatusListReference.from_claims(p.payload) for p in parsed]
    assert len({r.idx for r in references}) == 3
    authority = api.world.permits
    base = status_lists.list_base(authority.did)
    assert all(r.uri.startswith(f"{base}/token/") for r in references)
    # each key bound to its own copy
    for key, p in zip(held, parsed, strict=True):
        jwk = p.payload["cnf"]["jwk"]
        numbers = key.public_key().public_numbers()
        assert b64url_decode(jwk["x"]) == numbers.x.to_bytes(32, "big")
    # each copy anchored on its own: different receipts (leaves and paths)
    drain(api)
    receipts = [api.client.get(f"/v1/oid4vci/credentials/{i}").json()["anchor"] for i in ids]
    assert all(r is not None for r in receipts)
    assert len({json.dumps(r, sort_keys=True) for r in receipts}) == 3
    # the token list is published, signed, and committed through the anchored list set
    uri = references[0].uri
    host = authority.did.removeprefix("did:web:")
    served = api.client.get(uri.removeprefix(f"https://{host}"), headers={"host": host})
    assert served.status_code == 200, served.text
    assert served.headers["content-type"].startswith("application/statuslist+jwt")
    header = json.loads(b64url_decode(served.text.split(".")[0]))
    claims = json.loads(b64url_decode(served.text.split(".")[1]))
    assert header["typ"] == "statuslist+jwt" and header["kid"].startswith(authority.did + "#")
    assert claims["sub"] == uri and claims["status_list"]["bits"] == 2
    assert claims["exp"] > claims["iat"] and claims["ttl"] > 0


def test_a_batch_is_refused_whole_for_a_repeated_key_or_too_many_proofs(api: Api) -> None:
    one = keys(1)[0]
    repeated = claim_copies(api, [one, one])
    assert repeated["status"] == 400 and repeated["body"]["error"] == "invalid_proof"
    too_many = claim_copies(api, keys(BATCH_SIZE + 1))
    assert too_many["status"] == 400 and too_many["body"]["error"] == "invalid_proof"
    # nothing was spent: the same access token still gives its copies
    token = repeated["token"]
    again = api.client.post(
        "/v1/oid4vci/credential",
        json={
            "credential_configuration_id": PERMIT_CONFIGURATION,
            "proofs": {"jwt": [proof_jwt(k, token["c_nonce"]) for k in keys(2)]},
        },
        headers=auth(token["access_token"]),
    )
    assert again.status_code == 200 and len(again.json()["credentials"]) == 2


def test_the_standalone_counter_reads_revocation_suspension_and_reinstatement_from_the_list(
    api: Api, counter: TestClient, fetched: FetchedLists
) -> None:
    held = keys(3)
    claimed = claim_copies(api, held)
    body = claimed["body"]
    copies = [c["credential"] for c in body["credentials"]]
    drain(api)
    anchors = [
        api.client.get(f"/v1/oid4vci/credentials/{i}").json()["anchor"]
        for i in body["walletCredentialIds"]
    ]
    sent: list[Any] = []
    first = ask_and_answer(counter, copies[0], held[0], anchors[0], sent)
    assert first["answer"].status_code == 200, first["answer"].text
    report = first["answer"].json()["report"]
    assert report["verdict"] == "VALID", report
    assert status_check(report)["code"] == "status_active"
    assert "/token/" in status_check(report)["zh"] + status_check(report)["en"]
    assert report.get("credentialId") is None
    # what the counter received names no credential
    assert claimed["credentialId"] not in json.dumps(sent, ensure_ascii=False)
    wire = sent[0]["vp_token"]["q0"][0]["presentation"]
    assert claimed["credentialId"] not in plain_text(wire.rsplit("~", 1)[0] + "~")
    assert fetched.fetches >= 2  # the token and the set, fetched whole
    # a forged SD-JWT (its issuer signature broken) makes the counter fetch nothing
    before = fetched.fetches
    jwt, *rest = copies[1].split("~")
    head, body, signature = jwt.split(".")
    forged = "~".join([f"{head}.{body}.{signature[:-4]}AAAA", *rest])
    refused = ask_and_answer(counter, forged, held[1], anchors[1])
    assert refused["answer"].status_code == 400
    assert status_check(refused["answer"].json()["report"])["outcome"] == "skipped"
    assert fetched.fetches == before

    authority_id = api.world.permits.id
    with api.world.office.db.write_session() as s:
        enqueue(s, authority_id=authority_id, credential_id=claimed["credentialId"],
                status="suspended", reason="endorsement_lapsed")  # fmt: skip
    drain(api)
    suspended = recheck(counter, first["made"])
    assert suspended["verdict"] == "INVALID"
    assert status_check(suspended)["code"] == "credential_suspended"
    # every copy: another copy at another request is suspended too
    second = ask_and_answer(counter, copies[1], held[1], anchors[1])
    assert status_check(second["answer"].json()["report"])["code"] == "credential_suspended"

    with api.world.office.db.write_session() as s:
        enqueue(s, authority_id=authority_id, credential_id=claimed["credentialId"],
                status="reinstated", reason="endorsed")  # fmt: skip
    drain(api)
    assert recheck(counter, first["made"])["verdict"] == "VALID"

    revoked = api.client.post(
        f"/v1/credentials/{claimed['credentialId']}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert revoked.status_code == 200, revoked.text
    drain(api)
    after = recheck(counter, first["made"])
    assert after["verdict"] == "INVALID"
    assert status_check(after)["code"] == "credential_revoked"
    third = ask_and_answer(counter, copies[2], held[2], anchors[2])
    assert third["answer"].json()["report"]["verdict"] == "INVALID"
    assert status_check(third["answer"].json()["report"])["code"] == "credential_revoked"


class _Lists:
    """A source handing out chosen documents."""

    def __init__(self, token: str | None, listed: Any) -> None:
        self._token, self._set = token, listed

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str | None:
        return self._token

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> Any:
        return self._set


def _resign(token: str, claims_change: Any, sign: Any, kid: str | None = None) -> str:
    head, body, _ = token.split(".")
    header = json.loads(b64url_decode(head))
    claims = json.loads(b64url_decode(body))
    claims_change(claims)
    if kid is not None:
        header["kid"] = kid
    return sign_jws(header, claims, sign)


def test_a_token_list_tampered_unanchored_foreign_expired_or_missing_is_refused(
    api: Api,
) -> None:
    claimed = claim_copies(api, keys(1))
    sd_jwt = claimed["body"]["credentials"][0]["credential"]
    drain(api)
    office = api.world.office
    authority = api.world.permits
    reference = StatusListReference.from_claims(parse_sd_jwt(sd_jwt).payload)
    with office.db.session() as s:
        listed = status_lists.served_set(s, authority.id)
        number = int(reference.uri.rsplit("/", 1)[1])
        token = status_lists.served_token(s, authority.id, number)
    assert token is not None and listed is not None
    verifier = Verifier.from_chain(
        office.chain, office.deployment.anchor_registry, deployment=office.deployment
    )
    verifier.refresh(force=True)
    record = verifier.index.authority(authority.did)
    assert record is not None

    def decide(source: Any, now: datetime | None = None) -> tuple[str, str]:
        found = token_list_status(reference, record, verifier.index, source, now)
        return found.outcome, found.reason.code

    assert decide(_Lists(token, listed)) == ("pass", "status_active")

    # tampered: a status flipped in the signed payload (signature no longer holds)
    head, body, signature = token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["status_list"]["lst"] = claims["status_list"]["lst"][:-2] + "AA"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert decide(_Lists(f"{head}.{forged}.{signature}", listed)) == (
        "fail",
        "status_list_token_signature_invalid",
    )
    # signed by another key under the issuer's kid; or naming a key the issuer never registered
    stranger = Ed25519KeyPair.generate()
    by_stranger = _resign(token, lambda c: None, stranger.sign)
    assert decide(_Lists(by_stranger, listed)) == ("fail", "status_list_token_signature_invalid")
    unregistered = _resign(token, lambda c: None, stranger.sign, kid=f"{authority.did}#other")
    assert decide(_Lists(unregistered, listed)) == ("fail", "status_list_key_unknown")
    # signed by the issuer's own key but not the committed version (its digest is not anchored)
    signer = office.signer(authority.id)
    later = _resign(token, lambda c: c.update(iat=c["iat"] + 1), signer.sign)
    assert decide(_Lists(later, listed)) == ("fail", "status_list_not_anchored")
    # a list set changed to commit to the forged token: its digest is not the one on chain
    changed = {**listed, "lists": {**listed["lists"]}}
    from verifier.token_status_list import status_list_token_digest

    changed["lists"][reference.uri] = status_list_token_digest(later).hex()
    assert decide(_Lists(later, changed)) == ("fail", "status_list_not_anchored")
    # expired: the committed token read after its exp
    exp = json.loads(b64url_decode(token.split(".")[1]))["exp"]
    late = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=1)
    assert decide(_Lists(token, listed), late) == ("fail", "status_list_token_expired")
    # a reference to a list off the issuer's host is refused, never fetched
    elsewhere = StatusListReference(reference.idx, "https://elsewhere.example/status-lists/token/0")
    found = token_list_status(elsewhere, record, verifier.index, _Lists(token, listed))
    assert (found.outcome, found.reason.code) == ("fail", "status_reference_foreign")
    # nothing at hand: cannot decide, never a pass
    assert decide(_Lists(None, listed)) == ("pending", "status_list_unavailable")
    assert decide(None) == ("pending", "status_list_unavailable")


def test_a_counter_that_cannot_fetch_the_list_does_not_pass_the_status(
    api: Api, tmp_path: Any
) -> None:
    held = keys(1)
    claimed = claim_copies(api, held)
    body = claimed["body"]
    drain(api)
    anchor = api.client.get(f"/v1/oid4vci/credentials/{body['walletCredentialIds'][0]}").json()[
        "anchor"
    ]

    def unreachable(url: str, *_args: Any) -> bytes:
        raise OSError("network unreachable")

    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    app = create_counter_app(
        verifier,
        load_or_create_key(tmp_path / "k"),
        status_lists=FetchedLists(transport=unreachable),
    )
    with TestClient(app, base_url=COUNTER) as client:
        answered = ask_and_answer(client, body["credentials"][0]["credential"], held[0], anchor)
    report = answered["answer"].json()["report"]
    assert report["verdict"] == "PENDING"
    status = status_check(report)
    assert status["outcome"] == "pending" and status["code"] == "status_list_unavailable"
    assert "不能判定" in status["zh"] and "cannot be decided" in status["en"]


def _snapshot(api: Api, path: Any) -> Verifier:
    """What ``suixin-verify snapshot --office`` writes: the index, and the list sets and
    documents (token lists too) whose digests the chain commits to."""
    from verifier.cli import _committed_lists

    office = api.world.office
    verifier = Verifier.from_chain(
        office.chain, office.deployment.anchor_registry, deployment=office.deployment
    )
    verifier.refresh(force=True)
    served = api.client.get("/v1/status-lists").json()
    documents = [*served["sets"], *served["lists"]]
    # a token document altered on its way is not carried
    forged = next(d for d in documents if d.get("type") == "SuixinStatusListToken")
    documents.append({**forged, "id": forged["id"] + "0", "token": forged["token"][:-4] + "AAAA"})
    kept, stale = _committed_lists(verifier.index, documents)
    assert len(stale) == 1 and stale[0]["id"] == forged["id"] + "0"
    verifier.index.list_documents = {str(d["id"]): d for d in kept}
    verifier.index.export_snapshot(path)
    return Verifier.from_snapshot(path)


def test_offline_the_snapshot_carries_the_token_lists(api: Api, tmp_path: Any) -> None:
    from verifier.sdjwt import verify_presentation

    held = keys(1)
    claimed = claim_copies(api, held)
    sd_jwt = claimed["body"]["credentials"][0]["credential"]
    drain(api)
    anchor = api.client.get(
        f"/v1/oid4vci/credentials/{claimed['body']['walletCredentialIds'][0]}"
    ).json()["anchor"]

    def verdict(verifier: Verifier) -> tuple[str, str]:
        text = present(sd_jwt, ["name"], held[0], nonce="n", audience="did:key:c")
        report = verify_presentation(
            verifier, make_presentation_envelope(text, anchor), nonce="n", audience="did:key:c"
        ).report
        status = next(c for c in report.checks if c.name == "status")
        return report.verdict.value, status.reason.code

    before = _snapshot(api, tmp_path / "before.json")
    assert verdict(before) == ("VALID", "status_active")
    revoked = api.client.post(
        f"/v1/credentials/{claimed['credentialId']}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert revoked.status_code == 200, revoked.text
    drain(api)
    after = _snapshot(api, tmp_path / "after.json")
    assert verdict(after) == ("INVALID", "credential_revoked")
    # a snapshot without the lists cannot decide the status
    bare = Verifier.from_chain(
        api.world.office.chain,
        api.world.office.deployment.anchor_registry,
        deployment=api.world.office.deployment,
    )
    bare.refresh(force=True)
    assert verdict(bare) == ("PENDING", "status_list_unavailable")


def _two_copies_valid(api: Api) -> tuple[dict[str, Any], list[StatusListReference]]:
    """Two copies claimed, their Token Status List entries published, both read valid (0)."""
    claimed = claim_copies(api, keys(2))
    references = [
        StatusListReference.from_claims(parse_sd_jwt(c["credential"]).payload)
        for c in claimed["body"]["credentials"]
    ]
    drain(api)
    assert [_token_value(api, r) for r in references] == [0, 0]
    return claimed, references


def _token_value(api: Api, reference: StatusListReference) -> int:
    from verifier.token_status_list import token_status

    number = int(reference.uri.rsplit("/", 1)[1])
    with api.world.office.db.session() as s:
        token = status_lists.served_token(s, api.world.permits.id, number)
    assert token is not None
    return token_status(reference, json.loads(b64url_decode(token.split(".")[1])))


@pytest.mark.parametrize("crash", ["before sending", "after sending"])
def test_a_crash_settles_pending_token_lists_as_the_w3c_lists(api: Api, crash: str) -> None:
    from sqlalchemy import select

    from service.anchoring.status_sender import StatusSender
    from service.storage.models import StatusList
    from verifier.bundle import credential_id_hash
    from verifier.contracts import load_artifact

    claimed, references = _two_copies_valid(api)
    revoked = api.client.post(
        f"/v1/credentials/{claimed['credentialId']}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert revoked.status_code == 200, revoked.text
    office, authority_id = api.world.office, api.world.permits.id
    sender = StatusSender(office, log=lambda _m: None)
    changes, lists = sender._claim(authority_id)
    assert changes and lists is not None
    with office.db.session() as s:
        pending = s.scalars(
            select(StatusList).where(
                StatusList.authority_id == authority_id,
                StatusList.purpose == status_lists.TOKEN,
                StatusList.pending.is_not(None),
            )
        ).all()
    assert len(pending) == 1  # the new token version waits for the chain
    assert [_token_value(api, r) for r in references] == [0, 0]  # still served: the old one
    if crash == "after sending":  # mined, but the process died before recording it
        office.chain.transact(
            office.deployment.anchor_registry,
            load_artifact("AnchorRegistry").abi,
            "setStatusBatchWithLists",
            [[credential_id_hash(c.credential_id) for c in changes], [1] * len(changes),
             [c.reason_code for c in changes], [lists.set_hash], [lists.set_digest]],
            office.account(authority_id),
        )  # fmt: skip
    StatusSender(office, log=lambda _m: None).drain()  # the restarted sender settles it
    assert [_token_value(api, r) for r in references] == [1, 1]  # every copy: invalid
    with office.db.session() as s:
        assert status_lists.pending_set(s, authority_id) is None
        listed = status_lists.served_set(s, authority_id)
    assert listed is not None
    uri = references[0].uri
    number = int(uri.rsplit("/", 1)[1])
    with office.db.session() as s:
        token = status_lists.served_token(s, authority_id, number)
    assert token is not None
    from verifier.token_status_list import status_list_token_digest

    assert listed["lists"][uri] == status_list_token_digest(token).hex()


def test_new_copies_come_with_the_refresh_token_once_and_never_for_a_revoked_credential(
    api: Api,
) -> None:
    claimed = claim_copies(api, keys(2))
    refresh_token = claimed["token"]["refresh_token"]

    def refresh(value: str) -> Any:
        return api.client.post(
            "/v1/oid4vci/token",
            content=f"grant_type=refresh_token&refresh_token={value}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    got = refresh(refresh_token)
    assert got.status_code == 200, got.text
    fresh = got.json()
    assert fresh["refresh_token"] != refresh_token and fresh["c_nonce"]
    more = api.client.post(
        "/v1/oid4vci/credential",
        json={
            "credential_configuration_id": PERMIT_CONFIGURATION,
            "proofs": {"jwt": [proof_jwt(k, fresh["c_nonce"]) for k in keys(3)]},
        },
        headers=auth(fresh["access_token"]),
    )
    assert more.status_code == 200, more.text
    copies = [c["credential"] for c in more.json()["credentials"]]
    assert len(copies) == 3
    before = {parse_sd_jwt(c["credential"]).issuer_jwt for c in claimed["body"]["credentials"]}
    assert not before & {parse_sd_jwt(c).issuer_jwt for c in copies}
    # the refresh token is spent on use
    spent = refresh(refresh_token)
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    # a revoked credential gets no new copies
    revoked = api.client.post(
        f"/v1/credentials/{claimed['credentialId']}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert revoked.status_code == 200, revoked.text
    refused = refresh(fresh["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "revoked" in refused.json()["error_description"]


def test_a_superseded_credential_invalidates_its_copies(api: Api) -> None:
    """变更居住地址: the old version is superseded; the copies made from it read invalid."""
    claimed, references = _two_copies_valid(api)
    moved = api.client.post(
        f"/v1/credentials/{claimed['credentialId']}/change-address",
        json={"residenceAddress": "广州市越秀区北京路50号", "residenceRegion": "440104"},
        headers=auth(api.world.key(api.world.permits, "lifecycle")),
    )
    assert moved.status_code == 201, moved.text
    drain(api)
    assert [_token_value(api, r) for r in references] == [1, 1]


def test_registries_without_list_sets_still_issue_copies_checked_by_the_chain(api: Api) -> None:
    """An office on registries deployed before list sets cannot commit token lists: its copies
    carry the credential id, and the counter checks that id's status on chain, as before."""
    import dataclasses

    office = api.world.office
    deployment = office.deployment
    office.deployment = dataclasses.replace(deployment, status_lists=False)
    try:
        held = keys(2)
        claimed = claim_copies(api, held)
    finally:
        office.deployment = deployment
    assert claimed["status"] == 200, claimed["body"]
    copies = [c["credential"] for c in claimed["body"]["credentials"]]
    payloads = [parse_sd_jwt(c).payload for c in copies]
    assert all(p["credentialId"] == claimed["credentialId"] and "status" not in p for p in payloads)
    drain(api)
    anchor = api.client.get(
        f"/v1/oid4vci/credentials/{claimed['body']['walletCredentialIds'][0]}"
    ).json()["anchor"]
    request = api.client.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "柜台"},
    ).json()
    obj = request["request"]
    text = present(copies[0], ["name"], held[0], nonce=obj["nonce"], audience=obj["client_id"])
    answered = api.client.post(
        obj["response_uri"].removeprefix(BASE),
        json={"vp_token": {"q0": [make_presentation_envelope(text, anchor)]}},
    )
    assert answered.status_code == 200, answered.text
    report = answered.json()["report"]
    assert report["verdict"] == "VALID" and status_check(report)["code"] == "status_active"
    assert "/token/" not in status_check(report)["en"]  # the chain's status, not a token list


def test_an_authority_that_can_no_longer_sign_tokens_withdraws_them_from_its_set(
    api: Api,
) -> None:
    """After a rotation to an SM2 key (JOSE has no SM2) no new token can be signed: the next
    set leaves the token lists out, so no stale list stays committed."""
    from service.anchoring.status_sender import StatusSender

    claimed = claim_copies(api, keys(1))
    uri = StatusListReference.from_claims(
        parse_sd_jwt(claimed["body"]["credentials"][0]["credential"]).payload
    ).uri
    drain(api)
    office, authority_id = api.world.office, api.world.permits.id
    with office.db.session() as s:
        served = status_lists.served_set(s, authority_id)
    assert served is not None and uri in served["lists"]
    sender = StatusSender(office, log=lambda _m: None)
    authority = office.authority(authority_id)
    with office.db.write_session() as s:
        update = status_lists.prepare(
            s,
            authority_id=authority_id,
            did=authority.did,
            sign=lambda unsigned: sender._sign_list(authority_id, unsigned),
            changes=[],
            now=datetime.now(UTC),
            sign_token=None,
        )
        assert update is not None
        pending = status_lists.pending_set(s, authority_id)
        assert pending is not None and uri not in pending.lists
        assert any("/revocation/" in url for url in pending.lists)  # the W3C lists stay
        # nothing more to withdraw once the pending set has left them out
        again = status_lists.prepare(
            s,
            authority_id=authority_id,
            did=authority.did,
            sign=lambda unsigned: sender._sign_list(authority_id, unsigned),
            changes=[],
            now=datetime.now(UTC),
            sign_token=None,
        )
        assert again is None
        status_lists.discard(s, authority_id)


def test_a_revocation_while_copies_are_made_refuses_them(api: Api, monkeypatch: Any) -> None:
    """The credential is revoked after the claim first read it in force and before its copies
    are stored: the copies are refused, none is stored, so none can escape the revocation."""
    from sqlalchemy import func, select

    from service.lifecycle.revocation import revoke
    from service.storage.wallet import SdJwtCredential
    from service.wallet import oid4vci

    credential_id = issue_permit(api)
    code = offer(api, credential_id)["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    token = redeem(api, code)
    real = oid4vci.issue_sd_jwt
    raced: list[str] = []

    def racing(*args: Any, **kwargs: Any) -> str:
        if not raced:
            raced.append(credential_id)
            revoke(api.world.office, credential_id, reason="issuer_error")
        return real(*args, **kwargs)

    monkeypatch.setattr(oid4vci, "issue_sd_jwt", racing)
    response = api.client.post(
        "/v1/oid4vci/credential",
        json={
            "credential_configuration_id": PERMIT_CONFIGURATION,
            "proofs": {"jwt": [proof_jwt(k, token["c_nonce"]) for k in keys(2)]},
        },
        headers=auth(token["access_token"]),
    )
    assert raced and response.status_code == 409, response.text
    assert response.json()["error"] == "credential_not_in_force"
    with api.world.office.db.session() as s:
        stored = s.scalar(
            select(func.count())
            .select_from(SdJwtCredential)
            .where(SdJwtCredential.credential_id == credential_id)
        )
    assert stored == 0
