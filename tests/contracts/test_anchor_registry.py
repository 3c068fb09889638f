"""AnchorRegistry: one test class per function, on both chain backends, reverts by selector."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import Registries, funded
from tests.contracts._support import (
    DID,
    OTHER_DID,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    anchor_events,
    block_time,
    reverts,
)
from verifier.contracts import load_artifact

# CredentialStatus
NONE, REVOKED, SUSPENDED, REINSTATED, SUPERSEDED = range(5)
STATUS_NAMES = ["None", "Revoked", "Suspended", "Reinstated", "Superseded"]
# The life cycle as the service documents it: Revoked is final; a credential in force may be
# suspended (again after reinstatement); reinstatement undoes a suspension; a credential that is in
# force or suspended may be superseded; anything not yet revoked may be revoked.
ALLOWED = {
    (NONE, REVOKED), (NONE, SUSPENDED), (NONE, SUPERSEDED),
    (SUSPENDED, REVOKED), (SUSPENDED, REINSTATED), (SUSPENDED, SUPERSEDED),
    (REINSTATED, REVOKED), (REINSTATED, SUSPENDED), (REINSTATED, SUPERSEDED),
    (SUPERSEDED, REVOKED),
}  # fmt: skip
# How to bring a fresh credential into each state.
PATH_TO = {
    NONE: [],
    REVOKED: [REVOKED],
    SUSPENDED: [SUSPENDED],
    REINSTATED: [SUSPENDED, REINSTATED],
    SUPERSEDED: [SUPERSEDED],
}
# Authority states in the TrustRegistry.
AUTHORITY_SUSPENDED, AUTHORITY_REMOVED = 2, 3
# Anchor tuple fields.
AUTHORITY_ID, LEAF_COUNT, ANCHORED_AT, BLOCK_NUMBER = range(4)

GAS_PER_ANCHOR = 60_000

fuzz = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
words = st.binary(min_size=32, max_size=32).filter(any)  # non-zero bytes32


def cred(n: int) -> bytes:
    """A credential id hash that is never zero."""
    return b"\xcc" + n.to_bytes(31, "big")


def root(n: int) -> bytes:
    """A Merkle root that is never zero."""
    return b"\xaa" + n.to_bytes(31, "big")


@pytest.fixture
def authority(registries: Registries) -> LocalAccount:
    """The account of accredited authority 1 (``DID``)."""
    return registries.accredit(DID)


@pytest.fixture
def other(registries: Registries, authority: LocalAccount) -> LocalAccount:
    """The account of accredited authority 2 (``OTHER_DID``)."""
    return registries.accredit(OTHER_DID, region=440300, types=("BusinessLicense",))


class TestConstructor:
    def test_points_at_the_trust_registry(self, registries: Registries) -> None:
        assert registries.anchor_call("trustRegistry") == registries.trust

    def test_zero_registry_reverts(self, registries: Registries) -> None:
        with reverts("ZeroAddress()"):
            registries.chain.deploy(
                load_artifact("AnchorRegistry"), [ZERO_ADDRESS], registries.root
            )


class TestAnchor:
    def test_records_the_anchor_and_emits(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.anchor_call("anchorOf", root(1)) == (0, 0, 0, 0)
        receipt = registries.anchor_tx("anchor", [root(1), 250], authority)
        at = block_time(registries, receipt)
        assert registries.anchor_call("anchorOf", root(1)) == (1, 250, at, receipt.block_number)
        assert anchor_events(registries, receipt) == [
            (
                "RootAnchored",
                {"authorityId": 1, "root": root(1), "leafCount": 250, "anchoredAt": at},
            )
        ]

    def test_an_anchor_costs_at_most_60000_gas(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        receipt = registries.anchor_tx("anchor", [root(1), 2**32 - 1], authority)
        assert 21_000 < receipt.gas_used <= GAS_PER_ANCHOR

    def test_zero_root_and_zero_leaf_count_revert(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        with reverts("ZeroRoot()"):
            registries.anchor_tx("anchor", [ZERO_BYTES32, 1], authority)
        with reverts("ZeroLeafCount()"):
            registries.anchor_tx("anchor", [root(1), 0], authority)
        assert registries.anchor_call("anchorOf", root(1)) == (0, 0, 0, 0)

    def test_a_root_is_anchored_once_by_anyone(
        self, registries: Registries, authority: LocalAccount, other: LocalAccount
    ) -> None:
        receipt = registries.anchor_tx("anchor", [root(1), 3], authority)
        first = registries.anchor_call("anchorOf", root(1))
        for sender, leaf_count in [(authority, 3), (authority, 4), (other, 3)]:
            with reverts("RootAlreadyAnchored(bytes32,uint32,uint64)", root=root(1),
                         authorityId=1, anchoredAt=block_time(registries, receipt)):  # fmt: skip
                registries.anchor_tx("anchor", [root(1), leaf_count], sender)
        assert registries.anchor_call("anchorOf", root(1)) == first

    def test_accounts_that_are_no_authority_are_refused(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        stranger = funded(registries.chain)
        for sender in [stranger, registries.root]:  # the governance root is no authority
            with reverts("NotAnAuthority(address)", caller=sender.address):
                registries.anchor_tx("anchor", [root(1), 1], sender)
        assert registries.anchor_call("anchorOf", root(1)) == (0, 0, 0, 0)

    def test_suspended_and_removed_authorities_are_refused_reinstated_may_anchor(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.trust_tx("suspend", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_SUSPENDED):  # fmt: skip
            registries.anchor_tx("anchor", [root(1), 1], authority)
        registries.trust_tx("reinstate", [DID])
        registries.anchor_tx("anchor", [root(1), 1], authority)
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_REMOVED):  # fmt: skip
            registries.anchor_tx("anchor", [root(2), 1], authority)
        assert registries.anchor_call("anchorOf", root(1))[AUTHORITY_ID] == 1
        assert registries.anchor_call("anchorOf", root(2)) == (0, 0, 0, 0)

    def test_anchors_are_recorded_under_the_senders_own_authority(
        self, registries: Registries, authority: LocalAccount, other: LocalAccount
    ) -> None:
        receipt = registries.anchor_tx("anchor", [root(2), 5], other)
        registries.anchor_tx("anchor", [root(1), 5], authority)
        assert anchor_events(registries, receipt)[0][1]["authorityId"] == 2
        assert registries.anchor_call("anchorOf", root(2))[AUTHORITY_ID] == 2
        assert registries.anchor_call("anchorOf", root(1))[AUTHORITY_ID] == 1

    @fuzz
    @given(merkle_root=words, leaf_count=st.integers(1, 2**32 - 1))
    def test_fuzzed_roots_and_leaf_counts_read_back_exactly(
        self, registries: Registries, authority: LocalAccount, merkle_root: bytes, leaf_count: int
    ) -> None:
        assume(registries.anchor_call("anchorOf", merkle_root)[ANCHORED_AT] == 0)
        receipt = registries.anchor_tx("anchor", [merkle_root, leaf_count], authority)
        at = block_time(registries, receipt)
        assert registries.anchor_call("anchorOf", merkle_root) == (
            1, leaf_count, at, receipt.block_number,
        )  # fmt: skip
        assert anchor_events(registries, receipt) == [
            (
                "RootAnchored",
                {"authorityId": 1, "root": merkle_root, "leafCount": leaf_count, "anchoredAt": at},
            )
        ]


class TestSetStatus:
    def test_records_the_status_and_emits(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.anchor_call("statusOf", 1, cred(1)) == (NONE, 0, 0)
        receipt = registries.anchor_tx("setStatus", [cred(1), SUSPENDED, 65535], authority)
        at = block_time(registries, receipt)
        assert registries.anchor_call("statusOf", 1, cred(1)) == (SUSPENDED, 65535, at)
        assert anchor_events(registries, receipt) == [
            (
                "StatusChanged",
                {
                    "authorityId": 1,
                    "credentialIdHash": cred(1),
                    "status": SUSPENDED,
                    "reason": 65535,
                    "changedAt": at,
                },
            )
        ]

    def test_every_allowed_transition(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        cells = sorted(ALLOWED)
        ids, statuses = [], []  # bring one fresh credential per cell into its "from" state
        for n, (start, _) in enumerate(cells):
            ids += [cred(n)] * len(PATH_TO[start])
            statuses += PATH_TO[start]
        registries.anchor_tx("setStatusBatch", [ids, statuses, [0] * len(ids)], authority)
        for n, (start, to) in enumerate(cells):
            label = f"{STATUS_NAMES[start]} → {STATUS_NAMES[to]}"
            assert registries.anchor_call("statusOf", 1, cred(n))[0] == start, label
            receipt = registries.anchor_tx("setStatus", [cred(n), to, n], authority)
            assert registries.anchor_call("statusOf", 1, cred(n))[:2] == (to, n), label
            assert anchor_events(registries, receipt)[0][1]["status"] == to, label

    def test_every_forbidden_transition(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        cells = sorted((a, b) for a in range(5) for b in range(1, 5) if (a, b) not in ALLOWED)
        assert len(cells) == 10  # 1 from None, 4 from Revoked, 1 each from Suspended and
        # Reinstated, 3 from Superseded
        ids, statuses = [], []
        for n, (start, _) in enumerate(cells):
            ids += [cred(n)] * len(PATH_TO[start])
            statuses += PATH_TO[start]
        registries.anchor_tx("setStatusBatch", [ids, statuses, [7] * len(ids)], authority)
        for n, (start, to) in enumerate(cells):
            before = registries.anchor_call("statusOf", 1, cred(n))
            with reverts("InvalidStatusTransition(bytes32,uint8,uint8)", credentialIdHash=cred(n),
                         **{"from": start, "to": to}):  # fmt: skip
                registries.anchor_tx("setStatus", [cred(n), to, 1], authority)
            assert registries.anchor_call("statusOf", 1, cred(n)) == before

    def test_status_code_and_credential_id_are_validated(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        for status in [0, 5, 6, 255]:
            with reverts("InvalidStatus(uint8)", status=status):
                registries.anchor_tx("setStatus", [cred(1), status, 0], authority)
        with reverts("ZeroCredentialId()"):
            registries.anchor_tx("setStatus", [ZERO_BYTES32, REVOKED, 0], authority)
        assert registries.anchor_call("statusOf", 1, cred(1)) == (NONE, 0, 0)

    def test_only_active_authorities(self, registries: Registries, authority: LocalAccount) -> None:
        with reverts("NotAnAuthority(address)", caller=registries.root.address):
            registries.anchor_tx("setStatus", [cred(1), REVOKED, 0], registries.root)
        registries.trust_tx("suspend", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_SUSPENDED):  # fmt: skip
            registries.anchor_tx("setStatus", [cred(1), REVOKED, 0], authority)
        registries.trust_tx("remove", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_REMOVED):  # fmt: skip
            registries.anchor_tx("setStatus", [cred(1), REVOKED, 0], authority)
        assert registries.anchor_call("statusOf", 1, cred(1)) == (NONE, 0, 0)

    def test_an_authority_cannot_change_another_authoritys_statuses(
        self, registries: Registries, authority: LocalAccount, other: LocalAccount
    ) -> None:
        shared = cred(42)  # the same credential id hash in both namespaces
        registries.anchor_tx("setStatus", [shared, SUSPENDED, 3], other)
        b_record = registries.anchor_call("statusOf", 2, shared)
        # A sees its own (empty) namespace: reinstating is not possible from None ...
        with reverts("InvalidStatusTransition(bytes32,uint8,uint8)", credentialIdHash=shared,
                     **{"from": NONE, "to": REINSTATED}):  # fmt: skip
            registries.anchor_tx("setStatus", [shared, REINSTATED, 0], authority)
        # ... and revoking writes only to A's namespace.
        receipt = registries.anchor_tx("setStatus", [shared, REVOKED, 9], authority)
        assert anchor_events(registries, receipt)[0][1]["authorityId"] == 1
        assert registries.anchor_call("statusOf", 1, shared)[:2] == (REVOKED, 9)
        assert registries.anchor_call("statusOf", 2, shared) == b_record
        assert b_record[:2] == (SUSPENDED, 3)
        registries.anchor_tx("setStatus", [shared, REINSTATED, 0], other)  # B is unaffected
        assert registries.anchor_call("statusOf", 2, shared)[0] == REINSTATED


class TestSetStatusBatch:
    def test_applies_in_order_and_emits_one_event_per_entry(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        ids = [cred(1), cred(2), cred(1), cred(3)]
        statuses = [SUSPENDED, REVOKED, REINSTATED, SUPERSEDED]
        reasons = [10, 20, 30, 40]
        receipt = registries.anchor_tx("setStatusBatch", [ids, statuses, reasons], authority)
        at = block_time(registries, receipt)
        assert anchor_events(registries, receipt) == [
            (
                "StatusChanged",
                {
                    "authorityId": 1,
                    "credentialIdHash": i,
                    "status": s,
                    "reason": r,
                    "changedAt": at,
                },
            )
            for i, s, r in zip(ids, statuses, reasons, strict=True)
        ]
        assert registries.anchor_call("statusOf", 1, cred(1)) == (REINSTATED, 30, at)
        assert registries.anchor_call("statusOf", 1, cred(2)) == (REVOKED, 20, at)
        assert registries.anchor_call("statusOf", 1, cred(3)) == (SUPERSEDED, 40, at)

    def test_all_or_nothing(self, registries: Registries, authority: LocalAccount) -> None:
        registries.anchor_tx("setStatus", [cred(9), REVOKED, 1], authority)
        good = [cred(1), cred(2)], [SUSPENDED, REVOKED], [1, 2]
        for bad_id, bad_status, signature, arguments in [
            (cred(3), REINSTATED, "InvalidStatusTransition(bytes32,uint8,uint8)",
             {"credentialIdHash": cred(3), "from": NONE, "to": REINSTATED}),
            (cred(9), SUPERSEDED, "InvalidStatusTransition(bytes32,uint8,uint8)",
             {"credentialIdHash": cred(9), "from": REVOKED, "to": SUPERSEDED}),
            (cred(1), SUSPENDED, "InvalidStatusTransition(bytes32,uint8,uint8)",
             {"credentialIdHash": cred(1), "from": SUSPENDED, "to": SUSPENDED}),
            (cred(3), 5, "InvalidStatus(uint8)", {"status": 5}),
            (ZERO_BYTES32, REVOKED, "ZeroCredentialId()", {}),
        ]:  # fmt: skip
            ids, statuses, reasons = good[0] + [bad_id], good[1] + [bad_status], good[2] + [3]
            with reverts(signature, **arguments):
                registries.anchor_tx("setStatusBatch", [ids, statuses, reasons], authority)
            for credential in [cred(1), cred(2), cred(3)]:
                assert registries.anchor_call("statusOf", 1, credential) == (NONE, 0, 0)
        assert registries.anchor_call("statusOf", 1, cred(9))[:2] == (REVOKED, 1)

    def test_empty_or_ragged_batches_revert(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        for ids, statuses, reasons in [
            ([], [], []),
            ([cred(1), cred(2)], [REVOKED], [0, 0]),
            ([cred(1), cred(2)], [REVOKED, REVOKED], [0, 0, 0]),
            ([cred(1)], [], []),
        ]:
            with reverts("InvalidBatch(uint256,uint256,uint256)", ids=len(ids),
                         statuses=len(statuses), reasons=len(reasons)):  # fmt: skip
                registries.anchor_tx("setStatusBatch", [ids, statuses, reasons], authority)
        assert registries.anchor_call("statusOf", 1, cred(1)) == (NONE, 0, 0)

    def test_only_active_authorities(self, registries: Registries, authority: LocalAccount) -> None:
        batch = [[cred(1)], [REVOKED], [0]]
        with reverts("NotAnAuthority(address)", caller=registries.root.address):
            registries.anchor_tx("setStatusBatch", batch, registries.root)
        registries.trust_tx("suspend", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_SUSPENDED):  # fmt: skip
            registries.anchor_tx("setStatusBatch", batch, authority)
        assert registries.anchor_call("statusOf", 1, cred(1)) == (NONE, 0, 0)

    @fuzz
    @given(
        credential=words,
        statuses=st.lists(st.integers(REVOKED, SUPERSEDED), min_size=1, max_size=5),
        bad_code=st.one_of(st.none(), st.sampled_from([0, 5, 255])),
        reason=st.integers(0, 2**16 - 1),
    )
    def test_fuzzed_status_sequences_follow_the_life_cycle(
        self,
        registries: Registries,
        authority: LocalAccount,
        credential: bytes,
        statuses: list[int],
        bad_code: int | None,
        reason: int,
    ) -> None:
        assume(registries.anchor_call("statusOf", 1, credential)[0] == NONE)
        if bad_code is not None:
            statuses = [*statuses, bad_code]
        state, failure = NONE, None
        for status in statuses:  # the model: the first bad entry decides the revert
            if not 1 <= status <= 4:
                failure = ("InvalidStatus(uint8)", {"status": status})
                break
            if (state, status) not in ALLOWED:
                failure = (
                    "InvalidStatusTransition(bytes32,uint8,uint8)",
                    {"credentialIdHash": credential, "from": state, "to": status},
                )
                break
            state = status
        batch = [[credential] * len(statuses), statuses, [reason] * len(statuses)]
        if failure is None:
            receipt = registries.anchor_tx("setStatusBatch", batch, authority)
            assert [e[1]["status"] for e in anchor_events(registries, receipt)] == statuses
            assert registries.anchor_call("statusOf", 1, credential)[:2] == (state, reason)
        else:
            with reverts(failure[0], **failure[1]):
                registries.anchor_tx("setStatusBatch", batch, authority)
            assert registries.anchor_call("statusOf", 1, credential) == (NONE, 0, 0)


def listed(n: int) -> bytes:
    """A status list id hash that is never zero."""
    return b"\x11" + n.to_bytes(31, "big")


def digest(n: int) -> bytes:
    """A status list digest that is never zero."""
    return b"\xdd" + n.to_bytes(31, "big")


class TestStatusLists:
    def test_publication_records_the_latest_digest_and_emits(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        assert registries.anchor_call("statusListOf", 1, listed(1)) == (ZERO_BYTES32, 0, 0)
        receipt = registries.anchor_tx(
            "publishStatusLists", [[listed(1), listed(2)], [digest(1), digest(2)]], authority
        )
        at = block_time(registries, receipt)
        assert anchor_events(registries, receipt) == [
            ("StatusListPublished",
             {"authorityId": 1, "listIdHash": listed(n), "digest": digest(n), "publishedAt": at})
            for n in (1, 2)
        ]  # fmt: skip
        assert registries.anchor_call("statusListOf", 1, listed(1)) == (
            digest(1),
            at,
            receipt.block_number,
        )
        later = registries.anchor_tx("publishStatusLists", [[listed(1)], [digest(3)]], authority)
        assert registries.anchor_call("statusListOf", 1, listed(1))[0] == digest(3)
        assert registries.anchor_call("statusListOf", 1, listed(2))[0] == digest(2)
        assert later.block_number > receipt.block_number

    def test_an_authority_publishes_only_its_own_lists(
        self, registries: Registries, authority: LocalAccount, other: LocalAccount
    ) -> None:
        registries.anchor_tx("publishStatusLists", [[listed(1)], [digest(1)]], other)
        assert registries.anchor_call("statusListOf", 2, listed(1))[0] == digest(1)
        assert registries.anchor_call("statusListOf", 1, listed(1))[0] == ZERO_BYTES32
        with reverts("NotAnAuthority(address)", caller=registries.root.address):
            registries.anchor_tx("publishStatusLists", [[listed(1)], [digest(9)]], registries.root)
        registries.trust_tx("suspend", [DID])
        with reverts("AuthorityNotActive(address,uint8)", caller=authority.address,
                     status=AUTHORITY_SUSPENDED):  # fmt: skip
            registries.anchor_tx("publishStatusLists", [[listed(1)], [digest(9)]], authority)
        assert registries.anchor_call("statusListOf", 1, listed(1))[0] == ZERO_BYTES32

    def test_empty_ragged_or_zero_publications_revert(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        for lists, digests in [
            ([], []),
            ([listed(1)], []),
            ([listed(1), listed(2)], [digest(1)]),
            ([ZERO_BYTES32], [digest(1)]),
            ([listed(1), listed(2)], [digest(1), ZERO_BYTES32]),
        ]:
            with reverts("InvalidListBatch(uint256,uint256)", lists=len(lists),
                         digests=len(digests)):  # fmt: skip
                registries.anchor_tx("publishStatusLists", [lists, digests], authority)
        assert registries.anchor_call("statusListOf", 1, listed(1)) == (ZERO_BYTES32, 0, 0)

    def test_statuses_and_lists_change_together_or_not_at_all(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        receipt = registries.anchor_tx(
            "setStatusBatchWithLists",
            [[cred(1), cred(2)], [REVOKED, SUSPENDED], [1, 2], [listed(1)], [digest(1)]],
            authority,
        )
        names = [name for name, _ in anchor_events(registries, receipt)]
        assert names == ["StatusChanged", "StatusChanged", "StatusListPublished"]
        assert registries.anchor_call("statusOf", 1, cred(2))[:2] == (SUSPENDED, 2)
        assert registries.anchor_call("statusListOf", 1, listed(1))[0] == digest(1)
        # a refused transition undoes the list's publication with it
        with reverts("InvalidStatusTransition(bytes32,uint8,uint8)", credentialIdHash=cred(1),
                     **{"from": REVOKED, "to": SUSPENDED}):  # fmt: skip
            registries.anchor_tx(
                "setStatusBatchWithLists",
                [[cred(3), cred(1)], [REVOKED, SUSPENDED], [0, 0], [listed(1)], [digest(2)]],
                authority,
            )
        assert registries.anchor_call("statusListOf", 1, listed(1))[0] == digest(1)
        assert registries.anchor_call("statusOf", 1, cred(3)) == (NONE, 0, 0)
        # either part may be empty, not both
        registries.anchor_tx("setStatusBatchWithLists", [[], [], [], [listed(2)], [digest(3)]],
                             authority)  # fmt: skip
        registries.anchor_tx("setStatusBatchWithLists", [[cred(4)], [REVOKED], [0], [], []],
                             authority)  # fmt: skip
        with reverts("InvalidBatch(uint256,uint256,uint256)", ids=0, statuses=0, reasons=0):
            registries.anchor_tx("setStatusBatchWithLists", [[], [], [], [], []], authority)
        with reverts("InvalidListBatch(uint256,uint256)", lists=1, digests=0):
            registries.anchor_tx(
                "setStatusBatchWithLists", [[cred(5)], [REVOKED], [0], [listed(3)], []], authority
            )
        assert registries.anchor_call("statusOf", 1, cred(5)) == (NONE, 0, 0)


class TestStatusOf:
    def test_unknown_authority_or_credential_reads_as_never_changed(
        self, registries: Registries, authority: LocalAccount
    ) -> None:
        registries.anchor_tx("setStatus", [cred(1), REVOKED, 4], authority)
        assert registries.anchor_call("statusOf", 1, cred(1))[:2] == (REVOKED, 4)
        assert registries.anchor_call("statusOf", 1, cred(2)) == (NONE, 0, 0)
        assert registries.anchor_call("statusOf", 0, cred(1)) == (NONE, 0, 0)
        assert registries.anchor_call("statusOf", 2, cred(1)) == (NONE, 0, 0)
