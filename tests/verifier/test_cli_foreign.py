"""``suixin-verify`` on foreign credentials (verifier/foreign.py), offline from a trust snapshot:
a did:key issuer's credential is NOT_ACCREDITED (exit 6), a tampered or revoked one INVALID."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.verifier.test_foreign import signed, status_entry, status_list
from verifier.cli import EXIT_INVALID, EXIT_NOT_ACCREDITED, main
from verifier.keys import Ed25519KeyPair
from verifier.registry import RegistryIndex


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A trust snapshot of an empty TrustRegistry, taken now: nobody is accredited."""
    index = RegistryIndex(
        chain_id=31337,
        trust_registry="0x" + "22" * 20,
        anchor_registry="0x" + "11" * 20,
        synced_block=1,
        synced_block_hash="0x" + "33" * 32,
        synced_block_time=int(time.time()),
    )
    path = tmp_path / "snapshot.json"
    index.export_snapshot(path)
    return path


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_a_did_key_credential_is_not_accredited_and_a_tampered_one_invalid(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = signed(Ed25519KeyPair.generate())
    good = write(tmp_path / "good.json", credential)
    assert main([good, "--snapshot", str(snapshot), "--lang", "en"]) == EXIT_NOT_ACCREDITED
    out = capsys.readouterr().out
    assert "NOT_ACCREDITED" in out and "not a government credential" in out
    assert "foreign" in out

    credential["credentialSubject"]["alumniOf"] = "Forged"
    bad = write(tmp_path / "bad.json", credential)
    assert main([bad, "--snapshot", str(snapshot), "--json"]) == EXIT_INVALID
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "INVALID" and report["foreign"] is True
    assert {c["name"]: c["code"] for c in report["checks"]}["signature"] == "signature_invalid"


def test_a_supplied_status_list_revokes(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = Ed25519KeyPair.generate()
    path = write(tmp_path / "vc.json", signed(issuer, credentialStatus=status_entry(42)))
    unchecked = main([path, "--snapshot", str(snapshot), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert unchecked == EXIT_NOT_ACCREDITED
    assert {c["name"]: c["code"] for c in report["checks"]}["status"] == "status_not_checked"

    listed = write(tmp_path / "list.json", status_list(issuer, revoked=(42,)))
    revoked = main([path, "--snapshot", str(snapshot), "--status-list", listed, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert revoked == EXIT_INVALID
    assert {c["name"]: c["code"] for c in report["checks"]}["status"] == "credential_revoked"
