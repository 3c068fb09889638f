"""Authorised use (授权调用): `/v1/grants`, each request signed by a holder or a partner office."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.deps import StateDep, public_rate_limit
from service.api.models import PlainText, ProblemOut, Timestamp
from service.api.routes.credentials import credential_urn
from service.api.verification import VerificationService
from service.issuing.office import NotFound
from service.wallet.grants import (
    GrantService,
    GrantTerms,
    SignedRequest,
    Signer,
    did_key_ed25519_of,
)
from verifier.keys import decode_multikey
from verifier.registry import AuthorityStatus

router = APIRouter(
    prefix="/v1/grants", tags=["authorised use"], dependencies=[Depends(public_rate_limit)]
)

_SIGNED = (
    "Signed with HTTP Message Signatures (RFC 9421): `Signature-Input` and `Signature` covering "
    '`"@method" "@path" "@query"` (and `"content-digest"` with a body, plus the `Content-Digest` '
    'header, RFC 9530), with `created`, a fresh `nonce`, `keyid` and `alg="ed25519"` (or, for '
    'a wallet key `did:jwk:…#0` bound at claim, `alg="ecdsa-p256-sha256"`); '
    "`verifier.http_signatures.sign_request` makes them."
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "Signature missing, invalid, stale or replayed"},
    404: {"model": ProblemOut, "description": "No such grant, or not yours"},
}


_PURPOSE_EXAMPLE = "肇庆市政务服务中心办理子女入学 / school enrolment in Zhaoqing"


def _grant_examples(schema: dict[str, Any]) -> None:
    """The example as the OpenAPI page shows it: valid for a month from when it is shown."""
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    schema["examples"] = [
        {
            "credentialId": "urn:uuid:5f0c6d1e-8f1a-4a57-9a3e-0f5b3a3c2d11",
            "partner": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "purpose": _PURPOSE_EXAMPLE,
            "validUntil": until.isoformat().replace("+00:00", "Z"),
        }
    ]


class GrantBody(BaseModel):
    """The terms a holder grants."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_grant_examples)

    credential_id: PlainText = Field(alias="credentialId", min_length=1, max_length=64)
    partner: PlainText = Field(min_length=5, max_length=256, description="被授权机构的 DID")
    purpose: PlainText = Field(min_length=1, max_length=200, description="授权用途")
    valid_from: Timestamp | None = Field(None, alias="validFrom")
    valid_until: Timestamp = Field(alias="validUntil")

    def terms(self) -> GrantTerms:
        """The service's grant terms."""
        return GrantTerms(
            credential_urn(self.credential_id),
            self.partner,
            self.purpose,
            self.valid_until,
            self.valid_from,
        )


class FetchBody(BaseModel):
    """What a partner states when it fetches a granted credential."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"purpose": _PURPOSE_EXAMPLE}]}
    )

    purpose: PlainText = Field(min_length=1, max_length=200)


class RegistryKeys:
    """Signer keys: did:key DIDs resolve themselves; authorities' keys come from the chain,
    through the office's registry index (synced as its verifier syncs)."""

    def __init__(self, verification: VerificationService) -> None:
        self.verification = verification

    def _document(self, did: str) -> dict[str, Any] | None:
        try:
            document = self.verification.did_document(did)
        except NotFound:
            return None
        record = self.verification.verifier.index.authority(did)
        if record is None or record.status == AuthorityStatus.REMOVED:
            return None
        return document

    def public_key(self, keyid: str) -> bytes | None:
        """A did:key's own key, or an authority's unrevoked key (none if it was removed)."""
        if keyid.startswith("did:key:"):
            return did_key_ed25519_of(keyid)
        document = self._document(keyid.partition("#")[0])
        for method in document["verificationMethod"] if document else ():
            if method["id"] == keyid:
                # RFC 9421 requests are signed ed25519 (or a wallet's ecdsa-p256-sha256): an
                # authority's SM2 issuer key signs credentials, not requests
                key = decode_multikey(method["publicKeyMultibase"])
                return key.public_bytes if key.algorithm == "Ed25519" else None
        return None

    def knows(self, did: str) -> bool:
        """A did:key with an Ed25519 key, or an accredited authority not removed."""
        if did.startswith("did:key:"):
            return did_key_ed25519_of(did) is not None and "#" not in did
        return "#" not in did and self._document(did) is not None


_make_lock = threading.Lock()


async def grant_service(request: Request, state: StateDep) -> GrantService:
    """The app's grant service (``app.state.grants``), made on first use; tests may set it."""
    service: GrantService | None = getattr(request.app.state, "grants", None)
    if service is None:
        with _make_lock:
            service = getattr(request.app.state, "grants", None)
            if service is None:
                service = GrantService(state.office, RegistryKeys(state.verification))
                request.app.state.grants = service
    return service


Grants = Annotated[GrantService, Depends(grant_service)]


async def _signed(request: Request) -> SignedRequest:
    body = await request.body()
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return SignedRequest(request.method, path, query, dict(request.headers), body)


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from e


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its (signed) body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }


async def _authenticated(request: Request, grants: GrantService) -> tuple[Signer, SignedRequest]:
    signed = await _signed(request)
    signer = await run_in_threadpool(grants.authenticate, signed)
    return signer, signed


@router.post(
    "",
    status_code=201,
    openapi_extra=_json_body(GrantBody),
    responses={
        **_ERRORS,
        403: {
            "model": ProblemOut,
            "description": "The signer is not the credential's holder (nor its wallet key)",
        },
        422: {"model": ProblemOut, "description": "No holder DID, unknown partner, bad window"},
    },
    description=(
        "The holder grants one partner office (by DID: a did:key, or an accredited "
        "authority's DID) access to one credential for a purpose until `validUntil`. "
        "Signed by the key of the credential's holder DID (`credentialSubject.id`), or by the "
        "wallet's P-256 key bound to this credential when it was claimed (`did:jwk`, ES256). "
        f"{_SIGNED}"
    ),
)
async def create_grant(request: Request, grants: Grants) -> JSONResponse:
    """Grant a partner office access to a credential (授权)."""
    signer, signed = await _authenticated(request, grants)
    terms = _parse(GrantBody, signed.body).terms()
    consent = {
        "method": signed.method,
        "path": signed.path,
        "body": signed.body.decode("utf-8", "replace"),
        "signatureInput": signed.headers.get("signature-input"),
        "signature": signed.headers.get("signature"),
        "contentDigest": signed.headers.get("content-digest"),
    }
    view = await run_in_threadpool(grants.create, signer, terms, consent)
    return JSONResponse(
        view.to_json(), status_code=201, headers={"Location": f"/v1/grants/{view.id}"}
    )


@router.get(
    "",
    responses={401: _ERRORS[401]},
    description=f"Every grant the signing holder made, newest first. {_SIGNED}",
)
async def list_grants(request: Request, grants: Grants) -> JSONResponse:
    """The holder's grants."""
    signer, _ = await _authenticated(request, grants)
    views = await run_in_threadpool(grants.grants_of, signer)
    return JSONResponse({"items": [v.to_json() for v in views]})


@router.get(
    "/{grant_id}",
    responses=_ERRORS,
    description=(
        "One of the holder's grants with every request partners made for it (served or "
        f"refused, and why). {_SIGNED}"
    ),
)
async def read_grant(grant_id: str, request: Request, grants: Grants) -> JSONResponse:
    """A grant and its access log (holder)."""
    signer, _ = await _authenticated(request, grants)
    view = await run_in_threadpool(grants.grant, signer, grant_id)
    return JSONResponse(view.to_json())


@router.delete(
    "/{grant_id}",
    responses=_ERRORS,
    description=f"Withdraw a grant at once; withdrawing again changes nothing. {_SIGNED}",
)
async def withdraw_grant(grant_id: str, request: Request, grants: Grants) -> JSONResponse:
    """Withdraw a grant (撤回授权)."""
    signer, _ = await _authenticated(request, grants)
    view = await run_in_threadpool(grants.withdraw, signer, grant_id)
    return JSONResponse(view.to_json())


@router.post(
    "/{grant_id}/credential",
    openapi_extra=_json_body(FetchBody),
    responses={
        **_ERRORS,
        403: {"model": ProblemOut, "description": "Withdrawn, expired, not yet valid, purpose"},
    },
    description=(
        "The named partner office fetches the granted credential's bundle, stating the "
        "grant's purpose; every attempt is logged for the holder. Signed by the partner's own "
        f"key (a did:key, or an accredited authority's key on chain). {_SIGNED}"
    ),
)
async def fetch_credential(grant_id: str, request: Request, grants: Grants) -> JSONResponse:
    """Fetch a granted credential (partner office)."""
    signer, signed = await _authenticated(request, grants)
    purpose = _parse(FetchBody, signed.body).purpose
    bundle = await run_in_threadpool(grants.fetch, signer, grant_id, purpose)
    return JSONResponse(bundle, headers={"Cache-Control": "no-store"})
