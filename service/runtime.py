"""Putting an office together from settings: database, chain, deployment, keys, demo set-up."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from service.anchoring.worker import AnchorWorker
from service.config import PLACEHOLDER_MASTER_KEY, Settings
from service.issuing.office import Office
from service.storage.db import Database
from service.storage.rekey import DEV_KEY_FILE, development_key, needs_rekey, rekey
from service.storage.sealing import KeyRing
from service.trust.authorities import create_authority
from service.trust.deployment import ensure_deployment, fund_if_dev, governance_root
from verifier.chain import connect
from verifier.errors import ChainMismatch

__all__ = [
    "DEMO_AUTHORITIES",
    "DemoKeys",
    "bootstrap_demo",
    "configure_logging",
    "open_office",
    "worker_from_settings",
]

# (DID, 中文名, English name, region, types, API key scopes, 统一社会信用代码) of the make-run
# demo office. The USCCs are made-up demo values (valid check characters), not the bureaus' own.
DEMO_AUTHORITIES = (
    (
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        "Guangzhou Migrant Population Service Administration",
        440100,
        ("ResidencePermit",),
        ("issue:ResidencePermit", "lifecycle", "revoke", "admin"),
        "11440100007502156G",
    ),
    (
        "did:web:amr.gz.gov.cn",
        "广州市市场监督管理局",
        "Guangzhou Administration for Market Regulation",
        440100,
        ("BusinessLicense",),
        ("issue:BusinessLicense", "lifecycle", "revoke", "admin"),
        "11440100007502233T",
    ),
)


# the loggers of the office's own code; uvicorn configures only its own ("uvicorn.*")
_LOGGERS = ("suixin", "verifier")
_HANDLER_NAME = "suixin-stderr"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not the stream of the
    moment it was made: a server run in-process (a test capturing stderr) would otherwise leave
    a handler on a closed stream, and every later record would be a "Logging error"."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the office's log records (the anchoring worker's passes and faults, the registry
    index's "loaded at block N", sync failures) to stderr with a time stamp. Without this only
    WARNING and above reached stderr, through Python's last-resort handler, and an operator
    never saw a normal restart or the worker's progress. Idempotent: each server process of
    ``suixin serve --workers N`` calls it once, and a second call changes nothing."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
            logger.addHandler(handler)
        logger.propagate = False  # not twice, should the root logger get a handler too


def settle_heap() -> None:
    """Move what start-up built (modules, schemas, contract ABIs, region tables: some 200,000
    objects) out of the collector's sight, once the process is ready to serve. A full
    collection otherwise walks them all, a pause of 80–90 ms measured under load, which lands
    on whatever requests are in flight (see scripts/bench_issue.py)."""
    gc.collect()
    gc.freeze()


def key_ring(settings: Settings) -> KeyRing:
    """The office's master key, sealing with ``SUIXIN_SEALING`` (AES-256-GCM or SM4-GCM), with
    the earlier ones still accepted (``SUIXIN_PREVIOUS_MASTER_KEYS``, during a rotation).

    In development without ``SUIXIN_MASTER_KEY`` the data directory keeps a random key of its
    own (``master.key``, 0600), made on first start with a warning that production needs a
    real secret; values sealed under the old public placeholder still open, and ``open_office``
    re-seals them. Never logs a key."""
    secret = settings.master_key.get_secret_value()
    previous = [k for k in settings.previous_master_keys.get_secret_value().split(",") if k]
    if settings.mode == "development" and secret == PLACEHOLDER_MASTER_KEY:
        secret, created = development_key(settings.data_dir)
        previous.append(PLACEHOLDER_MASTER_KEY)
        if created:
            print(
                f"suixin: 开发环境主密钥已随机生成并保存在 {settings.data_dir / DEV_KEY_FILE}"
                "（仅限开发；生产环境须设置 SUIXIN_MASTER_KEY）/ a random development master key "
                f"was made and kept in {settings.data_dir / DEV_KEY_FILE}: development only, "
                "production needs its own secret in SUIXIN_MASTER_KEY",
                file=sys.stderr,
                flush=True,
            )
    return KeyRing(secret, previous, settings.sealing)


def secure_data_dir(data_dir: Path) -> None:
    """The data directory readable by its owner only: 0700, files 0600 (the database and its
    WAL, the chain journal, keys, deployment and API key records)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)


def open_office(
    settings: Settings, *, allow_deploy: bool | None = None, redeploy: bool = False
) -> Office:
    """An office from settings: checks them, migrates the database, connects the chain.

    A data directory whose deployment record names another chain than the node serves still
    opens (the office queues what it issues, its worker waits, ``/readyz`` says why): the
    mismatch is logged here and raised by every chain use, never repaired by a silent
    redeployment; ``redeploy`` deploys new registries on purpose."""
    settings.check()
    secure_data_dir(settings.data_dir)
    master = key_ring(settings)
    db = Database(settings.effective_database_url())
    db.migrate(master)
    if settings.mode == "development" and needs_rekey(db, master):
        rekey(db, master)  # sealed under the old placeholder: under this directory's key now
    chain = connect(settings.chain, settings.data_dir)
    deploy = settings.mode == "development" if allow_deploy is None else allow_deploy
    deployment = ensure_deployment(
        chain, settings.data_dir, allow_deploy=deploy, redeploy=redeploy, check=False
    )
    office = Office(db, chain, deployment, master)
    secure_data_dir(settings.data_dir)  # what opening made (the database, its WAL, the journal)
    try:
        office.check_chain(fresh=True)
    except ChainMismatch as e:
        print(f"suixin: {e.diagnostics()}", file=sys.stderr, flush=True)
    return office


def worker_from_settings(
    office: Office,
    settings: Settings,
    *,
    pace: float = 0.0,
    log: Callable[[str], None] | None = None,
) -> AnchorWorker:
    """The anchoring worker of an office as its settings configure it; in development with the
    data directory's governance root, whose reconciler may accredit again what a chain lost."""
    root = None
    if settings.mode == "development":
        root = governance_root(settings.data_dir, create=False)
    return AnchorWorker.from_settings(office, settings, pace=pace, root=root, log=log)


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
    for did, zh, en, region, types, scopes, uscc in DEMO_AUTHORITIES:
        authority = create_authority(office, did, zh, en, region, types, root=root, uscc=uscc)
        keys[did] = office.create_api_key(authority.id, scopes, label="demo")[1]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(keys, f, indent=2)
    return DemoKeys(keys)
