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

- **The answer, as OpenID4VP 1.0 §8 has it.** ``direct_post``: a form (``application/x-www-form-
  urlencoded``, UTF-8) with ``vp_token`` (a JSON object keyed by the DCQL query id, each value an
  array of one presentation: the SD-JWT+KB string) and ``state``; ``direct_post.jwt``: the same
  parameters in a JWE (``response``) encrypted to the request's key. The anchor receipt of the
  issuer JWT travels beside it in ``suixin_anchors`` (keyed as ``vp_token``; an additional
  response parameter, which other verifiers ignore). Suixin's envelope ``{format,
  presentation, anchor}`` in place of the string, and a JSON body, are taken too. A wallet's
  error response (``error`` one of OpenID4VP's or OAuth's codes, ``access_denied`` when the
  holder declines) reaches the counter at once; it is not authenticated (OpenID4VP has no
  means), so it does not stop the holder's own presentation from answering afterwards: a
  bystander who read the QR code and posts a decline spoils nothing.
- **Bad input changes nothing**: a body that is not UTF-8 (400 ``body_not_utf8``), of another
  content type (415 ``content_type_unsupported``), with a parameter twice (400
  ``parameter_repeated``), not JSON where JSON belongs (422 ``body_invalid``), a ``vp_token``
  not keyed by the query id (400 ``vp_token_malformed``), an unknown ``error`` (400
  ``error_unknown``), a JWE that does not open (400 ``response_undecryptable``) or a wrong
  ``state`` (400 ``state_mismatch``) is refused before the request is touched.

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
from urllib.parse import parse_qsl, quote

import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from verifier._base64url import b64url_decode
from verifier.credential import CREDENTIAL_TYPES, has_forbidden_character
from verifier.errors import SuixinError
from verifier.interop import MAX_JSON_DEPTH, json_too_deep
from verifier.keys import Ed25519KeyPair
from verifier.receipts import make_receipt
from verifier.sdjwt import SD_JWT_FORMAT, PresentationReport, vct_of
from verifier.verify import Outcome, Report

__all__ = [
    "MAX_BODY_BYTES",
    "REQUEST_OBJECT_MEDIA_TYPE",
    "REQUEST_TTL_SECONDS",
    "WALLET_ERRORS",
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
MAX_BODY_BYTES = 256 * 1024  # a body of a counter route, at most
QUERY_ID = "q0"  # the id of the one Credential Query of a request's DCQL query
# what a wallet may answer instead of a presentation (OpenID4VP 1.0 §8.5, RFC 6749 §4.1.2.1)
WALLET_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_request",
        "invalid_client",
        "invalid_scope",
        "unauthorized_client",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "vp_formats_not_supported",
        "invalid_request_uri_method",
        "invalid_transaction_data",
        "wallet_unavailable",
    }
)

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
    # the wallet's error response: access_denied (the holder declined) or another code
    error: str | None = None
    error_description: str | None = None
    # why the counter asks, in its own words (a Suixin extension parameter ``purpose`` of the
    # request object, which other wallets ignore); shown to the holder as the counter's claim
    purpose: str = ""

    @property
    def client_id(self) -> str:
        """The OpenID4VP client identifier: the counter's DID, or ``redirect_uri:`` unsigned."""
        return self.client or f"redirect_uri:{self.response_uri}"

    @property
    def closed(self) -> bool:
        """Answered: no further answer is taken. A decline does not close the request for
        the holder's presentation (anyone who read the QR code can post a decline; only the
        holder can make a presentation signed for this request), only for another error."""
        return self.answer is not None

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
                # OpenID4VP 1.0 §11.1 (REQUIRED unless known otherwise) and Appendix B.3.3
                "vp_formats_supported": {
                    SD_JWT_FORMAT: {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["ES256"]}
                },
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
        if self.declined and self.report is None:
            refused: dict[str, Any] = {"state": "declined", "requestId": self.id}
            if self.error not in (None, "access_denied"):  # the wallet could not answer
                refused["error"] = self.error
                if self.error_description:
                    refused["errorDescription"] = self.error_description
            return refused
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
        header = json.loads(b64url_decode(parts[0]))
        enc, epk = header["enc"], header["epk"]
        if header.get("alg") != "ECDH-ES" or enc not in _ENC_KEY_BYTES:
            raise ValueError(f"alg {header.get('alg')!r} enc {enc!r}")
        if epk.get("kty") != "EC" or epk.get("crv") != "P-256":
            raise ValueError("the ephemeral key is not P-256")
        point = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url_decode(epk["x"]), "big"),
            int.from_bytes(b64url_decode(epk["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        shared = item.enc_key.exchange(ec.ECDH(), point)

        def field(data: bytes) -> bytes:
            return len(data).to_bytes(4, "big") + data

        apu = b64url_decode(header.get("apu", "")) if header.get("apu") else b""
        apv = b64url_decode(header.get("apv", "")) if header.get("apv") else b""
        size = _ENC_KEY_BYTES[enc]
        other = field(enc.encode()) + field(apu) + field(apv) + (size * 8).to_bytes(4, "big")
        cek = ConcatKDFHash(hashes.SHA256(), size, other).derive(shared)
        plain = AESGCM(cek).decrypt(
            b64url_decode(parts[2]),
            b64url_decode(parts[3]) + b64url_decode(parts[4]),
            parts[0].encode(),
        )
        if json_too_deep(plain):
            raise ValueError(f"the payload nests more than {MAX_JSON_DEPTH} levels deep")
        answer = json.loads(plain)
    except (ValueError, KeyError, TypeError, AttributeError, InvalidTag, RecursionError) as e:
        raise _undecryptable(type(e).__name__ if isinstance(e, InvalidTag) else str(e)[:120]) from e
    if not isinstance(answer, dict):
        raise _undecryptable("the decrypted payload is not a JSON object")
    token = answer.get("vp_token")
    if isinstance(token, str) and not json_too_deep(token):
        with suppress(ValueError, RecursionError):  # not JSON: the answer's to fail
            answer["vp_token"] = json.loads(token)
    return answer


def _body_problem(status: int, code: str, zh: str, en: str) -> CounterError:
    return CounterError(
        status, code.replace("_", "-"), "请求体无效 / Invalid body", f"{zh} / {en}", code
    )


_FORM = "application/x-www-form-urlencoded"
_JSON_PARAMETERS = ("vp_token", "suixin_anchors")  # form parameters that carry JSON


def parse_answer(raw: bytes, content_type: str) -> object:
    """A body posted to the counter: a form (``direct_post``: ``vp_token`` and
    ``suixin_anchors`` JSON, ``state``, ``error``, ``error_description``, or ``response``, the
    JWE of ``direct_post.jwt``) as a dict, or JSON. Raises CounterError: 413
    ``body_too_large``, 415 ``content_type_unsupported``, 400 ``body_not_utf8`` (also a
    percent-escape that is not UTF-8), 400 ``parameter_repeated``, 400 ``json_too_deep``, 422
    ``body_invalid``."""
    if len(raw) > MAX_BODY_BYTES:
        raise _body_problem(
            413,
            "body_too_large",
            f"请求体超过 {MAX_BODY_BYTES} 字节",
            f"the body is larger than {MAX_BODY_BYTES} bytes",
        )
    kind = content_type.split(";")[0].strip().lower()
    if kind != _FORM and kind != "application/json" and not kind.endswith("+json"):
        raise _body_problem(
            415,
            "content_type_unsupported",
            f"应答须为表单（{_FORM}）或 JSON，而不是 {kind or '（未说明）'}",
            f"the answer must be a form ({_FORM}) or JSON, not {kind or '(none given)'}",
        )
    try:
        text = raw.decode("utf-8")
        if kind != _FORM:
            return _json(text, "the body")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as e:
        raise _body_problem(
            400, "body_not_utf8", "请求体不是 UTF-8 编码", "the body is not UTF-8"
        ) from e
    except (ValueError, RecursionError) as e:
        raise _body_problem(
            422, "body_invalid", "请求体不是有效的 JSON", f"the body is not JSON: {str(e)[:120]}"
        ) from e
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.1: a parameter is sent once
            raise _body_problem(
                400, "parameter_repeated", f"参数 {name[:40]} 出现多次", f"{name[:40]} is repeated"
            )
        form[name] = value
    for name in _JSON_PARAMETERS:
        if name in form:
            try:
                form[name] = _json(form[name], name)
            except (ValueError, RecursionError) as e:
                raise _body_problem(
                    422, "body_invalid", f"{name} 不是有效的 JSON", f"{name} is not JSON: {e}"
                ) from e
    return form


def _json(text: str, what: str) -> Any:
    """``json.loads``, after a bound on nesting (``verifier.interop.json_too_deep``: a deep
    enough text would overflow the C stack, not raise); raises ValueError, and CounterError
    (400 ``json_too_deep``)."""
    if json_too_deep(text):  # 400, as the office's request guard says it
        raise _body_problem(
            400,
            "json_too_deep",
            f"{what} 的 JSON 嵌套超过 {MAX_JSON_DEPTH} 层",
            f"{what} nests more than {MAX_JSON_DEPTH} levels deep",
        )
    return json.loads(text)


def _malformed(code: str, zh: str, en: str) -> CounterError:
    return CounterError(
        400,
        code.replace("_", "-"),
        "应答格式不符 / Malformed answer",
        f"{zh}；请求仍然有效 / {en}; the request still waits for its answer",
        code,
    )


def _presentations(body: Mapping[str, Any]) -> object:
    """The one presentation of a ``vp_token`` keyed by the DCQL query id (OpenID4VP 1.0
    §8.1: an array of one presentation, ``multiple`` not being set), as the envelope
    ``verify_presentation`` takes: the SD-JWT+KB string with its anchor receipt from
    ``suixin_anchors``, or Suixin's envelope as given. Raises CounterError."""
    token = body["vp_token"]
    if not isinstance(token, dict) or set(token) != {QUERY_ID}:
        raise _malformed(
            "vp_token_malformed",
            f"vp_token 须为以 DCQL 查询标识 {QUERY_ID} 为键的 JSON 对象",
            f"vp_token must be a JSON object keyed by the DCQL query id {QUERY_ID}",
        )
    values = token[QUERY_ID]
    if not isinstance(values, list) or len(values) != 1:
        raise _malformed(
            "vp_token_malformed",
            f"vp_token.{QUERY_ID} 须为只含一个出示的数组",
            f"vp_token.{QUERY_ID} must be an array of exactly one presentation",
        )
    (presentation,) = values
    if not isinstance(presentation, str):
        return presentation  # Suixin's envelope {format, presentation, anchor}, or junk
    anchors = body.get("suixin_anchors")
    anchor = None
    if anchors is not None:
        listed = anchors.get(QUERY_ID) if isinstance(anchors, dict) else None
        if not isinstance(listed, list) or len(listed) != 1:
            raise _malformed(
                "anchors_malformed",
                f"suixin_anchors 须与 vp_token 同形（{QUERY_ID}：一个上链凭据）",
                f"suixin_anchors must be shaped as vp_token ({QUERY_ID}: one anchor receipt)",
            )
        anchor = listed[0]
    return {"format": SD_JWT_FORMAT, "presentation": presentation, "anchor": anchor}


def _wallet_error(body: Mapping[str, Any]) -> tuple[str, str | None]:
    """A wallet's error response: its code and a printable description; raises CounterError
    for a code OpenID4VP and OAuth do not define."""
    code, description = body["error"], body.get("error_description")
    if not isinstance(code, str) or code not in WALLET_ERRORS:
        raise _malformed(
            "error_unknown",
            "未知的钱包错误代码",
            "the wallet's error code is not one OpenID4VP or OAuth defines",
        )
    if isinstance(description, str):  # RFC 6749: printable ASCII; kept short
        description = "".join(c for c in description if " " <= c <= "~")[:200] or None
    else:
        description = None
    return code, description


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
        if any(map(has_forbidden_character, [verifier_name, purpose, *fields])):
            # the name and the purpose are signed into the request object and shown on the
            # holder's consent screen: no control, bidi override or zero-width character may
            # disguise them
            raise CounterError(
                422,
                "validation",
                "请求无效 / Invalid request",
                "核验机构名称、用途或字段含有不允许的字符（控制字符、双向文字控制符或零宽字符） / "
                "the counter's name, purpose or a field holds a control, bidirectional or "
                "zero-width character",
                "text_forbidden_character",
            )
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
        """The wallet's answer (``direct_post`` or ``direct_post.jwt``) or its error response
        (``error=access_denied`` when the holder declines). Everything is checked before the
        request is touched; only a presentation whose holder signed for this request answers
        it."""
        item = self.requests.get(request_id)
        if item.closed:
            raise _answered()
        if isinstance(body, dict) and "response" in body:
            if not isinstance(body["response"], str):
                raise _undecryptable("response is not a compact JWE")
            body = decrypt_response(body["response"], item)  # direct_post.jwt
        if isinstance(body, dict) and "state" in body and body["state"] != item.id:
            raise CounterError(
                400,
                "state-mismatch",
                "请求状态不符 / Wrong state",
                "应答的 state 不是本请求的 / the answer's state is not this request's",
                "state_mismatch",
            )
        if isinstance(body, dict) and "error" in body:
            code, description = _wallet_error(body)
            with self.requests.lock:
                if item.closed or item.declined:  # one error response, and none after an answer
                    raise _answered()
                item.declined, item.answered_at = True, time.time()
                item.error, item.error_description = code, description
            return item.result()
        # a bare envelope (Suixin's paste shape) is taken as it is; junk fails its checks
        if isinstance(body, dict) and "vp_token" in body:
            return self._accept(item, _presentations(body))
        return self._accept(item, body)

    def _accept(self, item: CounterRequest, envelope: object) -> dict[str, Any]:
        """Verify ``envelope`` for ``item``; it answers the request only if its holder check
        passes (signed for this request's nonce and audience)."""
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
            item = self.requests.get(request_id)
            if item.closed or item.declined:
                raise _answered()
            return self._accept(item, envelope)
        report = verify(body)
        return {
            "report": report.to_json(),
            "receipt": make_receipt(body, report, self.key, self.key.verification_method),
            "checkedAt": datetime.now(UTC).isoformat(),
        }
