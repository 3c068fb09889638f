"""batch waits: how long a batch's members waited for their anchor

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 16:00:00

``batches.queued_at`` is when the batch's oldest member was issued and ``queued_sum`` the sum
of its members' issue times (seconds since the epoch), both written when the batch is claimed;
``wait_sum`` (seconds, summed over the members) and ``wait_max`` (the oldest member's wait)
when it becomes final. ``/metrics`` reads its anchoring figures from these, so they count what
every worker did, in any process. Batches anchored before this revision have no figures.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as b:
        b.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("queued_sum", sa.Float(), nullable=True))
        b.add_column(sa.Column("wait_sum", sa.Float(), nullable=True))
        b.add_column(sa.Column("wait_max", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as b:
        for column in ("wait_max", "wait_sum", "queued_sum", "queued_at"):
            b.drop_column(column)
