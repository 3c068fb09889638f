"""Compile contracts/src through py-solc-x (solcjs behind scripts/solc-shim) into artifacts."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import solcx

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "contracts" / "src"
BUILD = ROOT / "contracts" / "build"
SETTINGS = ROOT / "contracts" / "compiler.json"
SHIM = ROOT / "scripts" / "solc-shim"


def source_files() -> dict[str, str]:
    """Every Solidity source, by its name relative to contracts/src, sorted."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SRC.glob("*.sol"))}


def source_hash(sources: dict[str, str], settings: dict[str, Any]) -> str:
    """SHA-256 over the pinned settings and every source, in name order."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for name, text in sources.items():
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def compile_all() -> dict[str, dict[str, Any]]:
    """Compile and return one artifact per contract named in compiler.json."""
    settings = json.loads(SETTINGS.read_text(encoding="utf-8"))
    sources = source_files()
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "evmVersion": settings["evmVersion"],
            "optimizer": settings["optimizer"],
            "viaIR": settings["viaIR"],
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "devdoc",
                        "userdoc",
                    ]
                }
            },
        },
    }
    output = solcx.compile_standard(standard_input, solc_binary=SHIM, allow_empty=False)
    compiler = solcx.wrapper.get_version_str_from_solc_binary(SHIM)
    if not compiler.startswith(settings["solcVersion"] + "+"):
        raise SystemExit(f"solc {compiler} found, {settings['solcVersion']} pinned: run npm ci")
    return _artifacts(output, settings, sources, compiler)


def _artifacts(
    output: dict[str, Any], settings: dict[str, Any], sources: dict[str, str], compiler: str
) -> dict[str, dict[str, Any]]:
    digest = source_hash(sources, settings)
    artifacts: dict[str, dict[str, Any]] = {}
    for name in settings["contracts"]:
        unit = output["contracts"][f"{name}.sol"][name]
        artifacts[name] = {
            "contractName": name,
            "compiler": {"name": "solc (solcjs)", "version": compiler},
            "settings": {
                "evmVersion": settings["evmVersion"],
                "optimizer": settings["optimizer"],
                "viaIR": settings["viaIR"],
            },
            "sourceHash": digest,
            "abi": unit["abi"],
            "bytecode": "0x" + unit["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + unit["evm"]["deployedBytecode"]["object"],
            "devdoc": unit.get("devdoc", {}),
            "userdoc": unit.get("userdoc", {}),
        }
    return artifacts


def write(artifacts: dict[str, dict[str, Any]]) -> list[Path]:
    """Write each artifact as contracts/build/<Name>.json and return the paths."""
    BUILD.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, artifact in artifacts.items():
        path = BUILD / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="compile and fail if artifacts drifted"
    )
    args = parser.parse_args(argv)
    artifacts = compile_all()
    if args.check:
        stale = [
            n
            for n, a in artifacts.items()
            if not (BUILD / f"{n}.json").exists()
            or json.loads((BUILD / f"{n}.json").read_text(encoding="utf-8")) != a
        ]
        if stale:
            print(
                f"artifacts out of date: {', '.join(stale)}; run scripts/compile_contracts.py",
                file=sys.stderr,
            )
            return 1
        print("artifacts match the sources")
        return 0
    for path in write(artifacts):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
