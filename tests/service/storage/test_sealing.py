"""Key custody: encrypted at rest, bound to their purpose, never shown; unsafe settings refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from service.config import PLACEHOLDER_MASTER_KEY, Settings
from service.issuing.office import Office
from service.issuing.signer import LocalSigner
from service.storage.models import Authority, IssuerKey
from service.storage.sealing import KeyStoreError, MasterKey
from tests.service.office_setup import make_setup
from verifier.chain import EmbeddedChain
from verifier.errors import InvalidInput
from verifier.keys import Ed25519KeyPair


def test_sealed_keys_open_only_with_the_same_master_key_and_purpose() -> None:
    secret = Ed25519KeyPair.generate().private_bytes()
    master = MasterKey("a" * 40)
    sealed = master.seal(secret, "issuer-key:did:web:x#key-1")
    assert secret not in sealed
    assert master.open(sealed, "issuer-key:did:web:x#key-1") == secret
    with pytest.raises(KeyStoreError, match="cannot be decrypted"):
        MasterKey("b" * 40).open(sealed, "issuer-key:did:web:x#key-1")
    with pytest.raises(KeyStoreError):
        master.open(sealed, "issuer-key:did:web:x#key-2")  # moved to another row's use
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyStoreError):
        master.open(tampered, "issuer-key:did:web:x#key-1")


def test_nothing_prints_a_private_key() -> None:
    pair = Ed25519KeyPair.generate()
    signer = LocalSigner("key-1", pair)
    for text in (repr(signer), str(signer), repr(MasterKey("secret-master-key" * 3))):
        assert pair.private_bytes().hex() not in text
        assert "secret-master-key" not in text
    assert "hidden" in repr(signer)


def test_the_database_holds_only_ciphertexts(tmp_path: Path) -> None:
    setup = make_setup(EmbeddedChain(None), f"sqlite:///{tmp_path}/o.sqlite")
    office = setup.office
    signer = office.signer(setup.authority_id)
    account = office.account(setup.authority_id)
    raw = (tmp_path / "o.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("o.sqlite-*")
    )
    assert signer.pair.private_bytes() not in raw
    assert bytes(account.key) not in raw
    with office.db.session() as s:
        key = s.scalars(select(IssuerKey)).one()
        authority = s.scalars(select(Authority)).one()
    assert key.public_key == signer.public_key
    assert authority.account_address == account.address
    # another office with a different master key cannot use them
    stranger = Office(office.db, office.chain, office.deployment, MasterKey("z" * 40))
    with pytest.raises(KeyStoreError):
        stranger.signer(setup.authority_id)
    assert office.signer(setup.authority_id) is signer


def test_outside_development_a_placeholder_master_key_is_refused() -> None:
    Settings(mode="development").check()  # fine for a developer's checkout
    with pytest.raises(InvalidInput, match="SUIXIN_MASTER_KEY"):
        Settings(mode="production").check()
    with pytest.raises(InvalidInput):
        Settings(mode="production", master_key=SecretStr("short")).check()
    Settings(mode="production", master_key=SecretStr("k" * 48)).check()
    assert PLACEHOLDER_MASTER_KEY not in repr(Settings())
