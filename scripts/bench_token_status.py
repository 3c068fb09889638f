"""What deciding an SD-JWT VC's status from a Status List Token costs a counter.

A token list of 131,072 two-bit entries (one in 50 set), signed EdDSA, committed through a list
set of ``--lists`` entries whose digest stands in the index as the chain's: the median time of
``token_list_status`` (signature, set digest, token digest, ``sub``/``exp``, inflate, lookup)
with the documents at hand (the counter's cache), against the limit measured in the same run —
the same work's unavoidable parts done once each, by the same libraries: one Ed25519
verification and one inflate of the list. The ratio says what the check adds beyond them
(target: ≤ 3). A counter verifies a presentation in tens of milliseconds; the figure says
whether the token list is a noticeable part of it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier.keys import Ed25519KeyPair, ed25519_verify
from verifier.registry import AuthorityRecord, KeyRecord, ListRecord, RegistryIndex
from verifier.sdjwt import b64url_decode, sign_jws
from verifier.status_list import StatusListSet, list_id_hash
from verifier.status_tokens import token_list_status
from verifier.token_status_list import (
    StatusListReference,
    TokenStatusList,
    status_list_token_claims,
    status_list_token_digest,
)

DID = "did:web:lsj.gz.gov.cn"
BASE = "https://lsj.gz.gov.cn/status-lists"


class _AtHand:
    def __init__(self, token: str, listed: dict[str, Any]) -> None:
        self._token, self._set = token, listed

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str:
        return self._token

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> dict[str, Any]:
        return self._set


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--lists", type=int, default=40, help="lists in the authority's set")
    args = parser.parse_args()
    rng = random.Random(7)
    key = Ed25519KeyPair.generate()
    statuses = TokenStatusList(131_072, 2)
    for i in rng.sample(range(131_072), 131_072 // 50):
        statuses[i] = rng.choice((1, 2))
    uri = f"{BASE}/token/0"
    now = datetime.now(UTC).replace(microsecond=0)
    claims = status_list_token_claims(
        uri, statuses, issued_at=now, expires_at=now + timedelta(days=365), ttl=60
    )
    header = {"alg": "EdDSA", "typ": "statuslist+jwt", "kid": f"{DID}#key-1"}
    token = sign_jws(header, claims, key.sign)
    lists = {f"{BASE}/revocation/{n}": bytes(32) for n in range(args.lists)}
    lists[uri] = status_list_token_digest(token)
    listed = StatusListSet(BASE, DID, 7, lists)
    index = RegistryIndex(
        chain_id=1, trust_registry="0x" + "1" * 40, anchor_registry="0x" + "2" * 40
    )
    auth = AuthorityRecord(1, DID, "广州", "Guangzhou", 440100, ("ResidencePermit",), "0x", 1, 0)
    index.authorities[1] = auth
    index.keys[(1, "key-1")] = KeyRecord(1, "key-1", key.public_bytes, 0)
    index.status_lists[(1, list_id_hash(BASE))] = ListRecord(
        1, list_id_hash(BASE), listed.digest, int(now.timestamp()), 10
    )
    source = _AtHand(token, listed.to_json())
    reference = StatusListReference(rng.randrange(131_072), uri)
    expected = statuses[reference.idx]

    def check() -> float:
        started = time.perf_counter()
        found = token_list_status(reference, auth, index, source, now)
        took = time.perf_counter() - started
        assert found.value == expected, found
        return took

    head, body, signature = token.split(".")
    compressed = b64url_decode(claims["status_list"]["lst"])

    def limit() -> float:
        started = time.perf_counter()
        ed25519_verify(key.public_bytes, b64url_decode(signature), f"{head}.{body}".encode())
        zlib.decompress(compressed)
        return time.perf_counter() - started

    for _ in range(10):
        check(), limit()
    checks, limits = [], []
    for _ in range(args.rounds):  # interleaved, so load shifts hit both alike
        checks.append(check())
        limits.append(limit())
    median, floor = statistics.median(checks), statistics.median(limits)
    ratio = median / floor
    print(f"token list: 131,072 entries × 2 bits, {len(token):,} bytes; set of {len(lists)} lists")
    print(f"token_list_status, documents at hand: median {median * 1e3:.3f} ms")
    print(f"limit (one Ed25519 verify + one inflate): median {floor * 1e3:.3f} ms")
    print(f"ratio: {ratio:.2f} (target ≤ 3)")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
