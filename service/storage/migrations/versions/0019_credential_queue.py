"""credential queue: the worker's claim writes a narrow row, not the credential's

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 16:10:00

A credential stored without a batch gets a row in ``credential_queue`` (its seq and authority),
written by a trigger on ``credentials`` in the same transaction; the worker's claim writes the
batch and place there. Before, the claim updated ``credentials.batch_id``/``leaf_index``: on
PostgreSQL a second version of every queued credential's whole row, with an entry in each index.

Credentials waiting now move to the queue table; credentials already claimed keep their batch
and place where they are (``credentials.batch_id``/``leaf_index``, as a bulk chunk's own batch
still stores them), so every receipt derived from them is the one it was. The partial index
``ix_credentials_queue`` goes: nothing waits in ``credentials`` any more.

Downgrade writes each claimed queue row's batch and place back into its credential.

On SQLite, a later migration that rebuilds ``credentials`` (``batch_alter_table`` copies the
table) drops the trigger with it: such a migration must create it again (``create_trigger``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER credentials_enqueue AFTER INSERT ON credentials
WHEN NEW.batch_id IS NULL
BEGIN
    INSERT INTO credential_queue (credential_seq, authority_id) VALUES (NEW.seq, NEW.authority_id);
END
"""
_POSTGRES_FUNCTION = """
CREATE FUNCTION credentials_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credential_queue (credential_seq, authority_id) VALUES (NEW.seq, NEW.authority_id);
    RETURN NULL;
END
$$
"""
_POSTGRES_TRIGGER = """
CREATE TRIGGER credentials_enqueue AFTER INSERT ON credentials
FOR EACH ROW WHEN (NEW.batch_id IS NULL) EXECUTE FUNCTION credentials_enqueue()
"""


def create_trigger() -> None:
    """The trigger that queues a credential stored without a batch."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def upgrade() -> None:
    op.create_table(
        "credential_queue",
        sa.Column("credential_seq", sa.Integer(), sa.ForeignKey("credentials.seq"),
                  primary_key=True, autoincrement=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
    )  # fmt: skip
    op.execute(
        "INSERT INTO credential_queue (credential_seq, authority_id)"
        " SELECT seq, authority_id FROM credentials WHERE batch_id IS NULL ORDER BY seq"
    )
    op.create_index(
        "ix_credential_queue_waiting",
        "credential_queue",
        ["authority_id", "credential_seq"],
        postgresql_where=sa.text("batch_id IS NULL"),
        sqlite_where=sa.text("batch_id IS NULL"),
    )
    op.drop_index("ix_credentials_queue", table_name="credentials")
    create_trigger()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER credentials_enqueue ON credentials")
        op.execute("DROP FUNCTION credentials_enqueue()")
    else:
        op.execute("DROP TRIGGER credentials_enqueue")
    queued = "FROM credential_queue q WHERE q.credential_seq = credentials.seq"
    op.execute(
        f"UPDATE credentials SET batch_id = (SELECT q.batch_id {queued}),"
        f" leaf_index = (SELECT q.leaf_index {queued})"
        " WHERE seq IN (SELECT credential_seq FROM credential_queue WHERE batch_id IS NOT NULL)"
    )
    op.create_index(
        "ix_credentials_queue",
        "credentials",
        ["authority_id", "seq"],
        postgresql_where=sa.text("batch_id IS NULL"),
        sqlite_where=sa.text("batch_id IS NULL"),
    )
    op.drop_index("ix_credential_queue_waiting", table_name="credential_queue")
    op.drop_table("credential_queue")
