"""Contract-suite fixtures: keep anvil's development funder solvent across the whole session."""

from __future__ import annotations

import pytest

from verifier.chain import Chain, RpcChain

# service.deploy.fund_if_dev hands every new account 1,000 ether from anvil's first account,
# which starts with 10,000: without a top-up the session's anvil runs dry after ~9 accounts and
# every later rpc test fails with "Insufficient funds for gas * price + value".
_FUNDER_BALANCE_WEI = 10**30


@pytest.fixture
def chain(chain: Chain) -> Chain:
    """The shared ``chain`` fixture, with anvil's funder topped up before each rpc test."""
    funder = chain.dev_funder()
    if isinstance(chain, RpcChain) and funder is not None:
        chain.w3.provider.make_request(
            "anvil_setBalance", [funder.address, hex(_FUNDER_BALANCE_WEI)]
        )
    return chain
