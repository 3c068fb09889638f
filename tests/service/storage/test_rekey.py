"""Data at rest: the data directory's own development key, its modes, and master key rotation."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from service.cli import main
from service.config import PLACEHOLDER_MASTER_KEY, Settings
from service.issuing.office import CredentialInForce, IssueRequest
from service.runtime import open_office
from service.storage.db import Database
from service.storage.models import Authority, Credential, IssuerKey
from service.storage.rekey import DEV_KEY_FILE
from service.storage.sealing import KeyStoreError, MasterKey
from tests.verifier.factories import residence_permit_subject

DID = "did:web:lsj.gz.gov.cn"


def _env(monkeypatch: pytest.MonkeyPatch, data: Path, **extra: str) -> None:
    monkeypatch.chdir(data.parent)  # no stray .env
    monkeypatch.setenv("SUIXIN_DATA_DIR", str(data))
    monkeypatch.setenv("SUIXIN_CHAIN", "embedded")
    for name in (
        "SUIXIN_DATABASE_URL",
        "SUIXIN_MODE",
        "SUIXIN_MASTER_KEY",
        "SUIXIN_PREVIOUS_MASTER_KEYS",
        "SUIXIN_SEALING",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _enrol_and_issue(n: int = 2, seed: int = 1) -> list[str]:
    init = ["keys", "init", "--did", DID, "--name-zh", "广州市来穗人员服务管理局"]
    init += ["--uscc", "11440100007502156G"]
    assert main([*init, "--name-en", "GZ", "--region", "440100", "--type", "ResidencePermit"]) == 0
    office = open_office(Settings())
    try:
        authority = office.authority_by_did(DID)
        rng = random.Random(seed)
        requests = [
            IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(n)
        ]
        return [b["credential"]["id"] for b in office.issue_many(authority.id, requests)]
    finally:
        office.db.dispose()
        office.chain.close()


def test_development_makes_a_key_of_its_own_and_keeps_the_directory_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _env(monkeypatch, data)
    ids = _enrol_and_issue()
    assert "development master key" in capsys.readouterr().err
    key_file = data / DEV_KEY_FILE
    secret = key_file.read_text().strip()
    assert secret != PLACEHOLDER_MASTER_KEY and len(secret) >= 32
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (data / "suixin.sqlite").exists() and (data / "chain-journal.jsonl").exists()
    office = open_office(Settings())  # the next start reads the same key
    try:
        assert office.bundle(ids[0])["credential"]["id"] == ids[0]
        with pytest.raises(KeyStoreError):  # the placeholder opens nothing any more
            with office.db.session() as s:
                row = s.scalar(select(Credential))
            assert row is not None
            MasterKey(PLACEHOLDER_MASTER_KEY).open_document(bytes(row.body), row.id)
    finally:
        office.db.dispose()
        office.chain.close()


def test_data_sealed_under_the_old_placeholder_is_resealed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    # an office from before: everything under the public placeholder
    _env(monkeypatch, data)
    data.mkdir()
    (data / DEV_KEY_FILE).write_text(PLACEHOLDER_MASTER_KEY + "\n")  # as if it were its key
    ids = _enrol_and_issue()
    (data / DEV_KEY_FILE).unlink()  # the upgrade: no key of its own yet
    office = open_office(Settings())
    try:
        own = MasterKey((data / DEV_KEY_FILE).read_text().strip())
        with office.db.session() as s:
            assert all(own.sealed_here(bytes(b)) for b in s.scalars(select(Credential.body)))
            assert all(
                own.sealed_here(bytes(k))
                for k in s.scalars(select(IssuerKey.private_key_encrypted))
            )
            assert all(
                own.sealed_here(bytes(k))
                for k in s.scalars(select(Authority.account_key_encrypted))
            )
        assert office.bundle(ids[1])["credential"]["id"] == ids[1]
    finally:
        office.db.dispose()
        office.chain.close()


def test_rotate_master_reseals_everything_and_keeps_lookups_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    old, new = "old-master-key-" + "o" * 32, "new-master-key-" + "n" * 32
    _env(monkeypatch, data, SUIXIN_MASTER_KEY=old)
    ids = _enrol_and_issue(seed=4)
    monkeypatch.setenv("SUIXIN_MASTER_KEY", new)
    monkeypatch.setenv("SUIXIN_PREVIOUS_MASTER_KEYS", old)
    capsys.readouterr()
    assert main(["keys", "rotate-master", "--json"]) == 0
    import json

    counts = json.loads(capsys.readouterr().out)
    assert (counts["accountKeys"], counts["issuerKeys"], counts["documents"]) == (1, 1, 2)
    assert main(["keys", "rotate-master", "--json"]) == 0  # again: nothing left to do
    assert json.loads(capsys.readouterr().out)["documents"] == 0
    monkeypatch.delenv("SUIXIN_PREVIOUS_MASTER_KEYS")  # the old key is gone for good
    office = open_office(Settings())
    try:
        authority = office.authority_by_did(DID)
        assert office.bundle(ids[0])["credential"]["id"] == ids[0]
        again = residence_permit_subject(random.Random(4))  # the first person issued, again
        with pytest.raises(CredentialInForce):  # the blind index follows the new key
            office.issue(authority.id, IssueRequest("ResidencePermit", again))
        office.signer(authority.id)  # the issuer key opens
        office.account(authority.id)  # so does the chain account
    finally:
        office.db.dispose()
        office.chain.close()


def test_rotate_master_moves_everything_from_aes_to_sm4_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _env(monkeypatch, data, SUIXIN_MASTER_KEY="the-master-key-" + "p" * 32)
    ids = _enrol_and_issue(seed=5)

    def algorithms() -> set[int]:
        """The algorithm byte of every sealed value, read without opening the office."""
        db = Database(Settings().effective_database_url())
        try:
            with db.session() as s:
                sealed = [
                    *s.scalars(select(Authority.account_key_encrypted)),
                    *s.scalars(select(IssuerKey.private_key_encrypted)),
                    *s.scalars(select(Credential.body)),
                ]
        finally:
            db.dispose()
        return {bytes(v)[1] for v in sealed}

    def rotate_master() -> dict[str, int]:
        capsys.readouterr()
        assert main(["keys", "rotate-master", "--json"]) == 0
        counts: dict[str, int] = json.loads(capsys.readouterr().out)
        return counts

    assert algorithms() == {1}  # AES-256-GCM, the default
    monkeypatch.setenv("SUIXIN_SEALING", "sm4-gcm")  # the same master key, the other algorithm
    counts = rotate_master()
    assert (counts["accountKeys"], counts["issuerKeys"], counts["documents"]) == (1, 1, 2)
    assert algorithms() == {2}
    assert rotate_master()["documents"] == 0  # nothing left to move
    office = open_office(Settings())
    try:
        authority = office.authority_by_did(DID)
        third = office.issue(
            authority.id,
            IssueRequest("ResidencePermit", residence_permit_subject(random.Random(6))),
        )[0]["credential"]["id"]
        assert [office.bundle(c)["credential"]["id"] for c in [*ids, third]] == [*ids, third]
        again = residence_permit_subject(random.Random(5))  # the first person issued, again
        with pytest.raises(CredentialInForce):  # lookups still find the person
            office.issue(authority.id, IssueRequest("ResidencePermit", again))
        office.signer(authority.id)  # the issuer key opens
        office.account(authority.id)  # so does the chain account
    finally:
        office.db.dispose()
        office.chain.close()
    assert algorithms() == {2}
    monkeypatch.setenv("SUIXIN_SEALING", "aes-256-gcm")  # and back
    assert rotate_master()["documents"] == 3
    assert algorithms() == {1}
