"""audit anchors: the audit head's anchors on chain (prepared, then anchored)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:30:00

One row per anchor of the audit head (``service.audit.anchor``): the anchored row's seq and
hash, the root sent (``anchor_root``), the authority whose account sent it, and where it landed.
A row is written ``prepared`` before the root is sent, so a crash is finished by asking the chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_time", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
        sa.UniqueConstraint("root"),
    )
    op.create_index("ix_audit_anchors_state", "audit_anchors", ["state"])


def downgrade() -> None:
    op.drop_index("ix_audit_anchors_state", table_name="audit_anchors")
    op.drop_table("audit_anchors")
