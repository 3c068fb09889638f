"""The registries' deployment: deploying the TrustRegistry and AnchorRegistry, the record of a
data directory's deployment (``deployment.json``), the development governance root and funding."""

from __future__ import annotations

import os
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from verifier.chain import Chain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment, default_confirmations
from verifier.errors import InvalidInput
from verifier.merkle import MerkleHash

__all__ = [
    "DEPLOYMENT_FILE",
    "ROOT_KEY_FILE",
    "check_anchoring_hash_change",
    "deploy_registries",
    "ensure_deployment",
    "fund_if_dev",
    "governance_root",
]

DEPLOYMENT_FILE = "deployment.json"
ROOT_KEY_FILE = Path("keys") / "governance-root.key"


def fund_if_dev(chain: Chain, address: str, minimum_wei: int = 10**18) -> bool:
    """Top up ``address`` from the dev chain's funder when it is low; False on real networks."""
    return chain.top_up_if_dev(address, minimum_wei)


def deploy_registries(
    chain: Chain,
    deployer: LocalAccount,
    root: str | None = None,
    *,
    confirmations: int | None = None,
    anchoring_hash: MerkleHash = "sha-256",
) -> Deployment:
    """Deploy both registries with ``root`` (default: the deployer) as governance root;
    ``confirmations`` is recorded as the deployment's finality depth (default by chain id),
    ``anchoring_hash`` as the hash of its credential Merkle trees (``sha-256`` or ``sm3``)."""
    trust = load_artifact("TrustRegistry")
    anchor = load_artifact("AnchorRegistry")
    governance_root = root or deployer.address
    first = chain.deploy(trust, [governance_root], deployer)
    assert first.contract_address is not None
    second = chain.deploy(anchor, [first.contract_address], deployer)
    assert second.contract_address is not None
    block = chain.block(first.block_number)
    return Deployment(
        chain_id=chain.chain_id,
        trust_registry=first.contract_address,
        anchor_registry=second.contract_address,
        block_number=block.number,
        block_hash=block.hash,
        deployed_at=block.timestamp,
        governance_root=governance_root,
        compiler_version=trust.compiler_version,
        source_hash=trust.source_hash,
        confirmations=(
            default_confirmations(chain.chain_id) if confirmations is None else confirmations
        ),
        anchoring_hash=anchoring_hash,
        status_lists=True,  # this AnchorRegistry takes the status list set digests
    )


def governance_root(data_dir: Path, *, create: bool) -> LocalAccount | None:
    """The development governance root kept in the data directory (plain key file, mode 0600).

    Development and demos only: a province keeps its root key offline.
    """
    path = data_dir / ROOT_KEY_FILE
    if path.exists():
        account: LocalAccount = Account.from_key(path.read_text(encoding="utf-8").strip())
        return account
    if not create:
        return None
    account = Account.create()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(bytes(account.key).hex() + "\n")
    return account


def ensure_deployment(
    chain: Chain,
    data_dir: Path,
    *,
    allow_deploy: bool,
    redeploy: bool = False,
    check: bool = True,
    confirmations: int | None = None,
    anchoring_hash: MerkleHash | None = None,
) -> Deployment:
    """The registries' deployment record of ``data_dir``: read, or deployed when there is none
    and ``allow_deploy`` (development, ``suixin chain deploy``).

    An existing record is never replaced silently: with ``check`` a chain that is not the
    record's raises ChainMismatch (the operator restores the chain, or asks for ``redeploy``,
    which keeps the old record beside the new one as ``deployment.replaced-<time>.json``).
    ``confirmations`` is the new deployment's finality depth (default: by chain id, see
    ``verifier.deployment.default_confirmations``); ``anchoring_hash`` its Merkle hash (default:
    the replaced record's, else ``sha-256``); an existing record given another anchoring hash
    without ``redeploy`` raises InvalidInput, as does no record when deploying is not allowed.
    Whether the office's stored digests allow another anchoring hash is the caller's check
    (``suixin chain deploy``)."""
    path = data_dir / DEPLOYMENT_FILE
    old = Deployment.load(path) if path.exists() else None
    if old is not None and not redeploy:
        if anchoring_hash is not None and anchoring_hash != old.anchoring_hash:
            raise InvalidInput(
                f"the deployment in {path} anchors with {old.anchoring_hash}: the anchoring "
                "hash is chosen when the registries are deployed (--force deploys anew)"
            )
        if check:
            old.check_chain(chain)
        return old
    if not allow_deploy:
        raise InvalidInput(
            f"no deployment of the registries for chain {chain.chain_id} in {path}: "
            "run `suixin chain deploy` first"
        )
    root = governance_root(data_dir, create=True)
    assert root is not None
    fund_if_dev(chain, root.address)
    if anchoring_hash is None:
        anchoring_hash = old.anchoring_hash if old is not None else "sha-256"
    record = deploy_registries(
        chain, root, confirmations=confirmations, anchoring_hash=anchoring_hash
    )
    if path.exists():
        path.rename(path.with_name(f"deployment.replaced-{int(time.time())}.json"))
    record.save(path)
    return record


def check_anchoring_hash_change(database_url: str, old: MerkleHash, new: MerkleHash) -> None:
    """Refuse (InvalidInput) to move an office from anchoring hash ``old`` to ``new`` while its
    database holds credentials or SD-JWTs: their stored digests, the leaves of the batches still
    to come and the check of every document read back, are in ``old``. A database that does not
    exist yet (or has no tables) holds none."""
    if old == new:
        return
    from sqlalchemy import create_engine, func, inspect, select

    from service.storage.models import Credential
    from service.storage.wallet import SdJwtCredential

    if database_url.startswith("sqlite:///") and not Path(database_url[10:]).exists():
        return
    engine = create_engine(database_url, hide_parameters=True)
    held = 0
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as c:
            for model in (Credential, SdJwtCredential):
                if model.__tablename__ in tables:
                    held += int(c.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()
    if held:
        raise InvalidInput(
            f"this office's database holds {held} credential(s) whose digests are {old}: "
            f"its anchoring hash cannot become {new}. Deploy with --anchoring-hash {new} for a "
            "new office (its own data directory and database)"
        )
