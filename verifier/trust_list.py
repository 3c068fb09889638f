"""The trust list: every authority the TrustRegistry accredits, its registered names, status
and keys with their validity, as one public document a wallet fetches whole.

A wallet uses it to tell an accredited requester from any other without saying which counter
asks: it fetches the whole list from its own office (``GET /v1/trust-list``) when the holder
claims or refreshes, keeps it, and checks a request object's signing key against it offline. A
counter uses ``accredited_identity`` to learn whether its own key is an accredited authority's
registered key, and then asks in that authority's name.

Only public chain facts are in it (no anchors, no statuses, nothing about holders): what any
verifier reads from the TrustRegistry's events.
"""

from __future__ import annotations

from typing import Any

from verifier.keys import encode_multikey_ed25519
from verifier.registry import AuthorityStatus, RegistryIndex
from verifier.sdjwt import b64url_encode

__all__ = ["TRUST_LIST_VERSION", "accredited_identity", "trust_list"]

TRUST_LIST_VERSION = "suixin-trust-list/1"
_STATUS = {
    AuthorityStatus.ACTIVE: "active",
    AuthorityStatus.SUSPENDED: "suspended",
    AuthorityStatus.REMOVED: "removed",
}


def trust_list(index: RegistryIndex) -> dict[str, Any]:
    """The index's authorities and keys as of its synced block (``TRUST_LIST_VERSION``).

    Each key carries ``validFrom`` and ``revokedAt`` (Unix seconds, 0 = not revoked) as the
    registry records them; an Ed25519 key also as a JWK (``OKP``/``Ed25519``), which WebCrypto
    imports as it is. The reader decides validity at its own time."""
    authorities = []
    for record in sorted(index.authorities.values(), key=lambda r: r.id):
        keys = []
        for (authority_id, key_id), key in sorted(index.keys.items()):
            if authority_id != record.id:
                continue
            entry: dict[str, Any] = {
                "id": f"{record.did}#{key_id}",
                "algorithm": key.algorithm,
                "publicKeyMultibase": key.multikey.multikey,
                "validFrom": key.valid_from,
                "revokedAt": key.revoked_at,
            }
            if key.algorithm == "Ed25519" and len(key.public_key) == 32:
                entry["publicKeyJwk"] = {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64url_encode(key.public_key),
                }
            keys.append(entry)
        authorities.append(
            {
                "did": record.did,
                "nameZh": record.name_zh,
                "nameEn": record.name_en,
                "region": str(record.region),
                "credentialTypes": list(record.credential_types),
                "status": _STATUS.get(record.status, "unknown"),
                "keys": keys,
            }
        )
    return {
        "version": TRUST_LIST_VERSION,
        "chainId": index.chain_id,
        "trustRegistry": index.trust_registry,
        "block": {
            "number": index.synced_block,
            "hash": index.synced_block_hash,
            "timestamp": index.synced_block_time,
        },
        "authorities": authorities,
    }


def accredited_identity(
    index: RegistryIndex, public_key: bytes, now: int
) -> tuple[str, str] | None:
    """The (DID, verification method) of an active authority whose registered Ed25519 key,
    valid at ``now`` (Unix seconds), is ``public_key``; None when no such key is registered.
    The lowest authority id wins if one key were registered twice."""
    if len(public_key) != 32:
        return None
    encode_multikey_ed25519(public_key)  # InvalidInput for anything but a 32-byte key
    for (authority_id, key_id), key in sorted(index.keys.items()):
        if key.algorithm != "Ed25519" or key.public_key != public_key or not key.valid_at(now):
            continue
        record = index.authorities.get(authority_id)
        if record is not None and record.status == AuthorityStatus.ACTIVE:
            return record.did, f"{record.did}#{key_id}"
    return None
