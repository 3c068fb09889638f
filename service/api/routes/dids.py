"""Authorities and their DID documents: ``/.well-known/did.json``, ``/v1/authorities``, and
the whole TrustRegistry as a trust list (``/v1/trust-list``) for wallets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import StateDep
from service.api.models import ProblemOut
from service.issuing.office import NotFound
from service.issuing.status_lists import did_web_host
from service.storage.models import Authority

router = APIRouter(tags=["authorities"])
DID_JSON = "application/did+json"


class DidJsonResponse(JSONResponse):
    """A DID document (``application/did+json``, DID Core §6.2)."""

    media_type = DID_JSON


def for_host(authorities: list[Authority], host: str) -> Authority | None:
    """The authority whose did:web names ``host`` (with or without its port), if any."""
    host = host.lower()
    bare = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    for authority in authorities:
        if did_web_host(authority.did) in (host, bare):
            return authority
    return None


def authority_of_host(request: Request, state: StateDep) -> Authority:
    """The authority whose did:web host is the request's Host; NotFound for any other host."""
    host = request.headers.get("host", "")[:255]
    authority = for_host(state.office.authorities(), host)
    if authority is None:
        raise NotFound(
            f"no authority of this office is did:web:{host}",
            f"本机构没有 did:web:{host} 的发证机关",
        )
    return authority


@router.get(
    "/.well-known/did.json",
    response_class=DidJsonResponse,
    responses={
        404: {"model": ProblemOut, "description": "No authority of this office has this host"}
    },
    description=(
        "The did:web document of the authority whose DID host is the request's Host header "
        "(did:web:HOST, with or without the port); 404 for any other host, so a did:web "
        "that names a host this office does not serve never resolves to another authority's "
        "keys. Keys mirror the TrustRegistry."
    ),
)
def well_known_did(request: Request, state: StateDep) -> JSONResponse:
    """The authority's DID document (did:web)."""
    document = state.verification.did_document(authority_of_host(request, state).did)
    return DidJsonResponse(document)


@router.get(
    "/v1/authorities",
    description="DID, names, region and credential types of each authority of this office.",
)
def list_authorities(state: StateDep) -> list[dict[str, Any]]:
    """The authorities this office issues for."""
    return [
        {
            "did": a.did,
            "nameZh": a.name_zh,
            "nameEn": a.name_en,
            "region": str(a.region),
            "credentialTypes": list(a.credential_types),
            "didDocument": f"/v1/authorities/{a.did}/did.json",
        }
        for a in state.office.authorities()
    ]


@router.get(
    "/v1/authorities/{did}/did.json",
    response_class=DidJsonResponse,
    responses={404: {"model": ProblemOut, "description": "Not an authority of this office"}},
    description="The DID document of one of this office's authorities, keys from the chain.",
)
def authority_did(did: str, state: StateDep) -> JSONResponse:
    """An authority's DID document."""
    authority = state.office.authority_by_did(did)
    return DidJsonResponse(state.verification.did_document(authority.did))


@router.get(
    "/v1/trust-list",
    description=(
        "Every authority the TrustRegistry accredits (not only this office's): DID, registered "
        "中文 and English names, status, and each key with its algorithm, public key and "
        "validity (validFrom, revokedAt; Unix seconds, 0 = not revoked), as of the block "
        "named. The wallet fetches it whole, with no parameter, when the holder claims or "
        "refreshes, and checks a counter's request signature against it offline: nobody "
        "learns which counter asks."
    ),
)
def get_trust_list(state: StateDep) -> JSONResponse:
    """The trust list (``suixin-trust-list/1``)."""
    return JSONResponse(state.verification.trust_list(), headers={"Cache-Control": "no-cache"})
