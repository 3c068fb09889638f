"""The JSON-RPC backend: any EVM node (anvil locally; Besu, Geth, FISCO BCOS in production)."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from verifier.chain.base import Chain

__all__ = ["ANVIL_CHAIN_ID", "EMBEDDED_CHAIN_ID", "RpcChain"]

ANVIL_CHAIN_ID = 31337
EMBEDDED_CHAIN_ID = 131277322940537  # eth-tester's chain id: the embedded chain as a node
# Each development chain's first pre-funded account: anvil's documented default mnemonic,
# index 0; eth-tester's default account keys are 1, 2, 3, ...
_DEV_KEYS = {
    ANVIL_CHAIN_ID: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    EMBEDDED_CHAIN_ID: "0x" + "00" * 31 + "01",
}


class RpcChain(Chain):
    """A chain reached over HTTP JSON-RPC; transactions are signed locally."""

    kind = "rpc"

    def __init__(
        self,
        url: str,
        *,
        request_timeout: float = 10.0,
        receipt_timeout: float = 120.0,
        poll_interval: float = 0.02,
    ) -> None:
        self.url = url
        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": request_timeout},
            exception_retry_configuration=None,
        )
        super().__init__(
            Web3(provider), receipt_timeout=receipt_timeout, poll_interval=poll_interval
        )

    def dev_funder(self) -> LocalAccount | None:
        """The first account of a development chain (anvil, or the embedded chain served by
        ``suixin node``), else None."""
        key = _DEV_KEYS.get(self.chain_id)
        if key is None:
            return None
        account: LocalAccount = Account.from_key(key)
        return account

    def _endpoint(self) -> str:
        return self.url
