"""batch hash: the Merkle hash a batch's tree was built with

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 10:00:00

``batches.hash`` is ``sha-256`` or ``sm3``: the deployment's anchoring hash when the batch was
claimed, with which its receipts are derived; every batch stored before is SHA-256.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as b:
        b.add_column(
            sa.Column("hash", sa.String(length=16), nullable=False, server_default="sha-256")
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as b:
        b.drop_column("hash")
