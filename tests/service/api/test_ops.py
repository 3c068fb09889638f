"""DID documents, health, readiness, metrics with the in-process worker, and the OpenAPI page."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from service.anchoring.worker import AnchorWorker
from service.app import create_app
from tests.service.conftest import Api, OfficeWorld, TestClient, assert_problem, auth, settings
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.keys import encode_multikey_ed25519


def test_well_known_did_document_follows_the_host(api: Api) -> None:
    world = api.world
    for host, authority in (
        ("lsj.gz.gov.cn", world.permits),
        ("amr.gz.gov.cn:443", world.licences),
    ):
        response = api.client.get("/.well-known/did.json", headers={"Host": host})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/did+json")
        document = response.json()
        did = authority.did
        assert document["id"] == did
        assert "https://www.w3.org/ns/did/v1" in document["@context"]
        key = world.office.signer(authority.id).public_key
        assert document["verificationMethod"] == [
            {
                "id": f"{did}#key-1",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": encode_multikey_ed25519(key),
            }
        ]
        assert document["assertionMethod"] == [f"{did}#key-1"]
        assert "private" not in response.text.lower()


def test_well_known_did_document_is_404_for_a_host_no_authority_has(api: Api) -> None:
    """It used to answer any other host with the first authority's document: did:web:evil.example
    resolved, through this office, to 广州's keys (issue 17)."""
    for host in ("testserver", "evil.example", "gz.gov.cn", "lsj.gz.gov.cn.evil.example"):
        response = api.client.get("/.well-known/did.json", headers={"Host": host})
        problem = assert_problem(response, 404)
        assert host in problem["detail"] and problem["code"] == "not_found", problem


def test_authority_did_documents_by_did(api: Api) -> None:
    listed = api.client.get("/v1/authorities").json()
    assert [a["did"] for a in listed] == ["did:web:lsj.gz.gov.cn", "did:web:amr.gz.gov.cn"]
    assert listed[0]["nameZh"] == "广州市来穗人员服务管理局"
    for entry in listed:
        document = api.client.get(entry["didDocument"]).json()
        assert document["id"] == entry["did"]
    assert_problem(api.client.get("/v1/authorities/did:web:example.com/did.json"), 404)


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok" and checks["chain"].startswith("ok (block ")
    assert "worker" not in checks  # this app runs no worker


def test_readiness_fails_when_the_database_is_gone(world: OfficeWorld, tmp_path: Path) -> None:
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        engine = world.office.db.engine
        world.office.db.engine = create_broken_engine()
        try:
            problem = assert_problem(client.get("/readyz"), 503)
        finally:
            world.office.db.engine = engine
        assert problem["checks"]["database"].startswith("unreachable")
        assert problem["checks"]["chain"].startswith("ok")


def create_broken_engine() -> Any:
    """An engine whose database does not exist (nothing listens on port 9)."""
    return create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, (name, labels)
    return float(match.group(1))


def test_metrics_with_the_in_process_worker(world: OfficeWorld, tmp_path: Path) -> None:
    config = settings(tmp_path, batch_age_seconds=0.05, worker_poll_seconds=0.05)
    app = create_app(world.office, config, start_worker=True)
    permit_key = world.key(world.permits, "issue:ResidencePermit")
    licence_key = world.key(world.licences, "issue:BusinessLicense")
    with TestClient(app) as client:
        for _ in range(2):
            body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
            assert (
                client.post("/v1/credentials", json=body, headers=auth(permit_key)).status_code
                == 201
            )
        body = {"type": "BusinessLicense", "subject": business_license_subject(world.rng)}
        response = client.post("/v1/credentials", json=body, headers=auth(licence_key))
        assert response.status_code == 201
        deadline = time.monotonic() + 30
        while world.office.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.office.queue_depth() == 0  # the worker thread anchored them
        assert client.post("/v1/verify", json=response.json()).json()["verdict"] == "PENDING"
        client.post("/v1/verify", json={})
        scraped = client.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = scraped.text
        assert _metric(text, "suixin_credentials_issued_total", 'type="ResidencePermit"') == 2
        assert _metric(text, "suixin_credentials_issued_total", 'type="BusinessLicense"') == 1
        assert _metric(text, "suixin_credentials_anchored_total") == 3
        assert _metric(text, "suixin_anchor_queue_depth") == 0
        assert _metric(text, "suixin_credentials", 'state="anchored"') == 3
        assert _metric(text, "suixin_anchor_latency_seconds_count") == 3
        assert _metric(text, "suixin_anchor_latency_seconds_sum") > 0
        assert _metric(text, "suixin_anchor_batch_wait_seconds", 'quantile="0.99"') > 0
        assert _metric(text, "suixin_verifications_total", 'verdict="PENDING"') == 1
        assert _metric(text, "suixin_verifications_total", 'verdict="INVALID"') == 1
        assert _metric(text, "suixin_worker_up") == 1
        assert "# TYPE suixin_anchor_latency_seconds summary" in text
        ready = client.get("/readyz").json()
        assert ready["checks"]["worker"] == "ok"
        thread = app.state.suixin.worker_thread
    assert not thread.is_alive()  # stopped with the app


def test_metrics_count_every_path_and_every_worker_from_the_database(
    world: OfficeWorld, tmp_path: Path
) -> None:
    """Issued by one, a batch, a bulk file's path and a life-cycle step; anchored by a worker
    that is not the API's: the figures are the database's, and a restart keeps them."""
    from sqlalchemy import func, select

    from service.issuing.office import IssueRequest
    from service.storage.models import Batch, BatchState, Credential

    permit_key = world.key(world.permits, "issue:ResidencePermit")
    licence_key = world.key(world.licences, "issue:BusinessLicense", "lifecycle")
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        one = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
        assert client.post("/v1/credentials", json=one, headers=auth(permit_key)).status_code == 201
        items = [
            {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
            for _ in range(3)
        ]
        batch = client.post(
            "/v1/credentials/batch", json={"items": items}, headers=auth(permit_key)
        )
        assert batch.status_code == 201, batch.text
        # the path `suixin issue` takes for a bulk file
        world.office.issue_many(
            world.licences.id,
            [
                IssueRequest("BusinessLicense", business_license_subject(world.rng))
                for _ in range(4)
            ],
        )
        licence = world.office.issue(
            world.licences.id, IssueRequest("BusinessLicense", business_license_subject(world.rng))
        )[0]["credential"]
        amended = client.post(
            f"/v1/credentials/{licence['id']}/amend",
            json={"subject": {"domicile": "广州市海珠区新港东路1000号"}},
            headers=auth(licence_key),
        )
        assert amended.status_code == 201, amended.text
        AnchorWorker(world.office).drain()  # a worker of its own, as `suixin worker` runs
        text = client.get("/metrics").text

    with world.office.db.session() as s:
        by_type = dict(
            s.execute(
                select(Credential.credential_type, func.count()).group_by(
                    Credential.credential_type
                )
            ).all()
        )
        batches = s.scalar(
            select(func.count()).select_from(Batch).where(Batch.state == BatchState.ANCHORED)
        )
    assert by_type == {"ResidencePermit": 4, "BusinessLicense": 6}
    assert _metric(text, "suixin_credentials_issued_total", 'type="ResidencePermit"') == 4
    assert _metric(text, "suixin_credentials_issued_total", 'type="BusinessLicense"') == 6
    assert _metric(text, "suixin_credentials_anchored_total") == 10
    assert world.office.counts() == {"anchored": 10}
    assert batches and _metric(text, "suixin_anchor_batches_total") == batches
    assert _metric(text, "suixin_anchor_latency_seconds_count") == 10
    assert _metric(text, "suixin_anchor_batch_wait_seconds_count") == batches

    # a restarted API process shows the same figures
    again = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(again) as client:
        restarted = client.get("/metrics").text
    for name in ("suixin_credentials_anchored_total", "suixin_anchor_batches_total"):
        assert _metric(restarted, name) == _metric(text, name)


def test_openapi_documents_every_route_with_chinese_examples(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]
    assert len(operations) >= 14
    for path, method, op in operations:
        summary = op.get("summary", "")
        assert summary and "\n" not in summary and summary[0].isupper(), (path, method)
    # the handler's docstring, not a title made from its name ("Issue Credential")
    assert spec["paths"]["/v1/credentials"]["post"]["summary"].startswith("Issue one credential")
    bodies = {
        path: op["requestBody"]
        for path, method, op in operations
        if "requestBody" in op and method == "post"
    }
    assert set(bodies) >= {"/v1/credentials", "/v1/credentials/batch", "/credentials/issue"}
    text = str(spec)
    for example in ("张三", "广州市天河区", "广州某某科技有限公司"):
        assert example in text
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    # both documentation pages load their scripts from the office, never a CDN
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = api.client.get(page)
        assert html.status_code == 200 and "cdn." not in html.text
        assert f"/docs/assets/{script}" in html.text
        asset = api.client.get(f"/docs/assets/{script}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(
            "text/javascript"
        )
    assert_problem(api.client.get("/docs/assets/..%2Fpackage.json"), 404)


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    assert_problem(api.client.get("/v1/nothing"), 404)
    assert_problem(api.client.delete("/healthz"), 405)


def test_an_unexpected_failure_is_a_500_problem_without_internals(
    world: OfficeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> int:
        raise RuntimeError("secret internals: sx_0000_key")

    monkeypatch.setattr(world.office, "queue_depth", broken)
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/metrics")
    problem = assert_problem(response, 500)
    assert "secret" not in response.text and problem["type"] == "urn:suixin:problem:internal"


def test_metrics_show_status_changes_waiting_for_the_chain(api: Api) -> None:
    from service.lifecycle.status_queue import enqueue

    bundle = api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()
    assert _metric(api.client.get("/metrics").text, "suixin_status_queue_depth") == 0
    with api.world.office.db.session() as s:
        enqueue(
            s,
            authority_id=api.world.permits.id,
            credential_id=bundle["credential"]["id"],
            status="revoked",
            reason="issuer_error",
        )
    assert _metric(api.client.get("/metrics").text, "suixin_status_queue_depth") == 1


def test_the_verify_sync_interval_is_a_setting(world: OfficeWorld, tmp_path: Path) -> None:
    app = create_app(world.office, settings(tmp_path, verify_sync_seconds=42), start_worker=False)
    assert app.state.suixin.verification.sync_interval == 42


# ---------------------------------------------------------------------- workers elsewhere


def _beat(world: OfficeWorld, **values: Any) -> None:
    """A heartbeat row of a worker in another process."""
    from datetime import UTC, datetime

    from service.storage.models import WorkerStatus

    now = datetime.now(UTC)
    row = {
        "id": "other-host:4242:beef",
        "started_at": now,
        "beat_at": now,
        "failures": 0,
        "chain": "ok",
        "last_error": "",
        "unrepairable": 0,
        **values,
    }
    with world.office.db.session() as s:
        s.merge(WorkerStatus(**row))


def test_a_worker_in_another_process_is_seen_through_its_heartbeat(
    world: OfficeWorld, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    app = create_app(
        world.office, settings(tmp_path, worker_failure_seconds=60), start_worker=False
    )
    with TestClient(app) as client:
        _beat(world)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["worker"] == "ok"
        assert _metric(client.get("/metrics").text, "suixin_worker_up") == 1
        now = datetime.now(UTC)
        _beat(world, failing_since=now - timedelta(seconds=90), failures=7, last_error="boom")
        problem = assert_problem(client.get("/readyz"), 503)
        assert problem["checks"]["worker"].startswith("failing for") and "boom" in str(problem)
        text = client.get("/metrics").text
        assert _metric(text, "suixin_worker_failing_seconds") >= 90
        assert _metric(text, "suixin_worker_pass_failures_total") == 7
        _beat(world, beat_at=now - timedelta(minutes=5))  # it died without a word
        problem = assert_problem(client.get("/readyz"), 503)
        assert problem["checks"]["worker"].startswith("down (last heartbeat")
        assert _metric(client.get("/metrics").text, "suixin_worker_up") == 0
        _beat(world, stopped_at=now)  # stopped on purpose: down, and said so
        assert assert_problem(client.get("/readyz"), 503)["checks"]["worker"].startswith("down")


def test_another_chain_behind_the_node_is_a_mismatch_not_a_verdict(
    world: OfficeWorld, tmp_path: Path
) -> None:
    import dataclasses

    office = world.office
    real = office.deployment
    api_key = world.key(world.permits, "issue:ResidencePermit")
    body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    # the record says the registries were deployed in a block this node does not have
    office.deployment = dataclasses.replace(real, block_hash="0x" + "ab" * 32)
    try:
        app = create_app(office, settings(tmp_path), start_worker=False)
        with TestClient(app) as client:
            problem = assert_problem(client.get("/readyz"), 503)
            assert problem["checks"]["chain"].startswith("mismatch")
            issued = client.post("/v1/credentials", json=body, headers=auth(api_key))
            assert issued.status_code == 201  # issuing goes on into the queue
            verified = client.post("/v1/verify", json=issued.json())
            problem = assert_problem(verified, 503)
            assert problem["type"].endswith("chain-mismatch")
            assert problem["expected"].endswith("0x" + "ab" * 32)
    finally:
        office.deployment = real


def test_the_deployment_a_partner_needs_is_published(world: OfficeWorld, tmp_path: Path) -> None:
    record = world.office.deployment.to_json()
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        published = client.get("/v1/deployment").json()
    # the in-process embedded chain has no node a partner could reach
    assert published == {**record, "rpcUrl": None}
    public = "https://rpc.chain.gd.gov.cn"
    app = create_app(world.office, settings(tmp_path, public_rpc_url=public), start_worker=False)
    with TestClient(app) as client:
        assert client.get("/v1/deployment").json()["rpcUrl"] == public
