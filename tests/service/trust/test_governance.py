"""Governance of the TrustRegistry on a real embedded chain, with an office that issues under it.

The province root accredits an authority the office enrolled in two steps, the office issues
and anchors, the root suspends, reinstates and removes it, and a verifier's verdicts follow the
documented policy: credentials anchored before a suspension stay VALID by default and are
INVALID with ``accept_suspended_authority_history=False``; a suspended authority's new
credentials cannot be anchored; a removed authority's credentials are INVALID under any policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.anchoring.worker import AnchorWorker
from service.issuing.office import IssueRequest, Office
from service.storage.db import Database
from service.storage.sealing import MasterKey
from service.trust.authorities import EnrolmentState, enrol
from service.trust.deployment import deploy_registries
from service.trust.governance import Governance, GovernanceError
from tests.conftest import funded
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.contracts import load_artifact
from verifier.policy import Policy
from verifier.verify import Verdict, Verifier

GZ = ("did:web:lsj.gz.gov.cn", "广州市来穗人员服务管理局", "Guangzhou Migrant Services", 440100)
GZ_USCC = "11440100007502156G"


@dataclass
class Province:
    chain: EmbeddedChain
    root: LocalAccount
    governance: Governance
    office: Office

    def verdict(self, bundle: dict[str, Any], *, strict: bool = False) -> tuple[Verdict, Any]:
        policy = Policy(sync_interval=timedelta(0), accept_suspended_authority_history=not strict)
        verifier = Verifier.from_chain(self.chain, self.office.deployment.anchor_registry, policy)
        report = verifier.verify(bundle)
        return report.verdict, report.check("issuer").reason.code

    def enrolled(self) -> int:
        """The office enrols GZ in two steps; the root accredits the account in between."""
        did, zh, en, region = GZ
        first = enrol(
            self.office, did, zh, en, region, ["ResidencePermit"], root=None, uscc=GZ_USCC
        )
        assert first.state is EnrolmentState.AWAITING_ACCREDITATION
        accredited = self.governance.accredit(
            did, zh, en, region, ["ResidencePermit"], first.account_address, GZ_USCC
        )
        assert (accredited.status, accredited.account) == ("active", first.account_address)
        assert accredited.uscc == GZ_USCC
        second = enrol(
            self.office, did, zh, en, region, ["ResidencePermit"], root=None, uscc=GZ_USCC
        )
        assert second.state is EnrolmentState.ACTIVE
        return second.authority_id

    def issue(self, authority_id: int, seed: int) -> str:
        import random

        subject = residence_permit_subject(random.Random(seed))
        bundle, _ = self.office.issue(authority_id, IssueRequest("ResidencePermit", subject))
        credential_id: str = bundle["credential"]["id"]
        return credential_id

    def anchor(self) -> AnchorWorker:
        worker = AnchorWorker(self.office, log=lambda _: None)
        worker.drain(timeout=5)
        return worker

    def bundle(self, credential_id: str) -> dict[str, Any]:
        return self.office.bundle(credential_id)


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Province]:
    chain = EmbeddedChain(None)
    root = funded(chain)
    deployment = deploy_registries(chain, root)
    db = Database(f"sqlite:///{tmp_path / 'office.sqlite'}")
    db.migrate()
    office = Office(db, chain, deployment, MasterKey("governance-test-master-key-0123456789"))
    yield Province(chain, root, Governance(chain, deployment, root), office)
    db.dispose()
    chain.close()


def test_suspension_and_removal_follow_the_policy(province: Province) -> None:
    authority_id = province.enrolled()
    did = GZ[0]
    before = province.issue(authority_id, 1)
    province.anchor()
    assert province.verdict(province.bundle(before)) == (Verdict.VALID, "issuer_accredited")

    assert province.governance.suspend(did).status == "suspended"
    # anchored before the suspension: VALID by default, INVALID under the strict policy
    assert province.verdict(province.bundle(before)) == (Verdict.VALID, "issuer_accredited")
    strict = province.verdict(province.bundle(before), strict=True)
    assert strict == (Verdict.INVALID, "authority_suspended")

    # the suspended authority's new credential cannot be anchored: it waits in the queue
    during = province.issue(authority_id, 2)
    refused = province.anchor()  # logged and skipped; the office's other authorities go on
    assert "AuthorityNotActive" in refused.stats.last_error
    assert province.bundle(during)["anchor"] is None
    for strict_policy in (False, True):
        verdict = province.verdict(province.bundle(during), strict=strict_policy)
        assert verdict == (Verdict.INVALID, "authority_suspended")

    assert province.governance.reinstate(did).status == "active"
    province.anchor()  # the queue goes on chain once the authority is back
    for credential_id in (before, during):
        for strict_policy in (False, True):
            verdict = province.verdict(province.bundle(credential_id), strict=strict_policy)
            assert verdict == (Verdict.VALID, "issuer_accredited")

    removed = province.governance.remove(did)
    assert removed.status == "removed"
    for strict_policy in (False, True):
        verdict = province.verdict(province.bundle(before), strict=strict_policy)
        assert verdict == (Verdict.INVALID, "authority_removed")
    for change in (province.governance.reinstate, province.governance.suspend):
        with pytest.raises(GovernanceError) as final:
            change(did)
        assert final.value.code == "authority_removed"
    # the record stays readable: history is never deleted
    assert province.governance.authority(did).name_zh == GZ[1]


def test_scope_changes_apply_to_what_verifies(province: Province) -> None:
    authority_id = province.enrolled()
    did = GZ[0]
    credential_id = province.issue(authority_id, 3)
    province.anchor()
    moved = province.governance.set_scope(did, region=440300)
    assert (moved.region, moved.credential_types) == (440300, ("ResidencePermit",))
    verdict = province.verdict(province.bundle(credential_id))
    assert verdict == (Verdict.INVALID, "issuer_region_outside")
    retyped = province.governance.set_scope(
        did, region=440100, credential_types=["BusinessLicense"]
    )
    assert retyped.credential_types == ("BusinessLicense",)
    verdict = province.verdict(province.bundle(credential_id))
    assert verdict == (Verdict.INVALID, "issuer_type_not_accredited")
    both = province.governance.set_scope(
        did, credential_types=["ResidencePermit", "BusinessLicense"]
    )
    assert both.region == 440100  # unchanged when not given
    assert province.verdict(province.bundle(credential_id))[0] is Verdict.VALID


def test_listing_authorities_and_keys(province: Province) -> None:
    authority_id = province.enrolled()
    did = GZ[0]
    account = Account.create()
    province.governance.accredit(
        "did:web:ga.sz.gov.cn",
        "深圳市公安局",
        "Shenzhen PSB",
        440300,
        ["ResidencePermit"],
        account.address,
    )
    province.governance.suspend("did:web:ga.sz.gov.cn")
    listed = province.governance.authorities()
    assert [(a.id, a.did, a.status, a.region) for a in listed] == [
        (1, did, "active", 440100),
        (2, "did:web:ga.sz.gov.cn", "suspended", 440300),
    ]
    assert listed[1].account == account.address
    assert listed[0].to_json()["types"] == ["ResidencePermit"]

    [key] = province.governance.keys(did)
    signer = province.office.signer(authority_id)
    assert key.key_id == signer.key_id and key.revoked_at == 0
    assert key.to_json()["publicKeyMultibase"].startswith("z6Mk")
    assert key.valid_from >= listed[0].accredited_at
    # the authority's own account revokes its key: the listing shows when and why
    province.chain.transact(
        province.office.deployment.trust_registry,
        load_artifact("TrustRegistry").abi,
        "revokeKey",
        [did, key.key_id, key.valid_from + 60, 1],
        province.office.account(authority_id),
    )
    [revoked] = province.governance.keys()
    assert (revoked.revoked_at, revoked.revocation_reason) == (key.valid_from + 60, 1)
    assert revoked.to_json()["revokedAt"].endswith("Z")
    assert province.governance.keys("did:web:ga.sz.gov.cn") == []


def test_refusals_are_bilingual_and_change_nothing(province: Province) -> None:
    province.enrolled()
    governance, did = province.governance, GZ[0]
    chain_before = province.chain.block_number()
    fresh = Account.create().address

    def refused(call: Any, *args: Any, **kwargs: Any) -> GovernanceError:
        with pytest.raises(GovernanceError) as raised:
            call(*args, **kwargs)
        error = raised.value
        assert error.zh and error.en and error.code in error.diagnostics()
        return error

    unknown = "did:web:nobody.gov.cn"
    for change in (governance.suspend, governance.reinstate, governance.remove):
        error = refused(change, unknown)
        assert error.code == "authority_unknown"
        assert unknown in error.zh and unknown in error.en
    assert refused(governance.set_scope, unknown, region=440300).code == "authority_unknown"
    assert refused(governance.keys, unknown).code == "authority_unknown"

    def accredit(**override: Any) -> GovernanceError:
        args = {
            "did": "did:web:zwfw.zhaoqing.gov.cn",
            "name_zh": "肇庆市政务服务数据管理局",
            "name_en": "Zhaoqing Government Services",
            "region": 441200,
            "credential_types": ["ResidencePermit"],
            "account": fresh,
        }
        return refused(governance.accredit, **{**args, **override})

    assert accredit(region=999999).code == "region_invalid"
    assert accredit(region=440199).code == "region_invalid"  # six digits, but no such division
    error = accredit(credential_types=["Passport"])
    assert error.code == "credential_type_invalid" and "Passport" in error.en
    assert "ResidencePermit" in error.zh
    assert accredit(credential_types=[]).code == "credential_type_invalid"
    assert accredit(did="lsj.gz.gov.cn").code == "did_invalid"
    assert accredit(name_zh=" ").code == "name_invalid"
    assert accredit(account="0x1234").code == "account_invalid"
    assert accredit(account="0x" + "0" * 40).code == "account_invalid"
    assert accredit(did=did).code == "authority_exists"
    existing = governance.authority(did).account
    assert accredit(account=existing).code == "account_in_use"
    assert refused(governance.set_scope, did).code == "scope_unchanged"
    assert refused(governance.set_scope, did, region=123).code == "region_invalid"
    assert refused(governance.reinstate, did).code == "authority_not_suspended"
    assert province.chain.block_number() == chain_before  # nothing was sent
    stranger = Governance(province.chain, province.office.deployment, funded(province.chain))
    chain_before = province.chain.block_number()  # funding the stranger mined a block
    error = refused(stranger.suspend, did)
    assert error.code == "not_governance_root" and stranger.root.address in error.en  # type: ignore[union-attr]
    reader = Governance(province.chain, province.office.deployment, None)
    assert refused(reader.suspend, did).code == "root_key_missing"
    assert province.chain.block_number() == chain_before  # nothing was sent
    assert governance.authority(did).status == "active"

    governance.suspend(did)
    assert refused(governance.suspend, did).code == "authority_already_suspended"
