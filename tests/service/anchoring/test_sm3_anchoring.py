"""An office whose deployment anchors with SM3: digests, batch trees, receipts and SD-JWT leaves.

The deployment record chooses the hash (``suixin chain deploy --anchoring-hash sm3``); the
office stores SM3 digests, builds SM3 trees, and its receipts name ``"hash": "sm3"``, so a
partner verifies them from the chain with nothing else to know.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from service.anchoring.worker import AnchorWorker
from service.cli import main
from service.issuing.office import IssueRequest, Office
from service.storage.db import Database
from service.storage.models import Batch, Credential
from service.storage.wallet import SdJwtCredential
from service.trust.authorities import create_authority
from service.trust.deployment import DEPLOYMENT_FILE, deploy_registries
from service.wallet.oid4vci import WalletIssuer
from service.web.wallet_api import OfficeLists
from tests.conftest import funded
from tests.service.cli.test_main import PERMITS as PERMITS_DID
from tests.service.cli.test_main import init, office
from tests.service.conftest import MASTER, PERMITS, USCC
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.deployment import Deployment
from verifier.jcs import canonicalize
from verifier.policy import Policy
from verifier.sdjwt import (
    _sign_jws,
    es256_sign,
    jwk_from_p256,
    make_presentation_envelope,
    present,
    verify_presentation,
)
from verifier.sm2 import sm3_hash
from verifier.verify import Verdict, Verifier

AUDIENCE = "https://office.example"


@pytest.fixture
def sm3_office(database: Database) -> Iterator[tuple[Office, int]]:
    chain = EmbeddedChain(None)
    root = funded(chain)
    office = Office(database, chain, deploy_registries(chain, root, anchoring_hash="sm3"), MASTER)
    permits = create_authority(office, *PERMITS, root=root, uscc=USCC[PERMITS[0]])
    yield office, permits.id
    chain.close()


def verifier_of(office: Office) -> Verifier:
    return Verifier.from_chain(
        office.chain,
        office.deployment.anchor_registry,
        Policy(sync_interval=timedelta(0)),
        deployment=office.deployment,
    )


def test_digests_trees_and_receipts_use_sm3(sm3_office: tuple[Office, int]) -> None:
    office, authority_id = sm3_office
    rng = random.Random(2)
    bundles = office.issue_many(
        authority_id,
        [IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(5)],
    )
    AnchorWorker(office, log=lambda _m: None).drain()
    with office.db.session() as s:
        (batch,) = s.scalars(select(Batch))
        rows = list(s.scalars(select(Credential).order_by(Credential.seq)))
    assert batch.hash == "sm3"
    verifier = verifier_of(office)
    for bundle, row in zip(bundles, rows, strict=True):
        credential_id = bundle["credential"]["id"]
        stored = office.bundle(credential_id)
        # the digest is SM3 of the signed credential's JCS bytes, and the document reads back
        assert bytes(row.digest) == sm3_hash(canonicalize(stored["credential"]))
        assert stored["anchor"]["hash"] == "sm3"
        assert verifier.verify(stored).verdict is Verdict.VALID


def test_a_wallet_credential_of_an_sm3_deployment_is_anchored_with_sm3(
    sm3_office: tuple[Office, int],
) -> None:
    office, authority_id = sm3_office
    [bundle] = office.issue_many(
        authority_id, [IssueRequest("ResidencePermit", residence_permit_subject(random.Random(3)))]
    )
    wallet = WalletIssuer(office)
    made = wallet.create_offer(bundle["credential"]["id"], authority_id, actor="test")
    token, c_nonce, _ = wallet.token(made.code)
    holder = ec.generate_private_key(ec.SECP256R1())
    header = {
        "typ": "openid4vci-proof+jwt",
        "alg": "ES256",
        "jwk": jwk_from_p256(holder.public_key()),
    }
    payload = {"aud": AUDIENCE, "iat": int(time.time()), "nonce": c_nonce}
    proof = _sign_jws(header, payload, lambda data: es256_sign(holder, data))
    sd_jwt, sd_id = wallet.credential(token, proof, audience=AUDIENCE)
    with office.db.session() as s:
        digest = s.scalar(select(SdJwtCredential.digest).where(SdJwtCredential.id == sd_id))
    assert digest is not None
    assert bytes(digest) == sm3_hash(sd_jwt.split("~", 1)[0].encode("ascii"))
    AnchorWorker(office, log=lambda _m: None).drain()
    anchor = wallet.state(sd_id)["anchor"]
    assert anchor["hash"] == "sm3"
    presented = present(sd_jwt, ["name"], holder, nonce="n-1", audience="did:web:zq.example")
    envelope = make_presentation_envelope(presented, anchor)
    verifier = verifier_of(office)
    verifier.refresh(force=True)
    # the status from the office's own Status List Token (committed on chain, in SM3 too)
    result = verify_presentation(
        verifier,
        envelope,
        nonce="n-1",
        audience="did:web:zq.example",
        status_lists=OfficeLists(office),
    )
    assert result.report.verdict is Verdict.VALID, result.report.to_json()


def test_chain_deploy_chooses_the_anchoring_hash_once(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chain", "deploy", "--anchoring-hash", "sm3"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["anchoringHash"] == "sm3"
    assert Deployment.load(data_dir / DEPLOYMENT_FILE).anchoring_hash == "sm3"
    # without --force the record stands, and another hash is refused
    assert main(["chain", "deploy", "--anchoring-hash", "sha-256"]) == 1
    assert "chosen when the registries are deployed" in capsys.readouterr().err

    assert init(PERMITS_DID, "ResidencePermit") == 0
    with office() as o:
        assert o.anchoring_hash == "sm3"
        authority = o.authority_by_did(PERMITS_DID)
        o.issue(authority.id, IssueRequest("ResidencePermit", residence_permit_subject()))
    capsys.readouterr()
    # once the office holds SM3 digests, a new deployment cannot switch to SHA-256 ...
    assert main(["chain", "deploy", "--force", "--anchoring-hash", "sha-256"]) == 1
    assert "cannot become sha-256" in capsys.readouterr().err
    # ... while a redeployment that keeps the hash keeps it without being told
    assert main(["chain", "deploy", "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["anchoringHash"] == "sm3"
