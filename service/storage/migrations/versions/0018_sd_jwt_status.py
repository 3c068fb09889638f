"""SD-JWT status: each wallet copy's own Token Status List position

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 16:00:00

An SD-JWT VC no longer carries the credential's id: its status is an entry of its own in the
authority's Token Status Lists (``status_lists`` rows of purpose ``token``). Copies made before
keep no position and are checked by the credential's on-chain status as before. An offer keeps
the hash of the wallet's refresh token, with which it gets new single-use copies later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sd_jwt_credentials") as batch:
        batch.add_column(sa.Column("status_position", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("credential_offers") as batch:
        batch.add_column(sa.Column("refresh_sha256", sa.LargeBinary(), nullable=True))
        batch.create_unique_constraint("uq_credential_offers_refresh_sha256", ["refresh_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("credential_offers") as batch:
        batch.drop_constraint("uq_credential_offers_refresh_sha256", type_="unique")
        batch.drop_column("refresh_sha256")
    with op.batch_alter_table("sd_jwt_credentials") as batch:
        batch.drop_column("status_position")
