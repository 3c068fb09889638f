"""API keys of the caller's own authority: ``/v1/apikeys`` (scope ``admin``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.api.deps import AdminCaller, OfficeDep
from service.api.models import ApiKeyCreate, ProblemOut
from service.issuing.office import NotFound
from service.storage.models import ApiKey

router = APIRouter(prefix="/v1/apikeys", tags=["API keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
    403: {"model": ProblemOut, "description": "The key lacks the scope `admin`"},
}


def _show(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "scopes": list(row.scopes),
        "label": row.label,
        "createdAt": row.created_at.isoformat(),
        "revokedAt": row.revoked_at.isoformat() if row.revoked_at else None,
    }


@router.get("", responses=_ERRORS, description="Hashes are never shown; only ids and scopes.")
def list_api_keys(caller: AdminCaller, office: OfficeDep) -> list[dict[str, Any]]:
    """List the API keys of the caller's authority."""
    return [_show(k) for k in office.api_keys() if k.authority_id == caller.authority_id]


@router.post(
    "",
    status_code=201,
    responses={**_ERRORS, 422: {"model": ProblemOut, "description": "Unknown scope"}},
    description="The whole key is in the answer once; the office keeps only its hash.",
)
def create_api_key(body: ApiKeyCreate, caller: AdminCaller, office: OfficeDep) -> dict[str, Any]:
    """Create an API key for the caller's authority."""
    key_id, key = office.create_api_key(
        caller.authority_id, body.scopes, body.label, actor=f"apikey:{caller.key_id}"
    )
    return {"id": key_id, "key": key, "scopes": sorted(set(body.scopes)), "label": body.label}


@router.delete(
    "/{key_id}",
    status_code=204,
    responses={**_ERRORS, 404: {"model": ProblemOut, "description": "Unknown, or another's"}},
    description="Another authority's key answers 404 like an unknown one.",
)
def revoke_api_key(key_id: str, caller: AdminCaller, office: OfficeDep) -> Response:
    """Revoke an API key of the caller's authority."""
    if not any(k.id == key_id and k.authority_id == caller.authority_id for k in office.api_keys()):
        raise NotFound(f"no API key {key_id}", f"没有 API 密钥 {key_id}")
    office.revoke_api_key(key_id, actor=f"apikey:{caller.key_id}")
    return Response(status_code=204)
