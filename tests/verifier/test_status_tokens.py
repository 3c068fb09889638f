"""The standalone counter's fetcher of Status List Tokens and list sets: whole documents, a
size limit, a short timeout, kept for the token's ``ttl``, and where an office serves them."""

from __future__ import annotations

import base64
import json
from typing import Any

from verifier.status_tokens import FetchedLists, office_locator, set_url_of

URI = "https://lsj.gz.gov.cn/status-lists/token/0"
DID = "did:web:lsj.gz.gov.cn"


def _token(ttl: int) -> bytes:
    part = base64.urlsafe_b64encode(json.dumps({"sub": URI, "ttl": ttl}).encode()).rstrip(b"=")
    return b"eyJhbGciOiJFZERTQSJ9." + part + b".c2ln"


class Transport:
    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.calls: list[tuple[str, str, float, int]] = []

    def __call__(self, url: str, accept: str, timeout: float, limit: int) -> bytes:
        self.calls.append((url, accept, timeout, limit))
        if url not in self.bodies:
            raise OSError("404")
        return self.bodies[url][:limit]


def test_a_token_is_kept_for_its_ttl_and_fetched_again_after_or_when_asked_fresh() -> None:
    now = [1000.0]
    transport = Transport({URI: _token(60)})
    lists = FetchedLists(transport=transport, clock=lambda: now[0])
    assert lists.token(URI, DID) == _token(60).decode()
    assert lists.token(URI, DID) is not None and len(transport.calls) == 1  # cached
    assert transport.calls[0][1] == "application/statuslist+jwt" and transport.calls[0][2] == 3.0
    now[0] += 61
    lists.token(URI, DID)
    assert len(transport.calls) == 2  # the ttl ran out
    lists.token(URI, DID, fresh=True)
    assert len(transport.calls) == 3  # asked fresh: fetched whatever the cache holds


def test_too_large_unreachable_or_not_http_gives_nothing() -> None:
    big = Transport({URI: b"x" * 2048})
    assert FetchedLists(transport=big, max_bytes=1024).token(URI, DID) is None
    assert big.calls[0][3] == 1025  # reads one byte past the limit, no more
    assert FetchedLists(transport=Transport({})).token(URI, DID) is None
    local = Transport({})
    assert FetchedLists(transport=local).token("file:///etc/passwd", DID) is None
    assert local.calls == []
    listed: Any = FetchedLists(transport=Transport({set_url_of(URI): b"[1]"})).list_set(URI, DID)
    assert listed is None  # a set is a JSON object


def test_an_office_serves_the_lists_of_its_authorities_by_did() -> None:
    locate = office_locator("http://office.test/")
    assert (
        locate(URI, DID) == "http://office.test/v1/authorities/did:web:lsj.gz.gov.cn"
        "/status-lists/token/0"
    )
    assert set_url_of(URI) == "https://lsj.gz.gov.cn/status-lists"
    assert locate(set_url_of(URI), DID).endswith(
        "/v1/authorities/did:web:lsj.gz.gov.cn/status-lists"
    )
    assert locate("https://elsewhere.test/x", DID) == "https://elsewhere.test/x"
