"""The deployment record: which chain, which registry addresses, from which block and build."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verifier.errors import InvalidInput

__all__ = ["Deployment"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the two registries live; what a verifier needs besides a chain URL."""

    chain_id: int
    trust_registry: str
    anchor_registry: str
    block_number: int
    block_hash: str
    deployed_at: int
    governance_root: str
    compiler_version: str
    source_hash: str

    def to_json(self) -> dict[str, Any]:
        """The record as camelCase JSON."""
        d = asdict(self)
        return {_camel(k): v for k, v in d.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        """Read a record; raises InvalidInput naming the missing or wrong field."""
        try:
            return cls(**{name: data[_camel(name)] for name in cls.__dataclass_fields__})
        except KeyError as e:
            raise InvalidInput(f"deployment record lacks field {e.args[0]!r}") from e
        except TypeError as e:
            raise InvalidInput(f"deployment record is malformed: {e}") from e

    def save(self, path: Path) -> None:
        """Write the record as indented JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a record file; raises InvalidInput if it cannot be read."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidInput(f"cannot read deployment record {path}: {e}") from e
        return cls.from_json(data)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
