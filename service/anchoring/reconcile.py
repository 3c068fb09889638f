"""The reconciler: the chain is the truth, the database is intent; compare them and repair.

Everything the office believes is on chain is read back from it: every batch root it holds as
sent or anchored (credentials and SD-JWTs), every status change it holds as done, every issuer
key it registered or revoked, every authority's accreditation and account, every audit head it
anchored. What is missing is sent again, the same root or the same transition, so a repair can
never double anything (a root is anchored once; the registry refuses a repeated transition);
what the office cannot repair alone is reported as *unrepairable* (logged, in the heartbeat and
``/metrics``, and in ``suixin chain reconcile``'s exit code):

============================  ==============================================================
finding                       action
============================  ==============================================================
``root_missing``              the batch goes back to ``prepared`` and its root is sent again
``root_moved``                its root is on chain in another block: the batch records it
``root_foreign``              anchored by another authority or with another size: unrepairable
``status_missing``            the status changes the chain lacks go back to the status queue
``key_missing``               an active key is registered again (``addKey``)
``key_other``                 the key id holds another public key on chain: unrepairable
``revocation_missing``        the revocation is sent again with its time and reason
``not_accredited``            accredited again with the development root; else unrepairable
``account_mismatch``          the chain names another account: unrepairable
``authority_not_active``      suspended or removed by the province: reported, nothing to do
``audit_root_missing``        the audit anchor goes back to ``prepared`` and is sent again
============================  ==============================================================

A run checks everything with ``full``; otherwise what was recorded since its last run, when the
block it last checked is still there with the same hash (the history before it cannot have
changed, since block hashes chain), or everything within ``window`` when that block is gone or
different (the chain lost blocks: a node restarted from older state, a reorganisation). The
worker runs it every ``SUIXIN_RECONCILE_SECONDS``; ``suixin chain reconcile [--full]`` on
demand. A chain that is not the deployment's raises ChainMismatch before anything is compared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update

from service.anchoring.batches import BatchQueue
from service.anchoring.status_sender import StatusSender
from service.audit.trail import record
from service.clock import aware, iso_z
from service.issuing.office import Office
from service.lifecycle.status_queue import ChangeState
from service.storage.models import (
    AuditAnchor,
    Authority,
    Batch,
    BatchKind,
    BatchState,
    Credential,
    IssuerKey,
    ReconcileState,
    StatusChange,
)
from service.storage.wallet import SdJwtCredential
from verifier.bundle import credential_id_hash
from verifier.contracts import load_artifact
from verifier.errors import ContractReverted
from verifier.registry import key_algorithm_code
from verifier.status import STATUS_CODES

__all__ = ["Finding", "ReconcileReport", "Reconciler"]

REPAIRED, UNREPAIRABLE, NOTED = "repaired", "unrepairable", "noted"
_SLACK = timedelta(minutes=2)  # what "since the last run" also re-checks, for clock skew
_ACTIVE = 1  # TrustRegistry authority status


@dataclass(frozen=True)
class Finding:
    """One difference between what the office believes and what the chain holds."""

    kind: str  # batch | status | key | authority | audit
    subject: str  # what it concerns (a batch id, a credential id, did#key …)
    problem: str  # a stable code (see the module docstring)
    action: str  # repaired | unrepairable | noted
    detail: str  # 中文 / English

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "problem": self.problem,
            "action": self.action,
            "detail": self.detail,
        }


@dataclass
class ReconcileReport:
    """What a run checked and found."""

    full: bool
    since: datetime | None  # checked what was recorded since (None: everything)
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def repaired(self) -> list[Finding]:
        return [f for f in self.findings if f.action == REPAIRED]

    @property
    def unrepairable(self) -> list[Finding]:
        return [f for f in self.findings if f.action == UNREPAIRABLE]

    @property
    def clean(self) -> bool:
        return not self.repaired and not self.unrepairable

    def to_json(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "since": iso_z(self.since) if self.since else None,
            "checked": self.checked,
            "clean": self.clean,
            "repaired": len(self.repaired),
            "unrepairable": len(self.unrepairable),
            "findings": [f.to_json() for f in self.findings],
            "seconds": round(self.seconds, 3),
        }


class Reconciler:
    """Compares the office's beliefs with the chain and repairs what it can (module docstring).

    ``root`` is the governance root's account when this office holds it (development): then
    a lost accreditation is repaired too. ``repair`` False only reports."""

    def __init__(
        self,
        office: Office,
        *,
        root: LocalAccount | None = None,
        window: timedelta = timedelta(hours=24),
        log: Callable[[str], None] | None = None,
        repair: bool = True,
    ) -> None:
        self.office = office
        self.root = root
        self.window = window
        self.repair = repair
        self._log = log or (lambda _message: None)
        self._anchor_abi = load_artifact("AnchorRegistry").abi
        self._trust_abi = load_artifact("TrustRegistry").abi

    # ------------------------------------------------------------------ a run

    def run(self, *, full: bool = False) -> ReconcileReport:
        """One comparison (``full``: of everything). Raises ChainMismatch, ChainUnavailable."""
        started = time.monotonic()
        office = self.office
        office.check_chain(fresh=True)
        head = office.chain.block("latest")
        since = None if full else self._since(head.number)
        report = ReconcileReport(full, since)
        self._authorities(report)
        self._keys(report)
        for kind in (BatchKind.CREDENTIAL, BatchKind.SDJWT):
            self._batches(report, kind, since, head.number)
        self._statuses(report, since)
        self._audit(report, since)
        if self.repair:
            self._checkpoint(head.number, head.hash)
        report.seconds = time.monotonic() - started
        for finding in report.findings:
            self._log(
                f"reconcile: {finding.kind} {finding.subject}: {finding.problem}, "
                f"{finding.action}: {finding.detail}"
            )
        return report

    def _since(self, head: int) -> datetime | None:
        """The time from which records are checked (see the module docstring)."""
        office = self.office
        with office.db.session() as s:
            state = s.get(ReconcileState, 1)
        window_start = datetime.now(UTC) - self.window
        if state is None or state.block_number > head:
            return window_start
        if office.chain.block(state.block_number).hash != state.block_hash:
            self._log(
                f"reconcile: block {state.block_number} is not the one last checked: the chain "
                "lost or replaced blocks; checking everything in the window"
            )
            return window_start
        return max(aware(state.checked_at) - _SLACK, window_start)

    def _checkpoint(self, number: int, block_hash: str) -> None:
        with self.office.db.session() as s:
            state = s.get(ReconcileState, 1)
            if state is None:
                s.add(
                    ReconcileState(
                        id=1,
                        block_number=number,
                        block_hash=block_hash,
                        checked_at=datetime.now(UTC),
                    )
                )
            else:
                state.block_number, state.block_hash = number, block_hash
                state.checked_at = datetime.now(UTC)

    def _found(self, report: ReconcileReport, *args: str) -> None:
        report.findings.append(Finding(*args))

    # ------------------------------------------------------------------ authorities and keys

    def _on_chain_authority(self, did: str) -> Any:
        try:
            return self.office.chain.call(
                self.office.deployment.trust_registry, self._trust_abi, "authorityByDid", [did]
            )
        except ContractReverted as e:
            if e.name == "UnknownAuthority":
                return None
            raise

    def _enrolled(self) -> list[Authority]:
        """Authorities whose enrolment finished (an active key): those the chain must know."""
        with self.office.db.session() as s:
            active = select(IssuerKey.authority_id).where(IssuerKey.active.is_(True))
            return list(s.scalars(select(Authority).where(Authority.id.in_(active))))

    def _authorities(self, report: ReconcileReport) -> None:
        authorities = self._enrolled()
        report.checked["authorities"] = len(authorities)
        for authority in authorities:
            found = self._on_chain_authority(authority.did)
            if found is None:
                self._not_accredited(report, authority)
                continue
            status, account = int(found[1]), str(found[2])
            if account.lower() not in {
                authority.account_address.lower(),
                (authority.next_account_address or "").lower(),
            }:
                self._found(
                    report,
                    "authority",
                    authority.did,
                    "account_mismatch",
                    UNREPAIRABLE,
                    f"链上的账户为 {account}，本办公室为 {authority.account_address} / the chain "
                    f"names account {account}, this office {authority.account_address}",
                )
            elif str(found[9]) != (authority.uscc or ""):
                self._found(
                    report,
                    "authority",
                    authority.did,
                    "uscc_mismatch",
                    UNREPAIRABLE,
                    f"链上认证的统一社会信用代码为 {found[9] or '（无）'}，本办公室为 "
                    f"{authority.uscc or '（无）'}：其电子证照标识无法通过核验 / the chain "
                    f"accredits USCC {found[9] or '(none)'}, this office holds "
                    f"{authority.uscc or '(none)'}: its licence identifiers fail verification",
                )
            elif status != _ACTIVE:
                self._found(
                    report,
                    "authority",
                    authority.did,
                    "authority_not_active",
                    NOTED,
                    "省级主管部门已暂停或撤销该签发机关，其上链在恢复前等待 / suspended or "
                    "removed by the province: its anchors and status changes wait",
                )

    def _not_accredited(self, report: ReconcileReport, authority: Authority) -> None:
        if self.root is None or not self.repair:
            self._found(
                report,
                "authority",
                authority.did,
                "not_accredited",
                UNREPAIRABLE,
                "链上没有该签发机关的认证（链丢失了该记录），须由省级主管部门重新认证 / the "
                "chain has no accreditation of this authority: the province must accredit "
                f"account {authority.account_address} again",
            )
            return
        office = self.office
        office.chain.top_up_if_dev(self.root.address)
        office.chain.top_up_if_dev(authority.account_address)  # a development chain lost it too
        office.chain.transact(
            office.deployment.trust_registry,
            self._trust_abi,
            "accredit",
            [
                authority.did,
                authority.name_zh,
                authority.name_en,
                authority.region,
                list(authority.credential_types),
                authority.account_address,
                authority.uscc or "",
            ],
            self.root,
        )
        self._audit_repair("authority.reaccredit", authority.id, {"did": authority.did})
        self._found(
            report,
            "authority",
            authority.did,
            "not_accredited",
            REPAIRED,
            "已用开发环境的治理根重新认证 / accredited again with the development root",
        )

    def _keys(self, report: ReconcileReport) -> None:
        office = self.office
        with office.db.session() as s:
            rows = s.execute(
                select(IssuerKey, Authority.did)
                .join(Authority, Authority.id == IssuerKey.authority_id)
                .where(IssuerKey.active.is_(True) | IssuerKey.revocation_reason.is_not(None))
                .order_by(IssuerKey.id)
            ).all()
        report.checked["keys"] = len(rows)
        for key, did in rows:
            subject = f"{did}#{key.key_id}"
            try:
                found = office.chain.call(
                    office.deployment.trust_registry,
                    self._trust_abi,
                    "keyOf",
                    [did, key.key_id],
                )
            except ContractReverted as e:
                if e.name not in ("UnknownAuthority", "UnknownKey"):
                    raise
                found = None
            if found is None or int(found[1]) == 0:
                if not key.active:
                    continue  # a revoked key the chain forgot is harmless: it signs nothing
                self._register_again(report, key, did, subject)
                continue
            if bytes(found[0]) != bytes(key.public_key) or int(found[4]) != key_algorithm_code(
                key.algorithm
            ):
                self._found(
                    report,
                    "key",
                    subject,
                    "key_other",
                    UNREPAIRABLE,
                    "链上该密钥编号登记的是另一把公钥 / the chain holds another public key "
                    "under this key id",
                )
                continue
            if key.revocation_reason is not None and key.revoked_at is not None:
                wanted = int(aware(key.revoked_at).timestamp())
                if int(found[2]) == 0 or int(found[2]) > wanted:
                    self._revoke_again(report, key, did, subject, wanted)

    def _register_again(
        self, report: ReconcileReport, key: IssuerKey, did: str, subject: str
    ) -> None:
        if not self.repair:
            self._found(report, "key", subject, "key_missing", UNREPAIRABLE, "report only")
            return
        office = self.office
        if self._on_chain_authority(did) is None:
            self._found(
                report,
                "key",
                subject,
                "key_missing",
                UNREPAIRABLE,
                "签发机关未获认证，密钥须在重新认证后登记 / the authority is not accredited on "
                "chain: the key is registered again once it is",
            )
            return
        office.chain.top_up_if_dev(office.account(key.authority_id).address)
        try:
            office.chain.transact(
                office.deployment.trust_registry,
                self._trust_abi,
                "addKey",
                [did, key.key_id, key_algorithm_code(key.algorithm), bytes(key.public_key)],
                office.account(key.authority_id),
            )
        except ContractReverted as e:
            self._found(
                report,
                "key",
                subject,
                "key_missing",
                UNREPAIRABLE,
                f"链拒绝重新登记该密钥（{e.name}）/ the chain refused to register it again: "
                f"{e.diagnostics()}",
            )
            return
        self._audit_repair("key.reregister", key.authority_id, {"keyId": key.key_id})
        self._found(
            report,
            "key",
            subject,
            "key_missing",
            REPAIRED,
            "已重新登记签发密钥 / the issuer key is registered again",
        )

    def _revoke_again(
        self, report: ReconcileReport, key: IssuerKey, did: str, subject: str, wanted: int
    ) -> None:
        if not self.repair:
            self._found(report, "key", subject, "revocation_missing", UNREPAIRABLE, "report only")
            return
        office = self.office
        office.chain.top_up_if_dev(office.account(key.authority_id).address)
        try:
            office.chain.transact(
                office.deployment.trust_registry,
                self._trust_abi,
                "revokeKey",
                [did, key.key_id, wanted, int(key.revocation_reason or 1)],
                office.account(key.authority_id),
            )
        except ContractReverted as e:
            self._found(
                report,
                "key",
                subject,
                "revocation_missing",
                UNREPAIRABLE,
                f"链拒绝重新吊销该密钥 / the chain refused the revocation again: {e.diagnostics()}",
            )
            return
        self._audit_repair(
            "key.rerevoke", key.authority_id, {"keyId": key.key_id, "revokedAt": wanted}
        )
        self._found(
            report,
            "key",
            subject,
            "revocation_missing",
            REPAIRED,
            f"已重新吊销（自 {wanted}）/ revoked again from {wanted}",
        )

    # ------------------------------------------------------------------ batches

    def _batches(
        self, report: ReconcileReport, kind: str, since: datetime | None, head: int
    ) -> None:
        """Each batch's root read back from the chain (``anchorOf``). A run that is not full
        takes a batch an earlier run found as recorded (``checked_at``) as still so when the
        chain holds its block with the hash recorded: the block is the same, so the anchor
        written in it, which nothing can change later (the registry writes a root once), is
        too. One block read instead of one EVM call (on the embedded chain 0.4 ms against
        5 ms), and a run re-checks the batches of the last few minutes (``_SLACK``): at a
        province's bulk rate, hundreds a run. A full run reads every anchor."""
        office = self.office
        query = select(Batch).where(
            Batch.kind == kind, Batch.state.in_((BatchState.SENT, BatchState.ANCHORED))
        )
        if since is not None:
            query = query.where(Batch.created_at >= since)
        with office.db.session() as s:
            batches = list(s.scalars(query.order_by(Batch.id)))
        report.checked[f"{kind}_batches"] = len(batches)
        ids = self._chain_ids()
        table = Credential if kind == BatchKind.CREDENTIAL else SdJwtCredential
        queue = BatchQueue(
            office,
            table,
            kind,
            batch_size=1,
            batch_age_seconds=0,
            action="batch.anchor" if kind == BatchKind.CREDENTIAL else "wallet.batch.anchor",
            log=self._log,
        )
        hashes: dict[int, str] = {}  # block number -> its hash on the chain now

        def unchanged(batch: Batch) -> bool:  # found as recorded before, its block still there
            number = batch.block_number
            if since is None or batch.checked_at is None or number is None or number > head:
                return False
            if number not in hashes:
                hashes[number] = office.chain.block(number).hash
            return hashes[number] == batch.block_hash

        confirmed: list[int] = []  # found as recorded: checked_at is set for these alone
        for batch in batches:
            if unchanged(batch):
                confirmed.append(batch.id)
                continue
            subject = f"{kind} batch {batch.id}"
            found = office.chain.call(
                office.deployment.anchor_registry, self._anchor_abi, "anchorOf", [bytes(batch.root)]
            )
            authority_id, leaves, anchored_at, block = (int(v) for v in found)
            if anchored_at == 0:
                if not self.repair:
                    self._found(
                        report, "batch", subject, "root_missing", UNREPAIRABLE, "report only"
                    )
                    continue
                self._prepare_again(batch.id, "batch.reanchor")
                queue.advance(batch.id)
                self._found(
                    report,
                    "batch",
                    subject,
                    "root_missing",
                    REPAIRED,
                    f"默克尔根不在链上（{batch.size} 个成员），已重新上链 / the root was not on "
                    f"chain ({batch.size} members): anchored again",
                )
            elif authority_id != ids.get(batch.authority_id) or leaves != batch.size:
                self._found(
                    report,
                    "batch",
                    subject,
                    "root_foreign",
                    UNREPAIRABLE,
                    "该默克尔根在链上由其他签发机关或以其他数量存证 / the root is anchored by "
                    "another authority or with another leaf count",
                )
            elif block != batch.block_number:
                self._prepare_again(batch.id, "batch.remined")
                queue.advance(batch.id)  # finds it on chain: records its real block
                self._found(
                    report,
                    "batch",
                    subject,
                    "root_moved",
                    REPAIRED,
                    f"默克尔根在区块 {block}（记录为 {batch.block_number}），已更新 / "
                    f"the root is in block {block}, recorded as {batch.block_number}: "
                    "recorded anew",
                )
            else:
                confirmed.append(batch.id)
        if confirmed:
            with office.db.session() as s:
                s.execute(
                    update(Batch)
                    .where(Batch.id.in_(confirmed))
                    .values(checked_at=datetime.now(UTC))
                )

    def _prepare_again(self, batch_id: int, action: str) -> None:
        with self.office.db.write_session() as s:
            batch = s.get(Batch, batch_id)
            assert batch is not None
            lost = batch.block_number
            batch.state = BatchState.PREPARED
            batch.tx_hash = batch.block_hash = None
            batch.block_number = batch.block_time = None
            batch.anchored_at = None
            batch.wait_sum = batch.wait_max = None
            record(
                s,
                actor="reconciler",
                action=action,
                authority_id=batch.authority_id,
                details={"batch": batch_id, "root": bytes(batch.root).hex(), "lostBlock": lost},
            )

    def _chain_ids(self) -> dict[int, int]:
        """Each enrolled authority's id in the registries (by the office's row id)."""
        ids: dict[int, int] = {}
        for authority in self.office.authorities():
            found = self._on_chain_authority(authority.did)
            if found is not None:
                ids[authority.id] = int(found[0])
        return ids

    # ------------------------------------------------------------------ statuses

    def _statuses(self, report: ReconcileReport, since: datetime | None) -> None:
        office = self.office
        query = select(StatusChange).where(StatusChange.state == ChangeState.DONE)
        if since is not None:
            query = query.where(StatusChange.done_at >= since)
        with office.db.session() as s:
            recent = list(s.scalars(query))
            credential_ids = sorted({c.credential_id for c in recent})
            changes: dict[str, list[StatusChange]] = {}
            if credential_ids:
                for change in s.scalars(
                    select(StatusChange)
                    .where(
                        StatusChange.credential_id.in_(credential_ids),
                        StatusChange.state == ChangeState.DONE,
                    )
                    .order_by(StatusChange.seq)
                ):
                    changes.setdefault(change.credential_id, []).append(change)
        report.checked["status_changes"] = len(recent)
        ids = self._chain_ids()
        requeue: list[int] = []
        for credential_id, done in changes.items():
            chain_id = ids.get(done[-1].authority_id)
            if chain_id is None:
                continue  # the authority itself is reported above
            found = office.chain.call(
                office.deployment.anchor_registry,
                self._anchor_abi,
                "statusOf",
                [chain_id, credential_id_hash(credential_id)],
            )
            on_chain = int(found[0])
            if on_chain == STATUS_CODES[done[-1].status]:
                continue
            # the changes after the last one the chain reflects go back to the queue, in order
            kept = max(
                (i for i, c in enumerate(done) if STATUS_CODES[c.status] == on_chain), default=-1
            )
            missing = done[kept + 1 :]
            if not self.repair:
                self._found(
                    report, "status", credential_id, "status_missing", UNREPAIRABLE, "report only"
                )
                continue
            requeue += [c.seq for c in missing]
            self._found(
                report,
                "status",
                credential_id,
                "status_missing",
                REPAIRED,
                f"链上缺少 {len(missing)} 项状态变更（{missing[-1].status}），已重新排队上链 / "
                f"the chain lacks {len(missing)} status change(s) ({missing[-1].status}): "
                "queued and sent again",
            )
        if requeue:
            with office.db.session() as s:
                s.execute(
                    update(StatusChange)
                    .where(StatusChange.seq.in_(requeue))
                    .values(
                        state=ChangeState.PENDING, tx_hash=None, block_number=None, done_at=None
                    )
                )
            StatusSender(office, log=self._log).drain(60.0)

    # ------------------------------------------------------------------ audit heads

    def _audit(self, report: ReconcileReport, since: datetime | None) -> None:
        office = self.office
        query = select(AuditAnchor).where(AuditAnchor.state == "anchored")
        if since is not None:
            query = query.where(AuditAnchor.anchored_at >= since)
        with office.db.session() as s:
            anchors = list(s.scalars(query.order_by(AuditAnchor.seq)))
        report.checked["audit_heads"] = len(anchors)
        missing = []
        for anchor in anchors:
            found = office.chain.call(
                office.deployment.anchor_registry,
                self._anchor_abi,
                "anchorOf",
                [bytes(anchor.root)],
            )
            if int(found[2]) == 0:
                missing.append(anchor)
        if not missing:
            return
        if not self.repair:
            for anchor in missing:
                self._found(
                    report,
                    "audit",
                    f"head {anchor.seq}",
                    "audit_root_missing",
                    UNREPAIRABLE,
                    "report only",
                )
            return
        from service.audit.anchor import HeadAnchorer

        with office.db.session() as s:
            s.execute(
                update(AuditAnchor)
                .where(AuditAnchor.id.in_([a.id for a in missing]))
                .values(
                    state="prepared",
                    tx_hash=None,
                    block_number=None,
                    block_time=None,
                    anchored_at=None,
                )
            )
        HeadAnchorer(office, actor="reconciler", log=self._log).anchor()
        for anchor in missing:
            self._found(
                report,
                "audit",
                f"head {anchor.seq}",
                "audit_root_missing",
                REPAIRED,
                "审计日志头的锚定不在链上，已重新上链 / the audit head's anchor was not on chain: "
                "anchored again",
            )

    def _audit_repair(self, action: str, authority_id: int, details: dict[str, Any]) -> None:
        with self.office.db.session() as s:
            record(s, actor="reconciler", action=action, authority_id=authority_id, details=details)
