"""A counter's OpenID4VP requests: made, answered once, read by the counter that made them.

The office's ``/counter`` and a partner's standalone counter (``suixin-verify counter``, no
issuing office, no credentials database, no issuer keys) run this same code; each gives it
what verifies a presentation now (``Check``) and its own key for receipts.

- A request holds a fresh nonce, the fields asked for (a DCQL query) and the counter's name;
  its request object is served by reference (``request_uri``) and answered by ``direct_post``.
- **Verified before it answers.** A post is verified first; only a presentation whose
  ``holder`` check passes (signed for this request's nonce and audience with the credential's
  key) answers it. Junk, a replay from another request or a forged disclosure is refused
  (``presentation_not_for_request``, with its report) and the request goes on waiting. A holder
  who declines posts ``error=access_denied``: the counter learns it at once. One answer each.
- **The answer is the counter's.** Creating a request gives a session secret; the result, a
  re-check and a receipt need it. Whoever reads the QR code learns nothing.

Requests live in memory for ``REQUEST_TTL_SECONDS``. Errors are ``CounterError``s carrying
what an RFC 9457 problem needs (status, slug, title, detail, code, extra).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from verifier.credential import CREDENTIAL_TYPES
from verifier.errors import SuixinError
from verifier.keys import Ed25519KeyPair
from verifier.receipts import make_receipt
from verifier.sdjwt import SD_JWT_FORMAT, PresentationReport, vct_of
from verifier.verify import Outcome, Report

__all__ = [
    "REQUEST_OBJECT_MEDIA_TYPE",
    "REQUEST_TTL_SECONDS",
    "Check",
    "Counter",
    "CounterError",
    "CounterRequest",
    "CounterRequests",
    "decrypt_response",
    "load_or_create_key",
    "parse_answer",
    "qr_svg",
]

REQUEST_TTL_SECONDS = 15 * 60
REQUEST_OBJECT_MEDIA_TYPE = "application/oauth-authz-req+jwt"  # RFC 9101
MAX_FIELDS = 20

# verifies a presentation envelope for (nonce, audience); ``fresh`` bounds the key binding's age
Check = Callable[[object, str, str, bool], PresentationReport]


class CounterError(SuixinError):
    """A refusal of the counter, as an HTTP problem says it."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        code: str,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.code = code
        self.extra = {"code": code, **(extra or {})}

    def diagnostics(self) -> str:
        return f"{self.detail} [{self.code}]"


def qr_svg(text: str) -> str:
    """An SVG QR code (segno, error correction M) of ``text``."""
    svg: str = segno.make(text, error="m").svg_inline(scale=4, title="QR")
    return svg


def load_or_create_key(path: Path) -> Ed25519KeyPair:
    """The counter's own key (a did:key), kept at ``path`` (hex, owner-only); made once. A key
    file ``suixin-verify keygen`` wrote (a secret multikey, ``z3u2…``) is read as well."""
    if path.exists():
        text = path.read_text().strip()
        if text.startswith("z"):
            return Ed25519KeyPair.from_private_multikey(text)
        return Ed25519KeyPair.from_private_bytes(bytes.fromhex(text))
    pair = Ed25519KeyPair.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pair.private_bytes().hex() + "\n")
    path.chmod(0o600)
    return pair


@dataclass
class CounterRequest:
    """One counter request and, once answered, the answer and its report."""

    id: str
    nonce: str
    credential_type: str
    fields: list[str]
    verifier_name: str
    created: float
    response_uri: str
    secret_sha256: bytes = b""  # the counter session's secret: results are the counter's alone
    # OpenID4VP client identifier: the counter's own DID (``decentralized_identifier:``), whose
    # key signs the request object; ``redirect_uri:`` for an unsigned request
    client: str = ""
    # the request's own key for encrypted answers (direct_post.jwt: ECDH-ES, A128GCM)
    enc_key: ec.EllipticCurvePrivateKey | None = None
    answer: dict[str, Any] | None = None
    report: PresentationReport | None = None
    answered_at: float | None = None
    declined: bool = False
    # why the counter asks, in its own words (a Suixin extension parameter ``purpose`` of the
    # request object, which other wallets ignore); shown to the holder as the counter's claim
    purpose: str = ""

    @property
    def client_id(self) -> str:
        """The OpenID4VP client identifier: the counter's DID, or ``redirect_uri:`` unsigned."""
        return self.client or f"redirect_uri:{self.response_uri}"

    @property
    def closed(self) -> bool:
        """Answered or declined: no further answer is taken."""
        return self.answer is not None or self.declined

    def request_object(self) -> dict[str, Any]:
        """The OpenID4VP authorization request (by reference) with its DCQL query."""
        return {
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri,
            "nonce": self.nonce,
            "state": self.id,
            **({"response_mode": "direct_post.jwt"} if self.enc_key is not None else {}),
            "dcql_query": {
                "credentials": [
                    {
                        "id": "q0",
                        "format": SD_JWT_FORMAT,
                        "meta": {"vct_values": [vct_of(self.credential_type)]},
                        "claims": [{"path": [f]} for f in self.fields],
                    }
                ]
            },
            **({"purpose": self.purpose} if self.purpose else {}),
            "client_metadata": {
                "client_name": self.verifier_name,
                **(
                    {
                        "jwks": {"keys": [_encryption_jwk(self.enc_key, self.id)]},
                        "encrypted_response_enc_values_supported": list(_ENC_KEY_BYTES),
                    }
                    if self.enc_key is not None
                    else {}
                ),
            },
        }

    def result(self) -> dict[str, Any]:
        """Waiting, declined, or the verdict with every check and the requested fields the
        holder disclosed."""
        if self.declined:
            return {"state": "declined", "requestId": self.id}
        if self.report is None:
            return {"state": "waiting", "requestId": self.id}
        report = self.report.to_json()
        disclosed = self.report.disclosed
        report["disclosed"] = {k: v for k, v in disclosed.items() if k in self.fields}
        report["notProvided"] = [f for f in self.fields if f not in disclosed]
        report["unrequested"] = sorted(k for k in disclosed if k not in self.fields)
        return {"state": "answered", "requestId": self.id, "report": report}


@dataclass
class CounterRequests:
    """The counter's open requests (in memory, with a time limit)."""

    items: dict[str, CounterRequest] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: CounterRequest) -> None:
        with self.lock:
            now = time.time()
            for key in [k for k, v in self.items.items() if now - v.created > REQUEST_TTL_SECONDS]:
                del self.items[key]
            self.items[item.id] = item

    def get(self, request_id: str) -> CounterRequest:
        with self.lock:
            item = self.items.get(request_id)
        if item is None or time.time() - item.created > REQUEST_TTL_SECONDS:
            raise CounterError(
                404,
                "request-not-found",
                "核验请求不存在或已过期 / No such request",
                "核验请求不存在或已过期 / the request is unknown or has expired",
                "request_not_found",
            )
        return item


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: object) -> str:
    return _b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


_ENC_KEY_BYTES = {"A128GCM": 16, "A256GCM": 32}


def _int_b64url(value: int) -> str:
    return _b64url(value.to_bytes(32, "big"))


def _encryption_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _int_b64url(numbers.x),
        "y": _int_b64url(numbers.y),
        "use": "enc",
        "alg": "ECDH-ES",
        "kid": kid,
    }


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _undecryptable(why: str) -> CounterError:
    return CounterError(
        400,
        "response-undecryptable",
        "加密应答无法解密 / Cannot decrypt the answer",
        f"加密应答（direct_post.jwt）无法用本请求的密钥解密 / the encrypted answer cannot be "
        f"decrypted with this request's key: {why}",
        "response_undecryptable",
    )


def decrypt_response(jwe: str, item: CounterRequest) -> object:
    """The answer a wallet encrypted to the request's key (RFC 7516 compact JWE, ``alg``
    ECDH-ES, ``enc`` A128GCM or A256GCM, Concat KDF of RFC 7518 §4.6.2): the JSON object of
    the form parameters (``vp_token``, ``state`` or ``error``); raises CounterError."""
    if item.enc_key is None:
        raise _undecryptable("the request asked for no encryption")
    parts = jwe.split(".")
    if len(parts) != 5 or parts[1]:
        raise _undecryptable("not a compact JWE with direct key agreement")
    try:
        header = json.loads(_unb64url(parts[0]))
        enc, epk = header["enc"], header["epk"]
        if header.get("alg") != "ECDH-ES" or enc not in _ENC_KEY_BYTES:
            raise ValueError(f"alg {header.get('alg')!r} enc {enc!r}")
        if epk.get("kty") != "EC" or epk.get("crv") != "P-256":
            raise ValueError("the ephemeral key is not P-256")
        point = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_unb64url(epk["x"]), "big"),
            int.from_bytes(_unb64url(epk["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        shared = item.enc_key.exchange(ec.ECDH(), point)

        def field(data: bytes) -> bytes:
            return len(data).to_bytes(4, "big") + data

        apu = _unb64url(header.get("apu", "")) if header.get("apu") else b""
        apv = _unb64url(header.get("apv", "")) if header.get("apv") else b""
        size = _ENC_KEY_BYTES[enc]
        other = field(enc.encode()) + field(apu) + field(apv) + (size * 8).to_bytes(4, "big")
        cek = ConcatKDFHash(hashes.SHA256(), size, other).derive(shared)
        plain = AESGCM(cek).decrypt(
            _unb64url(parts[2]), _unb64url(parts[3]) + _unb64url(parts[4]), parts[0].encode()
        )
        answer = json.loads(plain)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidTag) as e:
        raise _undecryptable(type(e).__name__ if isinstance(e, InvalidTag) else str(e)[:120]) from e
    if isinstance(answer, dict) and isinstance(answer.get("vp_token"), str):
        with suppress(ValueError):  # a vp_token that is not JSON is the answer's to fail
            answer["vp_token"] = json.loads(answer["vp_token"])
    return answer


def parse_answer(raw: bytes, content_type: str) -> object:
    """A ``direct_post`` body: JSON, or a form (``vp_token`` JSON, ``state``, ``error``, or
    ``response``, the JWE of ``direct_post.jwt``); raises ValueError."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
        if "vp_token" in form:
            form["vp_token"] = json.loads(form["vp_token"])
        return form
    return json.loads(raw.decode("utf-8"))


def _envelope(body: object) -> object:
    """The presentation in a ``direct_post`` body: ``vp_token`` keyed by the DCQL query id
    (one presentation, or a list of them), or the envelope itself."""
    if isinstance(body, dict) and isinstance(body.get("vp_token"), dict):
        values = next(iter(body["vp_token"].values()), None)
        if isinstance(values, list) and values:
            return values[0]
        return values
    return body


def _answered() -> CounterError:
    return CounterError(
        409,
        "request-answered",
        "此请求已被应答 / Already answered",
        "此核验请求已收到应答，随机数已使用，不能再次应答（重放） / this request was already "
        "answered; its nonce is used and cannot be answered again (replay)",
        "nonce_already_used",
    )


def _not_answered() -> CounterError:
    return CounterError(
        409,
        "request-waiting",
        "尚未收到应答 / Not answered yet",
        "尚未收到应答 / the request has no answer yet",
        "not_answered",
    )


class Counter:
    """A counter: its requests, what verifies their answers, and its receipt key."""

    def __init__(
        self,
        check: Check,
        key: Ed25519KeyPair,
        *,
        wallet_url: Callable[[str], str] | None = None,
        identity: tuple[str, str] | None = None,
    ) -> None:
        self.check = check
        self.key = key
        # whom it asks as: an accredited authority whose registered key ``key`` is (its DID
        # and the key's verification method, ``verifier.trust_list.accredited_identity``), or
        # the key's own did:key; a wallet decides against its trust list which one it believes
        did, self.kid = identity or (key.did, key.verification_method)
        self.client_id = f"decentralized_identifier:{did}"
        self.requests = CounterRequests()
        # the wallet a QR code opens, given this counter's origin (default: its own /wallet)
        self.wallet_url = wallet_url or (lambda base: f"{base}/wallet")

    def link(self, base: str, request_id: str) -> str:
        """The wallet link of a request (what its QR code holds): ``client_id`` and
        ``request_uri``, as OpenID4VP's authorization request by reference."""
        uri = f"{base}/v1/oid4vp/requests/{request_id}"
        return (
            f"{self.wallet_url(base)}#request_uri={quote(uri, safe='')}"
            f"&client_id={quote(self.client_id, safe='')}"
        )

    def create(
        self,
        base: str,
        credential_type: str,
        fields: list[str],
        verifier_name: str,
        purpose: str = "",
    ) -> dict[str, Any]:
        """A new request with a fresh nonce; its wallet link, QR code and session secret."""
        if credential_type not in CREDENTIAL_TYPES:
            raise CounterError(
                422,
                "validation",
                "请求无效 / Invalid request",
                f"未知的凭证类型 / unknown credential type {credential_type}",
                "credential_type_invalid",
            )
        request_id = secrets.token_urlsafe(12)
        secret = secrets.token_urlsafe(32)
        item = CounterRequest(
            id=request_id,
            nonce=secrets.token_urlsafe(24),
            credential_type=credential_type,
            fields=list(dict.fromkeys(fields))[:MAX_FIELDS],
            verifier_name=verifier_name,
            created=time.time(),
            response_uri=f"{base}/v1/oid4vp/requests/{request_id}/response",
            secret_sha256=hashlib.sha256(secret.encode()).digest(),
            client=self.client_id,
            enc_key=ec.generate_private_key(ec.SECP256R1()),
            purpose=purpose,
        )
        self.requests.add(item)
        link = self.link(base, request_id)
        return {
            "requestId": request_id,
            # the counter's own: its result, re-check and receipt ask for it (X-Counter-Secret)
            "sessionSecret": secret,
            "requestUri": f"{base}/v1/oid4vp/requests/{request_id}",
            "walletLink": link,
            "qrSvg": qr_svg(link),
            "request": item.request_object(),
        }

    def request_object(self, request_id: str) -> dict[str, Any]:
        """The request object a wallet fetches (by reference), and whether it was answered."""
        item = self.requests.get(request_id)
        return {**item.request_object(), "answered": item.closed}

    def signed_request_object(self, request_id: str) -> str:
        """The request object as OpenID4VP 1.0 serves it by reference: a JWT (RFC 9101, ``typ``
        ``oauth-authz-req+jwt``) signed EdDSA with the counter's key, ``kid`` that key's
        verification method, ``client_id`` its DID: the did:key's, or an accredited authority's
        when the key is its registered key. A wallet shows the authority's registered name
        only when its trust list holds that key valid; the counter's own name is a claim."""
        item = self.requests.get(request_id)
        now = int(time.time())
        header = {"alg": "EdDSA", "typ": "oauth-authz-req+jwt", "kid": self.kid}
        claims = {
            **item.request_object(),
            "aud": "https://self-issued.me/v2",
            "iat": now,
            "exp": int(item.created) + REQUEST_TTL_SECONDS,
        }
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        signature = self.key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64url(signature)}"

    def answer(self, request_id: str, body: object) -> dict[str, Any]:
        """The wallet's answer (``direct_post``) or its refusal (``error=access_denied``)."""
        item = self.requests.get(request_id)
        if item.closed:
            raise _answered()
        if isinstance(body, dict) and isinstance(body.get("response"), str):
            body = decrypt_response(body["response"], item)  # direct_post.jwt
        if isinstance(body, dict) and "state" in body and body["state"] != item.id:
            raise CounterError(
                400,
                "state-mismatch",
                "请求状态不符 / Wrong state",
                "应答的 state 不是本请求的 / the answer's state is not this request's",
                "state_mismatch",
            )
        if isinstance(body, dict) and body.get("error") == "access_denied":
            with self.requests.lock:
                if item.closed:
                    raise _answered()
                item.declined, item.answered_at = True, time.time()
            return item.result()
        envelope = _envelope(body)
        report = self.check(envelope, item.nonce, item.client_id, True)
        holder = next((c for c in report.report.checks if c.name == "holder"), None)
        if holder is None or holder.outcome is not Outcome.PASS:
            raise CounterError(
                400,
                "presentation-not-for-request",
                "不是对本请求的有效出示 / Not an answer to this request",
                "出示未针对本次请求签名（随机数、核验方），或内容无法核验；请求仍然有效 / the "
                "presentation is not signed for this request (nonce, audience) or cannot be "
                "verified; the request still waits for its answer",
                "presentation_not_for_request",
                # the report says what failed; nothing of an unverified answer is fact
                {"report": {**report.report.to_json(), "disclosed": {}}},
            )
        with self.requests.lock:
            if item.closed:
                raise _answered()
            item.answer = envelope if isinstance(envelope, dict) else {"invalid": envelope}
            item.report, item.answered_at = report, time.time()
        return item.result()

    def own(self, request_id: str, secret: str | None) -> CounterRequest:
        """The request, for the counter that made it: its session secret is asked for."""
        item = self.requests.get(request_id)
        given = hashlib.sha256((secret or "").encode()).digest()
        if not secret or not hmac.compare_digest(given, item.secret_sha256):
            raise CounterError(
                401,
                "counter-session",
                "无权查看 / Not this counter's request",
                "核验结果只给发起请求的柜台：请带上创建请求时得到的会话密钥（X-Counter-Secret） "
                "/ the result belongs to the counter that asked: send the session secret it got "
                "(X-Counter-Secret)",
                "counter_secret_invalid",
            )
        return item

    def result(self, request_id: str, secret: str | None) -> dict[str, Any]:
        """The result of a request, for its counter."""
        return self.own(request_id, secret).result()

    def recheck(self, request_id: str, secret: str | None) -> dict[str, Any]:
        """Verify the accepted answer again against the chain now (status may have changed)."""
        item = self.own(request_id, secret)
        if item.answer is None:
            raise _not_answered()
        item.report = self.check(item.answer, item.nonce, item.client_id, False)
        return item.result()

    def receipt(self, request_id: str, secret: str | None) -> dict[str, Any]:
        """A verification receipt (核验回执) of the answer, signed by the counter's key."""
        item = self.own(request_id, secret)
        if item.report is None:
            raise _not_answered()
        return make_receipt(None, item.report.report, self.key, self.key.verification_method)

    def qr(self, base: str, request_id: str) -> str:
        """The request's wallet link as an SVG QR code."""
        self.requests.get(request_id)
        return qr_svg(self.link(base, request_id))

    def verify_pasted(self, body: object, verify: Callable[[object], Report]) -> dict[str, Any]:
        """A pasted or uploaded file: a bundle (``verify`` checks it; a receipt signed by the
        counter's key), or a presentation envelope with ``requestId`` (it answers that
        request)."""
        if isinstance(body, dict) and body.get("format") == SD_JWT_FORMAT:
            request_id = body.get("requestId")
            if not isinstance(request_id, str):
                raise CounterError(
                    422,
                    "validation",
                    "缺少核验请求 / No request",
                    "SD-JWT 出示须针对一个核验请求（requestId） / an SD-JWT presentation "
                    "answers a request: give its requestId",
                    "request_required",
                )
            envelope = {k: v for k, v in body.items() if k != "requestId"}
            return self.answer(request_id, envelope)
        report = verify(body)
        return {
            "report": report.to_json(),
            "receipt": make_receipt(body, report, self.key, self.key.verification_method),
            "checkedAt": datetime.now(UTC).isoformat(),
        }
