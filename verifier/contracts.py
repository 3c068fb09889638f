"""Compiled contract artifacts (ABI, bytecode, compiler) loaded from contracts/build."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from verifier.errors import ArtifactError

__all__ = ["CONTRACT_NAMES", "Artifact", "artifacts_dir", "canonical_type", "load_artifact"]

CONTRACT_NAMES = ("TrustRegistry", "AnchorRegistry")


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract as committed under contracts/build."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler_version: str
    source_hash: str
    settings: dict[str, Any]


def artifacts_dir() -> Path:
    """Where the artifacts are: the source tree's contracts/build, else a packaged copy."""
    source_tree = Path(__file__).resolve().parents[1] / "contracts" / "build"
    if source_tree.is_dir():
        return source_tree
    return Path(str(resources.files("verifier") / "artifacts"))


@cache
def load_artifact(name: str) -> Artifact:
    """Load the artifact of contract ``name``; raises ArtifactError if missing or malformed."""
    if name not in CONTRACT_NAMES:
        raise ArtifactError(f"unknown contract {name!r}; known: {', '.join(CONTRACT_NAMES)}")
    path = artifacts_dir() / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Artifact(
            name=name,
            abi=data["abi"],
            bytecode=data["bytecode"],
            compiler_version=data["compiler"]["version"],
            source_hash=data["sourceHash"],
            settings=data["settings"],
        )
    except (OSError, ValueError, KeyError) as e:
        raise ArtifactError(
            f"contract artifact {path} is missing or unreadable ({e}); "
            "run `python scripts/compile_contracts.py`"
        ) from e


def canonical_type(item: dict[str, Any]) -> str:
    """The canonical ABI type of an input (tuples spelled out), as used in signatures."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind
