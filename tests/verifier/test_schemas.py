"""Tests for verifier/schemas.py and the shipped JSON Schemas in verifier/schemas/."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.verifier.factories import (
    business_license,
    make_uscc,
    residence_permit,
    residence_years,
)
from verifier.schemas import (
    CREDENTIAL_TYPES,
    format_checker,
    load_schema,
    schema_id,
    schema_validator,
)

BUILDERS = {
    "ResidencePermit": residence_permit,
    "BusinessLicense": business_license,
    "ResidenceYears": residence_years,
}


def _errors(credential_type: str, instance: Any) -> list[str]:
    """Return the JSON paths the *plain* schema (any 2020-12 validator) complains about."""
    validator = Draft202012Validator(load_schema(credential_type), format_checker=format_checker())
    return sorted(e.json_path for e in validator.iter_errors(instance))


@pytest.mark.parametrize("credential_type", CREDENTIAL_TYPES)
class TestShippedSchemas:
    def test_is_a_valid_2020_12_schema_with_stable_id(self, credential_type: str) -> None:
        schema = load_schema(credential_type)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == (
            f"https://schemas.suixin.gov.cn/credentials/{credential_type}/v1.json"
        )
        assert schema_id(credential_type) == schema["$id"]

    def test_loader_accepts_file_name_and_caches(self, credential_type: str) -> None:
        assert load_schema(f"{credential_type}.json") is load_schema(credential_type)

    def test_unsigned_and_signed_credentials_validate(self, credential_type: str) -> None:
        unsigned = BUILDERS[credential_type](random.Random(7))
        assert _errors(credential_type, unsigned) == []
        signed = dict(unsigned, proof={"type": "DataIntegrityProof", "proofValue": "z1"})
        assert _errors(credential_type, signed) == []

    def test_context_must_start_with_vc_v2(self, credential_type: str) -> None:
        credential = BUILDERS[credential_type]()
        credential["@context"] = ["https://www.w3.org/2018/credentials/v1"]
        assert _errors(credential_type, credential) == ["$['@context'][0]"]
        credential["@context"] = [
            "https://www.w3.org/ns/credentials/v2",
            "https://schemas.suixin.gov.cn/contexts/v1.jsonld",
        ]
        assert _errors(credential_type, credential) == []

    def test_type_must_name_vc_and_the_type(self, credential_type: str) -> None:
        credential = BUILDERS[credential_type]()
        credential["type"] = ["VerifiableCredential"]
        assert _errors(credential_type, credential) == ["$.type"]
        credential["type"] = [credential_type]
        assert _errors(credential_type, credential) == ["$.type"]

    def test_schema_reference_must_name_this_schema(self, credential_type: str) -> None:
        credential = BUILDERS[credential_type]()
        credential["credentialSchema"]["id"] = "https://example.com/other.json"
        assert _errors(credential_type, credential) == ["$.credentialSchema.id"]
        credential["credentialSchema"] = {"id": schema_id(credential_type), "type": "Json"}
        assert _errors(credential_type, credential) == ["$.credentialSchema.type"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("id", "0b6f5a8e-3f7c-4a8e-9b1a-2c3d4e5f6a7b"),
            ("issuer", "https://lasui.gz.gov.cn"),
            ("validFrom", "2026-11-21T00:00:00"),
            ("validFrom", "2026-11-21"),
            ("validUntil", "2026-13-21T00:00:00Z"),
            ("validUntil", "2027-11-21T00:00:00+08:60"),  # offset minutes are 00-59
            ("validUntil", "2027-11-21T00:00:00+24:00"),
            ("credentialStatus", "revoked"),
        ],
    )
    def test_envelope_fields(self, credential_type: str, field: str, value: str) -> None:
        credential = BUILDERS[credential_type]()
        credential[field] = value
        assert set(_errors(credential_type, credential)) == {f"$.{field}"}

    def test_every_envelope_field_required(self, credential_type: str) -> None:
        for field in ("@context", "type", "id", "issuer", "validFrom", "validUntil",
                      "credentialSchema", "credentialStatus", "credentialSubject"):  # fmt: skip
            credential = BUILDERS[credential_type]()
            del credential[field]
            assert _errors(credential_type, credential) == ["$"], field

    def test_unknown_subject_field_rejected(self, credential_type: str) -> None:
        credential = BUILDERS[credential_type]()
        credential["credentialSubject"]["nickname"] = "小张"
        assert _errors(credential_type, credential) == ["$.credentialSubject"]

    def test_holder_did_optional_on_subject(self, credential_type: str) -> None:
        credential = BUILDERS[credential_type]()
        credential["credentialSubject"]["id"] = (
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
        )
        assert _errors(credential_type, credential) == []
        credential["credentialSubject"]["id"] = "张三"
        assert _errors(credential_type, credential) == ["$.credentialSubject.id"]


class TestResidencePermitSchema:
    def test_issuer_fields_required_in_credential_not_in_request(self) -> None:
        credential = residence_permit()
        subject = copy.deepcopy(credential["credentialSubject"])
        for field in ("issuingAuthority", "issueDate", "endorsements"):
            del subject[field]
        assert list(schema_validator("ResidencePermit", "subject").iter_errors(subject)) == []
        credential["credentialSubject"] = subject
        assert _errors("ResidencePermit", credential) == ["$.credentialSubject"] * 3

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("sex", "男"),
            ("birthDate", "1990-02-30"),
            ("birthDate", "1990/03/07"),
            ("citizenId", "44010619900307123x"),
            ("citizenId", "4401061990030712"),
            ("residenceRegion", "4401"),
            ("name", ""),
            ("photoDigest", "abc"),
            ("endorsements", [{"date": "2027-11-01"}]),
        ],
    )
    def test_bad_subject_values(self, field: str, value: object) -> None:
        credential = residence_permit()
        credential["credentialSubject"][field] = value
        paths = set(_errors("ResidencePermit", credential))
        assert paths and all(p.startswith(f"$.credentialSubject.{field}") for p in paths)

    def test_endorsements_and_photo_digest_accepted(self) -> None:
        credential = residence_permit()
        credential["credentialSubject"]["endorsements"] = [
            {"date": "2027-11-01", "validUntil": "2028-11-20"}
        ]
        credential["credentialSubject"]["photoDigest"] = "sha256:" + "ab" * 32
        assert _errors("ResidencePermit", credential) == []


class TestBusinessLicenseSchema:
    def test_open_ended_operating_term(self) -> None:
        credential = business_license()
        credential["credentialSubject"]["operatingTerm"] = {"from": "2020-05-01", "until": None}
        assert _errors("BusinessLicense", credential) == []
        credential["credentialSubject"]["operatingTerm"] = {
            "from": "2020-05-01",
            "until": "2040-04-30",
        }
        assert _errors("BusinessLicense", credential) == []
        credential["credentialSubject"]["operatingTerm"] = {"from": "2020-05-01"}
        assert _errors("BusinessLicense", credential) == ["$.credentialSubject.operatingTerm"]
        credential["credentialSubject"]["operatingTerm"] = {"from": "2020-05-01", "until": "长期"}
        assert (
            _errors("BusinessLicense", credential)
            == ["$.credentialSubject.operatingTerm.until"] * 2
        )  # neither a date by format nor by pattern

    @pytest.mark.parametrize(
        "bad", ["91440106MA59C2KI5Y", "91440106MA59C2K45", "9144O106MA59C2K45Y"]
    )
    def test_uscc_alphabet_and_length(self, bad: str) -> None:
        credential = business_license(uscc=bad)
        assert _errors("BusinessLicense", credential) == ["$.credentialSubject.uscc"]

    def test_letter_department_codes_pass_the_pattern(self) -> None:
        credential = business_license(uscc=make_uscc(department="N2"))
        assert _errors("BusinessLicense", credential) == []


def test_unknown_names_rejected() -> None:
    with pytest.raises(ValueError, match="Passport"):
        schema_id("Passport")
    with pytest.raises(ValueError, match="Passport"):
        load_schema("Passport.json")
    with pytest.raises(ValueError, match="proof"):
        schema_validator("ResidencePermit", "proof")


# --- the compiled gate gives the same answers as the reference validator ---------------------


def _mutations(value: object) -> list[object]:
    return [None, 0, -1, 1.5, "", "x", "2026-13-01", "2026-02-30T00:00:00Z", [], {}, True]


@pytest.mark.parametrize("kind", ["ResidencePermit", "BusinessLicense"])
def test_fast_validator_agrees_with_jsonschema_on_every_single_field_change(kind: str) -> None:
    import copy
    import random

    from tests.verifier.factories import business_license, residence_permit
    from verifier.schemas import fast_validator, schema_validator

    rng = random.Random(5)
    base = residence_permit(rng) if kind == "ResidencePermit" else business_license(rng)

    def paths(value: object, here: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if isinstance(value, dict):
            out = [here] if here else []
            for k, v in value.items():
                out += paths(v, (*here, k))
            return out
        if isinstance(value, list):
            out = [here]
            for i, v in enumerate(value):
                out += paths(v, (*here, i))
            return out
        return [here]

    checked = 0
    for for_subject in (False, True):
        part = "subject" if for_subject else ""
        instance = base["credentialSubject"] if for_subject else base
        for path in paths(instance):
            for replacement in [*_mutations(None), "DELETE"]:
                forged = copy.deepcopy(instance)
                node = forged
                for p in path[:-1]:
                    node = node[p]  # type: ignore[index]
                if replacement == "DELETE":
                    if isinstance(node, dict):
                        del node[path[-1]]
                    else:
                        continue
                else:
                    node[path[-1]] = replacement  # type: ignore[index]
                reference = not any(True for _ in schema_validator(kind, part).iter_errors(forged))
                assert fast_validator(kind, part).is_valid(forged) == reference, path
                checked += 1
    assert checked > 200
