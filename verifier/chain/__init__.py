"""One chain adapter with two backends: embedded (eth-tester, in process) and JSON-RPC."""

from __future__ import annotations

from pathlib import Path

from verifier.chain.base import BlockInfo, Chain, EventDecoder, LogEntry, Receipt
from verifier.chain.embedded import EmbeddedChain
from verifier.chain.reverts import decode_revert
from verifier.chain.rpc import RpcChain

__all__ = [
    "BlockInfo",
    "Chain",
    "EmbeddedChain",
    "EventDecoder",
    "LogEntry",
    "Receipt",
    "RpcChain",
    "connect",
    "decode_revert",
]


def connect(spec: str, data_dir: Path | str | None = None) -> Chain:
    """``embedded`` (kept under ``data_dir``), ``memory`` (embedded, not kept) or a URL."""
    if spec == "embedded":
        return EmbeddedChain(data_dir)
    if spec == "memory":
        return EmbeddedChain(None)
    if spec.startswith(("http://", "https://")):
        return RpcChain(spec)
    from verifier.errors import InvalidInput

    raise InvalidInput(f"unknown chain {spec!r}: use 'embedded', 'memory' or an http(s):// URL")
