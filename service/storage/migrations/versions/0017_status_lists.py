"""status lists: W3C Bitstring status lists published beside the chain status

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 13:40:00

``status_allocations`` hands out list positions per authority in blocks; ``status_lists`` keeps
each published list credential (the version committed on chain and the one on its way);
``status_list_sets`` the authority's list set, whose digest is anchored. Credentials issued
before carry no list entry and keep their chain status only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_allocations",
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("next_position", sa.BigInteger(), nullable=False),
    )  # fmt: skip
    op.create_table(
        "status_lists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("authority_id", "purpose", "number"),
    )
    op.create_table(
        "status_list_sets",
        sa.Column("authority_id", sa.Integer(), sa.ForeignKey("authorities.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("status_list_sets")
    op.drop_table("status_lists")
    op.drop_table("status_allocations")
