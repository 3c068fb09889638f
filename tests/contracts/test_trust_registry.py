"""TrustRegistry: one test class per function, on both chain backends, reverts by selector."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Registries, funded
from tests.contracts._support import (
    DID,
    OTHER_DID,
    ZERO_ADDRESS,
    block_time,
    bystander,
    h,
    reverts,
    trust_events,
    unique,
)
from verifier.contracts import load_artifact

ACTIVE, SUSPENDED, REMOVED = 1, 2, 3
# Authority tuple fields, as authorityBy* return them.
ID, STATUS, ACCOUNT, REGION, ACCREDITED_AT, DID_FIELD, NAME_ZH, NAME_EN, TYPES, USCC = range(10)
# IssuerKey tuple fields.
PUBLIC_KEY, VALID_FROM, REVOKED_AT, REASON, ALGORITHM = range(5)
# KeyAlgorithm values.
ED25519, SM2 = 1, 2

NAME_ZH_GZ = "广州市来穗人员服务管理局"
NAME_EN_GZ = "Guangzhou Migrant Population Service Administration"
USCC_GZ = "11440100007502156G"
PK1, PK2 = b"\x11" * 32, b"\x22" * 32
# SM2 public keys: the GB/T 32918.5 Annex A key (odd y) and another point (even y)
SM2_PK1 = bytes.fromhex("0309f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020")
SM2_PK2 = b"\x02" + b"\x5c" * 32

fuzz = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
any_char = st.characters(codec="utf-8", exclude_categories=("Cs",))


def accredit_args(
    did: str = OTHER_DID,
    account: str | None = None,
    *,
    name_zh: str = "深圳市市场监督管理局",
    name_en: str = "Shenzhen Administration for Market Regulation",
    region: int = 440300,
    types: list[str] | None = None,
    uscc: str = "",
) -> list[object]:
    return [
        did,
        name_zh,
        name_en,
        region,
        ["BusinessLicense"] if types is None else types,
        account or bystander().address,
        uscc,
    ]


@pytest.fixture
def authority(registries: Registries) -> LocalAccount:
    """The account of an accredited, active authority (DID ``DID``, id 1)."""
    return registries.accredit(DID)


@pytest.fixture
def keyed(registries: Registries, authority: LocalAccount) -> LocalAccount:
    """``authority`` with one key ``key-1`` registered."""
    registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], authority)
    return authority


# =============================================================================== governance


class TestConstructor:
    def test_sets_root_and_emits_governance_transferred(self, registries: Registries) -> None:
        chain, deployer = registries.chain, registries.root
        root = bystander().address  # the root need not be the deployer
        receipt = chain.deploy(load_artifact("TrustRegistry"), [root], deployer)
        address, abi = receipt.contract_address, registries.trust_abi
        assert address is not None
        assert chain.call(address, abi, "governanceRoot") == root
        assert chain.call(address, abi, "pendingGovernanceRoot") == ZERO_ADDRESS
        assert chain.call(address, abi, "authorityCount") == 0
        assert trust_events(registries, receipt) == [
            ("GovernanceTransferred", {"previousRoot": ZERO_ADDRESS, "newRoot": root})
        ]

    def test_zero_root_reverts(self, registries: Registries) -> None:
        with reverts("ZeroAddress()"):
            registries.chain.deploy(load_artifact("TrustRegistry"), [ZERO_ADDRESS], registries.root)


class TestTransferGovernance:
    def test_offer_sets_pending_root_without_handing_over_power(
        self, registries: Registries
    ) -> None:
        successor = funded(registries.chain)
        receipt = registries.trust_tx("transferGovernance", [successor.address])
        assert trust_events(registries, receipt) == [
            (
                "GovernanceTransferStarted",
                {"currentRoot": registries.root.address, "pendingRoot": successor.address},
            )
        ]
        assert registries.trust_call("pendingGovernanceRoot") == successor.address
        assert registries.trust_call("governanceRoot") == registries.root.address
        with reverts("NotGovernanceRoot(address)", caller=successor.address):
            registries.trust_tx("accredit", accredit_args(), successor)
        registries.trust_tx("accredit", accredit_args())  # the old root still governs

    def test_a_new_offer_replaces_the_pending_one(self, registries: Registries) -> None:
        first, second = funded(registries.chain), funded(registries.chain)
        registries.trust_tx("transferGovernance", [first.address])
        registries.trust_tx("transferGovernance", [second.address])
        assert registries.trust_call("pendingGovernanceRoot") == second.address
        with reverts("NotPendingGovernanceRoot(address)", caller=first.address):
            registries.trust_tx("acceptGovernance", [], first)

    def test_only_the_root_may_offer(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("transferGovernance", [authority.address], authority)
        assert registries.trust_call("pendingGovernanceRoot") == ZERO_ADDRESS

    def test_zero_new_root_reverts(self, registries: Registries) -> None:
        with reverts("ZeroAddress()"):
            registries.trust_tx("transferGovernance", [ZERO_ADDRESS])


class TestAcceptGovernance:
    def test_accepting_moves_the_role_and_the_old_root_loses_power(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        old = registries.root
        successor = funded(registries.chain)
        registries.trust_tx("transferGovernance", [successor.address])
        receipt = registries.trust_tx("acceptGovernance", [], successor)
        assert trust_events(registries, receipt) == [
            ("GovernanceTransferred", {"previousRoot": old.address, "newRoot": successor.address})
        ]
        assert registries.trust_call("governanceRoot") == successor.address
        assert registries.trust_call("pendingGovernanceRoot") == ZERO_ADDRESS
        with reverts("NotGovernanceRoot(address)", caller=old.address):
            registries.trust_tx("accredit", accredit_args(), old)
        with reverts("NotGovernanceRoot(address)", caller=old.address):
            registries.trust_tx("suspend", [DID], old)
        with reverts("NotAuthorityAccount(address,bytes32)", caller=old.address, didHash=h(DID)):
            registries.trust_tx("setAccount", [DID, bystander().address], old)
        registries.trust_tx("accredit", accredit_args(), successor)
        registries.trust_tx("suspend", [DID], successor)
        assert registries.trust_call("authorityCount") == 2

    def test_only_the_pending_root_may_accept(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("NotPendingGovernanceRoot(address)", caller=registries.root.address):
            registries.trust_tx("acceptGovernance", [])  # nothing offered yet
        registries.trust_tx("transferGovernance", [bystander().address])
        with reverts("NotPendingGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("acceptGovernance", [], authority)
        assert registries.trust_call("governanceRoot") == registries.root.address

    def test_an_offer_can_be_accepted_once(self, registries: Registries) -> None:
        successor = funded(registries.chain)
        registries.trust_tx("transferGovernance", [successor.address])
        registries.trust_tx("acceptGovernance", [], successor)
        with reverts("NotPendingGovernanceRoot(address)", caller=successor.address):
            registries.trust_tx("acceptGovernance", [], successor)


# =============================================================================== authorities


class TestAccredit:
    def test_records_the_authority_and_emits_every_field(self, registries: Registries) -> None:
        account = bystander().address
        types = ["ResidencePermit", "ResidencePermitEndorsement"]
        receipt = registries.trust_tx(
            "accredit", [DID, NAME_ZH_GZ, NAME_EN_GZ, 440100, types, account, USCC_GZ]
        )
        at = block_time(registries, receipt)
        assert trust_events(registries, receipt) == [
            (
                "AuthorityAccredited",
                {
                    "didHash": h(DID),
                    "id": 1,
                    "account": account,
                    "did": DID,
                    "nameZh": NAME_ZH_GZ,
                    "nameEn": NAME_EN_GZ,
                    "region": 440100,
                    "credentialTypes": types,
                    "uscc": USCC_GZ,
                    "at": at,
                },
            )
        ]
        assert tuple(registries.trust_call("authorityByDid", DID)) == (
            1, ACTIVE, account, 440100, at, DID, NAME_ZH_GZ, NAME_EN_GZ, types, USCC_GZ,
        )  # fmt: skip
        assert registries.trust_call("authorityCount") == 1

    def test_uscc_is_empty_or_eighteen_characters_of_its_alphabet(
        self, registries: Registries
    ) -> None:
        for uscc in ["1144010000750215", USCC_GZ + "0", "11440100007502156g", "1144010000750215IO"]:
            with reverts("InvalidUscc()"):
                registries.trust_tx("accredit", accredit_args(uscc=uscc))
        registries.trust_tx("accredit", accredit_args(uscc=""))
        assert registries.trust_call("authorityByDid", OTHER_DID)[USCC] == ""
        registries.trust_tx("accredit", accredit_args(DID, uscc="91440106MA59C2K45Y"))
        assert registries.trust_call("authorityByDid", DID)[USCC] == "91440106MA59C2K45Y"

    def test_ids_count_up_from_one(self, registries: Registries) -> None:
        for expected, did in enumerate(["did:web:a.gov.cn", "did:web:b.gov.cn"], start=1):
            receipt = registries.trust_tx("accredit", accredit_args(did))
            assert trust_events(registries, receipt)[0][1]["id"] == expected
            assert registries.trust_call("authorityByDid", did)[ID] == expected
        assert registries.trust_call("authorityCount") == 2

    def test_did_limits(self, registries: Registries) -> None:
        too_long = "did:" + "a" * 253  # 257 bytes
        cjk_too_long = "did:" + "穗" * 85  # 4 + 255 = 259 bytes although only 89 characters
        for did in ["", "did:", "did", "web:lsj.gz.gov.cn", "DID:web:x", "did;web:x", too_long,
                    cjk_too_long]:  # fmt: skip
            with reverts("InvalidDid()"):
                registries.trust_tx("accredit", accredit_args(did))
        for did in ["did:x", "did:" + "a" * 252, "did:" + "穗" * 84]:  # 5, 256, 256 bytes
            registries.trust_tx("accredit", accredit_args(did))
            assert registries.trust_call("authorityByDid", did)[DID_FIELD] == did

    def test_name_limits(self, registries: Registries) -> None:
        for name_zh, name_en in [("", "x"), ("x", ""), ("穗" * 86, "x"), ("x", "a" * 257)]:
            with reverts("InvalidName()"):
                registries.trust_tx("accredit", accredit_args(name_zh=name_zh, name_en=name_en))
        registries.trust_tx("accredit", accredit_args(name_zh="穗" * 85, name_en="a" * 256))
        record = registries.trust_call("authorityByDid", OTHER_DID)
        assert (record[NAME_ZH], record[NAME_EN]) == ("穗" * 85, "a" * 256)

    def test_region_limits(self, registries: Registries) -> None:
        for region in [0, 100000, 109999, 830000, 999999, 2**32 - 1]:
            with reverts("InvalidRegion(uint32)", region=region):
                registries.trust_tx("accredit", accredit_args(region=region))
        for n, region in enumerate([110000, 829999]):
            did = f"did:web:region-{n}.gov.cn"
            registries.trust_tx("accredit", accredit_args(did, region=region))
            assert registries.trust_call("authorityByDid", did)[REGION] == region

    def test_credential_type_limits(self, registries: Registries) -> None:
        many = [f"Type{i}" for i in range(17)]
        for types in [[], [""], ["ResidencePermit", ""], many, ["T" * 65]]:
            with reverts("InvalidCredentialTypes()"):
                registries.trust_tx("accredit", accredit_args(types=types))
        registries.trust_tx("accredit", accredit_args(types=[*many[:15], "T" * 64]))
        assert registries.trust_call("authorityByDid", OTHER_DID)[TYPES] == [*many[:15], "T" * 64]

    def test_zero_account_reverts(self, registries: Registries) -> None:
        with reverts("ZeroAddress()"):
            registries.trust_tx("accredit", accredit_args(account=ZERO_ADDRESS))

    def test_a_did_is_accredited_once(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("AuthorityExists(bytes32)", didHash=h(DID)):
            registries.trust_tx("accredit", accredit_args(DID))
        assert registries.trust_call("authorityCount") == 1

    def test_an_account_acts_for_one_authority(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("AccountInUse(address)", account=authority.address):
            registries.trust_tx("accredit", accredit_args(OTHER_DID, authority.address))
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_call("authorityByDid", OTHER_DID)

    def test_only_the_root_may_accredit(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("accredit", accredit_args(), authority)
        assert registries.trust_call("authorityCount") == 1

    @fuzz
    @given(
        region=st.one_of(
            st.integers(0, 2**32 - 1),
            st.integers(105000, 835000),
            st.sampled_from([109999, 110000, 829999, 830000]),
        )
    )
    def test_fuzzed_regions_are_accepted_iff_within_gb2260_range(
        self, registries: Registries, region: int
    ) -> None:
        did = unique("did:web:region.gov.cn:")
        if 110000 <= region <= 829999:
            registries.trust_tx("accredit", accredit_args(did, region=region))
            assert registries.trust_call("authorityByDid", did)[REGION] == region
        else:
            with reverts("InvalidRegion(uint32)", region=region):
                registries.trust_tx("accredit", accredit_args(did, region=region))

    @fuzz
    @given(
        body=st.text(st.one_of(cjk, any_char), min_size=1, max_size=40),
        name_zh=st.text(cjk, min_size=1, max_size=85),
        name_en=st.text(any_char, min_size=1, max_size=60),
        types=st.lists(st.text(st.one_of(cjk, any_char), min_size=1, max_size=16), max_size=16),
    )
    def test_fuzzed_dids_and_names_round_trip(
        self, registries: Registries, body: str, name_zh: str, name_en: str, types: list[str]
    ) -> None:
        did = unique("did:") + ":" + body
        types = types or ["ResidencePermit"]
        account = bystander().address
        receipt = registries.trust_tx(
            "accredit", accredit_args(did, account, name_zh=name_zh, name_en=name_en, types=types)
        )
        [(name, args)] = trust_events(registries, receipt)
        assert name == "AuthorityAccredited"
        assert (args["didHash"], args["did"], args["nameZh"], args["nameEn"]) == (
            h(did), did, name_zh, name_en,
        )  # fmt: skip
        assert args["credentialTypes"] == types
        record = registries.trust_call("authorityByDid", did)
        assert (record[ID], record[DID_FIELD], record[NAME_ZH], record[NAME_EN]) == (
            args["id"], did, name_zh, name_en,
        )  # fmt: skip
        assert record[TYPES] == types
        assert registries.trust_call("authorityByAccount", account)[DID_FIELD] == did


class TestSetScope:
    def test_changes_region_and_types_and_emits(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        types = ["ResidencePermit", "BusinessLicense"]
        receipt = registries.trust_tx("setScope", [DID, 440300, types])
        assert trust_events(registries, receipt) == [
            (
                "AuthorityScopeChanged",
                {
                    "didHash": h(DID),
                    "region": 440300,
                    "credentialTypes": types,
                    "at": block_time(registries, receipt),
                },
            )
        ]
        record = registries.trust_call("authorityByDid", DID)
        assert (record[REGION], record[TYPES], record[STATUS]) == (440300, types, ACTIVE)
        assert record[ACCOUNT] == authority.address

    def test_a_suspended_authority_scope_can_change(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("suspend", [DID])
        registries.trust_tx("setScope", [DID, 110000, ["ResidencePermit"]])
        record = registries.trust_call("authorityByDid", DID)
        assert (record[REGION], record[STATUS]) == (110000, SUSPENDED)

    def test_scope_is_validated(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("InvalidRegion(uint32)", region=830000):
            registries.trust_tx("setScope", [DID, 830000, ["ResidencePermit"]])
        with reverts("InvalidRegion(uint32)", region=109999):
            registries.trust_tx("setScope", [DID, 109999, ["ResidencePermit"]])
        for types in [[], [""], ["T" * 65], [f"T{i}" for i in range(17)]]:
            with reverts("InvalidCredentialTypes()"):
                registries.trust_tx("setScope", [DID, 440100, types])
        assert registries.trust_call("authorityByDid", DID)[TYPES] == ["ResidencePermit"]

    def test_only_the_root_may_change_a_scope(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("setScope", [DID, 440300, ["BusinessLicense"]], authority)

    def test_unknown_and_removed_authorities(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("setScope", [OTHER_DID, 440300, ["BusinessLicense"]])
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityIsRemoved(bytes32)", didHash=h(DID)):
            registries.trust_tx("setScope", [DID, 440300, ["BusinessLicense"]])
        assert registries.trust_call("authorityByDid", DID)[REGION] == 440100


class TestSetAccount:
    def test_root_moves_the_account_and_history_stays_with_the_authority(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        credential, root_hash = b"\xc1" * 32, b"\xa1" * 32
        registries.anchor_tx("anchor", [root_hash, 4], authority)
        registries.anchor_tx("setStatus", [credential, SUSPENDED, 7], authority)
        registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], authority)
        new = funded(registries.chain)

        receipt = registries.trust_tx("setAccount", [DID, new.address])
        assert trust_events(registries, receipt) == [
            (
                "AuthorityAccountChanged",
                {
                    "didHash": h(DID),
                    "previousAccount": authority.address,
                    "newAccount": new.address,
                    "at": block_time(registries, receipt),
                },
            )
        ]
        assert registries.trust_call("authorityByDid", DID)[ACCOUNT] == new.address
        assert registries.trust_call("authorityByAccount", new.address)[ID] == 1
        assert registries.trust_call("anchoringAuthority", new.address) == [1, ACTIVE]
        assert registries.trust_call("anchoringAuthority", authority.address) == [0, 0]

        # The old account lost every power; the new one has them, on the same history.
        with reverts("NotAnAuthority(address)", caller=authority.address):
            registries.anchor_tx("anchor", [b"\xa2" * 32, 1], authority)
        with reverts("NotAnAuthority(address)", caller=authority.address):
            registries.anchor_tx("setStatus", [credential, 3, 0], authority)
        with reverts("NotAuthorityAccount(address,bytes32)", caller=authority.address,
                     didHash=h(DID)):  # fmt: skip
            registries.trust_tx("addKey", [DID, "key-2", ED25519, PK2], authority)
        registries.anchor_tx("anchor", [b"\xa2" * 32, 1], new)
        assert registries.anchor_call("anchorOf", root_hash)[0] == 1
        assert registries.anchor_call("anchorOf", b"\xa2" * 32)[0] == 1
        assert registries.anchor_call("statusOf", 1, credential)[:2] == (SUSPENDED, 7)
        registries.anchor_tx("setStatus", [credential, 3, 0], new)  # Suspended → Reinstated
        assert registries.anchor_call("statusOf", 1, credential)[0] == 3
        assert registries.trust_call("keyOf", DID, "key-1")[PUBLIC_KEY] == PK1
        registries.trust_tx("addKey", [DID, "key-2", ED25519, PK2], new)
        assert registries.trust_call("keyIdsOf", DID) == ["key-1", "key-2"]

    def test_the_current_account_may_rotate_itself(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        new = bystander()
        receipt = registries.trust_tx("setAccount", [DID, new.address], authority)
        assert trust_events(registries, receipt)[0][1]["newAccount"] == new.address
        assert registries.trust_call("authorityByDid", DID)[ACCOUNT] == new.address
        with reverts("NotAuthorityAccount(address,bytes32)", caller=authority.address,
                     didHash=h(DID)):  # fmt: skip
            registries.trust_tx("setAccount", [DID, authority.address], authority)

    def test_a_released_account_never_serves_again(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("setAccount", [DID, bystander().address])
        assert registries.trust_call("anchoringAuthority", authority.address) == [0, 0]
        with reverts("AccountInUse(address)", account=authority.address):
            registries.trust_tx("accredit", accredit_args(OTHER_DID, authority.address))
        with reverts("AccountInUse(address)", account=authority.address):
            registries.trust_tx("setAccount", [DID, authority.address])

    def test_an_account_in_use_is_refused(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        other = bystander().address
        registries.trust_tx("accredit", accredit_args(OTHER_DID, other))
        for taken in [other, authority.address]:
            with reverts("AccountInUse(address)", account=taken):
                registries.trust_tx("setAccount", [DID, taken])
        assert registries.trust_call("authorityByDid", DID)[ACCOUNT] == authority.address

    def test_strangers_and_other_authorities_are_refused(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        other = registries.accredit(OTHER_DID)
        with reverts("NotAuthorityAccount(address,bytes32)", caller=other.address, didHash=h(DID)):
            registries.trust_tx("setAccount", [DID, bystander().address], other)
        assert registries.trust_call("authorityByDid", DID)[ACCOUNT] == authority.address

    def test_zero_unknown_and_removed(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("ZeroAddress()"):
            registries.trust_tx("setAccount", [DID, ZERO_ADDRESS])
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("setAccount", [OTHER_DID, bystander().address])
        registries.trust_tx("remove", [DID])
        for sender in [registries.root, authority]:
            with reverts("AuthorityIsRemoved(bytes32)", didHash=h(DID)):
                registries.trust_tx("setAccount", [DID, bystander().address], sender)


class TestSuspend:
    def test_suspends_an_active_authority(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        receipt = registries.trust_tx("suspend", [DID])
        assert trust_events(registries, receipt) == [
            (
                "AuthorityStatusChanged",
                {"didHash": h(DID), "status": SUSPENDED, "at": block_time(registries, receipt)},
            )
        ]
        assert registries.trust_call("authorityByDid", DID)[STATUS] == SUSPENDED
        assert registries.trust_call("anchoringAuthority", authority.address) == [1, SUSPENDED]

    def test_refusals(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("suspend", [DID], authority)
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("suspend", [OTHER_DID])
        registries.trust_tx("suspend", [DID])
        with reverts("InvalidAuthorityTransition(bytes32,uint8,uint8)", didHash=h(DID),
                     **{"from": SUSPENDED, "to": SUSPENDED}):  # fmt: skip
            registries.trust_tx("suspend", [DID])
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityIsRemoved(bytes32)", didHash=h(DID)):
            registries.trust_tx("suspend", [DID])


class TestReinstate:
    def test_reinstates_a_suspended_authority(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("suspend", [DID])
        receipt = registries.trust_tx("reinstate", [DID])
        assert trust_events(registries, receipt) == [
            (
                "AuthorityStatusChanged",
                {"didHash": h(DID), "status": ACTIVE, "at": block_time(registries, receipt)},
            )
        ]
        assert registries.trust_call("anchoringAuthority", authority.address) == [1, ACTIVE]

    def test_refusals(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("InvalidAuthorityTransition(bytes32,uint8,uint8)", didHash=h(DID),
                     **{"from": ACTIVE, "to": ACTIVE}):  # fmt: skip
            registries.trust_tx("reinstate", [DID])
        registries.trust_tx("suspend", [DID])
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("reinstate", [DID], authority)
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("reinstate", [OTHER_DID])
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityIsRemoved(bytes32)", didHash=h(DID)):
            registries.trust_tx("reinstate", [DID])
        assert registries.trust_call("authorityByDid", DID)[STATUS] == REMOVED


class TestRemove:
    def test_removes_for_good_and_keeps_the_record_readable(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        receipt = registries.trust_tx("remove", [DID])
        assert trust_events(registries, receipt) == [
            (
                "AuthorityStatusChanged",
                {"didHash": h(DID), "status": REMOVED, "at": block_time(registries, receipt)},
            )
        ]
        record = registries.trust_call("authorityByDid", DID)
        assert (record[ID], record[STATUS], record[ACCOUNT]) == (1, REMOVED, keyed.address)
        assert registries.trust_call("anchoringAuthority", keyed.address) == [1, REMOVED]
        assert registries.trust_call("keyOf", DID, "key-1")[PUBLIC_KEY] == PK1
        assert registries.trust_call("keyIdsOf", DID) == ["key-1"]
        with reverts("AuthorityIsRemoved(bytes32)", didHash=h(DID)):
            registries.trust_tx("remove", [DID])
        with reverts("AuthorityExists(bytes32)", didHash=h(DID)):  # a DID is never reused
            registries.trust_tx("accredit", accredit_args(DID))

    def test_a_suspended_authority_can_be_removed(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("suspend", [DID])
        registries.trust_tx("remove", [DID])
        assert registries.trust_call("authorityByDid", DID)[STATUS] == REMOVED

    def test_refusals(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("NotGovernanceRoot(address)", caller=authority.address):
            registries.trust_tx("remove", [DID], authority)
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("remove", [OTHER_DID])
        assert registries.trust_call("authorityByDid", DID)[STATUS] == ACTIVE


# =============================================================================== keys


class TestAddKey:
    def test_registers_a_key_valid_from_block_time(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        receipt = registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], authority)
        at = block_time(registries, receipt)
        assert trust_events(registries, receipt) == [
            (
                "KeyAdded",
                {
                    "didHash": h(DID),
                    "keyIdHash": h("key-1"),
                    "keyId": "key-1",
                    "algorithm": ED25519,
                    "publicKey": PK1,
                    "validFrom": at,
                },
            )
        ]
        assert tuple(registries.trust_call("keyOf", DID, "key-1")) == (PK1, at, 0, 0, ED25519)
        registries.trust_tx("addKey", [DID, "key-2", ED25519, PK2], authority)
        assert registries.trust_call("keyIdsOf", DID) == ["key-1", "key-2"]

    def test_registers_an_sm2_key_as_its_compressed_point(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        receipt = registries.trust_tx("addKey", [DID, "sm2-1", SM2, SM2_PK1], keyed)
        at = block_time(registries, receipt)
        assert trust_events(registries, receipt) == [
            (
                "KeyAdded",
                {
                    "didHash": h(DID),
                    "keyIdHash": h("sm2-1"),
                    "keyId": "sm2-1",
                    "algorithm": SM2,
                    "publicKey": SM2_PK1,
                    "validFrom": at,
                },
            )
        ]
        assert tuple(registries.trust_call("keyOf", DID, "sm2-1")) == (SM2_PK1, at, 0, 0, SM2)
        registries.trust_tx("addKey", [DID, "sm2-2", SM2, SM2_PK2], keyed)
        # an authority holds keys of both algorithms side by side; revocation is the same
        assert registries.trust_call("keyIdsOf", DID) == ["key-1", "sm2-1", "sm2-2"]
        assert registries.trust_call("keyOf", DID, "key-1")[ALGORITHM] == ED25519
        registries.trust_tx("revokeKey", [DID, "sm2-1", at, 2], keyed)
        assert registries.trust_call("keyOf", DID, "sm2-1")[REVOKED_AT:] == (at, 2, SM2)

    def test_the_key_must_be_encoded_as_its_algorithm_requires(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        for algorithm in [0, 3, 255]:
            with reverts("UnsupportedKeyAlgorithm(uint8)", algorithm=algorithm):
                registries.trust_tx("addKey", [DID, "key-1", algorithm, PK1], authority)
        refused = [
            (ED25519, SM2_PK1),  # 33 bytes for Ed25519
            (ED25519, PK1[:31]),
            (ED25519, b""),
            (SM2, PK1),  # 32 bytes for SM2
            (SM2, b"\x04" + SM2_PK1[1:]),  # not a compressed point
            (SM2, b"\x04" + SM2_PK1[1:] + b"\x01" * 32),  # uncompressed: refused too
            (SM2, SM2_PK1 + b"\x00"),
        ]
        for algorithm, key in refused:
            with reverts("InvalidPublicKey(uint8,uint256)", algorithm=algorithm, length=len(key)):
                registries.trust_tx("addKey", [DID, "key-1", algorithm, key], authority)
        with reverts("ZeroPublicKey()"):
            registries.trust_tx("addKey", [DID, "key-1", SM2, b"\x02" + b"\x00" * 32], authority)
        assert registries.trust_call("keyIdsOf", DID) == []

    def test_key_ids_are_per_authority(self, registries: Registries, keyed: LocalAccount) -> None:
        other = registries.accredit(OTHER_DID)
        registries.trust_tx("addKey", [OTHER_DID, "key-1", ED25519, PK2], other)
        assert registries.trust_call("keyOf", DID, "key-1")[PUBLIC_KEY] == PK1
        assert registries.trust_call("keyOf", OTHER_DID, "key-1")[PUBLIC_KEY] == PK2

    def test_only_the_authority_account_may_add(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        other = registries.accredit(OTHER_DID)
        for sender in [registries.root, other]:
            with reverts("NotAuthorityAccount(address,bytes32)", caller=sender.address,
                         didHash=h(DID)):  # fmt: skip
                registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], sender)
        assert registries.trust_call("keyIdsOf", DID) == []

    def test_a_suspended_or_removed_authority_may_not_add(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("suspend", [DID])
        with reverts("AuthorityNotActive(bytes32,uint8)", didHash=h(DID), status=SUSPENDED):
            registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], authority)
        registries.trust_tx("reinstate", [DID])
        registries.trust_tx("addKey", [DID, "key-1", ED25519, PK1], authority)
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityNotActive(bytes32,uint8)", didHash=h(DID), status=REMOVED):
            registries.trust_tx("addKey", [DID, "key-2", ED25519, PK2], authority)
        assert registries.trust_call("keyIdsOf", DID) == ["key-1"]

    def test_key_id_and_public_key_are_validated(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        for key_id in ["", "k" * 65, "钥" * 22]:  # 0, 65 and 66 bytes
            with reverts("InvalidKeyId()"):
                registries.trust_tx("addKey", [DID, key_id, ED25519, PK1], authority)
        with reverts("ZeroPublicKey()"):
            registries.trust_tx("addKey", [DID, "key-1", ED25519, b"\x00" * 32], authority)
        for key_id in ["k" * 64, "钥" * 21]:  # 64 and 63 bytes
            registries.trust_tx("addKey", [DID, key_id, ED25519, PK1], authority)
        assert registries.trust_call("keyIdsOf", DID) == ["k" * 64, "钥" * 21]

    def test_a_key_id_is_registered_once_even_after_revocation(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        with reverts("KeyExists(bytes32,bytes32)", didHash=h(DID), keyIdHash=h("key-1")):
            registries.trust_tx("addKey", [DID, "key-1", ED25519, PK2], keyed)
        valid_from = registries.trust_call("keyOf", DID, "key-1")[VALID_FROM]
        registries.trust_tx("revokeKey", [DID, "key-1", valid_from, 2], keyed)
        with reverts("KeyExists(bytes32,bytes32)", didHash=h(DID), keyIdHash=h("key-1")):
            registries.trust_tx("addKey", [DID, "key-1", ED25519, PK2], keyed)
        assert registries.trust_call("keyOf", DID, "key-1")[PUBLIC_KEY] == PK1

    def test_unknown_authority(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("addKey", [OTHER_DID, "key-1", ED25519, PK1], authority)

    @fuzz
    @given(
        body=st.text(st.one_of(cjk, any_char), min_size=1, max_size=12),
        key=st.one_of(
            st.tuples(st.just(ED25519), st.binary(min_size=32, max_size=32).filter(any)),
            st.tuples(
                st.just(SM2),
                st.builds(
                    lambda prefix, x: prefix + x,
                    st.sampled_from([b"\x02", b"\x03"]),
                    st.binary(min_size=32, max_size=32).filter(any),
                ),
            ),
        ),
    )
    def test_fuzzed_key_ids_and_keys_round_trip(
        self,
        registries: Registries,
        authority: LocalAccount,
        body: str,
        key: tuple[int, bytes],
    ) -> None:
        algorithm, public_key = key
        key_id = unique("k") + "-" + body  # at most 6 + 1 + 48 bytes
        receipt = registries.trust_tx("addKey", [DID, key_id, algorithm, public_key], authority)
        [(name, args)] = trust_events(registries, receipt)
        assert name == "KeyAdded"
        assert (args["keyId"], args["keyIdHash"], args["algorithm"], args["publicKey"]) == (
            key_id, h(key_id), algorithm, public_key,
        )  # fmt: skip
        assert tuple(registries.trust_call("keyOf", DID, key_id)) == (
            public_key, args["validFrom"], 0, 0, algorithm,
        )  # fmt: skip
        assert registries.trust_call("keyIdsOf", DID)[-1] == key_id


class TestRevokeKey:
    def test_account_revokes_back_to_valid_from(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        valid_from = registries.trust_call("keyOf", DID, "key-1")[VALID_FROM]
        receipt = registries.trust_tx("revokeKey", [DID, "key-1", valid_from, 2], keyed)
        at = block_time(registries, receipt)
        assert at >= valid_from  # the revocation time lies in the past (or now)
        assert trust_events(registries, receipt) == [
            (
                "KeyRevoked",
                {
                    "didHash": h(DID),
                    "keyIdHash": h("key-1"),
                    "keyId": "key-1",
                    "revokedAt": valid_from,
                    "reason": 2,
                    "at": at,
                },
            )
        ]
        key = tuple(registries.trust_call("keyOf", DID, "key-1"))
        assert key == (PK1, valid_from, valid_from, 2, ED25519)
        assert registries.trust_call("keyIdsOf", DID) == ["key-1"]  # never deleted

    def test_scheduled_revocation_may_be_brought_forward_only(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        valid_from = registries.trust_call("keyOf", DID, "key-1")[VALID_FROM]
        later = valid_from + 86400 * 30
        registries.trust_tx("revokeKey", [DID, "key-1", later, 1], keyed)
        assert registries.trust_call("keyOf", DID, "key-1")[REVOKED_AT : REASON + 1] == (later, 1)
        for requested in [later, later + 1]:
            with reverts("RevocationNotEarlier(uint64,uint64)", requested=requested,
                         current=later):  # fmt: skip
                registries.trust_tx("revokeKey", [DID, "key-1", requested, 2], keyed)
        receipt = registries.trust_tx("revokeKey", [DID, "key-1", valid_from + 1, 2], keyed)
        assert trust_events(registries, receipt)[0][1]["revokedAt"] == valid_from + 1
        assert registries.trust_call("keyOf", DID, "key-1")[REVOKED_AT : REASON + 1] == (
            valid_from + 1,
            2,
        )

    def test_root_may_revoke_in_any_authority_state(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        valid_from = registries.trust_call("keyOf", DID, "key-1")[VALID_FROM]
        registries.trust_tx("suspend", [DID])
        registries.trust_tx("revokeKey", [DID, "key-1", valid_from + 100, 1])
        registries.trust_tx("remove", [DID])
        receipt = registries.trust_tx("revokeKey", [DID, "key-1", valid_from, 2])
        assert trust_events(registries, receipt)[0][0] == "KeyRevoked"
        assert registries.trust_call("keyOf", DID, "key-1")[REVOKED_AT : REASON + 1] == (
            valid_from,
            2,
        )

    def test_revocation_time_is_validated(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        valid_from = registries.trust_call("keyOf", DID, "key-1")[VALID_FROM]
        for requested in [0, 1, valid_from - 1]:
            with reverts("InvalidRevocationTime(uint64,uint64)", requested=requested,
                         validFrom=valid_from):  # fmt: skip
                registries.trust_tx("revokeKey", [DID, "key-1", requested, 2], keyed)
        assert registries.trust_call("keyOf", DID, "key-1")[REVOKED_AT] == 0

    def test_strangers_and_other_authorities_are_refused(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        other = registries.accredit(OTHER_DID)
        with reverts("NotAuthorityAccount(address,bytes32)", caller=other.address, didHash=h(DID)):
            registries.trust_tx("revokeKey", [DID, "key-1", 1, 2], other)
        assert registries.trust_call("keyOf", DID, "key-1")[REVOKED_AT] == 0

    def test_unknown_key_and_authority(self, registries: Registries, keyed: LocalAccount) -> None:
        with reverts("UnknownKey(bytes32,bytes32)", didHash=h(DID), keyIdHash=h("key-9")):
            registries.trust_tx("revokeKey", [DID, "key-9", 1, 2], keyed)
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_tx("revokeKey", [OTHER_DID, "key-1", 1, 2], keyed)


# =============================================================================== reads


class TestAuthorityByDid:
    def test_unknown_did_reverts_with_its_hash(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.trust_call("authorityByDid", DID)[ACCOUNT] == authority.address
        with reverts("UnknownAuthority(bytes32)", didHash=h("did:web:nowhere.gov.cn")):
            registries.trust_call("authorityByDid", "did:web:nowhere.gov.cn")


class TestAuthorityById:
    def test_reads_the_same_record_and_rejects_ids_out_of_range(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("accredit", accredit_args(OTHER_DID))
        assert registries.trust_call("authorityById", 1) == registries.trust_call(
            "authorityByDid", DID
        )
        assert registries.trust_call("authorityById", 2)[DID_FIELD] == OTHER_DID
        for missing in [0, 3, 2**32 - 1]:
            with reverts("UnknownAuthorityId(uint32)", id=missing):
                registries.trust_call("authorityById", missing)


class TestAuthorityByAccount:
    def test_reads_the_same_record_and_rejects_unknown_accounts(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.trust_call("authorityByAccount", authority.address) == (
            registries.trust_call("authorityByDid", DID)
        )
        stranger = bystander().address
        with reverts("UnknownAccount(address)", account=stranger):
            registries.trust_call("authorityByAccount", stranger)


class TestAnchoringAuthority:
    def test_id_and_status_or_zeros(self, registries: Registries, authority: LocalAccount) -> None:
        assert registries.trust_call("anchoringAuthority", authority.address) == [1, ACTIVE]
        assert registries.trust_call("anchoringAuthority", bystander().address) == [0, 0]
        assert registries.trust_call("anchoringAuthority", registries.root.address) == [0, 0]


class TestKeyOf:
    def test_unknown_key_and_unknown_authority(
        self, registries: Registries, keyed: LocalAccount
    ) -> None:
        assert registries.trust_call("keyOf", DID, "key-1")[PUBLIC_KEY] == PK1
        with reverts("UnknownKey(bytes32,bytes32)", didHash=h(DID), keyIdHash=h("key-2")):
            registries.trust_call("keyOf", DID, "key-2")
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_call("keyOf", OTHER_DID, "key-1")


class TestKeyIdsOf:
    def test_empty_then_in_order_and_unknown_authority(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.trust_call("keyIdsOf", DID) == []
        for key_id in ["2025-b", "2025-a", "密钥-3"]:
            registries.trust_tx("addKey", [DID, key_id, ED25519, PK1], authority)
        assert registries.trust_call("keyIdsOf", DID) == ["2025-b", "2025-a", "密钥-3"]
        with reverts("UnknownAuthority(bytes32)", didHash=h(OTHER_DID)):
            registries.trust_call("keyIdsOf", OTHER_DID)
