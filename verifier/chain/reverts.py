"""The one place where contract revert data becomes a ContractReverted with name and arguments."""

from __future__ import annotations

from functools import cache

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from verifier.contracts import CONTRACT_NAMES, canonical_type, load_artifact
from verifier.errors import ContractReverted

__all__ = ["decode_revert"]

_PANIC = "4e487b71"
_ERROR_STRING = "08c379a0"


@cache
def _custom_errors() -> dict[str, tuple[str, list[str], list[str]]]:
    """Selector (hex, no 0x) → (error name, argument names, argument types), from every ABI."""
    table: dict[str, tuple[str, list[str], list[str]]] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract).abi:
            if item.get("type") != "error":
                continue
            types = [canonical_type(i) for i in item["inputs"]]
            names = [i["name"] for i in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            table[keccak(text=signature)[:4].hex()] = (item["name"], names, types)
    return table


def decode_revert(data: bytes | str | None) -> ContractReverted:
    """Turn raw revert data into a ContractReverted naming the custom error and its arguments."""
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return ContractReverted("UnknownRevert", {"data": data})
    else:
        raw = data or b""
    if len(raw) < 4:
        return ContractReverted("EmptyRevert", {}, selector=raw.hex())
    selector, body = raw[:4].hex(), raw[4:]
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], body)
        return ContractReverted("Panic", {"code": code}, selector=selector)
    if selector == _ERROR_STRING:
        (message,) = abi_decode(["string"], body)
        return ContractReverted("Error", {"message": message}, selector=selector)
    known = _custom_errors().get(selector)
    if known is None:
        return ContractReverted("UnknownRevert", {"data": "0x" + raw.hex()}, selector=selector)
    name, names, types = known
    values = abi_decode(types, body)
    return ContractReverted(name, dict(zip(names, values, strict=True)), selector=selector)
