"""One chain adapter with two backends: embedded (eth-tester, in process) and JSON-RPC."""

from __future__ import annotations

from pathlib import Path

from verifier.chain.base import BlockInfo, Chain, EventDecoder, LogEntry, Receipt
from verifier.chain.embedded import ChainInUse, EmbeddedChain
from verifier.chain.reverts import decode_revert
from verifier.chain.rpc import RpcChain

__all__ = [
    "BlockInfo",
    "Chain",
    "ChainInUse",
    "EmbeddedChain",
    "EventDecoder",
    "LogEntry",
    "Receipt",
    "RpcChain",
    "connect",
    "decode_revert",
]


def connect(spec: str, data_dir: Path | str | None = None) -> Chain:
    """``embedded`` (kept under ``data_dir``; through its node when a running ``suixin serve``
    holds it), ``memory`` (embedded, not kept) or a URL."""
    if spec == "embedded":
        try:
            return EmbeddedChain(data_dir)
        except ChainInUse as e:  # `suixin serve` runs: its node serves this chain
            if e.node_url is None:
                raise
            return RpcChain(e.node_url)
    if spec == "memory":
        return EmbeddedChain(None)
    if spec.startswith(("http://", "https://")):
        return RpcChain(spec)
    from verifier.errors import InvalidInput

    raise InvalidInput(f"unknown chain {spec!r}: use 'embedded', 'memory' or an http(s):// URL")
