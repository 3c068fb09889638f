"""W3C Bitstring status lists and list sets (``service.issuing.status_lists``).

An authority's lists live at ``https://<did:web host>/status-lists/<purpose>/<number>`` (its
Token Status Lists, the status of its SD-JWT VCs, at ``…/status-lists/token/<number>``, served
as ``application/statuslist+jwt``) and its
list set (the digests it commits to on chain) at ``https://<host>/status-lists``: served here by
the request's Host header, as ``/.well-known/did.json`` is, and under
``/v1/authorities/{did}/…`` for a client that cannot choose the Host. ``/v1/status-lists`` gives
every set and list of the office at once, for a partner's offline snapshot
(``suixin-verify snapshot --office``). Only versions the chain holds are ever served.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from service.api.deps import StateDep
from service.api.models import ProblemOut
from service.api.routes.dids import authority_of_host
from service.issuing import status_lists
from service.issuing.office import NotFound
from service.storage.models import INTEGER_MAX, Authority
from verifier.token_status_list import STATUS_LIST_TOKEN_MEDIA_TYPE

router = APIRouter(tags=["status lists"])

VC_MEDIA_TYPE = "application/vc"  # VC Data Model 2.0 §6.3
_CACHE = {"Cache-Control": f"public, max-age={status_lists.LIST_TTL_MS // 1000}"}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemOut, "description": "No such authority or list, or not published yet"}
}
_LIST: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    200: {
        "content": {VC_MEDIA_TYPE: {}, STATUS_LIST_TOKEN_MEDIA_TYPE: {}},
        "description": "A list credential, or for `token` a Status List Token (compact JWT)",
    },
}
Purpose = Annotated[
    Literal["revocation", "suspension", "token"],
    Path(description="The list's purpose; `token`: a Status List Token (SD-JWT VC status)"),
]
Number = Annotated[int, Path(ge=0, le=INTEGER_MAX, description="The list's number")]


class VcResponse(JSONResponse):
    """A credential (``application/vc``)."""

    media_type = VC_MEDIA_TYPE


def _list(state: StateDep, authority: Authority, purpose: str, number: int) -> Response:
    with state.office.db.session() as s:
        document = status_lists.served_list(s, authority.id, purpose, number)
    if document is None:
        raise NotFound(
            f"{authority.did} has published no {purpose} list {number}",
            f"{authority.name_zh} 未发布第 {number} 号{purpose}状态列表",
        )
    if purpose == status_lists.TOKEN:  # a Status List Token: the compact JWT itself
        return Response(
            str(document["token"]), media_type=STATUS_LIST_TOKEN_MEDIA_TYPE, headers=_CACHE
        )
    return VcResponse(document, headers=_CACHE)


def _set(state: StateDep, authority: Authority) -> JSONResponse:
    with state.office.db.session() as s:
        document = status_lists.served_set(s, authority.id)
    if document is None:
        raise NotFound(
            f"{authority.did} has published no status lists yet",
            f"{authority.name_zh} 尚未发布状态列表",
        )
    return JSONResponse(document, headers=_CACHE)


@router.get(
    "/status-lists/{purpose}/{number}",
    response_class=VcResponse,
    responses=_LIST,
    description=(
        "The signed BitstringStatusListCredential of the authority whose did:web host is the "
        "request's Host: the version whose digest (through the list set) is on chain."
    ),
)
def list_by_host(purpose: Purpose, number: Number, request: Request, state: StateDep) -> Any:
    """A status list credential (W3C Bitstring Status List v1.0)."""
    return _list(state, authority_of_host(request, state), purpose, number)


@router.get(
    "/status-lists",
    responses=_NOT_FOUND,
    description=(
        "The list set of the authority whose did:web host is the request's Host: the URL and "
        "digest of each of its lists, whose own digest the authority anchors on chain."
    ),
)
def set_by_host(request: Request, state: StateDep) -> Any:
    """An authority's status list set."""
    return _set(state, authority_of_host(request, state))


@router.get(
    "/v1/authorities/{did}/status-lists/{purpose}/{number}",
    response_class=VcResponse,
    responses=_LIST,
    description="A status list credential of one of this office's authorities, by its DID.",
)
def authority_list(did: str, purpose: Purpose, number: Number, state: StateDep) -> Any:
    """A status list credential of an authority."""
    return _list(state, state.office.authority_by_did(did), purpose, number)


@router.get(
    "/v1/authorities/{did}/status-lists",
    responses=_NOT_FOUND,
    description="The list set of one of this office's authorities, by its DID.",
)
def authority_set(did: str, state: StateDep) -> Any:
    """An authority's status list set."""
    return _set(state, state.office.authority_by_did(did))


@router.get(
    "/v1/status-lists",
    description=(
        "Every list set and list credential this office serves, as a partner's offline "
        "snapshot takes them (`suixin-verify snapshot --office`): only versions on chain."
    ),
)
def all_lists(state: StateDep) -> dict[str, Any]:
    """Every status list set and list of this office."""
    sets: list[dict[str, Any]] = []
    lists: list[dict[str, Any]] = []
    with state.office.db.session() as s:
        for authority in state.office.authorities():
            listed = status_lists.served_set(s, authority.id)
            if listed is not None:
                sets.append(listed)
                lists.extend(status_lists.served_lists(s, authority.id))
    return {"sets": sets, "lists": lists}
