"""Compromise: an issuer key revoked from an earlier moment, the credentials that now fail, and
their re-issue with the current key.

``revoke_key`` revokes the key from ``since`` (the registry only ever moves a revocation earlier);
if it was the signing key, it stops signing first and a new key of the same algorithm (Ed25519 or
SM2) takes over after the revocation. ``affected`` lists exactly the credentials that now fail:
anchored at or after ``since`` with that key, and those of that key not anchored yet. ``reissue``
gives each current version among them a successor in the same lineage (same subject and term,
signed with the current key, queued for anchoring) and supersedes the old version
(``key_compromised``, 11), queueing the on-chain status change; one transaction per chunk,
idempotent, resumable. Each appends an audit row (``key.revoke``; ``key.reissue`` once per chunk,
naming the old and new credential ids), never key material.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import aliased

from service.audit import trail
from service.issuing.issuance import new_credential_id
from service.issuing.office import Office
from service.lifecycle.status_queue import enqueue
from service.storage.columns import lookup_columns
from service.storage.models import (
    Batch,
    BatchState,
    Credential,
    CredentialStatus,
    IssuerKey,
    batch_id_of,
    with_membership,
)
from service.trust.keys import (
    COMPROMISE,
    KEY_REVOCATION_REASONS,
    REISSUABLE,
    Affected,
    AffectedCredential,
    KeyOperationError,
    ReissueSummary,
    Revocation,
    authority_row,
    chain_now,
    epoch,
    from_epoch,
    keys_of,
    on_chain_key,
    show_time,
    trust_abi,
)
from service.trust.rotation import switch_key
from verifier.contracts import load_artifact
from verifier.errors import ChainError
from verifier.licence_id import LICENSED_TYPES, licence_id_for
from verifier.proofs import sign_credential_with_digest

__all__ = ["affected", "reissue", "revoke_key"]

# ---------------------------------------------------------------------- compromise


def revoke_key(
    office: Office,
    authority_id: int,
    key_id: str,
    since: int | None,
    *,
    reason: str = "compromise",
    actor: str = "cli",
    log: Callable[[str], None] | None = None,
) -> Revocation:
    """Revoke ``key_id`` from ``since`` (Unix seconds, at most now; None: now).

    If it is the signing key, it stops signing at once, is revoked, and then a new key is
    registered to take over (the revocation does not wait on that: if the new key cannot be
    registered, KeyOperationError ``no_signing_key`` says so and ``rotate_key`` makes one
    later). Running it again with the same time changes nothing (no transaction, no audit
    row); after an interruption it finishes what is left. Raises KeyOperationError when
    ``since`` lies in the future, before the key became valid, or after an existing
    revocation of the key.
    """
    say = log or (lambda _message: None)
    if reason not in KEY_REVOCATION_REASONS:
        raise KeyOperationError(
            "reason_invalid",
            f"吊销原因只能是 {'、'.join(KEY_REVOCATION_REASONS)}",
            f"the reason must be one of {', '.join(KEY_REVOCATION_REASONS)}",
        )
    authority = authority_row(office, authority_id)
    keys = keys_of(office, authority_id)
    row = next((k for k in keys if k.key_id == key_id), None)
    if row is None:
        raise KeyOperationError(
            "unknown_key",
            f"{authority.did} 没有密钥 {key_id}",
            f"{authority.did} has no key {key_id}",
        )
    on_chain = on_chain_key(office, authority.did, key_id)
    if on_chain is None:
        raise KeyOperationError(
            "key_not_registered",
            f"{key_id} 未在链上登记，无需吊销",
            f"{key_id} is not registered on chain: there is nothing to revoke",
        )
    now = chain_now(office)
    since = now if since is None else since
    if since > now:
        raise KeyOperationError(
            "revocation_in_future",
            f"吊销起始时间 {show_time(since)} 晚于现在；计划中的密钥更换请用 suixin keys rotate "
            "--revoke-old-at",
            f"the revocation time {show_time(since)} is in the future; to schedule a key change "
            "use `suixin keys rotate --revoke-old-at`",
        )
    if since < on_chain.valid_from:
        raise KeyOperationError(
            "revocation_before_valid_from",
            f"{key_id} 自 {show_time(on_chain.valid_from)} 起生效，吊销时间不能早于此",
            f"{key_id} became valid at {show_time(on_chain.valid_from)}: it cannot be revoked "
            "from an earlier time",
        )
    if on_chain.revoked_at and on_chain.revoked_at < since:
        raise KeyOperationError(
            "already_revoked_earlier",
            f"{key_id} 已自更早的 {show_time(on_chain.revoked_at)} 起吊销；吊销时间只能提前",
            f"{key_id} is already revoked from an earlier time, {show_time(on_chain.revoked_at)}; "
            "a revocation can only move earlier",
        )
    if row.active:  # stop signing with it before anything else
        with office.db.session() as s:
            stored = s.get(IssuerKey, row.id)
            assert stored is not None
            stored.active = False
        office.forget_keys(authority.id)
    tx_hash = None
    if on_chain.revoked_at != since:
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            trust_abi(),
            "revokeKey",
            [authority.did, key_id, since, KEY_REVOCATION_REASONS[reason]],
            office.account(authority.id),
        )
        tx_hash = receipt.tx_hash
    with office.db.write_session() as s:
        stored = s.get(IssuerKey, row.id)
        assert stored is not None
        stored.revocation_reason = KEY_REVOCATION_REASONS[reason]
        if stored.revoked_at is None or epoch(stored.revoked_at) != since:
            stored.revoked_at = from_epoch(
                since
            )  # else: a repeat that changes nothing, no audit row
            trail.record(
                s,
                actor=actor,
                action="key.revoke",
                authority_id=authority.id,
                details={"keyId": key_id, "revokedAt": since, "reason": reason, "txHash": tx_hash},
            )
    rotated_to = None
    if not any(k.active for k in keys_of(office, authority.id)):
        say(f"{key_id} was the signing key: a new key takes over")
        try:
            rotation = switch_key(
                office,
                authority,
                None,
                keys_of(office, authority.id),
                revoke_old_at=None,
                settle=0.0,
                anchor_timeout=0.0,
                actor=actor,
                say=say,
                algorithm=row.algorithm,
            )
        except ChainError as e:
            raise KeyOperationError(
                "no_signing_key",
                f"{key_id} 已吊销，但新签发密钥未能在链上登记（{e}）：在此之前无法签发；"
                "请在问题解决后运行 suixin keys rotate",
                f"{key_id} is revoked, but a new signing key could not be registered on chain "
                f"({e}): nothing can be issued until `suixin keys rotate` succeeds",
            ) from e
        rotated_to = rotation.new_key_id
    count = len(affected(office, authority.id, key_id).credentials)
    return Revocation(
        authority.id, authority.did, key_id, since, reason, tx_hash, rotated_to, count
    )


def affected(office: Office, authority_id: int, key_id: str) -> Affected:
    """Exactly the credentials that fail ``key_validity`` because ``key_id`` is revoked.

    As a verifier decides: anchored at or after the revocation time, or not anchored yet once
    the revocation time has come. A batch whose root went on chain but whose receipts the
    worker has not stored yet is timed by asking the chain. Reads ids, types, versions and
    times only, never a credential's content.
    """
    authority = authority_row(office, authority_id)
    on_chain = on_chain_key(office, authority.did, key_id)
    if on_chain is None:
        with office.db.session() as s:
            known = s.scalar(
                select(IssuerKey.id).where(
                    IssuerKey.authority_id == authority_id, IssuerKey.key_id == key_id
                )
            )
        if known is None:
            raise KeyOperationError(
                "unknown_key",
                f"{authority.did} 没有密钥 {key_id}",
                f"{authority.did} has no key {key_id}",
            )
    if on_chain is None or on_chain.revoked_at == 0:
        return Affected(authority_id, authority.did, key_id, None, 0, ())
    revoked_at = on_chain.revoked_at
    due = revoked_at <= chain_now(office)
    successor = aliased(Credential)
    with office.db.session() as s:
        rows = s.execute(
            with_membership(
                select(
                    Credential.id,
                    Credential.credential_type,
                    Credential.lineage_id,
                    Credential.version,
                    Credential.status,
                    Batch.state,
                    Batch.block_time,
                    Batch.root,
                    successor.id,
                ).select_from(Credential)
            )
            .outerjoin(successor, successor.previous_id == Credential.id)
            .where(
                Credential.authority_id == authority_id,
                Credential.key_id == key_id,
                batch_id_of().is_(None)
                | (Batch.state != BatchState.ANCHORED)
                | (Batch.block_time >= revoked_at),
            )
            .order_by(Credential.seq)
        ).all()
    anchor_abi = load_artifact("AnchorRegistry").abi
    on_chain_roots: dict[bytes, int | None] = {}
    found: dict[str, AffectedCredential] = {}
    for cid, ctype, lineage, version, status, state, block_time, root, next_id in rows:
        anchored_at: int | None = None
        if state in (BatchState.SENT, BatchState.ANCHORED) and block_time is not None:
            anchored_at = int(block_time)
        if state == BatchState.PREPARED and root is not None:
            key = bytes(root)
            if key not in on_chain_roots:  # sent, perhaps mined, receipts not stored yet
                record = office.chain.call(
                    office.deployment.anchor_registry, anchor_abi, "anchorOf", [key]
                )
                on_chain_roots[key] = int(record[2]) or None
            anchored_at = on_chain_roots[key]
        hit = anchored_at >= revoked_at if anchored_at is not None else due
        if hit and cid not in found:
            found[cid] = AffectedCredential(
                cid, ctype, lineage, int(version), anchored_at, status, next_id
            )
    return Affected(
        authority_id,
        authority.did,
        key_id,
        revoked_at,
        on_chain.revocation_reason,
        tuple(found.values()),
    )


def reissue(
    office: Office,
    authority_id: int,
    key_id: str,
    *,
    chunk: int = 500,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> ReissueSummary:
    """Re-issue every current version ``affected`` lists, signed with the signing key.

    Each chunk is one transaction: new versions (same lineage, ``version + 1``,
    ``previous_id``, same subject and term, queued for anchoring), the old versions superseded
    with reason ``key_compromised`` (or ``reissued`` for a key revoked by rotation), their
    status changes queued for the chain, and one audit row naming old and new ids. A version
    already superseded is skipped, so running it again, or after a crash, re-issues only what
    is left. A suspended version's successor is suspended too (its status change is queued as
    well).
    """
    if chunk < 1:
        raise KeyOperationError("chunk_invalid", "--chunk 至少为 1", "--chunk must be at least 1")
    found = affected(office, authority_id, key_id)
    if found.revoked_at is None:
        raise KeyOperationError(
            "key_not_revoked",
            f"{key_id} 未被吊销：没有需要重新签发的凭证",
            f"{key_id} is not revoked: no credential needs re-issuing",
        )
    authority = authority_row(office, authority_id)
    office.forget_keys(authority_id)
    signer = office.signer(authority_id)
    if signer.key_id == key_id:
        raise KeyOperationError(
            "key_still_signing",
            f"{key_id} 仍是签发密钥：请先运行 suixin keys rotate",
            f"{key_id} is still the signing key: run `suixin keys rotate` first",
        )
    signing = on_chain_key(office, authority.did, signer.key_id)
    if signing is None or (signing.revoked_at and signing.revoked_at <= chain_now(office)):
        raise KeyOperationError(
            "signing_key_not_valid",
            f"当前签发密钥 {signer.key_id} 在链上未登记或已吊销：请先运行 suixin keys rotate",
            f"the signing key {signer.key_id} is not registered on chain or is revoked: run "
            "`suixin keys rotate` first",
        )
    reason = "key_compromised" if found.revocation_reason == COMPROMISE else "reissued"
    method = f"{authority.did}#{signer.key_id}"
    todo = [c.credential_id for c in found.to_reissue]
    pairs: list[tuple[str, str]] = []
    chunks = 0
    for start in range(0, len(todo), chunk):
        ids = todo[start : start + chunk]
        now = datetime.now(UTC)
        created = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        done: list[tuple[str, str]] = []
        with office.db.write_session() as s:
            replaced = set(
                s.scalars(select(Credential.previous_id).where(Credential.previous_id.in_(ids)))
            )
            olds = s.scalars(
                select(Credential)
                .where(
                    Credential.id.in_(ids),
                    Credential.authority_id == authority_id,
                    Credential.status.in_(REISSUABLE),
                )
                .order_by(Credential.seq)
                .with_for_update()
            ).all()
            rows: list[dict[str, Any]] = []
            for old in olds:
                if old.id in replaced:
                    continue
                new_id = new_credential_id().urn
                unsigned = {k: v for k, v in office.document(old).items() if k != "proof"}
                unsigned["id"] = new_id
                unsigned["credentialStatus"] = office.new_status(s, authority, new_id)
                if authority.uscc and old.credential_type in LICENSED_TYPES:
                    # the lineage's identifier, at the new version (the serial stays)
                    unsigned["licenceId"] = licence_id_for(
                        old.credential_type, authority.uscc, old.lineage_id, old.version + 1
                    )
                credential, digest = sign_credential_with_digest(
                    unsigned,
                    signer,
                    method,
                    created,
                    cryptosuite=signer.cryptosuite,
                    anchor_hash=office.anchoring_hash,
                )
                rows.append(
                    {
                        "id": new_id,
                        "authority_id": authority_id,
                        "credential_type": old.credential_type,
                        "body": office.seal(credential),
                        "digest": digest,
                        "created_at": now,
                        "lineage_id": old.lineage_id,
                        "version": old.version + 1,
                        "previous_id": old.id,
                        "key_id": signer.key_id,
                        "status": old.status,
                        "status_reason": old.status_reason
                        if old.status == CredentialStatus.SUSPENDED
                        else None,
                        "status_changed_at": now
                        if old.status == CredentialStatus.SUSPENDED
                        else None,
                        **lookup_columns(office.master, credential),
                    }
                )
                enqueue(
                    s,
                    authority_id=authority_id,
                    credential_id=old.id,
                    status="superseded",
                    reason=reason,
                    now=now,
                )
                if old.status == CredentialStatus.SUSPENDED:  # the successor stays suspended
                    enqueue(
                        s,
                        authority_id=authority_id,
                        credential_id=new_id,
                        status="suspended",
                        reason=old.status_reason or "unspecified",
                        now=now,
                    )
                done.append((old.id, new_id))
            if rows:
                # the old versions leave force first: one credential in force per subject
                s.execute(  # one statement for the chunk, not one per row
                    update(Credential)
                    .where(Credential.id.in_([old_id for old_id, _ in done]))
                    .values(
                        status=CredentialStatus.SUPERSEDED,
                        status_reason=reason,
                        status_changed_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                s.execute(insert(Credential), rows)
            if done:  # one row per chunk, as bulk issuance writes one per request
                trail.record(
                    s,
                    actor=actor,
                    action="key.reissue",
                    authority_id=authority_id,
                    details={
                        "keyId": key_id,
                        "signingKeyId": signer.key_id,
                        "reason": reason,
                        "count": len(done),
                        "previousIds": [old_id for old_id, _ in done],
                        "credentialIds": [new_id for _, new_id in done],
                    },
                    at=now,
                )
        pairs += done
        chunks += 1
        if progress is not None:
            progress(len(done))
    return ReissueSummary(key_id, signer.key_id, reason, tuple(pairs), chunks)
