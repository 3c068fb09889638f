"""wallet: one-time credential offers (OpenID4VCI) and issued SD-JWTs (their anchoring queue)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_offers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("code_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.LargeBinary(), nullable=True),
        sa.Column("c_nonce", sa.String(length=64), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["credential_id"], ["credentials.id"]),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_sha256"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_credential_offers_credential_id", "credential_offers", ["credential_id"])
    op.create_table(
        "sd_jwt_credentials",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("issuer_jwt", sa.Text(), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("holder_thumbprint", sa.String(length=64), nullable=False),
        sa.Column("anchor_state", sa.String(length=16), nullable=False),
        sa.Column("batch_root", sa.LargeBinary(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["credential_id"], ["credentials.id"]),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "ix_sd_jwt_queue", "sd_jwt_credentials", ["authority_id", "anchor_state", "seq"]
    )
    op.create_index("ix_sd_jwt_credentials_credential_id", "sd_jwt_credentials", ["credential_id"])
    op.create_index("ix_sd_jwt_credentials_batch_root", "sd_jwt_credentials", ["batch_root"])


def downgrade() -> None:
    op.drop_table("sd_jwt_credentials")
    op.drop_table("credential_offers")
