"""Every state-changing action appends one audit row naming who did it; no personal data in it;
``GET /v1/audit`` shows an authority its own rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from service.audit.anchor import HeadAnchorer
from service.audit.trail import sequence
from service.audit.verify import verify_audit
from service.storage.db import Database
from service.storage.models import AuditEntry
from service.trust.authorities import EnrolmentState, enrol
from tests.service.conftest import Api, OfficeWorld, assert_problem, auth
from verifier.contracts import load_artifact

TRUST = load_artifact("TrustRegistry").abi


def rows(db: Database, after: int = 0) -> list[AuditEntry]:
    """The chained rows after seq ``after`` (committed inbox rows chained first)."""
    sequence(db)
    with db.session() as s:
        query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
        return list(s.scalars(query))


def head(db: Database) -> int:
    """The head's seq once the committed inbox rows are chained."""
    sequence(db)
    with db.session() as s:
        return int(s.execute(text("SELECT seq FROM audit_head")).scalar_one())


def key_id(key: str) -> str:
    return key.split("_")[1]


def test_issuance_appends_one_row_by_the_calling_key_and_replays_append_none(api: Api) -> None:
    db = api.world.office.db
    start = head(db)  # the fixture's API keys are in the trail already
    assert [r.action for r in rows(db)] == ["apikey.create", "apikey.create"]
    body = {"type": "ResidencePermit", "subject": api.permit()}
    first = api.issue(body, **{"Idempotency-Key": "audit-1"})
    assert first.status_code == 201
    credential_id = first.json()["credential"]["id"]
    [row] = rows(db, start)
    assert (row.actor, row.action, row.credential_id, row.authority_id) == (
        f"apikey:{key_id(api.permit_key)}",
        "credential.issue",
        credential_id,
        api.world.permits.id,
    )
    assert row.details == {"type": "ResidencePermit", "keyId": "key-1"}
    replay = api.issue(body, **{"Idempotency-Key": "audit-1"})
    assert replay.status_code == 200
    assert len(rows(db, start)) == 1  # the replay changed nothing, so it is not in the trail


def test_a_bulk_request_is_one_row_with_the_count_and_ids(api: Api) -> None:
    start = head(api.world.office.db)
    items = [{"type": "ResidencePermit", "subject": api.permit()} for _ in range(5)]
    response = api.client.post(
        "/v1/credentials/batch", json={"items": items}, headers=auth(api.permit_key)
    )
    assert response.status_code == 201
    ids = [b["credential"]["id"] for b in response.json()["items"]]
    [row] = rows(api.world.office.db, start)
    assert (row.action, row.credential_id) == ("credential.issue_batch", None)
    assert row.details["count"] == 5 and row.details["credentialIds"] == ids
    assert row.actor == f"apikey:{key_id(api.permit_key)}"


def test_a_refused_request_appends_nothing(api: Api) -> None:
    start = head(api.world.office.db)
    bad = {"type": "ResidencePermit", "subject": api.permit(citizenId="440106199003071230")}
    assert_problem(api.issue(bad), 422)
    assert rows(api.world.office.db, start) == []


def test_api_key_creation_and_revocation_are_recorded_without_secrets(api: Api) -> None:
    world = api.world
    admin = world.key(world.permits, "admin")  # created by the office itself: actor system
    created = api.client.post(
        "/v1/apikeys", json={"scopes": ["lifecycle"], "label": "窗口 3"}, headers=auth(admin)
    ).json()
    for _ in range(2):  # the second revocation changes nothing: no row
        response = api.client.delete(f"/v1/apikeys/{created['id']}", headers=auth(admin))
        assert response.status_code == 204
    trail = [(r.actor, r.action, r.details) for r in rows(world.office.db)]
    by_admin = f"apikey:{key_id(admin)}"
    assert trail[-2:] == [
        (by_admin, "apikey.create", {"keyId": created["id"], "scopes": ["lifecycle"]}),
        (by_admin, "apikey.revoke", {"keyId": created["id"]}),
    ]
    secret = created["key"].split("_", 2)[2]
    assert secret not in dump(world.office.db)


def dump(db: Database) -> str:
    """Everything the audit tables hold, as text (every column of every row)."""
    with db.engine.connect() as connection:
        parts = [
            repr(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_log ORDER BY seq"))
        ]
        parts += [repr(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_anchors"))]
        parts += [repr(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_head"))]
        parts += [repr(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_inbox"))]
    return "\n".join(parts)


def test_no_citizen_id_number_anywhere_in_the_audit_tables(api: Api) -> None:
    subjects = [api.permit() for _ in range(3)]
    assert api.issue({"type": "ResidencePermit", "subject": subjects[0]}).status_code == 201
    batch = [{"type": "ResidencePermit", "subject": s} for s in subjects[1:]]
    response = api.client.post(
        "/v1/credentials/batch", json={"items": batch}, headers=auth(api.permit_key)
    )
    assert response.status_code == 201
    office = api.world.office
    HeadAnchorer(office, log=lambda _m: None).anchor()
    text_of_audit = dump(office.db)
    assert "credential.issue_batch" in text_of_audit  # the dump does hold the rows
    for subject in subjects:
        citizen_id = subject["citizenId"]
        assert citizen_id not in text_of_audit
        assert citizen_id[:17] not in text_of_audit  # nor without its check digit
        assert subject["name"] not in text_of_audit
    listed = api.client.get("/v1/audit", headers=auth(api.world.key(api.world.permits, "admin")))
    assert all(s["citizenId"] not in listed.text for s in subjects)


def test_two_step_enrolment_records_creation_then_activation(world: OfficeWorld) -> None:
    office = world.office
    did = f"did:web:{uuid.uuid4().hex[:12]}.gz.gov.cn"  # the session's chain is shared
    staged = enrol(office, did, "某局", "A bureau", 440100, ["ResidencePermit"], root=None)
    assert staged.state is EnrolmentState.AWAITING_ACCREDITATION
    office.chain.transact(
        office.deployment.trust_registry,
        TRUST,
        "accredit",
        [did, "某局", "A bureau", 440100, ["ResidencePermit"], staged.account_address, ""],
        world.root,
    )
    done = enrol(office, did, "某局", "A bureau", 440100, ["ResidencePermit"], root=None)
    assert done.state is EnrolmentState.ACTIVE
    again = enrol(office, did, "某局", "A bureau", 440100, ["ResidencePermit"], root=None)
    assert again.state is EnrolmentState.ALREADY_ACTIVE
    trail = [(r.actor, r.action, r.authority_id, r.details) for r in rows(office.db)]
    assert trail == [
        (
            "cli",
            "authority.create",
            staged.authority_id,
            {
                "did": did,
                "uscc": None,
                "account": staged.account_address,
                "keyId": "key-1",
                "keyAlgorithm": "Ed25519",
                "keyActive": False,
                "types": ["ResidencePermit"],
            },
        ),
        ("cli", "issuer_key.activate", staged.authority_id, {"keyId": "key-1"}),
    ]
    assert verify_audit(office.db).intact


# ---------------------------------------------------------------------- GET /v1/audit


def page(api: Api, key: str, **params: Any) -> Any:
    response = api.client.get("/v1/audit", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def test_the_audit_endpoint_pages_an_authoritys_own_rows_newest_first(api: Api) -> None:
    world = api.world
    permits_admin = world.key(world.permits, "admin")
    permit_ids = [
        api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()["credential"]["id"]
        for _ in range(3)
    ]
    api.issue({"type": "BusinessLicense", "subject": api.licence()})  # another authority's row
    sequence(world.office.db)  # as the worker does within a poll interval
    first = page(api, permits_admin, limit=2)
    assert first["pending"] == []
    assert [i["credentialId"] for i in first["items"]] == permit_ids[:0:-1]
    seen, cursor = list(first["items"]), first["nextBefore"]
    while cursor is not None:
        assert cursor == seen[-1]["seq"]
        more = page(api, permits_admin, limit=2, before=cursor)
        seen += more["items"]
        cursor = more["nextBefore"]
    # newest first: the three issuances, then the admin key and the issuing key of the fixture
    assert [(i["action"], i["credentialId"]) for i in seen] == [
        *(("credential.issue", c) for c in reversed(permit_ids)),
        ("apikey.create", None),
        ("apikey.create", None),
    ]
    assert [i["seq"] for i in seen] == sorted((i["seq"] for i in seen), reverse=True)
    item = first["items"][0]
    assert set(item) == {
        "seq",
        "at",
        "actor",
        "action",
        "credentialId",
        "details",
        "prevHash",
        "hash",
    }
    assert len(bytes.fromhex(item["hash"])) == 32
    licence_admin = world.key(world.licences, "admin")
    mine = page(api, licence_admin, limit=200)["items"]
    assert all(i["credentialId"] not in permit_ids for i in mine)


def test_the_audit_endpoint_finds_a_credential_in_single_and_bulk_rows(api: Api) -> None:
    items = [{"type": "ResidencePermit", "subject": api.permit()} for _ in range(2)]
    bulk = api.client.post(
        "/v1/credentials/batch", json={"items": items}, headers=auth(api.permit_key)
    ).json()
    wanted = bulk["items"][1]["credential"]["id"]
    api.issue({"type": "ResidencePermit", "subject": api.permit()})
    admin = api.world.key(api.world.permits, "admin")
    sequence(api.world.office.db)
    found = page(api, admin, credential=wanted.removeprefix("urn:uuid:"))["items"]
    assert [i["action"] for i in found] == ["credential.issue_batch"]
    assert wanted in found[0]["details"]["credentialIds"]


def test_rows_not_chained_yet_are_listed_apart_as_pending(api: Api) -> None:
    """Reading never chains: a row the worker has not chained yet shows under ``pending``
    (first page only, no seq or hash, the caller's authority only), then among the items."""
    world = api.world
    db = world.office.db
    admin = world.key(world.permits, "admin")
    sequence(db)  # the fixture's keys
    issued = [
        api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()["credential"]["id"]
        for _ in range(3)
    ]
    api.issue({"type": "BusinessLicense", "subject": api.licence()})  # another authority's
    listed = page(api, admin, limit=2)
    assert [p["credentialId"] for p in listed["pending"]] == issued[:0:-1]  # newest first, 2
    assert all(
        set(p) == {"inboxId", "at", "actor", "action", "credentialId", "details"}
        for p in listed["pending"]
    )
    assert [i["action"] for i in listed["items"]] == ["apikey.create", "apikey.create"]
    assert listed["nextBefore"] is not None
    later = page(api, admin, limit=2, before=listed["nextBefore"])
    assert later["pending"] == []  # pending rows belong to the first page only
    one = page(api, admin, credential=issued[0])
    assert [p["credentialId"] for p in one["pending"]] == [issued[0]] and one["items"] == []
    sequence(db)
    after = page(api, admin, limit=3)
    assert after["pending"] == []
    assert [i["credentialId"] for i in after["items"]] == issued[::-1]


def test_the_audit_endpoint_needs_the_admin_scope_and_sane_parameters(api: Api) -> None:
    problem = assert_problem(api.client.get("/v1/audit", headers=auth(api.permit_key)), 403)
    assert problem["requiredScope"] == "admin"
    assert_problem(api.client.get("/v1/audit"), 401)
    admin = api.world.key(api.world.permits, "admin")
    for bad in ({"limit": 0}, {"limit": 201}, {"before": 0}):
        assert_problem(api.client.get("/v1/audit", params=bad, headers=auth(admin)), 422)
