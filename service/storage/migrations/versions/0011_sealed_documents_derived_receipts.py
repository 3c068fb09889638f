"""sealed documents and derived receipts: each credential stored once, sealed; a batch's tree once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00

Before: ``credentials.document`` (the signed credential as JSON, subject in the clear) and
``credentials.receipt`` (a full receipt with its inclusion path, per credential), and the
anchor state per row. After:

- ``credentials.body``: the credential's canonical JSON (the bytes its digest is taken of),
  compressed and sealed under the master key to its id (``service.storage.sealing``); beside it
  only what lookups need: ``valid_until`` (the sweep), ``subject_key`` (a blind index of the
  citizen id number or USCC), ``subject_name`` (the console's search), ``derived_from`` (a
  residence-years credential's permit).
- ``batches.leaves``: every member's digest in leaf order; each member's receipt is derived
  from them and the batch's block (``chain_id``, ``registry``, ``block_hash`` new). A member's
  anchor state is its batch's; the queue is the rows without a batch.
- SD-JWT batches become ``batches`` rows of kind ``sdjwt`` the same way.

Sealing needs the master key, which Alembic does not have: the office hands it over
(``Database.migrate(master_key=…)``); a database with credentials cannot be upgraded without
it. Every stored receipt is compared with the one derived in its place before anything is
dropped: a difference stops the migration and changes nothing. There is no downgrade (the
clear-text documents are not written back).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from service.storage.columns import lookup_columns
from service.storage.sealing import MasterKey
from verifier.bundle import receipts_for_batch
from verifier.jcs import canonicalize
from verifier.merkle import MerkleTree

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CHUNK = 2000


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _master() -> MasterKey | None:
    key = context.config.attributes.get("master_key")
    return key if isinstance(key, MasterKey) else None


def upgrade() -> None:
    bind = op.get_bind()
    # every check before the first change: a refusal leaves the database as it was
    _check_documents(bind)
    _derive_credential_batches(bind, write=False)
    _derive_sdjwt_batches(bind, write=False)

    with op.batch_alter_table("batches") as b:
        b.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="credential"))
        b.add_column(sa.Column("leaves", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("chain_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("anchor_registry", sa.String(42), nullable=True))
        b.add_column(sa.Column("block_hash", sa.String(66), nullable=True))
        b.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("credentials") as b:
        b.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("subject_key", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("subject_name", sa.String(256), nullable=True))
        b.add_column(sa.Column("derived_from", sa.String(64), nullable=True))
    with op.batch_alter_table("sd_jwt_credentials") as b:
        b.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))

    _seal_documents(bind)
    _derive_credential_batches(bind, write=True)
    _derive_sdjwt_batches(bind, write=True)

    with op.batch_alter_table("credentials") as b:
        b.drop_index("ix_credentials_queue")
        b.drop_column("document")
        b.drop_column("receipt")
        b.drop_column("anchor_state")
        b.alter_column("body", existing_type=sa.LargeBinary(), nullable=False)
        b.create_index(
            "ix_credentials_queue",
            ["authority_id", "seq"],
            postgresql_where=sa.text("batch_id IS NULL"),
            sqlite_where=sa.text("batch_id IS NULL"),
        )
        b.create_index(
            "ix_credentials_derived",
            ["derived_from"],
            postgresql_where=sa.text("derived_from IS NOT NULL"),
            sqlite_where=sa.text("derived_from IS NOT NULL"),
        )
        b.create_index(
            "ix_credentials_term",
            ["credential_type", "valid_until"],
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
    _one_in_force(bind)
    with op.batch_alter_table("batches") as b:
        b.alter_column("leaves", existing_type=sa.LargeBinary(), nullable=False)
        b.alter_column("kind", existing_type=sa.String(16), server_default=None)
    with op.batch_alter_table("sd_jwt_credentials") as b:
        b.drop_index("ix_sd_jwt_queue")
        b.drop_index("ix_sd_jwt_credentials_batch_root")
        b.drop_column("batch_root")
        b.drop_column("receipt")
        b.drop_column("anchor_state")
        b.create_foreign_key("fk_sd_jwt_credentials_batch_id", "batches", ["batch_id"], ["id"])
        b.create_index(
            "ix_sd_jwt_queue",
            ["authority_id", "seq"],
            postgresql_where=sa.text("batch_id IS NULL"),
            sqlite_where=sa.text("batch_id IS NULL"),
        )


def _documents(bind: sa.Connection) -> Iterator[list[Any]]:
    """The stored credentials, a chunk at a time, in ``seq`` order."""
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, id, document, digest FROM credentials WHERE seq > :last "
                "ORDER BY seq LIMIT :n"
            ),
            {"last": last, "n": _CHUNK},
        ).all()
        if not rows:
            return
        yield list(rows)
        last = rows[-1][0]


def _check_documents(bind: sa.Connection) -> None:
    count = bind.execute(sa.text("SELECT count(*) FROM credentials")).scalar_one()
    if count and _master() is None:
        raise RuntimeError(
            f"{count} credentials must be sealed under the master key to upgrade this database: "
            "open it through the office (suixin serve, worker or any command), which hands the "
            "key to the migration / 升级需要主密钥以加密存储凭证，请通过 suixin 命令打开数据库"
        )
    for rows in _documents(bind):
        for _seq, credential_id, document, digest in rows:
            if hashlib.sha256(canonicalize(_json(document))).digest() != bytes(digest):
                raise RuntimeError(
                    f"credential {credential_id}: its stored document no longer has its digest; "
                    "nothing was changed"
                )


def _seal_documents(bind: sa.Connection) -> None:
    master = _master()
    update = sa.text(
        "UPDATE credentials SET body = :body, valid_until = :valid_until, "
        "subject_key = :subject_key, subject_name = :subject_name, "
        "derived_from = :derived_from WHERE seq = :seq"
    )
    for rows in _documents(bind):
        assert master is not None  # _check_documents
        changes = []
        for seq, credential_id, document, _digest in rows:
            credential = _json(document)
            changes.append(
                {
                    "seq": seq,
                    "body": master.seal_document(canonicalize(credential), credential_id),
                    **lookup_columns(master, credential),
                }
            )
        bind.execute(update, changes)


_IN_FORCE = "subject_key IS NOT NULL AND status IN ('active', 'suspended')"


def _one_in_force(bind: sa.Connection) -> None:
    """One credential in force per subject, type and authority: a unique index, unless
    credentials issued twice before this rule are in force (then an ordinary index, and a
    warning naming how many: the office refuses new duplicates either way, and the operator
    cancels the extra ones)."""
    twice = bind.execute(
        sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM credentials WHERE "
            f"{_IN_FORCE} GROUP BY authority_id, credential_type, subject_key "
            "HAVING count(*) > 1) AS twice"
        )
    ).scalar_one()
    if twice:
        print(
            f"suixin: {twice} people or entities hold more than one credential in force of the "
            "same type from the same authority (issued before this rule): the index that "
            "forbids it is created once they are cancelled / 存在重复有效凭证，请注销多余的凭证",
            file=sys.stderr,
        )
    with op.batch_alter_table("credentials") as b:
        b.create_index(
            "ux_credentials_subject_in_force",
            ["authority_id", "credential_type", "subject_key"],
            unique=not twice,
            postgresql_where=sa.text(_IN_FORCE),
            sqlite_where=sa.text(_IN_FORCE),
        )


def _check_receipts(
    what: str, tree: MerkleTree, stored: list[Any], block_hash: str | None = None
) -> dict[str, Any]:
    """The block facts the stored receipts share, once every one is what would be derived."""
    first = _json(stored[0])
    facts: dict[str, Any] = {
        "chain_id": int(first["chainId"]),
        "registry": str(first["registry"]),
        "block_number": int(first["blockNumber"]),
        "block_time": int(first["blockTime"]),
        "transaction_hash": str(first["transactionHash"]),
    }
    derived = receipts_for_batch(
        tree,
        chain_id=facts["chain_id"],
        registry=facts["registry"],
        block_number=facts["block_number"],
        block_time=facts["block_time"],
        transaction_hash=facts["transaction_hash"],
        block_hash=block_hash or "",
    )
    for receipt, expected in zip(stored, derived, strict=True):
        if _json(receipt) != expected.to_json():
            raise RuntimeError(
                f"{what}: a stored receipt differs from the one derived from the batch's tree; "
                "nothing was changed"
            )
    return facts


def _derive_credential_batches(bind: sa.Connection, *, write: bool) -> None:
    batches = bind.execute(sa.text("SELECT id, root, state FROM batches ORDER BY id")).all()
    for batch_id, root, state in batches:
        members = bind.execute(
            sa.text(
                "SELECT digest, receipt FROM credentials WHERE batch_id = :b ORDER BY leaf_index"
            ),
            {"b": batch_id},
        ).all()
        leaves = [bytes(m[0]) for m in members]
        tree = MerkleTree(leaves)
        if not leaves or tree.root != bytes(root):
            raise RuntimeError(f"batch {batch_id}: its members no longer make its root")
        values: dict[str, Any] = {"b": batch_id, "leaves": b"".join(leaves)}
        sql = "UPDATE batches SET leaves = :leaves"
        if state == "anchored":
            facts = _check_receipts(f"batch {batch_id}", tree, [m[1] for m in members])
            values |= {"chain_id": facts["chain_id"], "registry": facts["registry"]}
            sql += ", chain_id = :chain_id, anchor_registry = :registry"
        if write:
            bind.execute(sa.text(sql + " WHERE id = :b"), values)


def _derive_sdjwt_batches(bind: sa.Connection, *, write: bool) -> None:
    rows = bind.execute(
        sa.text(
            "SELECT seq, authority_id, digest, batch_root, leaf_index, receipt, anchor_state, "
            "created_at FROM sd_jwt_credentials WHERE batch_root IS NOT NULL ORDER BY seq"
        )
    ).all()
    by_root: dict[bytes, list[Any]] = defaultdict(list)
    for row in rows:
        by_root[bytes(row[3])].append(row)
    for root, members in by_root.items():
        members.sort(key=lambda r: r[4])
        leaves = [bytes(m[2]) for m in members]
        tree = MerkleTree(leaves)
        if tree.root != root:
            raise RuntimeError(f"SD-JWT batch 0x{root.hex()}: its members no longer make its root")
        anchored = all(m[6] == "anchored" for m in members)
        values: dict[str, Any] = {
            "authority_id": members[0][1],
            "root": root,
            "size": len(leaves),
            "leaves": b"".join(leaves),
            "state": "anchored" if anchored else "prepared",
            "created_at": members[0][7],
            "tx_hash": None,
            "block_number": None,
            "block_time": None,
            "chain_id": None,
            "registry": None,
        }
        if anchored:
            facts = _check_receipts(f"SD-JWT batch 0x{root.hex()}", tree, [m[5] for m in members])
            values |= {
                "tx_hash": facts["transaction_hash"],
                "block_number": facts["block_number"],
                "block_time": facts["block_time"],
                "chain_id": facts["chain_id"],
                "registry": facts["registry"],
            }
        if not write:
            continue
        bind.execute(
            sa.text(
                "INSERT INTO batches (authority_id, kind, root, size, leaves, state, created_at, "
                "tx_hash, block_number, block_time, chain_id, anchor_registry, anchored_at) VALUES "
                "(:authority_id, 'sdjwt', :root, :size, :leaves, :state, :created_at, :tx_hash, "
                ":block_number, :block_time, :chain_id, :registry, :created_at)"
            ),
            values,
        )
        batch_id = bind.execute(
            sa.text("SELECT id FROM batches WHERE root = :root"), {"root": root}
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE sd_jwt_credentials SET batch_id = :b WHERE seq = :seq"),
            [{"b": batch_id, "seq": m[0]} for m in members],
        )


def downgrade() -> None:
    bind = op.get_bind()
    stored = bind.execute(sa.text("SELECT count(*) FROM credentials")).scalar_one()
    stored += bind.execute(sa.text("SELECT count(*) FROM batches")).scalar_one()
    if stored:
        raise RuntimeError(
            "0011 sealed every credential and derived receipts from batch trees; with data it "
            "is not undone (restore a backup taken before the upgrade) / "
            "此迁移在已有数据时不可回退，请从升级前的备份恢复"
        )
    with op.batch_alter_table("sd_jwt_credentials") as b:
        b.drop_index("ix_sd_jwt_queue")
        b.drop_constraint("fk_sd_jwt_credentials_batch_id", type_="foreignkey")
        b.drop_column("batch_id")
        b.add_column(sa.Column("anchor_state", sa.String(16), nullable=False))
        b.add_column(sa.Column("batch_root", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("receipt", sa.JSON(), nullable=True))
        b.create_index("ix_sd_jwt_credentials_batch_root", ["batch_root"])
        b.create_index("ix_sd_jwt_queue", ["authority_id", "anchor_state", "seq"])
    with op.batch_alter_table("credentials") as b:
        for index in (
            "ix_credentials_queue",
            "ix_credentials_derived",
            "ix_credentials_term",
            "ux_credentials_subject_in_force",
        ):
            b.drop_index(index)
        for column in ("body", "valid_until", "subject_key", "subject_name", "derived_from"):
            b.drop_column(column)
        b.add_column(sa.Column("document", sa.JSON(), nullable=False))
        b.add_column(sa.Column("receipt", sa.JSON(), nullable=True))
        b.add_column(sa.Column("anchor_state", sa.String(16), nullable=False))
        b.create_index("ix_credentials_queue", ["authority_id", "anchor_state", "seq"])
    with op.batch_alter_table("batches") as b:
        for column in ("kind", "leaves", "chain_id", "anchor_registry", "block_hash", "checked_at"):
            b.drop_column(column)
