"""worker status: each anchoring worker's heartbeat, failures and chain state

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:00:00

The anchoring worker writes its row on every pass (``service.anchoring.worker``); ``/readyz``
and ``/metrics`` of any API process read it, so a worker in another process (the embedded
chain's node, ``suixin worker``) is seen as well as one in the API's own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_status",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_worker_status_beat_at", "worker_status", ["beat_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_status_beat_at", table_name="worker_status")
    op.drop_table("worker_status")
