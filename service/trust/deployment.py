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

__all__ = [
    "DEPLOYMENT_FILE",
    "ROOT_KEY_FILE",
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
) -> Deployment:
    """Deploy both registries with ``root`` (default: the deployer) as governance root;
    ``confirmations`` is recorded as the deployment's finality depth (default by chain id)."""
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
) -> Deployment:
    """The registries' deployment record of ``data_dir``: read, or deployed when there is none
    and ``allow_deploy`` (development, ``suixin chain deploy``).

    An existing record is never replaced silently: with ``check`` a chain that is not the
    record's raises ChainMismatch (the operator restores the chain, or asks for ``redeploy``,
    which keeps the old record beside the new one as ``deployment.replaced-<time>.json``).
    ``confirmations`` is the new deployment's finality depth (default: by chain id, see
    ``verifier.deployment.default_confirmations``). Raises InvalidInput when there is no record
    and deploying is not allowed."""
    path = data_dir / DEPLOYMENT_FILE
    if path.exists() and not redeploy:
        record = Deployment.load(path)
        if check:
            record.check_chain(chain)
        return record
    if not allow_deploy:
        raise InvalidInput(
            f"no deployment of the registries for chain {chain.chain_id} in {path}: "
            "run `suixin chain deploy` first"
        )
    root = governance_root(data_dir, create=True)
    assert root is not None
    fund_if_dev(chain, root.address)
    record = deploy_registries(chain, root, confirmations=confirmations)
    if path.exists():
        path.rename(path.with_name(f"deployment.replaced-{int(time.time())}.json"))
    record.save(path)
    return record
