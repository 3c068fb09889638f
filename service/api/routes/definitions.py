"""The Suixin JSON-LD contexts and credential JSON Schemas, at the paths of their URLs.

Every credential names ``https://schemas.suixin.gov.cn/contexts/v2`` in its ``@context`` and
``https://schemas.suixin.gov.cn/credentials/<Type>/v1.json`` as its ``credentialSchema``. The
office serves those documents byte for byte as ``verifier/`` ships them (``/contexts/v2``,
``/credentials/ResidencePermit/v1.json``), so the host that publishes them can be any office, and
a JSON-LD processor or schema validator elsewhere can fetch what the verifier uses without ever
fetching. The documents are immutable (a change gets a new version), so they may be cached for
good.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.models import ProblemOut
from service.issuing.office import NotFound
from verifier.contexts import CONTEXT_FILES, SUIXIN_CONTEXT, context_bytes
from verifier.schemas import CREDENTIAL_TYPES

router = APIRouter(tags=["definitions"])

_CONTEXT_BASE = SUIXIN_CONTEXT.rsplit("/", 1)[0] + "/"  # https://schemas.suixin.gov.cn/contexts/
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemOut, "description": "No such document"}
}


@router.get(
    "/contexts/{version}",
    response_class=Response,
    responses={
        200: {"content": {"application/ld+json": {}}, "description": "The JSON-LD context"},
        **_NOT_FOUND,
    },
    description=(
        "The Suixin JSON-LD context of this version (`v1`, `v2`), as the verifier ships it: "
        "`https://schemas.suixin.gov.cn/contexts/v2` is this path on the schemas host."
    ),
)
def context(version: str) -> Response:
    """A Suixin JSON-LD context (`@context`)."""
    url = _CONTEXT_BASE + version
    if url not in CONTEXT_FILES:
        raise NotFound(f"no Suixin context {version}", f"没有 Suixin 语境 {version}")
    return Response(context_bytes(url), media_type="application/ld+json", headers=_IMMUTABLE)


@router.get(
    "/credentials/{credential_type}/v1.json",
    response_class=Response,
    responses={
        200: {"content": {"application/schema+json": {}}, "description": "The JSON Schema"},
        **_NOT_FOUND,
    },
    description=(
        "The JSON Schema (2020-12) of a credential type (`ResidencePermit`, `BusinessLicense`, "
        "`ResidenceYears`): every credential's `credentialSchema.id` is this path on the "
        "schemas host."
    ),
)
def credential_schema(credential_type: str) -> Response:
    """A credential type's JSON Schema (`credentialSchema`)."""
    if credential_type not in CREDENTIAL_TYPES:
        raise NotFound(f"no credential type {credential_type}", f"没有证照类型 {credential_type}")
    body = resources.files("verifier").joinpath(f"schemas/{credential_type}.json").read_bytes()
    return Response(body, media_type="application/schema+json", headers=_IMMUTABLE)
