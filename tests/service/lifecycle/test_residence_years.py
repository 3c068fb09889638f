"""居住年限互认 through the API: ``POST /v1/credentials/{id}/residence-years``, then a partner
city's verifier over the chain, on SQLite and PostgreSQL (service.residence_years).

The office clock (``office_now``) moves years ahead as the life-cycle tests do; the verifier
reads the same clock. Anchors and statuses are real transactions on the embedded chain.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from service.lifecycle import sweep
from service.lifecycle.residence_years import holder_salt, residence_region
from service.storage.models import AuditEntry, AuditInboxEntry, Credential
from tests.service.conftest import assert_problem, auth
from tests.service.lifecycle import test_lifecycle
from tests.service.lifecycle.test_lifecycle import Desk, _time, assert_status_failed, assert_valid
from verifier.credential import citizen_id_digest, residence_years
from verifier.verify import Verdict

desk = test_lifecycle.desk  # the life-cycle tests' desk fixture: their API and clock

_PERSONAL = ("citizenId", "birthDate", "sex", "ethnicity", "hukouAddress", "residenceAddress")


def derive(desk: Desk, credential_id: str, status: int = 201, **headers: str) -> dict[str, Any]:
    response = desk.post(credential_id, "residence-years", **headers)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refused(desk: Desk, credential_id: str, status: int = 409) -> dict[str, Any]:
    return assert_problem(desk.post(credential_id, "residence-years"), status)


def test_years_of_a_migrated_permit_verify_at_a_partner(desk: Desk) -> None:
    since = date(2019, 3, 1)
    permit = desk.issue_permit(residenceSince=since.isoformat(), residenceRegion="440106")
    answer = derive(desk, permit["id"])
    derived = answer["bundle"]["credential"]
    subject = derived["credentialSubject"]
    expected = residence_years({"residenceSince": since.isoformat()}, desk.clock.today)
    assert expected >= 7 and answer["residenceYears"] == subject["residenceYears"] == expected
    assert derived["type"] == ["VerifiableCredential", "ResidenceYears"]
    assert uuid.UUID(derived["id"]).version == 7  # as every new credential's (test_credential_ids)
    assert derived["issuer"] == permit["issuer"]
    assert derived["validUntil"] == permit["validUntil"]  # the permit's current term
    source = permit["credentialSubject"]
    salt = bytes.fromhex(answer["holderSalt"])
    assert subject == {
        "name": source["name"][0] + "*" * (len(source["name"]) - 1),
        "citizenIdDigest": citizen_id_digest(source["citizenId"], salt),
        "residenceRegion": "440100",  # the city, not the district
        "residenceYears": expected,
        "residenceSince": since.isoformat(),
        "asOf": desk.clock.today.isoformat(),
        "sourceCredential": permit["id"],
        "issuingAuthority": source["issuingAuthority"],
        "issueDate": desk.clock.today.isoformat(),
    }
    text = str(derived)
    assert not any(str(source[field]) in text for field in _PERSONAL)
    assert salt.hex() not in text and salt == holder_salt(permit, derived["id"])

    desk.drain()
    report = desk.verify(derived["id"])
    assert_valid(report)
    assert report.credential_type == "ResidenceYears"
    assert report.check("issuer").reason.code == "issuer_accredited"
    # the bundle the office stores is the one verified; it is served like any credential
    stored = desk.client.get(f"/v1/credentials/{derived['id']}", headers=auth(desk.permit_key))
    assert stored.status_code == 200 and stored.json()["anchor"] is not None
    verified = desk.client.post("/v1/verify", json=stored.json()).json()
    assert verified["verdict"] == "VALID" and verified["credentialType"] == "ResidenceYears"


def test_the_count_follows_on_time_and_late_endorsements(desk: Desk) -> None:
    permit = desk.issue_permit()
    issued_on = date.fromisoformat(permit["credentialSubject"]["issueDate"])
    none = refused(desk, permit["id"])  # issued today: not one full year
    assert none["code"] == "residence_years_none"
    assert none["residenceSince"] == issued_on.isoformat()
    assert "不满一年" in none["detail"] and "less than one full year" in none["detail"]

    # two on-time endorsements keep residenceSince: two full years at the second anniversary
    end = _time(permit["validUntil"])
    desk.clock.now = end - timedelta(days=10)
    second = desk.step(permit["id"], "endorse")["credential"]
    desk.clock.now = _time(second["validUntil"]) - timedelta(days=10)
    third = desk.step(second["id"], "endorse")["credential"]
    assert third["credentialSubject"]["residenceSince"] == issued_on.isoformat()
    anniversary = issued_on.replace(year=issued_on.year + 2)
    desk.clock.now = desk.clock.now + timedelta(days=30)
    assert desk.clock.today >= anniversary  # inside the third term, past two years
    two = derive(desk, third["id"])["bundle"]["credential"]
    assert two["credentialSubject"]["residenceYears"] == 2
    assert two["credentialSubject"]["residenceSince"] == issued_on.isoformat()
    assert two["credentialSubject"]["sourceCredential"] == third["id"]

    # missed: suspended by the sweep, then a late endorsement restarts the count today
    desk.clock.now = _time(third["validUntil"]) + timedelta(days=3)
    assert sweep(desk.world.office, now=desk.clock.now) == 1
    late = desk.step(third["id"], "endorse")["credential"]
    restarted = desk.clock.today
    assert late["credentialSubject"]["residenceSince"] == restarted.isoformat()
    assert refused(desk, late["id"])["code"] == "residence_years_none"
    # one on-time endorsement later, one full year since the restart
    desk.clock.now = _time(late["validUntil"]) - timedelta(days=5)
    fourth = desk.step(late["id"], "endorse")["credential"]
    desk.clock.now += timedelta(days=6)
    assert desk.clock.today >= restarted.replace(year=restarted.year + 1)
    one = derive(desk, fourth["id"])["bundle"]["credential"]
    assert one["credentialSubject"]["residenceYears"] == 1
    assert one["credentialSubject"]["residenceSince"] == restarted.isoformat()

    desk.drain()
    assert_valid(desk.verify(one["id"]))
    # the earlier statement stays a valid statement until its source's term ended
    report = desk.verify(two["id"])
    assert report.verdict is Verdict.INVALID
    assert report.check("validity_period").reason.code == "expired"


def test_no_derivation_from_a_permit_not_in_force(desk: Desk) -> None:
    since = date(2018, 5, 1).isoformat()
    # suspended: the endorsement lapsed
    lapsed = desk.issue_permit(residenceSince=since)
    desk.clock.now = _time(lapsed["validUntil"]) + timedelta(days=1)
    assert sweep(desk.world.office, now=desk.clock.now) >= 1
    problem = refused(desk, lapsed["id"])
    assert problem["code"] == "credential_not_current" and problem["currentStatus"] == "suspended"
    assert "已暂停使用" in problem["detail"]

    # the term ended but the sweep has not run yet: endorse first
    desk.clock.now = desk.clock.now - timedelta(days=400)
    ended = desk.issue_permit(residenceSince=since)
    desk.clock.now = _time(ended["validUntil"]) + timedelta(minutes=1)
    assert refused(desk, ended["id"])["code"] == "term_ended"
    desk.clock.now = _time(ended["validUntil"]) - timedelta(days=1)

    # revoked: a lost permit replaced; the new version is named
    lost = desk.issue_permit(residenceSince=since)
    replacement = desk.step(lost["id"], "replace")["credential"]
    problem = refused(desk, lost["id"])
    assert problem["currentStatus"] == "revoked" and problem["newestId"] == replacement["id"]
    assert derive(desk, replacement["id"])["residenceYears"] >= 1

    # cancelled, and a licence: no years to recognise
    cancelled = desk.issue_permit(residenceSince=since)
    desk.step(cancelled["id"], "cancel", {"reason": "hukou_registered"}, status=200)
    assert refused(desk, cancelled["id"])["currentStatus"] == "cancelled"
    licence = desk.issue_licence()
    assert refused(desk, licence["id"])["code"] == "operation_not_applicable"

    # nothing was stored for any refusal
    with desk.world.office.db.session() as s:
        kinds = list(s.scalars(select(Credential.credential_type)))
    assert kinds.count("ResidenceYears") == 1


def test_a_tampered_count_is_invalid(desk: Desk) -> None:
    permit = desk.issue_permit(residenceSince="2016-08-08")
    derived = derive(desk, permit["id"])["bundle"]["credential"]
    desk.drain()
    bundle = desk.world.office.bundle(derived["id"])
    n = derived["credentialSubject"]["residenceYears"]

    more = copy.deepcopy(bundle)
    more["credential"]["credentialSubject"]["residenceYears"] = n + 3
    report = desk.client.post("/v1/verify", json=more).json()
    assert report["verdict"] == "INVALID"
    assert report["checks"][0]["code"] == "residence_years_mismatch"

    # made consistent (an earlier start), the count no longer matches the issuer's signature
    since = date.fromisoformat(derived["credentialSubject"]["residenceSince"])
    more["credential"]["credentialSubject"]["residenceSince"] = since.replace(
        year=since.year - 3
    ).isoformat()
    report = desk.client.post("/v1/verify", json=more).json()
    assert report["verdict"] == "INVALID"
    failed = {c["name"]: c["code"] for c in report["checks"] if c["outcome"] == "fail"}
    assert failed["signature"] == "signature_invalid"
    assert failed["anchor"] == "anchor_path_mismatch"


def test_revoking_the_permit_in_error_revokes_what_was_derived(desk: Desk) -> None:
    permit = desk.issue_permit(residenceSince="2020-01-01")
    first = derive(desk, permit["id"])["bundle"]["credential"]
    desk.clock.now = _time(permit["validUntil"]) - timedelta(days=5)
    endorsed = desk.step(permit["id"], "endorse")["credential"]
    second = derive(desk, endorsed["id"])["bundle"]["credential"]
    other = desk.issue_permit(residenceSince="2020-01-01")
    unrelated = derive(desk, other["id"])["bundle"]["credential"]
    desk.drain()

    done = desk.step(endorsed["id"], "revoke", {"reason": "issuer_error"}, status=200)
    assert done["status"] == "revoked"
    desk.drain()
    assert_status_failed(desk.verify(second["id"]), "credential_revoked", "签发错误")
    # derived from the superseded first version of the same lineage: revoked as well
    assert_status_failed(desk.verify(first["id"]), "credential_revoked")
    assert_valid(desk.verify(unrelated["id"]))
    with desk.world.office.db.session() as s:
        statuses = {
            row.id: (row.status, row.status_reason)
            for row in s.scalars(select(Credential).where(Credential.id.in_([first["id"]])))
        }
    assert statuses == {first["id"]: ("revoked", "issuer_error")}

    # a derived credential can itself be revoked for an error, and only for one
    wrong = assert_problem(desk.post(unrelated["id"], "revoke", {"reason": "licence_revoked"}), 422)
    assert wrong["errors"][0]["code"] == "reason_not_allowed"
    desk.step(unrelated["id"], "revoke", {"reason": "issuer_error"}, status=200)
    desk.drain()
    assert_status_failed(desk.verify(unrelated["id"]), "credential_revoked")
    assert_valid(desk.verify(other["id"]))  # the permit itself is untouched


def test_keys_authorities_and_retries(desk: Desk) -> None:
    permit = desk.issue_permit(residenceSince="2015-06-01")
    # another authority's key: as if the permit did not exist
    other = desk.post(permit["id"], "residence-years", key=desk.licence_key)
    assert assert_problem(other, 404)
    # a key without the scope lifecycle
    issue_only = desk.world.key(desk.world.permits, "issue:ResidencePermit")
    forbidden = assert_problem(desk.post(permit["id"], "residence-years", key=issue_only), 403)
    assert forbidden["requiredScope"] == "lifecycle"
    assert assert_problem(desk.post("urn:uuid:" + "0" * 32, "residence-years"), 404)

    first = derive(desk, permit["id"], **{"Idempotency-Key": "ry-1"})
    again = desk.post(permit["id"], "residence-years", **{"Idempotency-Key": "ry-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first  # the same credential and the same salt
    other_permit = desk.issue_permit(residenceSince="2015-06-01")
    clash = desk.post(other_permit["id"], "residence-years", **{"Idempotency-Key": "ry-1"})
    assert assert_problem(clash, 409)["type"].endswith("idempotency-conflict")

    # one audit row naming the key, with no personal data
    credential_id = first["bundle"]["credential"]["id"]
    with desk.world.office.db.session() as s:
        rows = [
            (r.actor, r.details)
            for model in (AuditEntry, AuditInboxEntry)
            for r in s.scalars(
                select(model).where(
                    model.credential_id == credential_id,
                    model.action == "credential.residence_years",
                )
            )
        ]
    assert len(rows) == 1
    actor, details = rows[0]
    assert actor.startswith("apikey:") and details["sourceId"] == permit["id"]
    assert permit["credentialSubject"]["citizenId"] not in str(details)


def test_the_region_is_the_city_of_residence() -> None:
    assert residence_region("440106", 440100) == "440100"
    assert residence_region("440106", 440000) == "440100"  # a provincial authority
    assert residence_region("440106", 440106) == "440106"  # a district authority
    assert residence_region("110105", 110000) == "110000"  # a municipality's district
    assert residence_region("440100", 440100) == "440100"


def test_the_route_is_documented(desk: Desk) -> None:
    spec = desk.client.get("/openapi.json").json()
    route = spec["paths"]["/v1/credentials/{credential_id}/residence-years"]["post"]
    assert route["summary"].startswith("Issue a residence-years credential")
    assert "residence_years_none" in route["responses"]["409"]["description"]
