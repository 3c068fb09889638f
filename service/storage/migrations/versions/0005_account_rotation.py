"""chain account rotation: an authority's next account, staged before the chain switches to it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:00:00

``suixin keys rotate-account`` stores the new account (sealed under the master key) here before
it asks the TrustRegistry to move the authority to it, so a crash after that transaction never
leaves the authority on an account whose key the office has lost.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorities") as batch:
        batch.add_column(sa.Column("next_account_address", sa.String(length=42), nullable=True))
        batch.add_column(sa.Column("next_account_key_encrypted", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("next_account_key_encrypted")
        batch.drop_column("next_account_address")
