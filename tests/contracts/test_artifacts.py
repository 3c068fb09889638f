"""Committed artifacts match the sources; the one test that compiles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import require
from verifier.contracts import CONTRACT_NAMES, load_artifact

ROOT = Path(__file__).resolve().parents[2]


def _compile_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "compile_contracts", ROOT / "scripts" / "compile_contracts.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_artifacts_name_compiler_and_source_hash() -> None:
    compile_contracts = _compile_module()
    settings = __import__("json").loads((ROOT / "contracts" / "compiler.json").read_text())
    expected_hash = compile_contracts.source_hash(compile_contracts.source_files(), settings)
    for name in CONTRACT_NAMES:
        artifact = load_artifact(name)
        assert artifact.compiler_version.startswith(settings["solcVersion"] + "+")
        assert artifact.settings["evmVersion"] == settings["evmVersion"]
        assert artifact.source_hash == expected_hash, f"{name}: sources changed, recompile"


@pytest.mark.solc
@pytest.mark.slow
def test_recompiling_reproduces_the_committed_artifacts() -> None:
    require((ROOT / "node_modules" / "solc" / "solc.js").exists(), "solcjs not installed: npm ci")
    compile_contracts = _compile_module()
    fresh = compile_contracts.compile_all()
    for name in CONTRACT_NAMES:
        committed = __import__("json").loads(
            (ROOT / "contracts" / "build" / f"{name}.json").read_text()
        )
        assert fresh[name]["bytecode"] == committed["bytecode"], f"{name} bytecode drifted"
        assert fresh[name] == committed, f"{name} artifact drifted from its sources"
