"""The VC Data Model 2.0 rules of ``verifier._data_model``, through ``foreign_format_errors``.

Written from VCDM 2.0 (W3C Recommendation): §4.3 contexts (subsequent items are URLs or objects
processable as JSON-LD contexts), §4.4 identifiers (a single URL), §4.5 types (terms defined in
the context, or absolute URLs; credentialStatus, termsOfUse, evidence, refreshService and
credentialSchema objects typed), §4.6 and §11.1 names and descriptions (a string or a language
value object), §4.7 issuer, §4.11 data schemas (type and id), §5.3 related resources (id,
unique, a digest), and JSON-LD 1.1 §4.1.11 protected term definitions, which the base context
uses for every term.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifier._data_model import is_url
from verifier.contexts import UNDEFINED_TERMS_CONTEXT, VC_V2_CONTEXT
from verifier.foreign import foreign_format_errors

OTHER_CONTEXT = "https://contexts.example.org/diploma/v1"  # not shipped: its terms are unknown


def credential(**changes: Any) -> dict[str, Any]:
    """A well-formed unsigned credential: a type defined inline, names in two languages, a
    typed status, schema, evidence and terms of use, and a related resource with a digest."""
    document: dict[str, Any] = {
        "@context": [
            VC_V2_CONTEXT,
            {"DiplomaCredential": "https://vocab.example.org/edu#DiplomaCredential"},
        ],
        "id": "https://university.example.org/diplomas/2026/17",
        "type": ["VerifiableCredential", "DiplomaCredential"],
        "issuer": {
            "id": "did:example:university",
            "name": [
                {"@value": "示例大学", "@language": "zh-CN"},
                {"@value": "Example University", "@language": "en", "@direction": "ltr"},
            ],
            "description": "A university",
        },
        "name": "毕业证书",
        "description": {"@value": "Diploma", "@language": "en"},
        "validFrom": "2026-07-01T00:00:00Z",
        "credentialSubject": [{"id": "did:example:graduate"}, {"degree": "学士"}],
        "credentialStatus": {
            "id": "https://university.example.org/status/3#94567",
            "type": "BitstringStatusListEntry",
        },
        "credentialSchema": {
            "id": "https://university.example.org/schemas/diploma.json",
            "type": "JsonSchema",
        },
        "evidence": [{"type": ["https://vocab.example.org/edu#Transcript"]}],
        "termsOfUse": {"type": "https://vocab.example.org/policy#NoResale"},
        "refreshService": {
            "id": "https://university.example.org/refresh",
            "type": "https://vocab.example.org/refresh#Manual",
        },
        "relatedResource": [
            {
                "id": "https://university.example.org/seal.png",
                "digestSRI": "sha384-AAAA",
                "mediaType": "image/png",
            },
            {"id": "https://university.example.org/rules.pdf", "digestMultibase": "uAAAA"},
        ],
    }
    document.update(changes)
    return document


def codes(document: dict[str, Any]) -> list[str]:
    return [reason.code for reason in foreign_format_errors(document, signed=False)]


def test_a_well_formed_credential_breaks_no_rule() -> None:
    assert codes(credential()) == []


# -- §4.3 contexts and JSON-LD protected terms ---------------------------------------------


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ([VC_V2_CONTEXT, "https ://contexts.example.org/v1"], "context_invalid"),
        ([VC_V2_CONTEXT, "contexts/v1"], "context_invalid"),
        ([VC_V2_CONTEXT, 7], "context_invalid"),
        ([VC_V2_CONTEXT, {"DiplomaCredential": "a diploma"}], "context_invalid"),
        (
            [VC_V2_CONTEXT, {"DiplomaCredential": {"@id": "https ://x.example/#D"}}],
            "context_invalid",
        ),
        # the base context protects its terms: VerifiableCredential cannot be given another IRI
        (
            [VC_V2_CONTEXT, {"VerifiableCredential": "https://vocab.example.org/#Other"}],
            "context_term_redefined",
        ),
        # a term an earlier inline context protects cannot be redefined by a later one
        (
            [
                VC_V2_CONTEXT,
                {"@protected": True, "DiplomaCredential": "https://vocab.example.org/#D"},
                {"DiplomaCredential": "https://vocab.example.org/#Forged"},
            ],
            "context_term_redefined",
        ),
    ],
)
def test_context_entries_must_be_urls_or_valid_contexts(context: list[Any], code: str) -> None:
    assert code in codes(credential(**{"@context": context}))


def test_a_protected_term_may_be_repeated_with_the_same_definition() -> None:
    context = [VC_V2_CONTEXT, {"id": "@id", "type": "@type"}, "https://contexts.example.org/v1"]
    assert codes(credential(**{"@context": context}, type=["VerifiableCredential"])) == []


def test_an_unprotected_inline_term_may_be_redefined() -> None:
    context = [
        VC_V2_CONTEXT,
        {"DiplomaCredential": "https://vocab.example.org/#D"},
        {"DiplomaCredential": "https://vocab.example.org/#D2"},
    ]
    assert codes(credential(**{"@context": context})) == []


# -- §4.5 types ------------------------------------------------------------------------------


def test_a_type_the_context_does_not_define_is_refused() -> None:
    undefined = credential(**{"@context": [VC_V2_CONTEXT]})
    assert codes(undefined) == ["type_undefined"]
    # an absolute URL needs no definition
    url_typed = credential(
        **{"@context": [VC_V2_CONTEXT]},
        type=["VerifiableCredential", "https://vocab.example.org/edu#DiplomaCredential"],
    )
    assert codes(url_typed) == []


def test_a_context_that_is_not_shipped_may_define_the_type() -> None:
    assert codes(credential(**{"@context": [VC_V2_CONTEXT, OTHER_CONTEXT]})) == []


def test_the_undefined_terms_context_defines_every_type_until_vocab_is_reset() -> None:
    assert codes(credential(**{"@context": [VC_V2_CONTEXT, UNDEFINED_TERMS_CONTEXT]})) == []
    reset = [VC_V2_CONTEXT, UNDEFINED_TERMS_CONTEXT, {"@vocab": None}]
    assert codes(credential(**{"@context": reset})) == ["type_undefined"]


@pytest.mark.parametrize(
    "field", ["credentialStatus", "credentialSchema", "evidence", "termsOfUse", "refreshService"]
)
def test_typed_objects_must_have_a_type(field: str) -> None:
    document = credential()
    value = copy.deepcopy(document[field])
    first = value[0] if isinstance(value, list) else value
    del first["type"]
    document[field] = value
    assert codes(document) == ["type_missing"]


def test_a_type_must_be_strings() -> None:
    document = credential()
    document["credentialStatus"]["type"] = 2
    assert codes(document) == ["type_invalid"]


# -- §4.4 identifiers, §4.7 issuer, §4.11 schemas ----------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"id": ["https://a.example/1", "https://b.example/1"]},
        {"id": "urn uuid 1"},
        {"credentialSubject": {"id": ["did:example:one", "did:example:two"]}},
        {"credentialStatus": {"id": ["https://s.example/1"], "type": "BitstringStatusListEntry"}},
        {"credentialSchema": {"type": "JsonSchema"}},
    ],
)
def test_an_identifier_must_be_a_single_url(changes: dict[str, Any]) -> None:
    assert codes(credential(**changes)) == ["id_invalid"]


@pytest.mark.parametrize(
    "issuer", [None, "", "not a url", {"id": None}, {"id": "https ://x.example"}, {"name": "x"}]
)
def test_the_issuer_must_be_a_url_or_an_object_with_a_url_id(issuer: object) -> None:
    assert codes(credential(issuer=issuer)) == ["issuer_invalid"]


# -- §4.6 names and descriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"@value": "Diploma", "@language": "en", "url": "https://x.example"},
        {"@language": "en"},
        {"@value": 3},
        ["Diploma", {"@value": "Diploma", "extra": True}],
        7,
    ],
)
@pytest.mark.parametrize("where", ["credential", "issuer"])
@pytest.mark.parametrize("field", ["name", "description"])
def test_names_and_descriptions_are_strings_or_language_values(
    value: object, where: str, field: str
) -> None:
    document = credential()
    if where == "credential":
        document[field] = value
    else:
        document["issuer"][field] = value
    assert codes(document) == ["language_value_invalid"]


# -- §5.3 related resources --------------------------------------------------------------------


@pytest.mark.parametrize(
    "related",
    [
        ["https://university.example.org/seal.png"],
        [{"digestSRI": "sha384-AAAA"}],
        [
            {"id": "https://university.example.org/seal.png", "digestSRI": "sha384-AAAA"},
            {"id": "https://university.example.org/seal.png", "digestMultibase": "uAAAA"},
        ],
        [{"id": "https://university.example.org/seal.png", "mediaType": "image/png"}],
    ],
)
def test_related_resources_need_a_unique_id_and_a_digest(related: list[Any]) -> None:
    assert "related_invalid" in codes(credential(relatedResource=related))


# -- URLs ----------------------------------------------------------------------------------------


@given(
    scheme=st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,8}", fullmatch=True),
    rest=st.text(
        alphabet=st.characters(
            whitelist_categories=("L", "N"), whitelist_characters="-._~/?#:@!$&'()*+,;=%"
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_a_scheme_then_url_characters_is_a_url(scheme: str, rest: str) -> None:
    assert is_url(f"{scheme}:{rest}")


@given(
    url=st.from_regex(r"[a-z]{1,6}:[a-z0-9/.]{1,20}", fullmatch=True),
    blank=st.sampled_from([" ", "\t", "\n", "\x00", "<", '"']),
    at=st.integers(min_value=0),
)
def test_whitespace_or_forbidden_characters_anywhere_is_no_url(
    url: str, blank: str, at: int
) -> None:
    position = at % (len(url) + 1)
    assert not is_url(url[:position] + blank + url[position:])
