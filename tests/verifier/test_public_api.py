"""The package's public face: every public name of every public module is re-exported, sorted."""

from __future__ import annotations

import importlib
import pkgutil

import verifier


def public_modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(verifier.__path__)
        # the command line and the counter are applications on the library, not part of it
        if not m.name.startswith("_") and m.name not in ("cli", "counter")
    )


def isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions (the order ruff's RUF022 keeps)."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert verifier.__all__ == sorted(verifier.__all__, key=isort_key)
    expected: set[str] = set()
    for name in public_modules():
        expected |= set(importlib.import_module(f"verifier.{name}").__all__)
    assert set(verifier.__all__) == expected


def test_every_exported_name_resolves() -> None:
    for name in verifier.__all__:
        assert getattr(verifier, name) is not None
