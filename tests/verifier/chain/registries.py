"""The chain set-up the embedded chain's tests share (test_embedded, test_snapshot, test_log_index):
the registries deployed by a funded root, 来穗局 accredited with a funded account and one
Ed25519 key (``key-1``), and anchors on top."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from service.trust.deployment import Deployment, deploy_registries
from tests.conftest import funded
from verifier.chain import EmbeddedChain, Receipt
from verifier.contracts import load_artifact
from verifier.registry import KeyAlgorithmCode

TRUST = load_artifact("TrustRegistry").abi
ANCHOR = load_artifact("AnchorRegistry").abi
DID = "did:web:lsj.gz.gov.cn"


def populate(chain: EmbeddedChain) -> tuple[Deployment, LocalAccount]:
    """Deploy the registries on ``chain`` and accredit 来穗局 with ``key-1``; the deployment
    and the authority's account."""
    root = funded(chain)
    d = deploy_registries(chain, root)
    authority = funded(chain)
    chain.transact(
        d.trust_registry,
        TRUST,
        "accredit",
        [DID, "广州市来穗人员服务管理局", "GZ", 440100, ["ResidencePermit"], authority.address, ""],
        root,
    )
    chain.transact(
        d.trust_registry,
        TRUST,
        "addKey",
        [DID, "key-1", KeyAlgorithmCode.ED25519, b"\x01" * 32],
        authority,
    )
    return d, authority


def anchor(chain: EmbeddedChain, d: Deployment, authority: LocalAccount, n: int) -> Receipt:
    """The authority anchors root ``n + 1`` (as 32 bytes) for 10 credentials."""
    return chain.transact(
        d.anchor_registry, ANCHOR, "anchor", [(n + 1).to_bytes(32), 10], authority
    )
