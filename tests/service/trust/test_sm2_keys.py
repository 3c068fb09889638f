"""SM2 issuer keys in the office: enrolment, issuance, rotation both ways, compromise, re-issue.

Each test runs on a chain of its own (keys are registered and revoked) and ends with the
verdicts of a ``Verifier`` reading that chain, as a partner city would.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.api.metrics import Metrics
from service.api.verification import VerificationService
from service.issuing.issuance import SignedCredential
from service.issuing.office import IssueRequest, Office
from service.issuing.signing_pool import build_slice
from service.storage.db import Database
from service.storage.models import IssuerKey
from service.trust import compromise
from service.trust import rotation as key_rotation
from service.trust.authorities import create_authority, key_views
from service.wallet.oid4vci import WalletError, WalletIssuer
from tests.conftest import funded
from tests.service.conftest import MASTER, PERMITS, USCC
from tests.service.trust.test_key_operations import (
    KeyWorld,
    failed,
    make_world,
    wait_for_chain_time,
)
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.jcs import canonicalize
from verifier.keys import decode_multikey
from verifier.licence_id import parse_licence_id
from verifier.policy import Policy
from verifier.proofs import SM2_CRYPTOSUITE, verify_proof
from verifier.registry import KeyAlgorithmCode
from verifier.verify import Verdict

SM2_SUITE, ED_SUITE = SM2_CRYPTOSUITE, "eddsa-jcs-2022"


def sm2_world(database: Database) -> KeyWorld:
    """The permits authority enrolled with an SM2 first key, on a chain of its own."""
    chain = EmbeddedChain(None)
    root = funded(chain)
    from service.trust.deployment import deploy_registries

    office = Office(database, chain, deploy_registries(chain, root), MASTER)
    permits = create_authority(office, *PERMITS, root=root, algorithm="SM2", uscc=USCC[PERMITS[0]])
    return KeyWorld(office, root, permits, None, random.Random(8))


@pytest.fixture
def world(database: Database) -> Iterator[KeyWorld]:
    world = sm2_world(database)
    yield world
    world.office.chain.close()


def suite_of(world: KeyWorld, credential_id: str) -> str:
    return str(world.document(credential_id)["proof"]["cryptosuite"])


def test_an_authority_enrolled_with_sm2_issues_sm2_credentials(world: KeyWorld) -> None:
    office = world.office
    with office.db.session() as s:
        (key,) = s.scalars(select(IssuerKey))
    assert key.algorithm == "SM2" and len(key.public_key) == 33
    assert world.key_on_chain("key-1")[4] == KeyAlgorithmCode.SM2
    assert bytes(world.key_on_chain("key-1")[0]) == bytes(key.public_key)
    (view,) = key_views(office)
    assert view.algorithm == "SM2" and view.public_multikey.startswith("zEP")

    bundle, created = office.issue(
        world.permits.id, IssueRequest("ResidencePermit", residence_permit_subject(world.rng))
    )
    assert created
    many = world.issue(3)
    for cid in [bundle["credential"]["id"], *many]:
        assert suite_of(world, cid) == SM2_SUITE
    world.anchor()
    for cid in [bundle["credential"]["id"], *many]:
        report = world.verify(cid)
        assert report.verdict is Verdict.VALID, report.to_json()
        assert report.check("signature").reason.code == "signature_valid"


def test_the_signing_pool_signs_with_an_sm2_key(world: KeyWorld) -> None:
    identity = world.office.sliced_identity(world.permits)
    items = [("ResidencePermit", residence_permit_subject(world.rng), None, None, None)]
    [signed] = build_slice(identity, items, datetime.now(UTC))
    assert isinstance(signed, SignedCredential) and signed.document is None  # bytes came back
    credential = signed.credential
    assert credential["proof"]["cryptosuite"] == SM2_SUITE
    public = decode_multikey(key_views(world.office)[0].public_multikey)
    assert verify_proof(credential, public).ok
    assert signed.jcs == canonicalize(credential)
    assert signed.digest == hashlib.sha256(signed.jcs).digest()


def test_rotation_from_ed25519_to_sm2_keeps_old_credentials_valid(database: Database) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office = world.office
    before = world.issue(2)
    world.anchor()
    [queued] = world.issue()  # Ed25519-signed, still in the queue at the rotation

    rotation = key_rotation.rotate_key(office, world.permits.id, algorithm="SM2", settle_seconds=0)
    assert (rotation.old_key_id, rotation.new_key_id) == ("key-1", "key-2")
    assert world.key_on_chain("key-2")[4] == KeyAlgorithmCode.SM2
    assert office.signer(world.permits.id).algorithm == "SM2"
    [after] = world.issue()
    assert suite_of(world, after) == SM2_SUITE
    assert {suite_of(world, c) for c in [*before, queued]} == {ED_SUITE}
    wait_for_chain_time(chain, rotation.revoked_at or 0)
    world.anchor()
    for cid in [*before, queued, after]:
        report = world.verify(cid)
        assert report.verdict is Verdict.VALID, report.to_json()

    # a further rotation keeps SM2 unless told otherwise; and back to Ed25519 works too
    again = key_rotation.rotate_key(office, world.permits.id, keep_old=True, settle_seconds=0)
    assert world.key_on_chain(again.new_key_id)[4] == KeyAlgorithmCode.SM2
    back = key_rotation.rotate_key(
        office, world.permits.id, algorithm="Ed25519", keep_old=True, settle_seconds=0
    )
    assert world.key_on_chain(back.new_key_id)[4] == KeyAlgorithmCode.ED25519
    [last] = world.issue()
    assert suite_of(world, last) == ED_SUITE
    world.anchor()
    assert world.verify(last).verdict is Verdict.VALID

    # the DID document publishes every key still valid, each as the Multikey of its algorithm
    service = VerificationService(office, Policy(sync_interval=timedelta(0)), Metrics())
    document = service.did_document(world.permits.did)
    published = {
        m["id"].partition("#")[2]: decode_multikey(m["publicKeyMultibase"]).algorithm
        for m in document["verificationMethod"]
    }
    assert published == {"key-2": "SM2", "key-3": "SM2", "key-4": "Ed25519"}
    assert document["assertionMethod"] == [m["id"] for m in document["verificationMethod"]]
    chain.close()


def test_a_compromised_sm2_key_is_replaced_by_sm2_and_its_credentials_reissued(
    world: KeyWorld,
) -> None:
    office, chain = world.office, world.office.chain
    [early] = world.issue()
    world.anchor()
    since = chain.block_time("latest") + 1
    wait_for_chain_time(chain, since)
    [late] = world.issue()
    world.anchor()

    revocation = compromise.revoke_key(office, world.permits.id, "key-1", since)
    assert revocation.rotated_to == "key-2"
    assert world.key_on_chain("key-2")[4] == KeyAlgorithmCode.SM2
    assert world.verify(early).verdict is Verdict.VALID  # anchored before the compromise
    assert failed(world.verify(late)) == {"key_validity": "key_revoked"}

    summary = compromise.reissue(office, world.permits.id, "key-1")
    [(old, new)] = summary.pairs
    assert old == late and suite_of(world, new) == SM2_SUITE
    world.anchor()
    world.send_statuses()
    assert world.verify(new).verdict is Verdict.VALID
    assert world.document(new)["credentialSubject"] == world.document(late)["credentialSubject"]
    # the re-issue is the licence's next version: the same serial
    before, after = (parse_licence_id(world.document(c)["licenceId"]) for c in (late, new))
    assert (after.serial, before.version, after.version) == (before.serial, "001", "002")


def test_an_sm2_authority_refuses_wallet_offers_clearly(world: KeyWorld) -> None:
    [cid] = world.issue()
    with pytest.raises(WalletError) as refused:
        WalletIssuer(world.office).create_offer(cid, world.permits.id, actor="test")
    assert (refused.value.status, refused.value.code) == (409, "sd_jwt_algorithm_unsupported")
    assert "SD-JWT" in refused.value.zh and "Ed25519" in refused.value.en
