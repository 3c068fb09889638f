"""Rotation: a new issuer key in place of the old one, and a new chain account for an authority.

A verifier accepts a credential only if the key that signed it was valid *when the credential's
batch was anchored* (``validFrom <= anchoredAt < revokedAt`` in the TrustRegistry). Every
operation here keeps that rule in view:

- **Rotation** (``rotate_key``): a new key — Ed25519 or SM2, the old key's algorithm unless
  another is asked for, so an authority can move between them — is stored (sealed, inactive),
  registered on chain with its algorithm, then made the signing key; the old key stops signing
  at once. Credentials the old key
  already signed but the anchoring queue still holds are anchored *before* the old key is
  revoked: the rotation waits ``settle_seconds`` (other office processes re-read the active key
  that often, see ``Office.key_refresh_seconds``), anchors every pending credential of the old
  key, and revokes it from ``max(requested time, last such anchor + 1 s)``. So no honest
  credential is invalidated by a rotation; one signed with the old key that still reaches the
  chain afterwards fails ``key_validity`` and shows up in ``affected``. Each step is durable
  before the next starts, so running the command again after a crash finishes the rotation.
- **Account rotation** (``rotate_account``): the TrustRegistry lets the authority's current
  account (or the governance root) move the authority to a new account. The new account is
  stored sealed before the chain switches, so a crash never strands the authority. Anchors and
  statuses are keyed by the authority's id on chain, so its history stays with it.

Every operation appends an audit row (``key.rotate``, ``key.rotate_account``) with key ids,
times and transaction hashes, never key material. Errors a person can fix are
``KeyOperationError`` with a stable code, 中文 and English. Compromise and re-issue live in
``service.trust.compromise``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from service.anchoring.worker import AnchorWorker
from service.audit import trail
from service.issuing.office import Office
from service.issuing.signer import LocalSigner, generate_key_pair
from service.storage.models import (
    Authority,
    Batch,
    BatchState,
    Credential,
    IssuerKey,
    batch_id_of,
    with_membership,
)
from service.trust.deployment import fund_if_dev
from service.trust.keys import (
    ROTATION,
    AccountRotation,
    KeyOperationError,
    Rotation,
    authority_row,
    epoch,
    from_epoch,
    keys_of,
    on_chain_key,
    or_now,
    show_time,
    trust_abi,
)
from verifier.errors import ContractReverted
from verifier.registry import key_algorithm_code

_KEY_ID = re.compile(r"^key-(\d+)$")  # key-N, the ids this office gives its keys

__all__ = ["registered_key_ids", "rotate_account", "rotate_key", "switch_key"]

# ---------------------------------------------------------------------- rotation


def rotate_key(
    office: Office,
    authority_id: int,
    *,
    revoke_old_at: int | None = None,
    keep_old: bool = False,
    settle_seconds: float | None = None,
    anchor_timeout: float = 300.0,
    algorithm: str | None = None,
    actor: str = "cli",
    log: Callable[[str], None] | None = None,
) -> Rotation:
    """Rotate the authority's issuer key (see the module docstring); returns what was done.

    ``algorithm`` is the new key's, ``Ed25519`` or ``SM2`` (None: the current key's; a new key
    staged by an interrupted run keeps its own). ``revoke_old_at`` (Unix seconds) is the
    earliest time the old key is revoked from; the
    revocation is moved later if credentials signed with the old key are anchored up to then.
    ``keep_old`` leaves the old key valid on chain (it only stops signing). If an earlier run
    stopped half way, this finishes that rotation instead of starting another; with no signing
    key at all (after a compromise whose new key could not be registered) it makes one. Raises
    KeyOperationError, and ChainError when the chain refuses or cannot be reached.
    """
    say = log or (lambda _message: None)
    authority = authority_row(office, authority_id)
    settle = office.key_refresh_seconds if settle_seconds is None else settle_seconds
    keys = keys_of(office, authority_id)
    active = [k for k in keys if k.active]
    if not active and not registered_key_ids(office, authority.did):
        raise KeyOperationError(
            "not_enrolled",
            f"{authority.did} 还没有启用的签发密钥：请先完成 suixin keys init",
            f"{authority.did} has no active issuer key yet: finish `suixin keys init` first",
        )
    current = active[-1] if active else None
    for key in keys:  # an earlier rotation that switched keys but did not revoke the old one
        if not key.active and key.revoked_at is not None:
            on_chain = on_chain_key(office, authority.did, key.key_id)
            if on_chain is not None and on_chain.revoked_at != epoch(key.revoked_at):
                say(f"finishing the interrupted rotation away from {key.key_id}")
                revoked_at, anchored = _retire(
                    office, authority, key, epoch(key.revoked_at), settle, anchor_timeout, actor
                )
                return Rotation(
                    authority_id,
                    authority.did,
                    key.key_id,
                    current.key_id if current is not None else "",
                    revoked_at,
                    anchored,
                    resumed=True,
                )
    return switch_key(
        office,
        authority,
        current,
        keys,
        revoke_old_at=None if keep_old else or_now(revoke_old_at),
        settle=settle,
        anchor_timeout=anchor_timeout,
        actor=actor,
        say=say,
        algorithm=algorithm,
    )


def registered_key_ids(office: Office, did: str) -> list[str]:
    try:
        ids = office.chain.call(office.deployment.trust_registry, trust_abi(), "keyIdsOf", [did])
    except ContractReverted as e:
        if e.name != "UnknownAuthority":
            raise
        return []
    return [str(k) for k in ids]


def switch_key(
    office: Office,
    authority: Authority,
    current: IssuerKey | None,
    keys: Sequence[IssuerKey],
    *,
    revoke_old_at: int | None,
    settle: float,
    anchor_timeout: float,
    actor: str,
    say: Callable[[str], None],
    algorithm: str | None = None,
) -> Rotation:
    """Stage (or reuse the staged), register and switch to a new key of ``algorithm`` (None:
    the algorithm of ``current``, else of the newest key); then retire ``current`` unless
    ``revoke_old_at`` is None. ``current`` is None when no key signs any more."""
    newest = keys[-1] if keys else None
    staged = (
        newest is not None
        and not newest.active
        and newest.revoked_at is None
        and (current is None or newest.id > current.id)
    )
    if staged and newest is not None:
        new = newest
    else:
        model = current or newest
        chosen = algorithm or (model.algorithm if model is not None else "Ed25519")
        new = _stage_key(office, authority, keys, chosen)
    old_key_id = current.key_id if current is not None else ""
    say(f"registering {new.key_id} on chain")
    valid_from = _register(office, authority, new)
    with office.db.write_session() as s:
        new_row = s.get(IssuerKey, new.id)
        assert new_row is not None
        new_row.active = True
        if current is not None:
            old_row = s.get(IssuerKey, current.id)
            assert old_row is not None
            old_row.active = False
            if revoke_old_at is not None:
                # the planned revocation, refined once the old key's last credential is
                # anchored; a crash before then leaves this mark, and the next run finishes
                old_row.revoked_at = from_epoch(revoke_old_at)
        trail.record(
            s,
            actor=actor,
            action="key.rotate",
            authority_id=authority.id,
            details={
                "oldKeyId": old_key_id or None,
                "newKeyId": new.key_id,
                "newKeyAlgorithm": new.algorithm,
                "newKeyValidFrom": valid_from,
                "revokeOldFrom": revoke_old_at if current is not None else None,
            },
        )
    office.forget_keys(authority.id)
    say(
        f"{new.key_id} ({new.algorithm}) now signs"
        + (f"; {old_key_id} no longer does" if old_key_id else "")
    )
    if current is None or revoke_old_at is None:
        return Rotation(authority.id, authority.did, old_key_id, new.key_id, None, 0, staged)
    with office.db.session() as s:
        old = s.get(IssuerKey, current.id)
    assert old is not None
    revoked_at, anchored = _retire(
        office, authority, old, revoke_old_at, settle, anchor_timeout, actor, say
    )
    return Rotation(
        authority.id, authority.did, old_key_id, new.key_id, revoked_at, anchored, staged
    )


def _stage_key(
    office: Office, authority: Authority, keys: Sequence[IssuerKey], algorithm: str
) -> IssuerKey:
    """Create the next key (``key-N``) of ``algorithm``, sealed and inactive, before the chain
    hears of it."""
    taken = {k.key_id for k in keys} | set(registered_key_ids(office, authority.did))
    numbers = [int(m.group(1)) for m in map(_KEY_ID.match, taken) if m]
    key_id = f"key-{max(numbers, default=0) + 1}"
    pair = generate_key_pair(algorithm)
    row = IssuerKey(
        authority_id=authority.id,
        key_id=key_id,
        algorithm=LocalSigner(key_id, pair).algorithm,
        public_key=pair.public_bytes,
        private_key_encrypted=office.master.seal(
            pair.private_bytes(), f"issuer-key:{authority.did}#{key_id}"
        ),
        active=False,
        created_at=datetime.now(UTC),
    )
    with office.db.session() as s:
        s.add(row)
    return row


def _register(office: Office, authority: Authority, key: IssuerKey) -> int:
    """Register ``key`` on chain (again after a crash is fine); returns its validFrom."""
    fund_if_dev(office.chain, authority.account_address)
    try:
        office.chain.transact(
            office.deployment.trust_registry,
            trust_abi(),
            "addKey",
            [authority.did, key.key_id, key_algorithm_code(key.algorithm), bytes(key.public_key)],
            office.account(authority.id),
        )
    except ContractReverted as e:
        if e.name != "KeyExists":
            raise
    record = office.chain.call(
        office.deployment.trust_registry, trust_abi(), "keyOf", [authority.did, key.key_id]
    )
    if bytes(record[0]) != bytes(key.public_key) or int(record[4]) != key_algorithm_code(
        key.algorithm
    ):
        raise KeyOperationError(
            "key_id_taken",
            f"链上 {authority.did} 的 {key.key_id} 是另一把公钥：本办公室不能使用该密钥编号",
            f"{authority.did}#{key.key_id} is registered on chain with another public key: "
            "this office cannot use that key id",
        )
    return int(record[1])


def _unanchored(office: Office, authority_id: int, key_id: str) -> int:
    """Credentials the key signed that are not in a final batch yet."""
    with office.db.session() as s:
        return int(
            s.scalar(
                with_membership(select(func.count()).select_from(Credential)).where(
                    Credential.authority_id == authority_id,
                    Credential.key_id == key_id,
                    batch_id_of().is_(None) | (Batch.state != BatchState.ANCHORED),
                )
            )
            or 0
        )


def _anchor_pending(
    office: Office, authority_id: int, key_id: str, timeout: float, say: Callable[[str], None]
) -> int:
    """Anchor every credential signed with ``key_id`` that is not anchored yet; returns how
    many there were. Uses the worker's crash-safe batches, so a worker process running at the
    same time (PostgreSQL) cannot double an anchor; waits for it when it holds the authority."""
    waiting = _unanchored(office, authority_id, key_id)
    if not waiting:
        return 0
    say(f"anchoring the {waiting} credential(s) {key_id} signed that are still queued")
    worker = AnchorWorker(office, batch_size=10_000, log=lambda _message: None)
    deadline = time.monotonic() + timeout
    while _unanchored(office, authority_id, key_id):
        if time.monotonic() > deadline:
            raise KeyOperationError(
                "anchoring_timeout",
                f"{timeout:.0f} 秒内未能将 {key_id} 签发的待上链凭证全部上链；旧密钥尚未吊销，"
                "请检查链和上链进程后再次运行本命令",
                f"the credentials {key_id} signed were not all anchored within {timeout:.0f} s; "
                "the old key is not revoked yet: check the chain and the worker, then run "
                "this command again",
            )
        failures = worker.stats.failures
        if not worker.run_once(force=True):
            if worker.stats.failures > failures:  # the chain refuses this authority's anchors
                raise KeyOperationError(
                    "anchoring_refused",
                    f"链拒绝为 {key_id} 签发的待上链凭证存证（{worker.stats.last_error}）；"
                    "旧密钥尚未吊销",
                    f"the chain refuses to anchor the credentials {key_id} signed "
                    f"({worker.stats.last_error}); the old key is not revoked yet",
                )
            time.sleep(0.2)  # another worker holds this authority: let it finish
    return waiting


def _retire(
    office: Office,
    authority: Authority,
    key: IssuerKey,
    planned: int,
    settle: float,
    timeout: float,
    actor: str,
    say: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Revoke a key that no longer signs, after everything it signed is anchored; returns
    (the time it is revoked from, how many of its credentials were anchored first)."""
    say = say or (lambda _message: None)
    if settle > 0:
        say(f"waiting {settle:.0f} s for other office processes to switch keys")
        time.sleep(settle)
    anchored = _anchor_pending(office, authority.id, key.key_id, timeout, say)
    with office.db.session() as s:
        last = s.scalar(
            with_membership(select(func.max(Batch.block_time)).select_from(Credential)).where(
                Credential.authority_id == authority.id, Credential.key_id == key.key_id
            )
        )
    on_chain = on_chain_key(office, authority.did, key.key_id)
    if on_chain is None:
        raise KeyOperationError(
            "key_not_registered",
            f"{key.key_id} 未在链上登记，无需吊销",
            f"{key.key_id} is not registered on chain: there is nothing to revoke",
        )
    revoked_at = max(planned, int(last or 0) + 1, on_chain.valid_from)
    tx_hash = None
    if on_chain.revoked_at == 0:
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            trust_abi(),
            "revokeKey",
            [authority.did, key.key_id, revoked_at, ROTATION],
            office.account(authority.id),
        )
        tx_hash = receipt.tx_hash
    else:
        revoked_at = on_chain.revoked_at  # revoked by an earlier run that stopped before storing
    with office.db.write_session() as s:
        row = s.get(IssuerKey, key.id)
        assert row is not None
        row.active = False
        row.revoked_at = from_epoch(revoked_at)
        row.revocation_reason = ROTATION
        trail.record(
            s,
            actor=actor,
            action="key.revoke",
            authority_id=authority.id,
            details={
                "keyId": key.key_id,
                "revokedAt": revoked_at,
                "requestedFrom": planned,
                "reason": "rotation",
                "anchoredFirst": anchored,
                "txHash": tx_hash,
            },
        )
    say(f"{key.key_id} revoked from {show_time(revoked_at)}")
    return revoked_at, anchored


# ---------------------------------------------------------------------- account rotation


def rotate_account(
    office: Office,
    authority_id: int,
    *,
    allow_unfunded: bool = False,
    actor: str = "cli",
) -> AccountRotation:
    """Move the authority to a new chain account (``TrustRegistry.setAccount``, sent by the
    current account, which the registry allows); returns what was done.

    The new account is stored sealed first; if the run stops later, the next run uses that same
    account and finishes. On a chain without a development funder a new account with no funds
    is refused unless ``allow_unfunded`` (chains without gas fees): fund its address (printed
    in the error) and run again. The old account keeps whatever funds it has left.
    """
    authority = authority_row(office, authority_id)
    resumed = authority.next_account_address is not None
    if authority.next_account_key_encrypted is not None:
        secret = office.master.open(
            authority.next_account_key_encrypted, f"account:{authority.did}"
        )
        new: LocalAccount = Account.from_key(secret)
    else:
        new = Account.create()
        with office.db.session() as s:
            row = s.get(Authority, authority_id)
            assert row is not None
            row.next_account_address = new.address
            row.next_account_key_encrypted = office.master.seal(
                bytes(new.key), f"account:{authority.did}"
            )
    fund_if_dev(office.chain, new.address)
    unfunded = office.chain.dev_funder() is None and office.chain.balance(new.address) == 0
    if unfunded and not allow_unfunded:
        raise KeyOperationError(
            "account_not_funded",
            f"新账户 {new.address} 没有余额，无法支付上链费用：请先转入资金后再次运行本命令"
            "（无手续费的链可加 --allow-unfunded）",
            f"the new account {new.address} has no funds to pay for anchoring: fund it, "
            "then run this command again (--allow-unfunded on a chain without gas fees)",
        )
    record = office.chain.call(
        office.deployment.trust_registry, trust_abi(), "authorityByDid", [authority.did]
    )
    on_chain = str(record[2])
    tx_hash = None
    if on_chain.lower() == new.address.lower():
        pass  # an earlier run switched the chain and stopped before storing the result
    elif on_chain.lower() == authority.account_address.lower():
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            trust_abi(),
            "setAccount",
            [authority.did, new.address],
            office.account(authority_id),
        )
        tx_hash = receipt.tx_hash
    else:
        raise KeyOperationError(
            "account_mismatch",
            f"链上 {authority.did} 的账户是 {on_chain}，既不是本办公室的账户 "
            f"{authority.account_address}，也不是新账户",
            f"{authority.did} acts on chain through {on_chain}, neither this office's account "
            f"{authority.account_address} nor the new one",
        )
    with office.db.write_session() as s:
        row = s.get(Authority, authority_id)
        assert row is not None and row.next_account_key_encrypted is not None
        previous = row.account_address
        row.account_address = new.address
        row.account_key_encrypted = row.next_account_key_encrypted
        row.next_account_address = None
        row.next_account_key_encrypted = None
        trail.record(
            s,
            actor=actor,
            action="key.rotate_account",
            authority_id=authority_id,
            details={"previousAccount": previous, "newAccount": new.address, "txHash": tx_hash},
        )
    office.forget_keys(authority_id)
    return AccountRotation(authority_id, authority.did, previous, new.address, tx_hash, resumed)
