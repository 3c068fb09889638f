"""Fixtures of the office tests: a fresh database (SQLite or PostgreSQL), chain and office."""

from __future__ import annotations

import os
import random
import shutil
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import OperationalError
from starlette.exceptions import StarletteDeprecationWarning

from service.anchoring.worker import PAUSE_ENV
from service.app import create_app
from service.config import Settings
from service.issuing.office import Office
from service.storage.db import Database
from service.storage.models import Authority, IssuerKey
from service.storage.sealing import MasterKey
from service.trust.authorities import create_authority
from service.trust.deployment import deploy_registries
from tests.conftest import funded, require
from tests.service.office_setup import Setup, make_setup, postgres_schema
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.deployment import Deployment
from verifier.keys import decode_multikey_ed25519

# Starlette 1.x asks for the ``httpx2`` package and warns (an error under filterwarnings=error)
# when its TestClient falls back to ``httpx``, which is what the lock file pins. Silence only
# that warning, only at this import; the tests import TestClient from here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=StarletteDeprecationWarning, message=".*httpx2")
    from fastapi.testclient import TestClient

__all__ = [
    "LICENCES",
    "PERMITS",
    "PROBLEM",
    "USCC",
    "Api",
    "OfficeWorld",
    "TestClient",
    "assert_problem",
    "auth",
    "public_key_of",
    "settings",
]

MASTER = MasterKey("test-master-key-" + "k" * 24)
# SUIXIN_TEST_POSTGRES names another database (one engineer's own, beside others' runs)
POSTGRES_ADMIN_URL = os.environ.get(
    "SUIXIN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

PERMITS = (
    "did:web:lsj.gz.gov.cn",
    "广州市来穗人员服务管理局",
    "Guangzhou Migrant Population Service Administration",
    440100,
    ("ResidencePermit",),
)
LICENCES = (
    "did:web:amr.gz.gov.cn",
    "广州市市场监督管理局",
    "Guangzhou Administration for Market Regulation",
    440100,
    ("BusinessLicense",),
)
# the 统一社会信用代码 each is accredited with (made-up values with valid check characters)
USCC = {PERMITS[0]: "11440100007502156G", LICENCES[0]: "11440100007502233T"}


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite office database migrated to the newest revision once per session (per
    pytest-xdist worker); tests take copies of it (``copy_migrated``).

    Migrating costs a test about 0.4 s (0018's ``batch_alter_table`` rebuilds two tables on
    SQLite), a file copy well under a millisecond. The copy is the very file the migration
    chain wrote. tests/service/storage/test_migrations.py still runs the chain itself, on a
    new file (and schema) per test, and checks that it builds exactly the models."""
    path = tmp_path_factory.mktemp("migrated") / "office.sqlite"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists(), "the migrated database has a WAL"
    return path


def copy_migrated(template: Path, path: Path) -> str:
    """Copy the session's migrated SQLite database to ``path``; its SQLAlchemy URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


# a statement the driver was sent, with its parameters
Statement = tuple[str, Any]


@pytest.fixture(scope="session")
def postgres_migration() -> list[Statement]:
    """The statements the migration chain sends to a fresh PostgreSQL schema, recorded once
    per session (per pytest-xdist worker) on a schema of its own; ``replay_migration`` sends
    them to a test's new schema.

    Migrating costs a test a round trip per statement (about 140) and Alembic's work besides,
    1–1.5 s; the same statements in one pipelined transaction about half a second. Every name
    in them is unqualified (the search path picks the schema), which this checks.
    tests/service/storage/test_migrations.py still runs the chain itself per test."""
    sent: list[Statement] = []

    def record(
        _c: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool
    ) -> None:
        assert not executemany, statement
        sent.append((statement, parameters))

    with postgres_schema() as url:
        db = Database(url)
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            db.migrate()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.dispose()
        schema = url.rpartition("%3D")[2]
    assert sent and not [s for s, _ in sent if schema in s], "a migration names its schema"
    return sent


def replay_migration(db: Database, statements: list[Statement]) -> None:
    """Send ``statements`` (``postgres_migration``) to ``db``'s schema in one transaction,
    pipelined."""
    with db.engine.begin() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with driver.pipeline(), driver.cursor() as cursor:
            for statement, parameters in statements:
                cursor.execute(statement, parameters or None)


def fresh_database(
    kind: str,
    tmp_path: Path,
    sqlite_template: Path | None = None,
    postgres_statements: list[Statement] | None = None,
) -> Iterator[Database]:
    """A fresh database at the newest revision: on SQLite (``kind`` "sqlite") a copy of
    ``sqlite_template`` in tmp_path, or, without one, a new file the chain migrates; on
    PostgreSQL (``kind`` "postgres") a schema of its own, dropped afterwards, given
    ``postgres_statements`` or, without them, migrated by the chain."""
    if kind == "sqlite":
        path = tmp_path / "office.sqlite"
        if sqlite_template is not None:
            db = Database(copy_migrated(sqlite_template, path))
        else:
            db = Database(f"sqlite:///{path}")
            db.migrate()
        yield db
        db.dispose()
        return
    admin = create_engine(POSTGRES_ADMIN_URL)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        admin.dispose()
        require(False, "PostgreSQL not reachable on 127.0.0.1:5432")
    db = Database(f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}")
    try:
        if postgres_statements is not None:
            replay_migration(db, postgres_statements)
        else:
            db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path
) -> Iterator[Database]:
    """A fresh, migrated database: SQLite in tmp_path (a copy of the session's migrated file),
    or a schema of its own on PostgreSQL (given the session's recorded migration)."""
    if request.param == "sqlite":
        yield from fresh_database("sqlite", tmp_path, sqlite_template=migrated_sqlite)
    else:
        statements = request.getfixturevalue("postgres_migration")
        yield from fresh_database("postgres", tmp_path, postgres_statements=statements)


@dataclass
class OfficeWorld:
    """An office with two accredited authorities on an embedded chain."""

    office: Office
    root: LocalAccount
    permits: Authority
    licences: Authority
    rng: random.Random

    def key(self, authority: Authority, *scopes: str) -> str:
        """A new API key of ``authority`` with ``scopes``."""
        return self.office.create_api_key(authority.id, scopes, label="test")[1]


@dataclass
class ChainTemplate:
    """A chain with deployed registries and the two authorities accredited, made once.

    ``create_authority`` costs most of a test's set-up (five chain transactions per
    authority), so the session creates them once, through an office on a template database,
    and each test's fresh database receives copies of the two authority rows and their
    encrypted issuer keys (same master key). The chain is shared: tests only add anchors,
    and batch roots never repeat.
    """

    chain: EmbeddedChain
    root: LocalAccount
    deployment: Deployment
    rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]


def _columns(row: Any, *skip: str) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs if c.key not in skip}


@pytest.fixture(scope="session")
def chain_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[ChainTemplate]:
    """The session's chain, registries and authorities (see ChainTemplate)."""
    chain = EmbeddedChain(None)
    root = funded(chain)
    template_db = Database(
        copy_migrated(migrated_sqlite, tmp_path_factory.mktemp("template") / "office.sqlite")
    )
    office = Office(template_db, chain, deploy_registries(chain, root), MASTER)
    rows = []
    for spec in (PERMITS, LICENCES):
        authority = create_authority(office, *spec, root=root, uscc=USCC[spec[0]])
        with template_db.session() as s:
            keys = s.scalars(select(IssuerKey).where(IssuerKey.authority_id == authority.id))
            rows.append(
                (_columns(authority, "id"), [_columns(k, "id", "authority_id") for k in keys])
            )
    template_db.dispose()
    yield ChainTemplate(chain, root, office.deployment, rows)
    chain.close()


@pytest.fixture
def world(database: Database, chain_template: ChainTemplate) -> OfficeWorld:
    """A fresh office database holding the two Guangzhou authorities (permits, licences)."""
    created = []
    with database.session() as s:
        for authority_row, key_rows in chain_template.rows:
            authority = Authority(**authority_row)
            s.add(authority)
            s.flush()
            s.add_all(IssuerKey(authority_id=authority.id, **k) for k in key_rows)
            created.append(authority)
    office = Office(database, chain_template.chain, chain_template.deployment, MASTER)
    permits, licences = created
    return OfficeWorld(office, chain_template.root, permits, licences, random.Random(11))


def auth(key: str) -> dict[str, Any]:
    """The Authorization header of an API key."""
    return {"Authorization": f"Bearer {key}"}


PROBLEM = "application/problem+json"


@dataclass
class Api:
    """A running app over the world's office, with an issuing key per authority."""

    client: TestClient
    world: OfficeWorld
    permit_key: str
    licence_key: str

    def permit(self, **overrides: Any) -> dict[str, Any]:
        return residence_permit_subject(self.world.rng, **overrides)

    def licence(self, **overrides: Any) -> dict[str, Any]:
        return business_license_subject(self.world.rng, **overrides)

    def issue(self, body: Any, key: str | None = None, **headers: str) -> Any:
        key = key or (
            self.licence_key if body.get("type") == "BusinessLicense" else self.permit_key
        )
        return self.client.post("/v1/credentials", json=body, headers={**auth(key), **headers})


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a test app (no .env file, a generous public rate)."""
    values: dict[str, Any] = {"data_dir": tmp_path, "public_rate_per_minute": 100_000}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def api(world: OfficeWorld, tmp_path: Path) -> Iterator[Api]:
    """The app (no worker) over the world's office, in a running TestClient."""
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    with TestClient(app) as client:
        yield Api(
            client,
            world,
            world.key(world.permits, "issue:ResidencePermit"),
            world.key(world.licences, "issue:BusinessLicense"),
        )


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The problem body of a response, after checking its status and RFC 9457 shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


def public_key_of(api: Api, did: str) -> bytes:
    """The first key of an authority's DID document, as served."""
    document = api.client.get(f"/v1/authorities/{did}/did.json").json()
    return decode_multikey_ed25519(document["verificationMethod"][0]["publicKeyMultibase"])


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of its own for the CLI, configured through SUIXIN_* as an operator
    would: the embedded chain, SQLite in the directory, a master key, development mode."""
    directory = tmp_path / "data"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SUIXIN_DATA_DIR", str(directory))
    monkeypatch.setenv("SUIXIN_CHAIN", "embedded")
    monkeypatch.setenv("SUIXIN_MASTER_KEY", "cli-test-master-key-0123456789abcdef")
    monkeypatch.delenv("SUIXIN_DATABASE_URL", raising=False)
    monkeypatch.delenv("SUIXIN_MODE", raising=False)
    monkeypatch.delenv(PAUSE_ENV, raising=False)
    return directory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> Iterator[Setup]:
    """An office with one accredited authority on a fresh embedded chain, on SQLite (a copy
    of the session's migrated file) and on PostgreSQL (tests.service.office_setup)."""
    chain = EmbeddedChain(None)
    if request.param == "sqlite":
        url = copy_migrated(migrated_sqlite, tmp_path / "office.sqlite")
        yield make_setup(chain, url, migrated=True)
    else:
        statements = request.getfixturevalue("postgres_migration")
        with postgres_schema() as url:
            db = Database(url)
            try:
                replay_migration(db, statements)
            finally:
                db.dispose()
            s = make_setup(chain, url, migrated=True)
            yield s
            s.office.db.dispose()
    chain.close()
