"""audit inbox: audit rows committed with their action, waiting to be chained

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 07:00:00

``service.audit.trail.record`` inserts one row here in the caller's transaction (no lock on
``audit_head``); the sequencer (``service.audit.trail.sequence``: the worker, ``suixin audit
verify`` and ``anchor``) moves committed rows into ``audit_log`` in id order, chaining them. On
SQLite ids are never reused (AUTOINCREMENT), as a PostgreSQL sequence never reuses them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=True),
        sa.Column("credential_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    pending = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_inbox")).scalar_one()
    if pending:
        raise RuntimeError(
            f"审计收件箱中还有 {pending} 行未入链，降级会丢失它们；请先运行 suixin audit verify "
            f"/ {pending} audit rows are still in the inbox, not chained, and a downgrade would "
            "lose them: run `suixin audit verify` first (it chains them)"
        )
    op.drop_table("audit_inbox")
