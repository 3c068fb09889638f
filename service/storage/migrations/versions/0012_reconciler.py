"""reconciler: revocation reasons of keys, the reconciler's checkpoint, unrepairable findings

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:00:00

``issuer_keys.revocation_reason`` tells a revocation that was sent (1 rotation, 2 compromise)
from a rotation's plan that is not on chain yet; existing revocations take it from their
``key.revoke`` audit rows. ``reconcile_state`` holds the block the reconciler last found as the
office believes it; ``worker_status.unrepairable`` how many findings it could not repair.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_REASONS = {"rotation": 1, "compromise": 2}


def upgrade() -> None:
    with op.batch_alter_table("issuer_keys") as b:
        b.add_column(sa.Column("revocation_reason", sa.Integer(), nullable=True))
    with op.batch_alter_table("worker_status") as b:
        b.add_column(sa.Column("unrepairable", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("worker_status") as b:
        b.alter_column("unrepairable", existing_type=sa.Integer(), server_default=None)
    op.create_table(
        "reconcile_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.Integer(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    revoked: dict[tuple[int, str], int] = {}
    for table in ("audit_log", "audit_inbox"):
        rows = bind.execute(
            sa.text(f"SELECT authority_id, details FROM {table} WHERE action = 'key.revoke'")
        ).all()
        for authority_id, details in rows:
            facts = json.loads(details) if isinstance(details, str) else details
            reason = _REASONS.get(str(facts.get("reason")))
            if authority_id is not None and reason and facts.get("keyId"):
                revoked[(int(authority_id), str(facts["keyId"]))] = reason
    for (authority_id, key_id), reason in revoked.items():
        bind.execute(
            sa.text(
                "UPDATE issuer_keys SET revocation_reason = :reason WHERE authority_id = :a "
                "AND key_id = :k AND revoked_at IS NOT NULL"
            ),
            {"reason": reason, "a": authority_id, "k": key_id},
        )


def downgrade() -> None:
    op.drop_table("reconcile_state")
    with op.batch_alter_table("worker_status") as b:
        b.drop_column("unrepairable")
    with op.batch_alter_table("issuer_keys") as b:
        b.drop_column("revocation_reason")
