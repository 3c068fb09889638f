"""issuer key algorithm: Ed25519 or SM2

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00

``issuer_keys.algorithm`` says what a key is (``Ed25519`` or ``SM2``, as the TrustRegistry
records it); every key stored before is Ed25519.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issuer_keys") as b:
        b.add_column(
            sa.Column("algorithm", sa.String(length=16), nullable=False, server_default="Ed25519")
        )


def downgrade() -> None:
    with op.batch_alter_table("issuer_keys") as b:
        b.drop_column("algorithm")
