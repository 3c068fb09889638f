"""life cycle: credential lineage, versions, signing key and status; the status queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("lineage_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("previous_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch.add_column(sa.Column("status_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    # existing credentials: each is the first version of its own lineage; the signing key is the
    # fragment of the proof's verification method
    credentials = sa.table(
        "credentials",
        sa.column("id", sa.String),
        sa.column("document", sa.JSON),
        sa.column("lineage_id", sa.String),
        sa.column("key_id", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(credentials.c.id, credentials.c.document)).all()
    for credential_id, document in rows:
        method = str(((document or {}).get("proof") or {}).get("verificationMethod", ""))
        connection.execute(
            credentials.update()
            .where(credentials.c.id == credential_id)
            .values(lineage_id=credential_id, key_id=method.partition("#")[2] or None)
        )
    with op.batch_alter_table("credentials") as batch:
        batch.alter_column("lineage_id", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("ix_credentials_lineage", ["lineage_id", "version"])
        batch.create_index("ix_credentials_key", ["authority_id", "key_id"])

    op.create_table(
        "status_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["authority_id"], ["authorities.id"]),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_status_changes_queue", "status_changes", ["authority_id", "state", "seq"])
    op.create_index("ix_status_changes_credential_id", "status_changes", ["credential_id"])


def downgrade() -> None:
    op.drop_index("ix_status_changes_credential_id", table_name="status_changes")
    op.drop_index("ix_status_changes_queue", table_name="status_changes")
    op.drop_table("status_changes")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_index("ix_credentials_key")
        batch.drop_index("ix_credentials_lineage")
        for column in (
            "status_changed_at",
            "status_reason",
            "status",
            "key_id",
            "previous_id",
            "version",
            "lineage_id",
        ):
            batch.drop_column(column)
