"""Fixtures of the office tests: a fresh database (SQLite or PostgreSQL), chain and office."""

from __future__ import annotations

import random
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from starlette.exceptions import StarletteDeprecationWarning

from service.api import create_app
from service.config import Settings
from service.deploy import deploy_registries
from service.keys import MasterKey
from service.office import Office
from service.storage.db import Database
from service.storage.models import Authority
from tests.conftest import funded, require
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.chain import EmbeddedChain
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
    "Api",
    "OfficeWorld",
    "TestClient",
    "assert_problem",
    "auth",
    "public_key_of",
    "settings",
]

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated database: SQLite in tmp_path, or a schema of its own on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'office.sqlite'}")
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
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class OfficeWorld:
    """An office with two accredited authorities on a fresh embedded chain."""

    office: Office
    root: LocalAccount
    permits: Authority
    licences: Authority
    rng: random.Random

    def key(self, authority: Authority, *scopes: str) -> str:
        """A new API key of ``authority`` with ``scopes``."""
        return self.office.create_api_key(authority.id, scopes, label="test")[1]


@pytest.fixture
def world(database: Database) -> Iterator[OfficeWorld]:
    """Office, chain, registries and the two Guangzhou authorities (permits, licences)."""
    chain = EmbeddedChain(None)
    root = funded(chain)
    office = Office(database, chain, deploy_registries(chain, root), MasterKey("k" * 40))
    permits = office.create_authority(*PERMITS, root=root)
    licences = office.create_authority(*LICENCES, root=root)
    yield OfficeWorld(office, root, permits, licences, random.Random(11))
    office.chain.close()
    chain.close()


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
