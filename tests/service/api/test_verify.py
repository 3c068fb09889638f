"""Verification over HTTP: /v1/verify, the W3C VC API, rate limits and chain outages."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.anchoring.worker import AnchorWorker
from service.api.ratelimit import TokenBuckets
from service.api.verification import REGISTRY_INDEX_NAME
from service.app import create_app
from service.issuing.issuance import SigningIdentity, issue_credential
from tests.service.conftest import Api, TestClient, assert_problem, auth, settings
from tests.verifier.factories import residence_permit_subject
from verifier.chain import RpcChain
from verifier.errors import InvalidInput

DEAD_NODE = "http://127.0.0.1:9"  # discard port: nothing listens


def _issue_permit(api: Api) -> dict[str, Any]:
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()})
    assert response.status_code == 201
    bundle: dict[str, Any] = response.json()
    return bundle


def test_verify_is_pending_before_anchoring_and_valid_after(api: Api) -> None:
    bundle = _issue_permit(api)
    pending = api.client.post("/v1/verify", json=bundle)
    assert pending.status_code == 200
    report = pending.json()
    assert report["verdict"] == "PENDING"
    outcomes = {c["name"]: c["outcome"] for c in report["checks"]}
    assert outcomes["signature"] == outcomes["issuer"] == "pass"
    assert outcomes["anchor"] == "pending"

    AnchorWorker(api.world.office).drain()
    anchored = api.client.get(
        f"/v1/credentials/{bundle['credential']['id']}", headers=auth(api.permit_key)
    ).json()
    assert anchored["credential"] == bundle["credential"]
    assert anchored["anchor"]["leafIndex"] == 0 and anchored["anchor"]["treeSize"] == 1
    # verified at once, although the verifier synced moments ago (the receipt forces a sync)
    valid = api.client.post("/v1/verify", json=anchored).json()
    assert valid["verdict"] == "VALID", valid
    assert valid["issuerName"]["zh"] == "广州市来穗人员服务管理局"


def test_verify_reports_tampering_and_garbage_as_invalid(api: Api) -> None:
    bundle = _issue_permit(api)
    AnchorWorker(api.world.office).drain()
    anchored = api.world.office.bundle(bundle["credential"]["id"])
    tampered = copy.deepcopy(anchored)
    tampered["credential"]["credentialSubject"]["residenceAddress"] = "广州市越秀区某路1号"
    report = api.client.post("/v1/verify", json=tampered).json()
    assert report["verdict"] == "INVALID"
    failed = {c["name"] for c in report["checks"] if c["outcome"] == "fail"}
    assert {"signature", "anchor"} <= failed
    garbage = api.client.post("/v1/verify", json={"hello": "世界"})
    assert garbage.status_code == 200 and garbage.json()["verdict"] == "INVALID"
    not_json = api.client.post(
        "/v1/verify", content=b"{", headers={"content-type": "application/json"}
    )
    assert_problem(not_json, 422)


def test_vc_api_issue_and_verify(api: Api) -> None:
    subject = api.permit()
    body = {
        "credential": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "ResidencePermit"],
            "issuer": "did:web:lsj.gz.gov.cn",
            "validUntil": "2031-01-01T00:00:00Z",
            "credentialSubject": subject,
        },
        "options": {},
    }
    issued = api.client.post("/credentials/issue", json=body, headers=auth(api.permit_key))
    assert issued.status_code == 201, issued.text
    assert set(issued.json()) == {"verifiableCredential"}
    vc = issued.json()["verifiableCredential"]
    assert vc["issuer"] == "did:web:lsj.gz.gov.cn" and "proof" in vc
    assert vc["validUntil"] == "2031-01-01T00:00:00Z"
    assert vc["credentialSubject"]["citizenId"] == subject["citizenId"]
    assert api.world.office.queue_depth() == 1

    # a valid proof whose anchor is pending: verified, with a warning (VC API), verdict PENDING
    pending = api.client.post("/credentials/verify", json={"verifiableCredential": vc})
    assert pending.status_code == 200, pending.text
    result = pending.json()
    assert result["verified"] is True and result["verdict"] == "PENDING"
    assert [(w["check"], w["code"]) for w in result["warnings"]] == [("anchor", "anchor_pending")]
    assert "signature" in result["checks"] and "anchor" not in result["checks"]

    AnchorWorker(api.world.office).drain()
    verified = api.client.post("/credentials/verify", json={"verifiableCredential": vc})
    assert verified.status_code == 200, verified.text
    result = verified.json()
    assert result["verified"] is True and result["errors"] == [] and result["warnings"] == []
    assert result["checks"] == [
        "format",
        "signature",
        "issuer",
        "key_validity",
        "anchor",
        "status",
        "validity_period",
    ]

    forged = copy.deepcopy(vc)
    forged["credentialSubject"]["name"] += "（伪造）"
    refused = api.client.post("/credentials/verify", json={"verifiableCredential": forged})
    problem = assert_problem(refused, 422)
    assert problem["verdict"] == "INVALID"
    assert {"signature", "anchor"} <= {e["path"] for e in problem["errors"]}


def test_vc_api_issue_bad_input(api: Api) -> None:
    def issue(credential: dict[str, Any]) -> Any:
        return api.client.post(
            "/credentials/issue", json={"credential": credential}, headers=auth(api.permit_key)
        )

    subject = api.permit()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"type": ["VerifiableCredential", "Passport"]}, "credential.type", "type_unknown"),
        ({"type": ["ResidencePermit"]}, "credential.type", "type_unknown"),
        ({"issuer": "did:web:example.com"}, "credential.issuer", "issuer_unknown"),
        ({"@context": ["https://example.com/v1"]}, "credential.@context", "context_invalid"),
        ({"id": "urn:uuid:1"}, "credential.id", "field_unknown"),
        (
            {"credentialSubject": {**subject, "citizenId": "440106199003071232"}},
            "credential.credentialSubject.citizenId",
            "citizen_id_checksum",
        ),
        (
            {"validUntil": "2020-01-01T00:00:00Z"},
            "credential.validUntil",
            "dates_inconsistent",
        ),
    ]
    for change, path, code in cases:
        credential = {
            "type": ["VerifiableCredential", "ResidencePermit"],
            "credentialSubject": subject,
            **change,
        }
        problem = assert_problem(issue(credential), 422)
        assert [(e["path"], e["code"]) for e in problem["errors"]][:1] == [(path, code)], change
    missing = api.client.post("/credentials/issue", json={}, headers=auth(api.permit_key))
    assert assert_problem(missing, 422)["errors"][0]["path"] == "credential"
    assert api.world.office.counts() == {}


def test_vc_verify_without_a_receipt_here_is_pending_with_a_warning(api: Api) -> None:
    # Signed with the authority's real key but never stored by this office (as if issued by
    # another deployment): no receipt to find, so at best PENDING — a warning, not VALID.
    office, permits = api.world.office, api.world.permits
    signer = office.signer(permits.id)
    identity = SigningIdentity(permits.did, permits.name_zh, permits.region, signer.key_id, signer)
    credential, _ = issue_credential(
        "ResidencePermit",
        api.permit(),
        identity,
        chain_id=office.chain.chain_id,
        anchor_registry=office.deployment.anchor_registry,
    )
    response = api.client.post("/credentials/verify", json={"verifiableCredential": credential})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "PENDING"
    assert [w["code"] for w in response.json()["warnings"]] == ["anchor_pending"]
    forged = {**credential, "id": "urn:uuid:00000000-0000-4000-8000-000000000000"}
    response = api.client.post("/credentials/verify", json={"verifiableCredential": forged})
    problem = assert_problem(response, 422)
    assert problem["verdict"] == "INVALID"
    assert "signature" in {e["path"] for e in problem["errors"]}


def test_public_verification_is_rate_limited_per_client(world: Any, tmp_path: Path) -> None:
    app = create_app(world.office, settings(tmp_path, public_rate_per_minute=3), start_worker=False)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.post("/v1/verify", json={}).status_code == 200
        limited = client.post("/v1/verify", json={})
        problem = assert_problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert "3" in problem["detail"]
        assert_problem(client.post("/credentials/verify", json={"verifiableCredential": {}}), 429)
        assert client.get("/healthz").status_code == 200  # only the public verifiers are limited
    with TestClient(app, client=("203.0.113.7", 50000)) as other:
        assert other.post("/v1/verify", json={}).status_code == 200


def test_partners_are_not_held_to_the_anonymous_limit(world: Any, tmp_path: Path) -> None:
    """A partner city's counters share one address: its network (SUIXIN_PARTNER_NETWORKS) or a
    valid API key of the office exempts it; a wrong key does not (issue 20)."""
    limits = settings(tmp_path, public_rate_per_minute=3, partner_networks="10.20.0.0/16, ::1")
    app = create_app(world.office, limits, start_worker=False)
    key = world.key(world.permits, "revoke")
    with TestClient(app, client=("10.20.7.9", 50000)) as partner:
        assert all(partner.post("/v1/verify", json={}).status_code == 200 for _ in range(8))
    with TestClient(app, client=("203.0.113.8", 50000)) as keyed:
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            for _ in range(5):
                assert keyed.post("/v1/verify", json={}, headers=headers).status_code == 200
        wrong = {"Authorization": "Bearer sx_0000000000000000_not-a-key"}
        statuses = [keyed.post("/v1/verify", json={}, headers=wrong).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], statuses
    with TestClient(app, client=("10.21.0.1", 50000)) as outsider:
        statuses = [outsider.post("/v1/verify", json={}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], statuses


def test_a_partner_network_that_is_not_one_stops_the_start(tmp_path: Path) -> None:
    bad = settings(tmp_path, partner_networks="10.20.0.0/16,counter.zq.gov.cn")
    with pytest.raises(InvalidInput, match=r"counter\.zq\.gov\.cn"):
        bad.check()


def test_token_buckets_refill_over_time() -> None:
    now = [1000.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])
    assert all(buckets.take("a") == 0 for _ in range(60))
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0
    now[0] += 1.0
    assert buckets.take("a") == 0  # one token per second at 60 a minute
    assert buckets.take("a") > 0


def test_chain_outage_is_503_never_invalid(api: Api) -> None:
    bundle = _issue_permit(api)
    office = api.world.office
    live = office.chain
    verification = api.client.app.state.suixin.verification  # type: ignore[attr-defined]
    # the background sync keeps the index fresh; an index older than the sync interval (the
    # thread's syncs failing, as here) is synced by the request itself: see test_verify_sync.
    # Swapped under the sync lock: a background sync in flight on the live chain would
    # otherwise finish after the swap and make the index fresh again (seen under load)
    with verification._sync_lock:
        office.chain = RpcChain(DEAD_NODE, request_timeout=2)
        verification._last_sync = None
    try:
        response = api.client.post("/v1/verify", json=bundle)
        problem = assert_problem(response, 503)
        assert problem["type"] == "urn:suixin:problem:chain-unavailable"
        assert "verdict" not in problem and "INVALID" not in response.text
        assert_problem(
            api.client.post(
                "/credentials/verify", json={"verifiableCredential": bundle["credential"]}
            ),
            503,
        )
        ready = assert_problem(api.client.get("/readyz"), 503)
        assert ready["checks"]["database"] == "ok"
        assert ready["checks"]["chain"].startswith("unreachable")
        assert api.client.get("/healthz").status_code == 200
    finally:
        office.chain.close()
        office.chain = live
    assert api.client.post("/v1/verify", json=bundle).json()["verdict"] == "PENDING"


def test_steady_state_verification_reads_no_chain(api: Api) -> None:
    first, second = _issue_permit(api), _issue_permit(api)
    assert api.client.post("/v1/verify", json=first).json()["verdict"] == "PENDING"  # synced
    AnchorWorker(api.world.office).drain()
    anchored = api.world.office.bundle(second["credential"]["id"])
    office = api.world.office
    live = office.chain
    office.chain = RpcChain(DEAD_NODE, request_timeout=2)
    try:
        # inside the sync interval, from the index: no chain call, so the outage is unseen
        assert api.client.post("/v1/verify", json=first).json()["verdict"] == "PENDING"
        # a receipt newer than the index needs the chain: 503, not "root unknown"
        assert_problem(api.client.post("/v1/verify", json=anchored), 503)
    finally:
        office.chain.close()
        office.chain = live
    assert api.client.post("/v1/verify", json=anchored).json()["verdict"] == "VALID"


def test_the_office_learns_another_processs_status_change_within_half_a_second(
    api: Api, monkeypatch: Any
) -> None:
    import service.api.verification as verification_module
    from service.storage.models import StatusChange

    # a fake clock far ahead of the real one: a set read before the patch (by the app's
    # read-ahead thread, under load) is then old, not from the future (CI failure of stop 26:
    # the clock started at 5,000 s on a machine up for 6,000 s, so nothing was ever due)
    clock = [time.monotonic() + 100_000.0]
    monkeypatch.setattr(verification_module.time, "monotonic", lambda: clock[0])
    verification = api.client.app.state.suixin.verification  # type: ignore[attr-defined]
    permit = _issue_permit(api)["credential"]
    assert not verification.recently_changed(permit["id"])
    office = api.world.office
    with office.db.session() as s:  # a change queued by another server process
        s.add(
            StatusChange(
                authority_id=api.world.permits.id,
                credential_id=permit["id"],
                status="revoked",
                reason="issuer_error",
                reason_code=14,
                state="pending",
                requested_at=datetime.now(UTC),
            )
        )
    clock[0] += 0.3
    assert not verification.recently_changed(permit["id"])  # the set is still fresh
    clock[0] += 0.3
    assert verification.recently_changed(permit["id"])


def test_a_set_read_ahead_before_a_change_commits_is_read_again_once_it_has(api: Api) -> None:
    """The CI failure of stop 26 (PostgreSQL, under load): this process counted its queued
    change before the change committed, so the read-ahead thread, reading between the two,
    kept a set without the change as up to date, and the issuer's own verify said VALID for
    a credential it had just revoked (for up to half a second)."""
    from service.lifecycle.status_queue import enqueue

    verification = api.client.app.state.suixin.verification  # type: ignore[attr-defined]
    permit = _issue_permit(api)["credential"]
    office = api.world.office
    with office.db.session() as s:
        enqueue(
            s,
            authority_id=api.world.permits.id,
            credential_id=permit["id"],
            status="revoked",
            reason="issuer_error",
        )
        s.flush()
        with verification._recent_lock:  # the read-ahead thread's read, before the commit
            verification._read_recent()
        assert not verification.recently_changed(permit["id"])  # not committed: not seen
    assert verification.recently_changed(permit["id"])


def test_a_restarted_office_verifies_from_its_kept_index(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = world.office
    key = world.key(world.permits, "issue:ResidencePermit")

    def issue(client: TestClient) -> dict[str, Any]:
        body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
        response = client.post("/v1/credentials", json=body, headers=auth(key))
        assert response.status_code == 201, response.text
        AnchorWorker(office).drain()
        return office.bundle(response.json()["credential"]["id"])

    with TestClient(create_app(office, settings(tmp_path), start_worker=False)) as client:
        first = issue(client)
        assert client.post("/v1/verify", json=first).json()["verdict"] == "VALID"
        kept = client.app.state.suixin.verification.verifier.index.synced_block  # type: ignore[attr-defined]
    assert (tmp_path / REGISTRY_INDEX_NAME).is_file()
    assert kept > office.deployment.block_number

    ranges: list[tuple[int, int]] = []
    get_logs = office.chain.get_logs

    def recording(addresses: Any, start: int, end: int) -> Any:
        ranges.append((start, end))
        return get_logs(addresses, start, end)

    monkeypatch.setattr(office.chain, "get_logs", recording)
    # the office restarted: a new app (a new API process) over the same data directory
    with TestClient(create_app(office, settings(tmp_path), start_worker=False)) as client:
        second = issue(client)
        assert client.post("/v1/verify", json=second).json()["verdict"] == "VALID"
        assert client.post("/v1/verify", json=first).json()["verdict"] == "VALID"
    assert ranges and min(start for start, _ in ranges) == kept + 1  # never from block 0


def test_queued_changes_are_counted_once_per_committed_transaction(api: Api) -> None:
    """``local_changes`` moves when a transaction that queued status changes commits, once
    however many it queued, and not for one rolled back; a session used again is counted
    again (its listeners are set once)."""
    from service.lifecycle.status_queue import enqueue, local_changes

    permit = _issue_permit(api)["credential"]
    office, authority_id = api.world.office, api.world.permits.id

    def queue(s: Any) -> None:
        enqueue(
            s,
            authority_id=authority_id,
            credential_id=permit["id"],
            status="revoked",
            reason="issuer_error",
        )

    before = local_changes()
    with office.db.session() as s:
        queue(s)
        queue(s)
        assert local_changes() == before  # not before the commit
    assert local_changes() == before + 1
    with pytest.raises(RuntimeError), office.db.session() as s:
        queue(s)
        raise RuntimeError("rolled back")
    assert local_changes() == before + 1
    from sqlalchemy.orm import Session

    with Session(office.db.engine) as session:  # one session, two transactions
        for expected in (before + 2, before + 3):
            queue(session)
            session.commit()
            assert local_changes() == expected
