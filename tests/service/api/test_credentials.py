"""The office API: issuance of both types, validation errors, idempotency, batches, reads."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.trust.authorities import create_authority
from tests.service.conftest import (
    USCC,
    Api,
    OfficeWorld,
    TestClient,
    assert_problem,
    auth,
    public_key_of,
    settings,
)
from tests.verifier.factories import residence_permit_subject
from verifier.bundle import BUNDLE_VERSION
from verifier.licence_id import parse_licence_id
from verifier.proofs import verify_proof

# --------------------------------------------------------------------------- issuance


def test_issue_residence_permit_returns_signed_bundle_pending(api: Api) -> None:
    subject = api.permit()
    before = api.world.office.queue_depth()
    response = api.issue({"type": "ResidencePermit", "subject": subject})
    assert response.status_code == 201, response.text
    bundle = response.json()
    assert set(bundle) == {"version", "credential", "anchor"}
    assert bundle["version"] == BUNDLE_VERSION and bundle["anchor"] is None
    credential = bundle["credential"]
    assert credential["type"] == ["VerifiableCredential", "ResidencePermit"]
    assert credential["issuer"] == "did:web:lsj.gz.gov.cn"
    assert credential["id"].startswith("urn:uuid:")
    assert response.headers["location"] == f"/v1/credentials/{credential['id']}"
    assert credential["credentialSubject"]["citizenId"] == subject["citizenId"]
    assert credential["credentialSubject"]["issuingAuthority"] == "广州市来穗人员服务管理局"
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert credential["proof"]["verificationMethod"] == "did:web:lsj.gz.gov.cn#key-1"
    assert verify_proof(credential, public_key_of(api, credential["issuer"])).ok
    assert api.world.office.queue_depth() == before + 1
    licence = parse_licence_id(credential["licenceId"])  # 电子证照标识, beside the urn:uuid
    assert licence.issuer.code == USCC[credential["issuer"]] and licence.version == "001"
    assert licence.serial == credential["id"].removeprefix("urn:uuid:").replace("-", "").upper()


def test_an_authority_without_a_uscc_issues_no_permit_or_licence(api: Api) -> None:
    world = api.world
    # accredited without a 统一社会信用代码: no licence identifier could name it
    bare = create_authority(
        world.office,
        f"did:web:bare-{random.randrange(10**9)}.gz.gov.cn",
        "某局",
        "A bureau",
        440100,
        ("ResidencePermit",),
        root=world.root,
    )
    key = world.key(bare, "issue:ResidencePermit")
    before = world.office.queue_depth()
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()}, key=key)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["path"] == "type"
    assert problem["errors"][0]["code"] == "authority_uscc_missing"
    assert "统一社会信用代码" in problem["errors"][0]["zh"]
    assert world.office.queue_depth() == before


def test_issue_business_license_with_validity(api: Api) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body = {
        "type": "BusinessLicense",
        "subject": api.licence(),
        "validFrom": start.isoformat(),
        "validUntil": (start + timedelta(days=30)).isoformat(),
    }
    response = api.issue(body)
    assert response.status_code == 201, response.text
    credential = response.json()["credential"]
    assert credential["type"] == ["VerifiableCredential", "BusinessLicense"]
    assert credential["issuer"] == "did:web:amr.gz.gov.cn"
    assert credential["validFrom"] == start.isoformat().replace("+00:00", "Z")
    assert credential["credentialSubject"]["uscc"] == body["subject"]["uscc"]
    assert verify_proof(credential, public_key_of(api, credential["issuer"])).ok


def test_read_credential_by_id_with_or_without_urn(api: Api) -> None:
    credential = api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()[
        "credential"
    ]
    for ident in (credential["id"], credential["id"].removeprefix("urn:uuid:")):
        response = api.client.get(f"/v1/credentials/{ident}", headers=auth(api.permit_key))
        assert response.status_code == 200
        assert response.json()["credential"] == credential
    missing = api.client.get(
        "/v1/credentials/urn:uuid:00000000-0000-4000-8000-000000000000",
        headers=auth(api.permit_key),
    )
    assert_problem(missing, 404)


# --------------------------------------------------------------------------- validation

# (name, type, subject change, request change, expected path, expected code)
VALIDATION_CASES = [
    ("missing field", "ResidencePermit", {"name": None}, {}, "subject.name", "field_required"),
    (
        "citizen ID checksum",
        "ResidencePermit",
        {"citizenId": "440106199003071232"},
        {},
        "subject.citizenId",
        "citizen_id_checksum",
    ),
    (
        "sex mismatch",
        "ResidencePermit",
        {"sex": "flip"},
        {},
        "subject.sex",
        "citizen_id_sex_mismatch",
    ),
    (
        "region outside authority",
        "ResidencePermit",
        {"residenceRegion": "110105"},
        {},
        "subject.residenceRegion",
        "region_outside_authority",
    ),
    (
        "USCC check character",
        "BusinessLicense",
        {"uscc": "91440106MA59C2K45X"},
        {},
        "subject.uscc",
        "uscc_checksum",
    ),
    (
        "validity inverted",
        "ResidencePermit",
        {},
        {"validFrom": "2030-01-02T00:00:00Z", "validUntil": "2030-01-01T00:00:00Z"},
        "validUntil",
        "dates_inconsistent",
    ),
    (
        "validity in the past (before the default start, now)",
        "BusinessLicense",
        {},
        {"validUntil": "2020-01-01T00:00:00Z"},
        "validUntil",
        "dates_inconsistent",
    ),
    (
        "time without zone",
        "ResidencePermit",
        {},
        {"validFrom": "2030-01-01T00:00:00"},
        "validFrom",
        "field_datetime_invalid",
    ),
    ("unknown type", "Passport", {}, {}, "type", "value_not_allowed"),
    ("unknown field", "ResidencePermit", {}, {"colour": "红"}, "colour", "field_unknown"),
]


def test_validation_errors_name_the_field_in_both_languages_and_store_nothing(api: Api) -> None:
    for name, kind, subject_change, request_change, path, code in VALIDATION_CASES:
        subject = api.licence() if kind == "BusinessLicense" else api.permit()
        for field, value in subject_change.items():
            if value is None:
                del subject[field]
            elif value == "flip":
                subject[field] = "female" if subject[field] == "male" else "male"
            else:
                subject[field] = value
        body = {"type": kind, "subject": subject, **request_change}
        key = api.licence_key if kind == "BusinessLicense" else api.permit_key
        problem = assert_problem(api.issue(body, key), 422)
        assert problem["type"] == "urn:suixin:problem:validation", name
        matching = [e for e in problem["errors"] if e["path"] == path]
        assert matching, (name, problem["errors"])
        assert matching[0]["code"] == code, name
        assert matching[0]["zh"] and matching[0]["en"] and matching[0]["zh"] != matching[0]["en"]
        if "citizenId" in subject:
            assert subject["citizenId"] not in str(problem), name
    assert api.world.office.counts() == {}


def test_every_error_of_a_request_is_reported_at_once(api: Api) -> None:
    subject = api.permit(citizenId="440106199003071232", residenceRegion="110105")
    body = {
        "type": "ResidencePermit",
        "subject": subject,
        "validFrom": "2030-01-02T00:00:00Z",
        "validUntil": "2030-01-01T00:00:00Z",
    }
    problem = assert_problem(api.issue(body), 422)
    paths = {e["path"] for e in problem["errors"]}
    assert {"validUntil", "subject.citizenId", "subject.residenceRegion"} <= paths


def test_malformed_json_and_missing_body_are_problems(api: Api) -> None:
    headers = {**auth(api.permit_key), "content-type": "application/json"}
    broken = api.client.post("/v1/credentials", content=b'{"type": ', headers=headers)
    assert assert_problem(broken, 422)["errors"][0]["code"] == "json_invalid"
    empty = api.client.post("/v1/credentials", headers=auth(api.permit_key))
    assert assert_problem(empty, 422)["errors"][0]["code"] == "field_required"


# --------------------------------------------------------------------------- idempotency


def test_idempotent_retry_returns_the_same_credential(api: Api) -> None:
    body = {"type": "ResidencePermit", "subject": api.permit()}
    first = api.issue(body, **{"Idempotency-Key": "req-0001"})
    assert first.status_code == 201
    depth = api.world.office.queue_depth()
    retry = api.issue(body, **{"Idempotency-Key": "req-0001"})
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert api.world.office.queue_depth() == depth
    other = api.issue(
        {"type": "ResidencePermit", "subject": api.permit()}, **{"Idempotency-Key": "req-0001"}
    )
    problem = assert_problem(other, 409)
    assert problem["type"] == "urn:suixin:problem:idempotency-conflict"
    assert api.world.office.queue_depth() == depth


def test_idempotency_keys_belong_to_one_authority(api: Api) -> None:
    permit = api.issue(
        {"type": "ResidencePermit", "subject": api.permit()}, **{"Idempotency-Key": "shared"}
    )
    licence = api.issue(
        {"type": "BusinessLicense", "subject": api.licence()}, **{"Idempotency-Key": "shared"}
    )
    assert permit.status_code == licence.status_code == 201
    assert permit.json()["credential"]["id"] != licence.json()["credential"]["id"]


def test_concurrent_duplicates_make_one_credential(api: Api) -> None:
    body = {"type": "ResidencePermit", "subject": api.permit()}
    depth = api.world.office.queue_depth()
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda _: api.issue(body, **{"Idempotency-Key": "burst-7"}), range(8))
        )
    assert {r.status_code for r in responses} <= {200, 201}
    assert [r.status_code for r in responses].count(201) == 1
    assert len({r.json()["credential"]["id"] for r in responses}) == 1
    assert api.world.office.queue_depth() == depth + 1


def test_concurrent_issues_with_a_refused_one_among_them(api: Api) -> None:
    """Stored together (a group commit), answered each on its own: the duplicate is a 409
    naming the first permit; every other request gets its 201 and its credential is stored."""
    taken = api.permit()
    first = api.issue({"type": "ResidencePermit", "subject": taken})
    assert first.status_code == 201
    bodies = [{"type": "ResidencePermit", "subject": api.permit()} for _ in range(11)]
    bodies.insert(5, {"type": "ResidencePermit", "subject": dict(taken, name="张三丰")})
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(api.issue, bodies))
    assert [r.status_code for r in responses] == [201] * 5 + [409] + [201] * 6
    assert responses[5].json()["existingId"] == first.json()["credential"]["id"]
    for response in responses[:5] + responses[6:]:
        read = api.client.get(response.headers["location"], headers=auth(api.permit_key))
        assert read.status_code == 200 and read.json() == response.json()


# --------------------------------------------------------------------------- batches


def test_batch_issues_all_in_order(api: Api) -> None:
    subjects = [api.permit() for _ in range(25)]
    response = api.client.post(
        "/v1/credentials/batch",
        json={"items": [{"type": "ResidencePermit", "subject": s} for s in subjects]},
        headers=auth(api.permit_key),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 25
    names = [b["credential"]["credentialSubject"]["citizenId"] for b in body["items"]]
    assert names == [s["citizenId"] for s in subjects]
    assert api.world.office.queue_depth() == 25


def test_batch_is_all_or_nothing_with_item_paths(api: Api) -> None:
    items = [{"type": "ResidencePermit", "subject": api.permit()} for _ in range(5)]
    items[1]["subject"]["citizenId"] = "440106199003071232"
    items[3]["subject"]["residenceRegion"] = "110105"
    items[4]["validUntil"] = "2020-01-01T00:00:00Z"
    response = api.client.post(
        "/v1/credentials/batch", json={"items": items}, headers=auth(api.permit_key)
    )
    problem = assert_problem(response, 422)
    paths = {e["path"]: e["code"] for e in problem["errors"]}
    assert paths == {
        "items[1].subject.citizenId": "citizen_id_checksum",
        "items[3].subject.residenceRegion": "region_outside_authority",
        "items[4].validUntil": "dates_inconsistent",
    }
    assert api.world.office.counts() == {}
    # without the date error the office's own all-or-nothing check answers, same paths
    del items[4]["validUntil"]
    response = api.client.post(
        "/v1/credentials/batch", json={"items": items}, headers=auth(api.permit_key)
    )
    paths = {e["path"] for e in assert_problem(response, 422)["errors"]}
    assert paths == {"items[1].subject.citizenId", "items[3].subject.residenceRegion"}
    assert api.world.office.counts() == {}


def test_batch_size_limits(api: Api) -> None:
    empty = api.client.post(
        "/v1/credentials/batch", json={"items": []}, headers=auth(api.permit_key)
    )
    error = assert_problem(empty, 422)["errors"][0]
    assert (error["path"], error["code"]) == ("items", "items_count")
    item = {"type": "ResidencePermit", "subject": residence_permit_subject(random.Random(1))}
    too_many = api.client.post(
        "/v1/credentials/batch", json={"items": [item] * 10_001}, headers=auth(api.permit_key)
    )
    assert assert_problem(too_many, 422)["errors"][0]["code"] == "items_count"
    assert api.world.office.counts() == {}


@pytest.mark.parametrize("route", ["/v1/credentials", "/credentials/issue"])
def test_issuing_requests_run_on_at_most_the_configured_threads(
    world: OfficeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    # the work is CPU under one GIL: more threads would only take turns less fairly
    import service.api.routes.credentials as routes
    import service.api.routes.vc as vc_routes

    # what runs on an issuing thread: the whole issue on the VC API's route; on
    # /v1/credentials the checks and signing run on the group commit's one thread, which
    # stores them (service.issuing.group_commit)
    module, name = (
        (routes, "prepare_one") if route == "/v1/credentials" else (vc_routes, "issue_one")
    )
    real, lock = getattr(module, name), threading.Lock()
    running, most, threads = [0], [0], set()

    def counted(*args: Any) -> Any:
        with lock:
            threads.add(threading.current_thread().name)
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.02)  # long enough for the other requests to pile up
            return real(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(module, name, counted)
    app = create_app(world.office, settings(tmp_path, issue_threads=2), start_worker=False)
    key = world.key(world.permits, "issue:ResidencePermit")

    def body() -> dict[str, Any]:
        subject = residence_permit_subject(world.rng)
        if route == "/v1/credentials":
            return {"type": "ResidencePermit", "subject": subject}
        types = ["VerifiableCredential", "ResidencePermit"]
        return {"credential": {"type": types, "credentialSubject": subject}}

    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        bodies = [body() for _ in range(8)]
        responses = list(pool.map(lambda b: client.post(route, json=b, headers=auth(key)), bodies))
    assert [r.status_code for r in responses] == [201] * 8
    if route == "/v1/credentials":
        assert most[0] == 1 and threads == {"suixin-issue-commit"}
    else:
        assert most[0] == 2


# --------------------------------------------------------------------------- one in force


def test_a_second_permit_for_the_same_citizen_is_refused_naming_the_first(api: Api) -> None:
    subject = api.permit()
    first = api.issue({"type": "ResidencePermit", "subject": subject})
    assert first.status_code == 201
    first_id = first.json()["credential"]["id"]
    depth = api.world.office.queue_depth()
    again = dict(subject, residenceAddress="广州市海珠区新港中路 1 号")  # same person, new form
    problem = assert_problem(api.issue({"type": "ResidencePermit", "subject": again}), 409)
    assert problem["code"] == "credential_in_force" and problem["existingId"] == first_id
    assert "已有有效的居住证" in problem["detail"] and "in force" in problem["detail"]
    assert api.world.office.queue_depth() == depth  # nothing stored
    # once the first one is cancelled (注销) the person may be issued a permit again
    cancelled = api.client.post(
        f"/v1/credentials/{first_id}/cancel",
        json={"reason": "hukou_registered"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert cancelled.status_code == 200, cancelled.text
    assert api.issue({"type": "ResidencePermit", "subject": again}).status_code == 201


def test_a_duplicate_that_is_also_invalid_is_refused_as_in_force(api: Api) -> None:
    """The holder is looked up only when the database refuses the INSERT or the request is
    invalid; the answer is still the one the lookup before signing gave: the 409 first."""
    subject = api.permit()
    first = api.issue({"type": "ResidencePermit", "subject": subject})
    assert first.status_code == 201
    outside = dict(subject, residenceRegion="110101")  # 北京: not the authority's region
    alone = assert_problem(
        api.issue({"type": "ResidencePermit", "subject": api.permit(residenceRegion="110101")}),
        422,
    )
    assert [e["path"] for e in alone["errors"]] == ["subject.residenceRegion"]
    problem = assert_problem(api.issue({"type": "ResidencePermit", "subject": outside}), 409)
    assert problem["code"] == "credential_in_force"
    assert problem["existingId"] == first.json()["credential"]["id"]


def test_a_refused_duplicate_stores_nothing_under_its_idempotency_key(api: Api) -> None:
    subject = api.permit()
    assert api.issue({"type": "ResidencePermit", "subject": subject}).status_code == 201
    depth = api.world.office.queue_depth()
    again = {"type": "ResidencePermit", "subject": dict(subject, residenceAddress="广州市越秀区")}
    for _ in range(2):  # a retry of the refused request is refused the same way
        problem = assert_problem(api.issue(again, **{"Idempotency-Key": "dup-1"}), 409)
        assert problem["code"] == "credential_in_force"
    assert api.world.office.queue_depth() == depth
    other = api.issue(
        {"type": "ResidencePermit", "subject": api.permit()}, **{"Idempotency-Key": "dup-1"}
    )
    assert other.status_code == 201  # the key was never taken by the refused request


def test_a_licence_is_one_per_uscc_and_a_batch_names_its_duplicate_items(api: Api) -> None:
    licence = api.licence()
    assert api.issue({"type": "BusinessLicense", "subject": licence}).status_code == 201
    other, twice = api.licence(), api.licence()
    body = {
        "items": [
            {"type": "BusinessLicense", "subject": other},
            {"type": "BusinessLicense", "subject": dict(licence, name="广州另一家公司")},
            {"type": "BusinessLicense", "subject": twice},
            {"type": "BusinessLicense", "subject": dict(twice)},
        ]
    }
    response = api.client.post("/v1/credentials/batch", json=body, headers=auth(api.licence_key))
    problem = assert_problem(response, 422)
    codes = {(e["path"], e["code"]) for e in problem["errors"]}
    assert codes == {
        ("items[1].subject.uscc", "credential_in_force"),
        ("items[3].subject.uscc", "credential_in_force"),
    }
