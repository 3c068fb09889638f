"""Request and response bodies of the API, with the Chinese examples the OpenAPI page shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from service.issuing.office import IssueRequest
from verifier._time import TimestampRefused, in_range, rfc3339
from verifier.credential import has_forbidden_character

__all__ = [
    "PERMIT_SUBJECT",
    "ApiKeyCreate",
    "BatchBody",
    "IssueBody",
    "PlainText",
    "Timestamp",
    "VcIssueBody",
    "VcVerifyBody",
    "VerifyOptions",
    "VpVerifyBody",
]

CredentialType = Literal["ResidencePermit", "BusinessLicense"]


def _timestamp(value: object) -> datetime:
    """An RFC 3339 date-time string with an offset, between 1900 and 2999 (``verifier._time``):
    the only times a credential holds. Numbers, dates and naive times are refused rather than
    guessed at (``5`` is not 1970-01-01)."""
    if isinstance(value, datetime) and value.tzinfo is not None and in_range(value):
        return value  # built in Python, not read from a request
    try:
        return rfc3339(value)
    except TimestampRefused as refused:
        raise PydanticCustomError(refused.code, refused.code) from None


def _plain_text(value: str) -> str:
    """Free text (a label, a note, a purpose): the credential's text rule applies (no controls,
    NUL included, no bidi or zero-width characters, no lone surrogates)."""
    if has_forbidden_character(value):
        raise PydanticCustomError("text_forbidden_character", "text_forbidden_character")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]

Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339，须带时区，1900–2999 年 / RFC 3339 with offset, 1900-2999",
            "examples": ["2026-12-05T00:00:00+08:00"],
        }
    ),
]

PERMIT_SUBJECT: dict[str, Any] = {
    "name": "张三",
    "sex": "male",
    "ethnicity": "汉",
    "birthDate": "1990-03-07",
    "citizenId": "440106199003071231",
    "hukouAddress": "湖南省长沙市岳麓区麓山南路1号",
    "residenceAddress": "广州市天河区天河路100号",
    "residenceRegion": "440106",
}
LICENSE_SUBJECT: dict[str, Any] = {
    "uscc": "91440106MA59C2K45Y",
    "name": "广州某某科技有限公司",
    "entityType": "有限责任公司",
    "legalRepresentative": "李四",
    "businessScope": "软件开发；信息技术咨询服务",
    "registeredCapital": "100万元人民币",
    "establishmentDate": "2020-05-01",
    "operatingTerm": {"from": "2020-05-01", "until": "2040-04-30"},
    "domicile": "广州市天河区天河路200号",
    "registrationAuthority": "广州市天河区市场监督管理局",
}
PERMIT_REQUEST: dict[str, Any] = {
    "type": "ResidencePermit",
    "subject": PERMIT_SUBJECT,
    "validUntil": "2031-12-31T23:59:59+08:00",
}
LICENSE_REQUEST: dict[str, Any] = {"type": "BusinessLicense", "subject": LICENSE_SUBJECT}
# a batch holds one authority's credentials: one type for the demo keys (a register office
# issues permits, a market regulator licences)
BATCH_REQUEST: dict[str, Any] = {
    "items": [
        PERMIT_REQUEST,
        {
            "type": "ResidencePermit",
            "subject": {
                **PERMIT_SUBJECT,
                "name": "王芳",
                "sex": "female",
                "birthDate": "1992-08-15",
                "citizenId": "440106199208154321",
                "residenceAddress": "广州市天河区天河路102号",
            },
        },
    ]
}


class IssueBody(BaseModel):
    """One issuance: the type, the subject's fields (DESIGN.md §3), optional validity."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [PERMIT_REQUEST, LICENSE_REQUEST]},
    )

    type: CredentialType = Field(description="居住证 ResidencePermit 或 营业执照 BusinessLicense")
    subject: dict[str, Any] = Field(description="凭证主体字段（credentialSubject）")
    valid_from: Timestamp | None = Field(
        None, alias="validFrom", description="生效时间（不早于签发日），默认签发时刻"
    )
    valid_until: Timestamp | None = Field(
        None, alias="validUntil", description="失效时间，默认生效后一年"
    )

    def to_request(self) -> IssueRequest:
        """The office's issuance request."""
        return IssueRequest(self.type, self.subject, self.valid_from, self.valid_until)


class BatchBody(BaseModel):
    """Up to 10,000 issuances, stored all or none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [BATCH_REQUEST]},
    )

    items: list[IssueBody] = Field(min_length=1, max_length=10_000)


class VcCredentialIn(BaseModel):
    """An unsigned credential as the W3C VC API's issue call takes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    context: list[str] | None = Field(None, alias="@context")
    type: list[str]
    issuer: str | dict[str, Any] | None = None
    valid_from: Timestamp | None = Field(None, alias="validFrom")
    valid_until: Timestamp | None = Field(None, alias="validUntil")
    credential_subject: dict[str, Any] = Field(alias="credentialSubject")


class VcIssueBody(BaseModel):
    """W3C VC API ``/credentials/issue`` request: ``{credential, options}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "credential": {
                        "@context": ["https://www.w3.org/ns/credentials/v2"],
                        "type": ["VerifiableCredential", "ResidencePermit"],
                        "issuer": "did:web:lsj.gz.gov.cn",
                        "credentialSubject": PERMIT_SUBJECT,
                    },
                    "options": {},
                }
            ]
        },
    )

    # Documented as the strict shape (what the office issues by default); the route validates
    # it, so that the opt-in conformance issuer can take any other VC 2.0 credential.
    credential: Annotated[
        dict[str, Any], WithJsonSchema(VcCredentialIn.model_json_schema(by_alias=True))
    ]
    options: dict[str, Any] = Field(default_factory=dict)


class VerifyOptions(BaseModel):
    """W3C VC API verification options; other members are accepted (the VC API lets a client
    send options a verifier does not know): this office reads ``didDocuments`` and
    ``statusListCredentials`` (arrays of objects; anything else is ignored) for foreign
    credentials. The routes read it from the request's free-form ``options``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    checks: list[str] | None = Field(
        None,
        max_length=20,
        description="The checks to run: `proof`, `status`, `validity` (or this office's "
        "names: format, signature, issuer, key_validity, anchor, status, validity_period). "
        "Left out: every check that applies.",
    )
    challenge: str | None = Field(None, max_length=512)
    domain: str | None = Field(None, max_length=512)

    @property
    def did_documents(self) -> object:
        """``didDocuments``: DID documents of did:web issuers or holders (never fetched)."""
        return (self.model_extra or {}).get("didDocuments")

    @property
    def status_list_credentials(self) -> object:
        """``statusListCredentials``: the Bitstring status list credentials that the
        credentials' status entries name (never fetched)."""
        return (self.model_extra or {}).get("statusListCredentials")


class VcVerifyBody(BaseModel):
    """W3C VC API ``/credentials/verify`` request: ``{verifiableCredential, options}``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "verifiableCredential": {
                        "@context": ["https://www.w3.org/ns/credentials/v2"],
                        "id": "urn:uuid:0b7c8c1e-5d1f-4a59-9a57-3f1f1c2d9e01",
                        "type": ["VerifiableCredential", "ResidencePermit"],
                        "issuer": "did:web:lsj.gz.gov.cn",
                        "credentialSubject": {
                            **PERMIT_SUBJECT,
                            "issuingAuthority": "广州市来穗人员服务管理局",
                        },
                        "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022"},
                    },
                    "options": {},
                }
            ]
        },
    )

    verifiable_credential: dict[str, Any] = Field(alias="verifiableCredential")
    # read as VerifyOptions by the route (``vc_api.verify_options``): a free-form object in
    # the schema, as the VC API has it
    options: dict[str, Any] = Field(default_factory=dict)


class VpVerifyBody(BaseModel):
    """W3C VC API ``/presentations/verify`` request: ``{verifiablePresentation, options}``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "verifiablePresentation": {
                        "@context": ["https://www.w3.org/ns/credentials/v2"],
                        "type": ["VerifiablePresentation"],
                        "holder": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                        "verifiableCredential": [],
                        "proof": {
                            "type": "DataIntegrityProof",
                            "cryptosuite": "eddsa-jcs-2022",
                            "proofPurpose": "authentication",
                            "challenge": "d436f0c8-fbd9-4e48-bbb2-55fc5d0920a8",
                            "domain": "zwfw.zhaoqing.gov.cn",
                        },
                    },
                    "options": {
                        "challenge": "d436f0c8-fbd9-4e48-bbb2-55fc5d0920a8",
                        "domain": "zwfw.zhaoqing.gov.cn",
                    },
                }
            ]
        },
    )

    verifiable_presentation: dict[str, Any] = Field(alias="verifiablePresentation")
    # read as VerifyOptions by the route (``vc_api.verify_options``): a free-form object in
    # the schema, as the VC API has it
    options: dict[str, Any] = Field(default_factory=dict)


Scope = Literal["issue:ResidencePermit", "issue:BusinessLicense", "lifecycle", "revoke", "admin"]


class ApiKeyCreate(BaseModel):
    """A new API key for the caller's own authority."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"scopes": ["issue:ResidencePermit"], "label": "天河区服务中心窗口"}]
        },
    )

    scopes: list[Scope] = Field(min_length=1)
    label: PlainText = Field("", max_length=200)


class BundleOut(BaseModel):
    """A bundle: the signed credential and its anchor receipt (null until anchored)."""

    version: str = Field(examples=["suixin-bundle/1"])
    credential: dict[str, Any]
    anchor: dict[str, Any] | None


class BatchOut(BaseModel):
    """The bundles of a batch, in request order."""

    count: int
    items: list[BundleOut]


class ProblemOut(BaseModel):
    """An RFC 9457 problem (``application/problem+json``): a stable ``code``, the ``detail`` in
    中文 and English, and members of its own kind (``limit``, ``existingId``, …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str = Field(description="stable snake_case code (validation_failed, not_found, …)")
    detail: str
    errors: list[dict[str, str]] | None = Field(
        None, description="Validation: [{path, code, zh, en}]"
    )
