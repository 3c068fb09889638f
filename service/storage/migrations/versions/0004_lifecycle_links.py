"""life cycle: find a credential's successor by its previous_id (a partial index)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:40:00

A version links back to the one it replaced (``previous_id``); a move to another city starts a
new lineage whose first version is found only through that link, and key re-issuance looks
successors up the same way. Only later versions carry a link, so the index covers those rows
alone and first issuances (nearly every insert) do not pay for it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LINKED = sa.text("previous_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_credentials_previous",
        "credentials",
        ["previous_id"],
        postgresql_where=_LINKED,
        sqlite_where=_LINKED,
    )


def downgrade() -> None:
    op.drop_index("ix_credentials_previous", table_name="credentials")
