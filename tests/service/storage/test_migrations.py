"""Migrations: each upgrade keeps the data already stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from service.storage.db import Database, alembic_config
from tests.service.conftest import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database the whole migration chain has just built (other tests on SQLite get a copy
    of a file migrated once per session): a new SQLite file, or a PostgreSQL schema."""
    yield from fresh_database(request.param, tmp_path)


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


# ---------------------------------------------------------------------- 0011: sealed, derived

_MASTER = "migration-test-master-key-0123456789abcdef"


def _old_office_data(db: Database) -> dict[str, Any]:
    """Credentials and SD-JWTs as an office before 0011 stored them: the document in the
    clear and a receipt per member. Returns what each bundle looked like then."""
    import random

    from service.issuing.issuance import SigningIdentity, issue_credential
    from tests.verifier.factories import residence_permit_subject
    from verifier.bundle import receipts_for_batch
    from verifier.keys import Ed25519KeyPair
    from verifier.merkle import MerkleTree

    rng = random.Random(11)
    identity = SigningIdentity(
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        440100,
        "key-1",
        Ed25519KeyPair.generate(),
    )
    now = datetime.now(UTC)
    built = [
        issue_credential(
            "ResidencePermit",
            residence_permit_subject(rng),
            identity,
            chain_id=31337,
            anchor_registry="0x" + "a1" * 20,
            now=now,
        )
        for _ in range(5)
    ]
    chain = {"chain_id": 31337, "registry": "0x" + "a1" * 20, "block_time": 1_790_000_000}
    anchored = MerkleTree(digest for _, digest in built[:3])
    receipts = receipts_for_batch(
        anchored, block_number=12, transaction_hash="0x" + "0c" * 32, **chain
    )
    prepared = MerkleTree([built[3][1]])
    sd_leaves = [bytes([7]) * 32, bytes([8]) * 32]
    sd_tree = MerkleTree(sd_leaves)
    sd_receipts = receipts_for_batch(
        sd_tree, block_number=13, transaction_hash="0x" + "0d" * 32, **chain
    )
    with db.migration_connection() as c:
        c.execute(
            text(
                "INSERT INTO authorities (id, did, name_zh, name_en, region, credential_types,"
                " account_address, account_key_encrypted, created_at) VALUES (1, :did,"
                " '来穗局', 'GZ', 440100, '[\"ResidencePermit\"]', '0x0', :key, :now)"
            ),
            {"did": identity.did, "key": b"sealed", "now": now},
        )
        c.execute(
            text(
                "INSERT INTO batches (id, authority_id, root, size, state, tx_hash, block_number,"
                " block_time, created_at, anchored_at) VALUES (1, 1, :root, 3, 'anchored',"
                " :tx, 12, 1790000000, :now, :now), (2, 1, :root2, 1, 'prepared', NULL, NULL,"
                " NULL, :now, NULL)"
            ),
            {"root": anchored.root, "root2": prepared.root, "tx": "0x" + "0c" * 32, "now": now},
        )
        if db.is_postgres:  # the ids above were given, not drawn: move the sequence past them
            c.execute(text("SELECT setval(pg_get_serial_sequence('batches', 'id'), 2)"))
        rows = []
        for i, (credential, digest) in enumerate(built):
            batch, leaf, state, receipt = None, None, "pending", None
            if i < 3:
                batch, leaf, state, receipt = 1, i, "anchored", receipts[i].to_json()
            elif i == 3:
                batch, leaf, state = 2, 0, "batched"
            rows.append(
                {
                    "id": credential["id"],
                    "doc": json.dumps(credential, ensure_ascii=False),
                    "digest": digest,
                    "batch": batch,
                    "leaf": leaf,
                    "state": state,
                    "receipt": json.dumps(receipt) if receipt else None,
                    "now": now,
                }
            )
        c.execute(
            text(
                "INSERT INTO credentials (id, authority_id, credential_type, document, digest,"
                " anchor_state, batch_id, leaf_index, receipt, created_at, lineage_id, version,"
                " key_id, status) VALUES (:id, 1, 'ResidencePermit', :doc, :digest, :state,"
                " :batch, :leaf, :receipt, :now, :id, 1, 'key-1', 'active')"
            ),
            rows,
        )
        c.execute(
            text(
                "INSERT INTO sd_jwt_credentials (id, credential_id, authority_id, issuer_jwt,"
                " digest, holder_thumbprint, anchor_state, batch_root, leaf_index, receipt,"
                " created_at) VALUES (:id, :cid, 1, 'jwt', :digest, 'thumb', 'anchored', :root,"
                " :leaf, :receipt, :now)"
            ),
            [
                {
                    "id": f"sd{i}",
                    "cid": built[0][0]["id"],
                    "digest": leaf,
                    "root": sd_tree.root,
                    "leaf": i,
                    "receipt": json.dumps(sd_receipts[i].to_json()),
                    "now": now,
                }
                for i, leaf in enumerate(sd_leaves)
            ],
        )
    return {
        "bundles": {
            credential["id"]: {
                "version": "suixin-bundle/1",
                "credential": credential,
                "anchor": receipts[i].to_json() if i < 3 else None,
            }
            for i, (credential, _) in enumerate(built)
        },
        "sd_receipts": [r.to_json() for r in sd_receipts],
    }


def _upgrade_with_key(db: Database, master: Any) -> None:
    config = alembic_config(db.url)
    with db.migration_connection() as connection:
        config.attributes["connection"] = connection
        config.attributes["master_key"] = master
        command.upgrade(config, "head")


def _office(db: Database) -> Any:
    from service.issuing.office import Office
    from service.storage.sealing import MasterKey
    from verifier.chain import EmbeddedChain
    from verifier.deployment import Deployment

    deployment = Deployment(31337, "0x" + "b2" * 20, "0x" + "a1" * 20, 1, "0x00", 0, "", "", "")
    return Office(db, EmbeddedChain(None), deployment, MasterKey(_MASTER))


def test_0011_seals_every_document_and_derives_byte_equal_receipts(database: Database) -> None:
    from service.storage.sealing import MasterKey
    from service.wallet.oid4vci import WalletIssuer
    from verifier.jcs import canonicalize

    _downgrade(database, "0010")
    before = _old_office_data(database)
    _upgrade_with_key(database, MasterKey(_MASTER))
    office = _office(database)
    try:
        for credential_id, bundle in before["bundles"].items():
            after = office.bundle(credential_id)
            assert canonicalize(after) == canonicalize(bundle)  # byte for byte
        assert office.counts() == {"anchored": 3, "batched": 1, "pending": 1}
        wallet = WalletIssuer(office)
        for i, receipt in enumerate(before["sd_receipts"]):
            assert canonicalize(wallet.state(f"sd{i}")["anchor"]) == canonicalize(receipt)
        with database.engine.connect() as connection:
            bodies = connection.execute(text("SELECT body, subject_name FROM credentials")).all()
        for body, name in bodies:  # sealed: no citizen id, no address in the clear
            bundle = next(iter(before["bundles"].values()))
            citizen = bundle["credential"]["credentialSubject"]["citizenId"]
            assert citizen.encode() not in bytes(body) and name
    finally:
        office.chain.close()


def test_0011_refuses_a_receipt_that_differs_and_changes_nothing(database: Database) -> None:
    from service.storage.sealing import MasterKey

    _downgrade(database, "0010")
    _old_office_data(database)
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE credentials SET receipt = :r WHERE leaf_index = 1 AND batch_id = 1"),
            {"r": json.dumps({"chainId": 1, "forged": True})},
        )
    with pytest.raises((RuntimeError, KeyError), match=r"receipt|chainId|blockNumber"):
        _upgrade_with_key(database, MasterKey(_MASTER))
    with pytest.raises(RuntimeError, match="master key"):
        _upgrade_with_key(database, None)
    with database.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        documents = connection.execute(text("SELECT count(document) FROM credentials")).scalar()
    assert version == "0010" and documents == 5  # as it was


# ---------------------------------------------------------------------- 0019: the queue table


def test_0019_moves_the_queue_out_of_credentials_both_ways_with_byte_equal_receipts(
    setup: Any,
) -> None:
    """Credentials claimed before 0019 keep their batch and place in their own rows, those
    waiting move to ``credential_queue``; a downgrade writes the queue's places back. Every
    bundle (receipt included) is byte-equal through both, and the queue goes on after."""
    from service.anchoring.worker import AnchorWorker
    from verifier.jcs import canonicalize

    office, db = setup.office, setup.office.db
    ids = setup.issue(5)
    assert AnchorWorker(office, batch_size=3, batch_age_seconds=3600).run_once() == 3
    before = {cid: canonicalize(office.bundle(cid)) for cid in ids}
    assert office.counts() == {"anchored": 3, "pending": 2}

    _downgrade(db, "0018")
    with db.engine.connect() as connection:
        places = connection.execute(
            text("SELECT batch_id, leaf_index FROM credentials ORDER BY seq")
        ).all()
        tables = set(sa_inspect(connection).get_table_names())
    first = places[0][0]
    assert first is not None and [tuple(p) for p in places] == [
        (first, 0),
        (first, 1),
        (first, 2),
        (None, None),
        (None, None),
    ]
    assert "credential_queue" not in tables

    _upgrade(db, "head")
    with db.engine.connect() as connection:
        queued = connection.execute(
            text("SELECT batch_id FROM credential_queue ORDER BY credential_seq")
        ).all()
    assert [tuple(q) for q in queued] == [(None,), (None,)]  # the two still waiting
    assert {cid: canonicalize(office.bundle(cid)) for cid in ids} == before  # byte for byte
    assert office.counts() == {"anchored": 3, "pending": 2}

    more = setup.issue(1, seed=9)  # the trigger queues a credential issued after the upgrade
    AnchorWorker(office, batch_size=1000, batch_age_seconds=3600).drain()
    assert office.counts() == {"anchored": 6}
    for cid in ids[3:] + more:
        assert office.bundle(cid)["anchor"] is not None
    for cid in ids[:3]:
        assert canonicalize(office.bundle(cid)) == before[cid]
