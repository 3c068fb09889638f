"""Key custody: encrypted at rest, bound to their purpose, never shown; unsafe settings refused."""

from __future__ import annotations

import hashlib
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr
from sqlalchemy import select

from service.config import PLACEHOLDER_MASTER_KEY, Settings
from service.issuing.issuance import SigningIdentity, issue_credential
from service.issuing.office import Office
from service.issuing.signer import LocalSigner
from service.storage._dictionaries import CURRENT, DICTIONARIES
from service.storage.models import Authority, IssuerKey
from service.storage.sealing import KeyStoreError, MasterKey, Sm4Gcm, pack_document
from tests.service.office_setup import make_setup
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain
from verifier.errors import InvalidInput
from verifier.jcs import canonicalize
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


# ---------------------------------------------------------------------- SM4-GCM (国密)

# RFC 8998 Appendix A.1 (SM4-GCM), as GmSSL's tests use it
SM4_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
SM4_IV = bytes.fromhex("00001234567800000000ABCD")
SM4_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
SM4_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
SM4_CIPHERTEXT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
)
SM4_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_sm4_block_cipher_matches_gbt_32907() -> None:
    # GB/T 32907-2016 Appendix A.1: key = plaintext = 0123…3210
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = encryptor.update(SM4_KEY) + encryptor.finalize()
    assert block == bytes.fromhex("681EDF34D206965E86B3E94F536E4246")


def test_sm4_gcm_matches_rfc_8998_and_refuses_any_change() -> None:
    aead = Sm4Gcm(SM4_KEY)
    sealed = aead.encrypt(SM4_IV, SM4_PLAINTEXT, SM4_AAD)
    assert sealed == SM4_CIPHERTEXT + SM4_TAG
    assert aead.decrypt(SM4_IV, sealed, SM4_AAD) == SM4_PLAINTEXT
    changes = [
        (SM4_IV, sealed[:-1] + bytes([sealed[-1] ^ 1]), SM4_AAD),  # the tag
        (SM4_IV, bytes([sealed[0] ^ 0x80]) + sealed[1:], SM4_AAD),  # the ciphertext
        (SM4_IV, sealed, SM4_AAD[:-1]),  # the associated data
        (bytes(12), sealed, SM4_AAD),  # the nonce
        (SM4_IV, sealed[:15], SM4_AAD),  # shorter than a tag
    ]
    for nonce, data, aad in changes:
        with pytest.raises(InvalidTag):
            aead.decrypt(nonce, data, aad)
    with pytest.raises(InvalidTag):
        Sm4Gcm(bytes(16)).decrypt(SM4_IV, sealed, SM4_AAD)


def test_sm4_sealing_is_chosen_per_key_and_either_opens_both() -> None:
    secret = Ed25519KeyPair.generate().private_bytes()
    purpose = "issuer-key:did:web:x#key-1"
    sm4 = MasterKey("m" * 40, "sm4-gcm")
    aes = MasterKey("m" * 40)
    sealed = sm4.seal(secret, purpose)
    assert sealed[:2] == bytes((2, 2)) and sealed[2:6] == sm4.fingerprint == aes.fingerprint
    assert secret not in sealed and len(sealed) == 6 + 12 + 32 + 16
    assert sm4.open(sealed, purpose) == aes.open(sealed, purpose) == secret
    assert sm4.open(aes.seal(secret, purpose), purpose) == secret
    assert sm4.sealed_here(sealed) and not aes.sealed_here(sealed)  # rotate-master moves it
    with pytest.raises(KeyStoreError):
        MasterKey("n" * 40, "sm4-gcm").open(sealed, purpose)
    with pytest.raises(KeyStoreError):
        sm4.open(sealed, "issuer-key:did:web:x#key-2")
    with pytest.raises(KeyStoreError):
        sm4.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), purpose)
    assert sm4.open_document(sm4.seal_document(b'{"a":1}', "urn:uuid:1"), "urn:uuid:1") == (
        b'{"a":1}'
    )
    with pytest.raises(InvalidInput, match="sm4-gcm"):
        MasterKey("m" * 40, "sm4-cbc")
    assert "sm4-gcm" in repr(sm4) and "m" * 40 not in repr(sm4)


# ---------------------------------------------------------------------- documents


def _permit_json(seed: int) -> bytes:
    """A signed residence permit's canonical JSON, as the office seals it."""
    signing = Ed25519KeyPair.generate()
    identity = SigningIdentity(
        "did:web:lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        440100,
        "key-1",
        LocalSigner("key-1", signing),
        uscc="11440100007502156G",
    )
    credential, _ = issue_credential(
        "ResidencePermit",
        residence_permit_subject(random.Random(seed)),
        identity,
        chain_id=31337,
        anchor_registry="0x" + "12" * 20,
    )
    return canonicalize(credential)


def test_a_document_is_compressed_with_the_preset_dictionary_and_opens_again() -> None:
    master = MasterKey("d" * 40)
    for seed in range(5):
        canonical = _permit_json(seed)
        sealed = master.seal_document(canonical, "urn:uuid:1")
        assert master.open_document(sealed, "urn:uuid:1") == canonical
        # the dictionary at least halves what zlib alone leaves (about 890 -> 430 bytes)
        assert len(sealed) - 34 < 0.55 * len(zlib.compress(canonical, 6)), len(sealed)
        compressed = master.open(sealed, "credential:urn:uuid:1")
        assert compressed[1] & 0x20 and compressed[2:6] == zlib.adler32(CURRENT).to_bytes(4, "big")


def test_a_packed_document_is_what_a_freshly_primed_compressor_makes() -> None:
    # pack_document copies one primed compressor (a signing process packs, the office seals):
    # the bytes must be those of priming a new one, document after document, from any thread
    rng = random.Random(20)
    documents = [_permit_json(seed) for seed in range(5)] + [
        bytes(rng.choice(b'{}[]",:abcxyz0189 ') for _ in range(rng.randint(0, 20000)))
        for _ in range(200)
    ]
    master = MasterKey("d" * 40)
    for canonical in documents:
        fresh = zlib.compressobj(6, zlib.DEFLATED, 13, 6, zdict=CURRENT)  # PACKING
        assert pack_document(canonical) == fresh.compress(canonical) + fresh.flush()
        assert master.open_document(master.seal_packed(pack_document(canonical), "u"), "u") == (
            canonical
        )
    with ThreadPoolExecutor(4) as threads:
        assert list(threads.map(pack_document, documents)) == [pack_document(d) for d in documents]
    sealed = master.seal_packed(pack_document(documents[0]), "urn:uuid:9")
    assert master.open_document(sealed, "urn:uuid:9") == documents[0]


def test_documents_packed_in_the_default_window_before_still_open() -> None:
    # PACKING changed from zlib's default window: documents sealed so open as before
    master = MasterKey("d" * 40)
    for seed in range(5):
        canonical = _permit_json(seed)
        earlier = zlib.compressobj(6, zdict=CURRENT)
        packed = earlier.compress(canonical) + earlier.flush()
        sealed = master.seal(packed, "credential:urn:uuid:4")
        assert master.open_document(sealed, "urn:uuid:4") == canonical


def test_documents_sealed_before_dictionaries_still_open() -> None:
    master = MasterKey("d" * 40)
    canonical = _permit_json(7)
    earlier = master.seal(zlib.compress(canonical, 6), "credential:urn:uuid:2")  # as sealed before
    assert master.open_document(earlier, "urn:uuid:2") == canonical


def test_a_document_naming_an_unknown_dictionary_is_refused() -> None:
    master = MasterKey("d" * 40)
    packer = zlib.compressobj(6, zdict=b"some other dictionary")
    sealed = master.seal(packer.compress(b'{"a":1}') + packer.flush(), "credential:urn:uuid:3")
    with pytest.raises(KeyStoreError, match="dictionary this version does not know"):
        master.open_document(sealed, "urn:uuid:3")


def test_released_dictionaries_never_change() -> None:
    # a stream opens only with the very dictionary it names: editing one makes every document
    # sealed with it unreadable. Add a new dictionary (and make it CURRENT) instead.
    pinned = {0x56401B87: "7fbc548e04aa3e6fb7f8713fd0528b5d3cf18c8f120a34f9f0c84daefd515191"}
    assert {k: hashlib.sha256(v).hexdigest() for k, v in DICTIONARIES.items()} == pinned
    assert zlib.adler32(CURRENT) in DICTIONARIES
