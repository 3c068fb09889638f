"""``POST /v1/verify/receipt``: an office that verifies through its own deployment gets a receipt
signed by its authority's key on chain, which anyone checks against the registry."""

from __future__ import annotations

from datetime import timedelta

from service.anchoring.worker import AnchorWorker
from tests.service.conftest import Api, assert_problem, auth
from verifier.policy import Policy
from verifier.receipts import verify_receipt
from verifier.verify import Verifier


def test_the_office_signs_a_receipt_anyone_can_check(api: Api) -> None:
    issued = api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()
    AnchorWorker(api.world.office, log=lambda _: None).drain()
    bundle = api.client.get(
        f"/v1/credentials/{issued['credential']['id']}", headers=auth(api.permit_key)
    ).json()
    # the licence bureau's office verifies the permit and keeps a receipt for its case file
    response = api.client.post("/v1/verify/receipt", json=bundle, headers=auth(api.licence_key))
    assert response.status_code == 200, response.text
    report, receipt = response.json()["report"], response.json()["receipt"]
    assert report["verdict"] == "VALID"
    assert receipt["issuer"] == api.world.licences.did
    assert receipt["proof"]["verificationMethod"] == f"{api.world.licences.did}#key-1"
    assert receipt["credentialSubject"]["verdict"] == "VALID"

    office = api.world.office
    verifier = Verifier.from_chain(
        office.chain, office.deployment.anchor_registry, Policy(sync_interval=timedelta(0))
    )
    verifier.refresh(force=True)
    check = verify_receipt(receipt, registry=verifier.index)
    assert check.ok, check.reason
    assert check.signer == api.world.licences.did
    receipt["credentialSubject"]["checks"][0]["outcome"] = "fail"
    assert not verify_receipt(receipt, registry=verifier.index).ok


def test_a_receipt_needs_an_office_key(api: Api) -> None:
    response = api.client.post("/v1/verify/receipt", json={"credential": {}})
    assert_problem(response, 401)
