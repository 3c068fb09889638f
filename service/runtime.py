"""Putting an office together from settings: database, chain, deployment, keys, demo set-up."""

from __future__ import annotations

import gc
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from service.config import Settings
from service.issuing.office import Office
from service.storage.db import Database
from service.storage.sealing import MasterKey
from service.trust.authorities import create_authority
from service.trust.deployment import ensure_deployment, fund_if_dev, governance_root
from verifier.chain import connect
from verifier.errors import ChainMismatch

__all__ = ["DEMO_AUTHORITIES", "DemoKeys", "bootstrap_demo", "open_office"]

# (DID, 中文名, English name, region, types, API key scopes) of the make-run demo office.
DEMO_AUTHORITIES = (
    (
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        "Guangzhou Migrant Population Service Administration",
        440100,
        ("ResidencePermit",),
        ("issue:ResidencePermit", "lifecycle", "revoke", "admin"),
    ),
    (
        "did:web:amr.gz.gov.cn",
        "广州市市场监督管理局",
        "Guangzhou Administration for Market Regulation",
        440100,
        ("BusinessLicense",),
        ("issue:BusinessLicense", "lifecycle", "revoke", "admin"),
    ),
)


def settle_heap() -> None:
    """Move what start-up built (modules, schemas, contract ABIs, region tables: some 200,000
    objects) out of the collector's sight, once the process is ready to serve. A full
    collection otherwise walks them all, a pause of 80–90 ms measured under load, which lands
    on whatever requests are in flight (see scripts/bench_issue.py)."""
    gc.collect()
    gc.freeze()


def open_office(
    settings: Settings, *, allow_deploy: bool | None = None, redeploy: bool = False
) -> Office:
    """An office from settings: checks them, migrates the database, connects the chain.

    A data directory whose deployment record names another chain than the node serves still
    opens (the office queues what it issues, its worker waits, ``/readyz`` says why): the
    mismatch is logged here and raised by every chain use, never repaired by a silent
    redeployment; ``redeploy`` deploys new registries on purpose."""
    settings.check()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master = MasterKey(settings.master_key.get_secret_value())
    db = Database(settings.effective_database_url())
    db.migrate(master)
    chain = connect(settings.chain, settings.data_dir)
    deploy = settings.mode == "development" if allow_deploy is None else allow_deploy
    deployment = ensure_deployment(
        chain, settings.data_dir, allow_deploy=deploy, redeploy=redeploy, check=False
    )
    office = Office(db, chain, deployment, master)
    try:
        office.check_chain(fresh=True)
    except ChainMismatch as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr, flush=True)
    return office


@dataclass(frozen=True)
class DemoKeys:
    """API keys created for the demo authorities (shown once, also saved in the data dir)."""

    keys: dict[str, str]


def bootstrap_demo(office: Office, data_dir: Path) -> DemoKeys:
    """Accredit the demo authorities and create their API keys, once; later calls read them."""
    path = data_dir / "demo-api-keys.json"
    if path.exists() and office.authorities():
        keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return DemoKeys(keys)
    root = governance_root(data_dir, create=True)
    assert root is not None
    fund_if_dev(office.chain, root.address)
    keys = {}
    for did, zh, en, region, types, scopes in DEMO_AUTHORITIES:
        authority = create_authority(office, did, zh, en, region, types, root=root)
        keys[did] = office.create_api_key(authority.id, scopes, label="demo")[1]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(keys, f, indent=2)
    return DemoKeys(keys)
