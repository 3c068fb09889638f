"""authority USCC: the 统一社会信用代码 an authority is accredited with

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:00:00

``authorities.uscc`` is the issuing-unit part of the national licence identifiers (电子证照标识)
its 居住证 and 营业执照 carry, as the governance root records it on chain; NULL for authorities
enrolled before, which issue neither until they are accredited with one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorities") as b:
        b.add_column(sa.Column("uscc", sa.String(length=18), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorities") as b:
        b.drop_column("uscc")
