"""The life cycle through the API: every step ends with the verifier's verdict on the old and the
new version, after the anchoring and status queues have drained, on SQLite and PostgreSQL.

The office clock is the ``office_now`` dependency, moved by the tests (no waiting a year); the
verifier reads the same clock through its policy. Anchors and statuses are real transactions on
the session's embedded chain.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.anchoring.worker import AnchorWorker
from service.api.routes.lifecycle import office_now
from service.app import create_app
from service.audit.trail import sequence
from service.lifecycle import TERM, sweep
from service.storage.models import AuditEntry, Credential, StatusChange
from service.trust.authorities import create_authority
from tests.service.conftest import (
    USCC,
    OfficeWorld,
    TestClient,
    assert_problem,
    auth,
    settings,
)
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.credential import CHINA_TIME, residence_years
from verifier.licence_id import LICENCE_TYPE_CODES, parse_licence_id
from verifier.policy import Policy
from verifier.verify import Outcome, Report, Verdict, Verifier


class Clock:
    """The office's (and the verifier's) idea of now: the real time until a test sets it."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    @property
    def now(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    @now.setter
    def now(self, value: datetime) -> None:
        self._fixed = value

    def __call__(self) -> datetime:
        return self.now

    @property
    def today(self) -> date:
        return self.now.astimezone(CHINA_TIME).date()


@dataclass
class Desk:
    """The API with life-cycle keys for both authorities, the clock and a verifier."""

    client: TestClient
    world: OfficeWorld
    clock: Clock
    permit_key: str
    licence_key: str

    def post(self, credential_id: str, step: str, body: Any = None, **headers: str) -> Any:
        key = headers.pop("key", None) or self._key_for(credential_id)
        return self.client.post(
            f"/v1/credentials/{credential_id}/{step}",
            json=body,
            headers={**auth(key), **headers},
        )

    def _key_for(self, credential_id: str) -> str:
        with self.world.office.db.session() as s:
            kind = s.scalar(
                select(Credential.credential_type).where(Credential.id == credential_id)
            )
        return self.licence_key if kind == "BusinessLicense" else self.permit_key

    def issue_permit(self, **subject: Any) -> dict[str, Any]:
        body = {
            "type": "ResidencePermit",
            "subject": residence_permit_subject(self.world.rng, **subject),
        }
        response = self.client.post("/v1/credentials", json=body, headers=auth(self.permit_key))
        assert response.status_code == 201, response.text
        credential: dict[str, Any] = response.json()["credential"]
        return credential

    def issue_licence(self, **subject: Any) -> dict[str, Any]:
        body = {
            "type": "BusinessLicense",
            "subject": business_license_subject(self.world.rng, **subject),
        }
        response = self.client.post("/v1/credentials", json=body, headers=auth(self.licence_key))
        assert response.status_code == 201, response.text
        credential: dict[str, Any] = response.json()["credential"]
        return credential

    def step(self, credential_id: str, step: str, body: Any = None, status: int = 201) -> Any:
        response = self.post(credential_id, step, body)
        assert response.status_code == status, response.text
        return response.json()

    def drain(self) -> None:
        """Anchor everything and put every queued status change on chain."""
        AnchorWorker(self.world.office, log=lambda _m: None).drain()

    def verify(self, credential_id: str) -> Report:
        """The verdict of a partner city's verifier, at the clock's time, from the chain."""
        office = self.world.office
        bundle = office.bundle(credential_id)
        verifier = Verifier.from_chain(
            office.chain,
            office.deployment.anchor_registry,
            Policy(clock=self.clock, sync_interval=timedelta(0)),
            start_block=office.deployment.block_number,
        )
        return verifier.verify(bundle)

    def history(self, credential_id: str, key: str | None = None) -> dict[str, Any]:
        response = self.client.get(
            f"/v1/credentials/{credential_id}/history",
            headers=auth(key or self._key_for(credential_id)),
        )
        assert response.status_code == 200, response.text
        story: dict[str, Any] = response.json()
        return story


@pytest.fixture
def desk(world: OfficeWorld, tmp_path: Path) -> Iterator[Desk]:
    clock = Clock()
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    app.dependency_overrides[office_now] = clock
    with TestClient(app) as client:
        yield Desk(
            client,
            world,
            clock,
            world.key(world.permits, "issue:ResidencePermit", "lifecycle", "revoke"),
            world.key(world.licences, "issue:BusinessLicense", "lifecycle", "revoke"),
        )


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_valid(report: Report) -> None:
    assert report.verdict is Verdict.VALID, [c.to_json() for c in report.failed]


def assert_status_failed(report: Report, code: str, *reason_words: str) -> None:
    """INVALID because of the status on chain, whose reason names the status reason."""
    assert report.verdict is Verdict.INVALID, [c.to_json() for c in report.checks][5:]
    status = report.check("status")
    assert status.outcome is Outcome.FAIL and status.reason.code == code, status
    for word in reason_words:
        assert word in status.reason.zh or word in status.reason.en, status.reason


def expected_years(since: date, on: date) -> int:
    return on.year - since.year - ((on.month, on.day) < (since.month, since.day))


# ------------------------------------------------------------------------------ 签注


def test_endorsement_window_edges_on_time_keep_the_residence_count(desk: Desk) -> None:
    permit = desk.issue_permit()
    issued_on = permit["credentialSubject"]["issueDate"]
    assert permit["credentialSubject"]["residenceSince"] == issued_on  # set at first issuance
    end = _time(permit["validUntil"])
    assert end - _time(permit["validFrom"]) == TERM
    desk.drain()

    # one second before the window opens: refused, nothing changes
    desk.clock.now = end - timedelta(days=30, seconds=1)
    early = assert_problem(desk.post(permit["id"], "endorse"), 409)
    assert early["code"] == "endorsement_not_due"
    assert early["windowStart"] == _iso(end - timedelta(days=30))
    assert "签注办理期" in early["detail"] and "window opens" in early["detail"]
    assert len(desk.history(permit["id"])["versions"]) == 1

    # the first moment of the window
    desk.clock.now = end - timedelta(days=30)
    second = desk.step(permit["id"], "endorse")["credential"]
    subject = second["credentialSubject"]
    assert second["validFrom"] == _iso(desk.clock.now)
    assert second["validUntil"] == _iso(end + TERM)
    assert subject["residenceSince"] == issued_on and subject["issueDate"] == issued_on
    assert subject["endorsements"] == [
        {
            "date": desk.clock.today.isoformat(),
            "validUntil": (end + TERM).astimezone(CHINA_TIME).date().isoformat(),
        }
    ]
    # a retried request cannot make a second new version
    retry = assert_problem(desk.post(permit["id"], "endorse"), 409)
    assert retry["code"] == "credential_not_current" and retry["newestId"] == second["id"]

    # the last second of the second term
    desk.clock.now = _time(second["validUntil"]) - timedelta(seconds=1)
    third = desk.step(second["id"], "endorse")["credential"]
    assert third["validUntil"] == _iso(end + 2 * TERM)
    assert third["credentialSubject"]["residenceSince"] == issued_on
    assert len(third["credentialSubject"]["endorsements"]) == 2

    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded", "签注", "endorsed")
    assert_status_failed(desk.verify(second["id"]), "credential_superseded", "签注")
    assert_valid(desk.verify(third["id"]))

    story = desk.history(second["id"])  # from any version's id
    assert [v["version"] for v in story["versions"]] == [1, 2, 3]
    assert [v["status"] for v in story["versions"]] == ["superseded", "superseded", "active"]
    assert [v["statusOnChain"] for v in story["versions"]] == [True, True, None]
    assert all(v["anchor"]["state"] == "anchored" for v in story["versions"])
    assert story["current"] == third["id"] and story["residenceSince"] == issued_on
    since = date.fromisoformat(issued_on)
    assert story["residenceYears"] == expected_years(since, desk.clock.today) >= 1
    assert residence_years(third["credentialSubject"], since.replace(year=since.year + 3)) == 3


def test_missed_endorsement_is_suspended_and_a_late_one_restarts_the_count(desk: Desk) -> None:
    permit = desk.issue_permit()
    desk.drain()
    end = _time(permit["validUntil"])

    desk.clock.now = end - timedelta(seconds=1)  # the term has not ended: nothing to sweep
    assert sweep(desk.world.office, now=desk.clock.now) == 0
    desk.clock.now = end + timedelta(days=3)
    assert sweep(desk.world.office, now=desk.clock.now) == 1
    assert sweep(desk.world.office, now=desk.clock.now) == 0  # once only
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_suspended", "逾期未签注")
    assert desk.history(permit["id"])["versions"][0]["status"] == "suspended"
    # a suspended permit cannot be renewed; it must be endorsed
    assert assert_problem(desk.post(permit["id"], "renew"), 409)["code"] == "credential_not_current"

    late = desk.step(permit["id"], "endorse")["credential"]
    assert late["validFrom"] == _iso(desk.clock.now)
    assert late["validUntil"] == _iso(desk.clock.now + TERM)
    assert late["credentialSubject"]["residenceSince"] == desk.clock.today.isoformat()
    assert late["credentialSubject"]["issueDate"] == permit["credentialSubject"]["issueDate"]
    desk.drain()
    assert_valid(desk.verify(late["id"]))
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded", "签注")

    story = desk.history(late["id"])
    first = story["versions"][0]
    assert [(c["status"], c["reason"], c["state"]) for c in first["statusChanges"]] == [
        ("suspended", "endorsement_lapsed", "done"),
        ("superseded", "endorsed", "done"),
    ]
    assert story["residenceYears"] == 0  # restarted today
    anniversary = desk.clock.today.replace(year=desk.clock.today.year + 1)
    assert residence_years(late["credentialSubject"], anniversary) == 1


def test_a_late_endorsement_before_the_sweep_supersedes_the_active_permit(desk: Desk) -> None:
    permit = desk.issue_permit()
    desk.clock.now = _time(permit["validUntil"]) + timedelta(hours=1)
    late = desk.step(permit["id"], "endorse")["credential"]
    assert late["credentialSubject"]["residenceSince"] == desk.clock.today.isoformat()
    assert sweep(desk.world.office, now=desk.clock.now) == 0  # superseded, not lapsed
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded")
    assert_valid(desk.verify(late["id"]))


# ------------------------------------------------------------------------------ 换领 补领 变更


def test_renew_keeps_content_and_term(desk: Desk) -> None:
    permit = desk.issue_permit()
    desk.drain()
    renewed = desk.step(permit["id"], "renew")["credential"]
    assert renewed["id"] != permit["id"]
    # ids are version 7 UUIDs: the new version's sorts after the first's (test_credential_ids)
    assert {uuid.UUID(c["id"]).version for c in (permit, renewed)} == {7}
    assert renewed["id"] > permit["id"]
    assert renewed["credentialSubject"] == permit["credentialSubject"]
    assert (renewed["validFrom"], renewed["validUntil"]) == (
        permit["validFrom"],
        permit["validUntil"],
    )
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded", "损坏换领")
    assert_valid(desk.verify(renewed["id"]))
    versions = desk.history(permit["id"])["versions"]
    assert [(v["version"], v["reason"]) for v in versions] == [(1, "damaged"), (2, None)]
    assert versions[1]["previousId"] == permit["id"]
    assert versions[1]["lineageId"] == permit["id"]
    # the national licence identifier: same serial for the lineage, the next version
    first, second = (parse_licence_id(c["licenceId"]) for c in (permit, renewed))
    assert first.serial == second.serial == uuid.UUID(permit["id"][9:]).hex.upper()
    assert (first.version, second.version) == ("001", "002")
    assert first.issuer.code == second.issuer.code == USCC[desk.world.permits.did]


def test_replace_revokes_the_lost_permit(desk: Desk) -> None:
    permit = desk.issue_permit()
    replaced = desk.step(permit["id"], "replace")["credential"]
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_revoked", "遗失补领", "lost")
    assert_valid(desk.verify(replaced["id"]))
    # a lost card's replacement is the same licence's next version
    new, old = parse_licence_id(replaced["licenceId"]), parse_licence_id(permit["licenceId"])
    assert (new.serial, new.version, old.version) == (old.serial, "002", "001")
    again = assert_problem(desk.post(permit["id"], "replace"), 409)
    assert again["code"] == "credential_not_current" and again["currentStatus"] == "revoked"
    assert "已吊销" in again["detail"] and "revoked" in again["detail"]


def test_change_address_inside_the_city_keeps_the_issue_date(desk: Desk) -> None:
    permit = desk.issue_permit(residenceRegion="440106")
    desk.clock.now += timedelta(days=40)
    body = {"residenceAddress": "广州市越秀区北京路50号", "residenceRegion": "440104"}
    moved = desk.step(permit["id"], "change-address", body)["credential"]
    subject = moved["credentialSubject"]
    assert subject["residenceAddress"] == body["residenceAddress"]
    assert subject["residenceRegion"] == "440104"
    for kept in ("issueDate", "residenceSince", "citizenId", "endorsements"):
        assert subject[kept] == permit["credentialSubject"][kept]
    assert moved["validUntil"] == permit["validUntil"]
    same = assert_problem(desk.post(moved["id"], "change-address", body), 422)
    assert same["errors"][0]["code"] == "no_changes"
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded", "变更居住地址")
    assert_valid(desk.verify(moved["id"]))


def test_change_address_to_another_city(desk: Desk) -> None:
    world = desk.world
    # a province-level authority holds several cities
    province = create_authority(
        world.office,
        f"did:web:gdga-{uuid.uuid4().hex[:8]}.gd.gov.cn",
        "广东省公安厅",
        "Guangdong Provincial Public Security Department",
        440000,
        ("ResidencePermit",),
        root=world.root,
        uscc="11440000MB2D05874F",
    )
    key = world.key(province, "issue:ResidencePermit", "lifecycle")
    body = {
        "type": "ResidencePermit",
        "subject": residence_permit_subject(world.rng, residenceRegion="440106"),
    }
    issued = desk.client.post("/v1/credentials", json=body, headers=auth(key))
    permit = issued.json()["credential"]
    desk.clock.now += timedelta(days=400)  # (the term does not matter to a move's new permit)
    desk.clock.now = min(desk.clock.now, _time(permit["validUntil"]) - timedelta(days=1))
    target = {"residenceAddress": "深圳市南山区科技园科苑路1号", "residenceRegion": "440305"}
    response = desk.post(permit["id"], "change-address", target, key=key)
    assert response.status_code == 201, response.text
    fresh = response.json()["credential"]
    subject = fresh["credentialSubject"]
    assert subject["residenceRegion"] == "440305" and subject["endorsements"] == []
    assert subject["residenceSince"] == subject["issueDate"] == desk.clock.today.isoformat()
    assert subject["citizenId"] == permit["credentialSubject"]["citizenId"]
    assert fresh["validUntil"] == _iso(desk.clock.now + TERM)
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_superseded", "迁出本市")
    assert_valid(desk.verify(fresh["id"]))
    # a permit of another city is a new licence: a new serial, version 001
    moved_to, moved_from = (parse_licence_id(c["licenceId"]) for c in (fresh, permit))
    assert moved_to.serial == uuid.UUID(fresh["id"][9:]).hex.upper() != moved_from.serial
    assert moved_to.version == "001" and moved_to.issuer.code == "11440000MB2D05874F"

    story = desk.history(fresh["id"], key=key)
    assert story["lineageId"] == fresh["id"]
    assert [(v["id"], v["version"], v["previousId"]) for v in story["versions"]] == [
        (permit["id"], 1, None),
        (fresh["id"], 1, permit["id"]),
    ]
    assert desk.history(permit["id"], key=key)["current"] == fresh["id"]
    assert story["residenceYears"] == 0


def test_a_move_outside_the_authority_is_a_field_error_and_changes_nothing(desk: Desk) -> None:
    permit = desk.issue_permit(residenceRegion="440106")
    body = {"residenceAddress": "深圳市南山区科技园科苑路1号", "residenceRegion": "440305"}
    problem = assert_problem(desk.post(permit["id"], "change-address", body), 422)
    assert [(e["path"], e["code"]) for e in problem["errors"]] == [
        ("residenceRegion", "region_outside_authority")
    ]
    unknown = {"residenceAddress": "某地", "residenceRegion": "449999"}
    problem = assert_problem(desk.post(permit["id"], "change-address", unknown), 422)
    assert problem["errors"][0]["code"] == "region_unknown"
    malformed = assert_problem(
        desk.post(permit["id"], "change-address", {"residenceRegion": "4401"}), 422
    )
    assert {e["path"] for e in malformed["errors"]} == {"residenceAddress", "residenceRegion"}
    story = desk.history(permit["id"])
    assert len(story["versions"]) == 1 and story["versions"][0]["status"] == "active"
    with desk.world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0


# ------------------------------------------------------------------------------ 注销


def test_cancel_a_permit_on_hukou_registration(desk: Desk) -> None:
    permit = desk.issue_permit()
    missing = assert_problem(desk.post(permit["id"], "cancel", {}), 422)
    assert missing["errors"][0]["path"] == "reason"
    wrong = assert_problem(desk.post(permit["id"], "cancel", {"reason": "licence_cancelled"}), 422)
    assert wrong["errors"][0]["code"] == "reason_not_allowed"
    done = desk.step(permit["id"], "cancel", {"reason": "hukou_registered"}, status=200)
    assert done["status"] == "cancelled" and done["reason"] == "hukou_registered"
    assert done["reasonZh"] == "落户注销" and done["onChain"] is False
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_revoked", "落户注销")
    again = assert_problem(desk.post(permit["id"], "cancel", {"reason": "deceased"}), 409)
    assert again["code"] == "credential_not_current"


def test_cancel_a_suspended_permit_on_death(desk: Desk) -> None:
    permit = desk.issue_permit()
    desk.clock.now = _time(permit["validUntil"]) + timedelta(days=1)
    assert sweep(desk.world.office, now=desk.clock.now) == 1
    desk.step(permit["id"], "cancel", {"reason": "deceased"}, status=200)
    desk.drain()
    assert_status_failed(desk.verify(permit["id"]), "credential_revoked", "死亡注销")
    changes = desk.history(permit["id"])["versions"][0]["statusChanges"]
    assert [(c["status"], c["reasonCode"]) for c in changes] == [("suspended", 6), ("revoked", 8)]


# ------------------------------------------------------------------------------ 营业执照


def test_amend_a_licence(desk: Desk) -> None:
    licence = desk.issue_licence()
    desk.clock.now += timedelta(days=2)
    changes = {"legalRepresentative": "王五", "domicile": "广州市海珠区新港东路1000号"}
    amended = desk.step(licence["id"], "amend", {"subject": changes})["credential"]
    subject = amended["credentialSubject"]
    assert {k: subject[k] for k in changes} == changes
    assert subject["uscc"] == licence["credentialSubject"]["uscc"]
    assert subject["issueDate"] == desk.clock.today.isoformat()  # 发照日期 of the new licence
    assert amended["validUntil"] == licence["validUntil"]
    desk.drain()
    assert_status_failed(desk.verify(licence["id"]), "credential_superseded", "变更登记")
    assert_valid(desk.verify(amended["id"]))
    before, after = (parse_licence_id(c["licenceId"]) for c in (licence, amended))
    assert (before.serial, before.version) == (after.serial, "001")
    assert after.version == "002" and after.type_code == LICENCE_TYPE_CODES["BusinessLicense"]
    assert after.issuer.code == USCC[desk.world.licences.did]

    refused = assert_problem(
        desk.post(amended["id"], "amend", {"subject": {"uscc": "91440106MA59C2K45Y"}}), 422
    )
    assert refused["errors"] == [
        {
            "path": "subject.uscc",
            "code": "field_not_amendable",
            "zh": refused["errors"][0]["zh"],
            "en": "uscc cannot be changed by an amendment",
        }
    ]
    same = assert_problem(desk.post(amended["id"], "amend", {"subject": changes}), 422)
    assert same["errors"][0]["code"] == "no_changes"
    odd = assert_problem(desk.post(amended["id"], "amend", {"subject": {"colour": "红"}}), 422)
    assert odd["errors"][0]["path"] == "subject.colour"
    bad = assert_problem(
        desk.post(amended["id"], "amend", {"subject": {"establishmentDate": "2099-01-01"}}), 422
    )
    assert bad["errors"][0]["code"] == "field_not_amendable"
    assert len(desk.history(licence["id"])["versions"]) == 2


def test_revoke_a_licence_with_a_note_kept_off_chain(desk: Desk) -> None:
    licence = desk.issue_licence()
    desk.drain()
    note = "市监处罚〔2026〕88号：虚报注册资本"
    done = desk.step(licence["id"], "revoke", {"note": note}, status=200)
    assert (done["status"], done["reason"]) == ("revoked", "licence_revoked")
    desk.drain()
    assert_status_failed(
        desk.verify(licence["id"]), "credential_revoked", "吊销", "licence revoked"
    )
    version = desk.history(licence["id"])["versions"][0]
    assert version["note"] == note and version["statusOnChain"] is True
    with desk.world.office.db.session() as s:
        change = s.scalars(select(StatusChange)).one()
        assert (change.status, change.reason_code, change.state) == ("revoked", 9, "done")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential.revoke")).one()
        assert entry.actor.startswith("apikey:") and entry.details["note"] == note
    assert note not in json.dumps(
        desk.world.office.chain.get_logs([desk.world.office.deployment.anchor_registry], 0),
        default=str,
    )


def test_cancel_a_licence(desk: Desk) -> None:
    licence = desk.issue_licence()
    done = desk.step(licence["id"], "cancel", None, status=200)
    assert (done["status"], done["reason"]) == ("cancelled", "licence_cancelled")
    desk.drain()
    assert_status_failed(desk.verify(licence["id"]), "credential_revoked", "注销登记")


# ------------------------------------------------------------------------------ access and retries


def test_scopes_authorities_and_types(desk: Desk) -> None:
    world = desk.world
    permit = desk.issue_permit()
    licence = desk.issue_licence()
    issue_only = world.key(world.permits, "issue:ResidencePermit")
    no_revoke = world.key(world.permits, "lifecycle")
    assert_problem(desk.post(permit["id"], "renew", key=issue_only), 403)
    assert (
        assert_problem(
            desk.post(permit["id"], "cancel", {"reason": "deceased"}, key=no_revoke), 403
        )["requiredScope"]
        == "revoke"
    )
    assert_problem(desk.client.post(f"/v1/credentials/{permit['id']}/renew"), 401)
    # another authority's credential is not found, exactly like an unknown one
    assert_problem(desk.post(permit["id"], "renew", key=desk.licence_key), 404)
    assert_problem(desk.post(f"urn:uuid:{uuid.uuid4()}", "renew", key=desk.permit_key), 404)
    assert_problem(
        desk.client.get(f"/v1/credentials/{permit['id']}/history", headers=auth(desk.licence_key)),
        404,
    )
    # a step of the other type
    wrong = assert_problem(desk.post(licence["id"], "endorse"), 409)
    assert wrong["code"] == "operation_not_applicable"
    assert (
        assert_problem(desk.post(permit["id"], "amend", {"subject": {"name": "某"}}), 409)["code"]
        == "operation_not_applicable"
    )
    # the id may omit urn:uuid:
    bare = permit["id"].removeprefix("urn:uuid:")
    assert desk.step(bare, "renew")["credential"]["id"] != permit["id"]


def test_an_idempotency_key_returns_the_first_new_version(desk: Desk) -> None:
    permit = desk.issue_permit()
    first = desk.post(permit["id"], "renew", **{"Idempotency-Key": "renew-7"})
    assert first.status_code == 201
    again = desk.post(permit["id"], "renew", **{"Idempotency-Key": "renew-7"})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["credential"] == first.json()["credential"]
    other = desk.post(permit["id"], "replace", **{"Idempotency-Key": "renew-7"})
    assert assert_problem(other, 409)["type"].endswith("idempotency-conflict")
    assert len(desk.history(permit["id"])["versions"]) == 2


def test_the_issuers_own_verify_reports_a_pending_status_change(desk: Desk) -> None:
    client, office = desk.client, desk.world.office
    verification = client.app.state.suixin.verification  # type: ignore[attr-defined]
    licence = desk.issue_licence()
    desk.drain()
    bundle = office.bundle(licence["id"])
    assert client.post("/v1/verify", json=bundle).json()["verdict"] == "VALID"

    desk.step(licence["id"], "revoke", {"reason": "licence_revoked"}, status=200)
    report = client.post("/v1/verify", json=bundle).json()
    status = next(c for c in report["checks"] if c["name"] == "status")
    assert report["verdict"] == "PENDING"
    assert status["outcome"] == "pending" and status["code"] == "status_change_pending"
    assert "已吊销" in status["zh"] and "链上确认中" in status["zh"]
    assert "revoked" in status["en"] and "pending" in status["en"]

    desk.drain()  # on chain; the office's verifier may not have read it yet: still not VALID
    assert client.post("/v1/verify", json=bundle).json()["verdict"] != "VALID"
    verification.sync_interval = 0.0
    final = client.post("/v1/verify", json=bundle).json()
    status = next(c for c in final["checks"] if c["name"] == "status")
    assert final["verdict"] == "INVALID" and status["code"] == "credential_revoked"
    assert "吊销" in status["zh"]


def test_a_step_leaves_one_audit_row_naming_the_key_and_no_citizen_id(desk: Desk) -> None:
    permit = desk.issue_permit()
    renewed = desk.step(permit["id"], "renew")["credential"]
    sequence(desk.world.office.db)  # as the worker does: the committed rows, chained
    with desk.world.office.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential.renew")).one()
    assert entry.credential_id == permit["id"]
    assert entry.details["newCredentialId"] == renewed["id"]
    assert entry.details["reason"] == "damaged"
    assert permit["credentialSubject"]["citizenId"] not in json.dumps(entry.details)


# ------------------------------------------------------------------------------ commands


def test_lifecycle_commands_sweep_and_show_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main
    from service.config import Settings
    from service.issuing.office import IssueRequest
    from service.runtime import open_office

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SUIXIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUIXIN_CHAIN", "embedded")
    monkeypatch.setenv("SUIXIN_MASTER_KEY", "lifecycle-test-master-key-0123456789abcdef")
    monkeypatch.delenv("SUIXIN_DATABASE_URL", raising=False)
    monkeypatch.delenv("SUIXIN_MODE", raising=False)
    did = "did:web:lsj.gz.gov.cn"
    init = ["keys", "init", "--did", did, "--name-zh", "广州市来穗人员服务管理局"]
    init += ["--uscc", "11440100007502156G"]
    assert (
        main([*init, "--name-en", "Guangzhou", "--region", "440100", "--type", "ResidencePermit"])
        == 0
    )
    office = open_office(Settings())
    try:
        authority = office.authority_by_did(did)
        # issued two days ago for one day: the office never signs a credential already
        # lapsed, so the clock is turned back for this one
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        request = IssueRequest(
            "ResidencePermit", residence_permit_subject(), start, start + timedelta(days=1)
        )
        with monkeypatch.context() as past:
            past.setattr("service.issuing.office._now", lambda: start)
            lapsed = office.issue(authority.id, request)[0]["credential"]["id"]
        other = residence_permit_subject(random.Random(2))  # another person
        current = office.issue(authority.id, IssueRequest("ResidencePermit", other))[0][
            "credential"
        ]["id"]
    finally:
        office.db.dispose()
        office.chain.close()
    capsys.readouterr()

    assert main(["lifecycle", "sweep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"suspended": 1}
    assert main(["lifecycle", "sweep"]) == 0
    assert "已暂停 0 张" in capsys.readouterr().out

    assert main(["lifecycle", "history", lapsed.removeprefix("urn:uuid:")]) == 0
    (version,) = json.loads(capsys.readouterr().out)["versions"]
    assert (version["status"], version["reason"], version["statusOnChain"]) == (
        "suspended",
        "endorsement_lapsed",
        False,
    )
    office = open_office(Settings())
    try:
        AnchorWorker(office, log=lambda _m: None).drain()  # anchors, and sends the suspension
    finally:
        office.db.dispose()
        office.chain.close()
    assert main(["lifecycle", "history", lapsed]) == 0
    (version,) = json.loads(capsys.readouterr().out)["versions"]
    assert version["statusOnChain"] is True and version["anchor"]["state"] == "anchored"
    assert main(["lifecycle", "history", current]) == 0
    assert json.loads(capsys.readouterr().out)["versions"][0]["status"] == "active"
    assert main(["lifecycle", "history", f"urn:uuid:{uuid.uuid4()}"]) == 1


def test_the_endorsement_window_is_a_setting(
    world: OfficeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.config import Settings

    monkeypatch.setenv("SUIXIN_ENDORSE_WINDOW_DAYS", "10")
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert configured.endorse_window_days == 10
    clock = Clock()
    app = create_app(world.office, settings(tmp_path, endorse_window_days=10), start_worker=False)
    app.dependency_overrides[office_now] = clock
    key = world.key(world.permits, "issue:ResidencePermit", "lifecycle")
    with TestClient(app) as client:
        body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
        permit = client.post("/v1/credentials", json=body, headers=auth(key)).json()["credential"]
        end = _time(permit["validUntil"])
        clock.now = end - timedelta(days=11)  # inside the default 30 days, outside these 10
        early = client.post(f"/v1/credentials/{permit['id']}/endorse", headers=auth(key))
        assert assert_problem(early, 409)["windowStart"] == _iso(end - timedelta(days=10))
        clock.now = end - timedelta(days=10)
        on_time = client.post(f"/v1/credentials/{permit['id']}/endorse", headers=auth(key))
        assert on_time.status_code == 201, on_time.text


def test_the_steps_are_documented_with_chinese_examples(desk: Desk) -> None:
    spec = desk.client.get("/openapi.json").json()
    steps = ("endorse", "renew", "replace", "change-address", "amend", "revoke", "cancel")
    for step in steps:
        operation = spec["paths"][f"/v1/credentials/{{credential_id}}/{step}"]["post"]
        assert operation["summary"] and {"403", "404", "409"} <= set(operation["responses"])
    history = spec["paths"]["/v1/credentials/{credential_id}/history"]["get"]
    assert history["summary"] and "whether its status change is on chain" in history["description"]
    text = json.dumps(spec, ensure_ascii=False)
    for example in ("广州市越秀区北京路50号", "市监处罚〔2026〕88号", "hukou_registered", "王五"):
        assert example in text
