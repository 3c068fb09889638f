"""Migrations: each upgrade keeps the data already stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from service.storage.db import Database, alembic_config


def _upgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.url)
    with db.migration_connection() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _downgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.url)
    with db.migration_connection() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_lifecycle_migration_backfills_lineage_and_signing_key(database: Database) -> None:
    _downgrade(database, "0001")
    now = datetime(2026, 11, 22, tzinfo=UTC)
    document = {"id": "urn:uuid:1", "proof": {"verificationMethod": "did:web:a.example#key-7"}}
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO authorities (id, did, name_zh, name_en, region, credential_types,"
                " account_address, account_key_encrypted, created_at) VALUES (1, 'did:web:a',"
                " '甲', 'A', 440100, '[]', '0x0', :key, :now)"
            ),
            {"key": b"sealed", "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO credentials (id, authority_id, credential_type, document, digest,"
                " anchor_state, created_at) VALUES ('urn:uuid:1', 1, 'ResidencePermit', :doc,"
                " :digest, 'pending', :now)"
            ),
            {"doc": json.dumps(document), "digest": b"\x01" * 32, "now": now},
        )
    _upgrade(database, "0002")
    with database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT lineage_id, version, previous_id, key_id, status FROM credentials")
        ).one()
    assert tuple(row) == ("urn:uuid:1", 1, None, "key-7", "active")


def test_the_migrations_build_exactly_the_models(database: Database) -> None:
    """Every table, column, index and constraint of the models comes from a migration, and no
    migration leaves something the models do not know (on SQLite and PostgreSQL)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import service.storage.wallet  # noqa: F401 - the wallet's tables join Base's metadata
    from service.storage.models import Base

    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
