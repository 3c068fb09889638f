"""Deploy the TrustRegistry and AnchorRegistry and describe the result as a Deployment record."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from verifier.chain import Chain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment

__all__ = ["deploy_registries", "fund_if_dev"]

DEV_FUNDING_WEI = 10**19  # 10 ether on a development chain: thousands of anchors


def fund_if_dev(chain: Chain, address: str, minimum_wei: int = 10**18) -> bool:
    """Top up ``address`` from the dev chain's funder when it is low; False on real networks."""
    funder = chain.dev_funder()
    if funder is None or chain.balance(address) >= minimum_wei:
        return False
    chain.send_value(funder, address, DEV_FUNDING_WEI)
    return True


def deploy_registries(chain: Chain, deployer: LocalAccount, root: str | None = None) -> Deployment:
    """Deploy both registries with ``root`` (default: the deployer) as governance root."""
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
    )
