"""An office on a real chain and database, for the worker tests (in process and fault)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, text

from service.issuing.office import IssueRequest, Office
from service.storage.db import Database
from service.storage.models import Batch
from service.storage.sealing import MasterKey
from service.trust.authorities import create_authority
from service.trust.deployment import deploy_registries
from tests.conftest import funded, require
from tests.verifier.factories import residence_permit_subject
from verifier.chain import Chain, EventDecoder
from verifier.contracts import load_artifact
from verifier.deployment import Deployment

MASTER = "test-master-key-0123456789abcdef0123456789"
DID = "did:web:lsj.gz.gov.cn"
# SUIXIN_TEST_POSTGRES names another database (one engineer's own, beside others' runs)
PG_ADMIN = os.environ.get(
    "SUIXIN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Setup:
    office: Office
    authority_id: int
    deployment: Deployment
    root: LocalAccount
    db_url: str

    def issue(self, n: int, seed: int = 0) -> list[str]:
        rng = random.Random(seed)
        requests = [
            IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(n)
        ]
        return [b["credential"]["id"] for b in self.office.issue_many(self.authority_id, requests)]

    def anchor_events(self) -> list[dict[str, Any]]:
        decoder = EventDecoder(load_artifact("AnchorRegistry").abi)
        logs = self.office.chain.get_logs(
            [self.deployment.anchor_registry], self.deployment.block_number
        )
        return [e.args for e in map(decoder.decode, logs) if e and e.event == "RootAnchored"]

    def batches(self) -> list[Batch]:
        from sqlalchemy import select

        with self.office.db.session() as s:
            return list(s.scalars(select(Batch).order_by(Batch.id)))


def make_setup(
    chain: Chain, db_url: str, data_dir: Path | None = None, *, migrated: bool = False
) -> Setup:
    """The office over ``db_url``, migrating it first unless it is ``migrated`` already (a
    copy of the session's migrated SQLite file)."""
    root = funded(chain)
    deployment = deploy_registries(chain, root)
    if data_dir is not None:
        deployment.save(data_dir / "deployment.json")
    db = Database(db_url)
    if not migrated:
        db.migrate()
    office = Office(db, chain, deployment, MasterKey(MASTER))
    authority = create_authority(
        office,
        DID,
        "广州市来穗人员服务管理局",
        "Guangzhou Migrant Services",
        440100,
        ["ResidencePermit"],
        root=root,
        uscc="11440100007502156G",
    )
    return Setup(office, authority.id, deployment, root, db_url)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; yields its SQLAlchemy URL; dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN)
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as e:
        require(False, f"PostgreSQL not reachable on 127.0.0.1:5432 ({type(e).__name__})")
        raise
    try:
        yield f"{PG_ADMIN}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
