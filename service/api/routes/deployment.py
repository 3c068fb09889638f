"""``/v1/deployment``: what a partner's verifier needs to check this office's credentials.

The chain id, the two registries, the block that deployed them (the chain's identity) and the
confirmations the office waits for, with a JSON-RPC URL of a node: ``suixin-verify --office
URL`` reads it, so a counter never digs in the office's data files. Everything here is public;
the record only says where to look, and the verifier still checks the chain against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import StateDep

router = APIRouter(tags=["verification"])


class DeploymentOut(BaseModel):
    """The deployment record (``verifier.deployment.Deployment``) and a node URL."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "chainId": 31337,
                    "trustRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                    "anchorRegistry": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                    "blockNumber": 2,
                    "blockHash": "0x" + "ab" * 32,
                    "confirmations": 0,
                    "rpcUrl": "http://127.0.0.1:8545",
                }
            ]
        },
    )

    chain_id: int = Field(alias="chainId")
    trust_registry: str = Field(alias="trustRegistry")
    anchor_registry: str = Field(alias="anchorRegistry")
    block_number: int = Field(alias="blockNumber", description="the block that deployed them")
    block_hash: str = Field(alias="blockHash")
    confirmations: int
    rpc_url: str | None = Field(
        alias="rpcUrl",
        description="a JSON-RPC node of the chain for partners (SUIXIN_PUBLIC_RPC_URL; by "
        "default the office's own node when it has an http URL)",
    )


@router.get(
    "/v1/deployment",
    response_model=DeploymentOut,
    response_model_by_alias=True,
    description="The chain, registries and node a verifier uses for this office's "
    "credentials (`suixin-verify --office URL`).",
)
def deployment(state: StateDep) -> dict[str, Any]:
    """Where this office's credentials are anchored, and a node to read them from."""
    settings = state.settings
    rpc = settings.public_rpc_url
    if rpc is None and settings.chain.startswith(("http://", "https://")):
        rpc = settings.chain
    return {**state.office.deployment.to_json(), "rpcUrl": rpc}
