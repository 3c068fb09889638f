"""``anchor_root_once`` sends without asking the chain first: the same answers as the version
that asked first, in every case it must cover (a new root, a root sent before a crash, a root
anchored before its authority was suspended, a refusal of a root not on chain)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from service.anchoring.batches import BatchQueue, anchor_root_once, anchored_root
from service.anchoring.worker import AnchorWorker
from service.storage.models import Batch, BatchKind, Credential, QueuedCredential
from tests.service.conftest import OfficeWorld
from tests.service.office_setup import Setup
from verifier.chain import Chain
from verifier.contracts import load_artifact
from verifier.errors import ChainError, ChainMismatch, ContractReverted


def _asking_first(chain: Chain, registry: str, account: object, root: bytes, size: int):  # type: ignore[no-untyped-def]
    """The version before this one, kept as the reference: the chain asked before sending."""
    found = anchored_root(chain, registry, root)
    if found is not None:
        return found
    abi = load_artifact("AnchorRegistry").abi
    try:
        receipt = chain.transact(registry, abi, "anchor", [root, size], account)  # type: ignore[arg-type]
    except ContractReverted as e:
        if e.name != "RootAlreadyAnchored":
            raise
        found = anchored_root(chain, registry, root)
        if found is None:
            raise ChainError(f"root 0x{root.hex()} reported anchored but not found") from e
        return found
    return receipt.block_number, receipt.tx_hash


def _suspend(world: OfficeWorld, *, reinstate: bool = False) -> None:
    world.office.chain.transact(
        world.office.deployment.trust_registry,
        load_artifact("TrustRegistry").abi,
        "reinstate" if reinstate else "suspend",
        [world.permits.did],
        world.root,
    )


def test_a_new_root_is_anchored_once_and_read_back_the_same_by_both(world: OfficeWorld) -> None:
    office = world.office
    chain, registry = office.chain, office.deployment.anchor_registry
    account = office.account(world.permits.id)
    root = os.urandom(32)
    assert anchored_root(chain, registry, root) is None
    sent = anchor_root_once(chain, registry, account, root, 7)
    assert anchored_root(chain, registry, root) == sent
    head = chain.block_number()
    # sent again (a crash before the send was recorded): read back, nothing new on chain
    assert anchor_root_once(chain, registry, account, root, 7) == sent
    assert _asking_first(chain, registry, account, root, 7) == sent
    assert chain.block_number() == head


def test_a_root_anchored_before_its_authority_was_suspended_is_read_back(
    world: OfficeWorld,
) -> None:
    office = world.office
    chain, registry = office.chain, office.deployment.anchor_registry
    account = office.account(world.permits.id)
    root = os.urandom(32)
    sent = anchor_root_once(chain, registry, account, root, 3)
    _suspend(world)
    try:
        head = chain.block_number()
        # the contract refuses the authority before it looks at the root: still read back
        assert anchor_root_once(chain, registry, account, root, 3) == sent
        assert _asking_first(chain, registry, account, root, 3) == sent
        assert chain.block_number() == head
        # a root not on chain: both raise the same refusal
        other = os.urandom(32)
        with pytest.raises(ContractReverted) as new:
            anchor_root_once(chain, registry, account, other, 3)
        with pytest.raises(ContractReverted) as old:
            _asking_first(chain, registry, account, other, 3)
        assert new.value.name == old.value.name == "AuthorityNotActive"
        assert anchored_root(chain, registry, other) is None
    finally:
        _suspend(world, reinstate=True)


def test_a_refused_root_not_on_chain_raises_as_before(world: OfficeWorld) -> None:
    office = world.office
    chain, registry = office.chain, office.deployment.anchor_registry
    account = office.account(world.permits.id)
    # a leaf count of 0 is refused (ZeroLeafCount), and the root is not on chain
    with pytest.raises(ContractReverted) as new:
        anchor_root_once(chain, registry, account, os.urandom(32), 0)
    with pytest.raises(ContractReverted) as old:
        _asking_first(chain, registry, account, os.urandom(32), 0)
    assert new.value.name == old.value.name == "ZeroLeafCount"


def test_nothing_is_sent_to_a_chain_swapped_since_the_last_check(setup: Setup) -> None:
    # Found by CI under load: anvil restarted empty at the same URL within the two seconds a
    # passed chain check was relied on, and the worker's next batch went to the empty chain
    # (refused there only for want of funds). Since roots are sent without asking the chain
    # first, nothing else stood in the way: every transaction now checks the chain afresh.
    office = setup.office
    setup.issue(3)
    office.check_chain()  # passed: it would be relied on for identity_ttl_seconds
    assert office.identity_ttl_seconds > 0
    # the node now serves another chain: the deploying block has another hash there
    office.deployment = dataclasses.replace(office.deployment, block_hash="0x" + "ab" * 32)
    head = office.chain.block_number()
    with pytest.raises(ChainMismatch):
        AnchorWorker(office, batch_size=1000, batch_age_seconds=0).run_once()
    assert office.chain.block_number() == head  # nothing was sent
    assert office.queue_depth() == 3


def test_members_another_worker_claims_after_a_look_are_not_claimed_again(setup: Setup) -> None:
    # Found by CI: `suixin keys rotate` anchored its key's queue while the node's worker did.
    # On SQLite the claim read the waiting members outside a transaction, the other process
    # claimed them and committed, and the claim then made a batch of the same members (here
    # refused only because the root was the same: with one member more, it would have taken
    # the other batch's members as well). The members are read again under the write lock.
    office = setup.office
    setup.issue(4)

    def queue(pause: Callable[[str], None] = lambda _phase: None) -> BatchQueue:
        return BatchQueue(
            office,
            Credential,
            BatchKind.CREDENTIAL,
            batch_size=1000,
            batch_age_seconds=0,
            action="batch.anchor",
            log=lambda _m: None,
            pause=pause,
        )

    other = queue()
    taken: list[int | None] = []

    def meanwhile(phase: str) -> None:  # between this claim's look and its claim
        if phase == "peeked" and not taken:
            taken.append(other.claim(setup.authority_id, force=True))

    assert queue(meanwhile).claim(setup.authority_id, force=True) is None
    [first] = taken
    assert first is not None
    with office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 1
        members = s.scalars(select(QueuedCredential.batch_id)).all()
    assert members == [first] * 4
