"""The verifier's fast paths give the verdicts and reasons of the slow ones they shortcut.

``format`` canonicalizes the credential once on the compiled path (``jcs._compiled_split``) and
takes that as proof of readable JSON (``bundle._bundle_errors`` then walks only the rest of the
bundle); passing ``issuer``, ``key_validity`` and ``anchor`` results are written once per
authority, key time and block; a licence identifier's check character continues from a cached
running value. Each is held here to the path it replaces, and tampered bundles still fail.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

import verifier.verify as verify_module
from tests.verifier.test_tamper import leaves, mutate, world
from verifier.bundle import _RECEIPT_INTEGERS, _bundle_errors, _sound_by_schema, bundle_errors
from verifier.interop import interop_errors
from verifier.jcs import _compiled_split, canonicalize
from verifier.licence_id import InvalidLicenceId, _mod_37_36, _state, parse_licence_id
from verifier.schemas import load_schema
from verifier.verify import Outcome, Report, Verdict, Verifier

__all__ = ["world"]  # the tamper suite's chain, office and anchored bundle, for this module too

# JSON as a parser or a careless caller may hand it over: floats (NaN too), integers past
# doubles, lone surrogates, tuples, keys outside the Basic Multilingual Plane
_any_text = st.text(st.characters(exclude_categories=()), max_size=6)  # lone surrogates too
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | _any_text
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_any_text, inner, max_size=3)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(_any_text | st.sampled_from(["proof", "id"]), _values, max_size=6)


@given(_objects)
def test_the_compiled_split_is_jcs_or_declines(obj: dict[str, Any]) -> None:
    split = _compiled_split(obj, "proof")
    if split is None:
        return  # the slow path decides (``CanonicalSplit``, held to rfc8785 in test_jcs)
    without, whole = split
    assert without == canonicalize({k: v for k, v in obj.items() if k != "proof"})
    assert whole == canonicalize(obj)


@given(_objects)
def test_a_compiled_split_proves_the_object_readable(obj: dict[str, Any]) -> None:
    if _compiled_split(obj, "proof") is not None:
        assert interop_errors(obj) == []


@given(
    _objects,
    st.one_of(st.none(), _values, st.dictionaries(st.sampled_from(["chainId", "root"]), _values)),
    st.sampled_from(["suixin-bundle/1", "suixin-bundle/2", 1]),
    st.dictionaries(st.sampled_from(["extra", "\ud800"]), _values, max_size=1),
)
def test_the_bundle_check_that_skips_a_clean_credential_finds_the_same_errors(
    credential: dict[str, Any], anchor: object, version: object, extra: dict[str, Any]
) -> None:
    bundle = {"version": version, "credential": credential, "anchor": anchor, **extra}
    if _compiled_split(credential, "proof") is None:
        return  # the verifier walks it then: nothing skipped
    assert _bundle_errors(bundle, credential_clean=True) == bundle_errors(bundle)


_HASH = "0x" + "ab" * 32
_SOUND_RECEIPT = {
    "chainId": 1,
    "registry": "0x" + "12" * 20,
    "root": _HASH,
    "leafIndex": 0,
    "treeSize": 1,
    "path": [_HASH],
    "blockNumber": 1,
    "blockTime": 1,
    "transactionHash": _HASH,
}
# what a careless or hostile party may put in a receipt's members instead: integers past
# doubles, integral and non-finite floats, booleans, lone surrogates, text off the pattern,
# unknown members
_past_doubles = st.sampled_from([2**53 + 1, -(2**53 + 1), 2**53 + 2, 2**63 + 1, 2**64 + 1, 10**21])
_odd_members = {
    "chainId": st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.booleans(),
    "registry": st.sampled_from(["0x12", "\ud800", 7]),
    "root": st.sampled_from([_HASH.upper(), _HASH + "\n", "\ud800"]),
    "leafIndex": _past_doubles
    | st.integers(min_value=-3, max_value=2**64)
    | st.sampled_from([1.0, 2.0**60]),
    "treeSize": _past_doubles
    | st.integers(min_value=-1, max_value=2**54)
    | st.sampled_from([3.0, 1e300]),
    "path": st.lists(st.sampled_from([_HASH, "0x00", "\udfff", 5]), max_size=3),
    "blockNumber": _past_doubles | st.integers(min_value=-(2**54), max_value=2**54),
    "blockTime": _past_doubles | st.integers(min_value=0, max_value=10**17) | st.floats(),
    "transactionHash": st.sampled_from(["", None]),
    "blockHash": st.sampled_from([_HASH, None]),
    "hash": st.sampled_from(["sha-256", "sm3", "md5"]),
    "\ud800": _values,
    "extra": _values,
}
_receipts = st.lists(
    st.sampled_from(sorted(_odd_members)).flatmap(
        lambda key: st.tuples(st.just(key), _odd_members[key])
    ),
    max_size=2,
).map(lambda changes: {**_SOUND_RECEIPT, **dict(changes)})


@given(_receipts, st.sampled_from(["suixin-bundle/1", "suixin-bundle/2"]), st.booleans())
def test_a_receipt_the_schema_accepts_first_gets_the_errors_of_the_walk(
    receipt: dict[str, Any], version: str, drop_one: bool
) -> None:
    if drop_one:
        receipt.pop("root")
    credential = {"id": "urn:uuid:1", "proof": {"type": "DataIntegrityProof"}}
    assert _compiled_split(credential, "proof") is not None
    bundle = {"version": version, "credential": credential, "anchor": receipt}
    assert _bundle_errors(bundle, credential_clean=True) == bundle_errors(bundle)


def test_the_schema_first_check_is_taken_and_declines_integers_past_doubles() -> None:
    bundle = {"version": "suixin-bundle/1", "credential": {}, "anchor": dict(_SOUND_RECEIPT)}
    assert _sound_by_schema(bundle) and bundle_errors(bundle) == []
    bundle["anchor"]["blockNumber"] = 2**53 + 1  # the schema takes it, the walk does not
    assert not _sound_by_schema(bundle)
    assert [e.code for e in _bundle_errors(bundle, credential_clean=True)] == [
        "number_out_of_range"
    ]


def test_the_schema_first_check_rests_on_the_bundle_schema_as_it_is() -> None:
    # ``_sound_by_schema`` holds that a receipt the schema accepts has only its integers to
    # fear: no unknown member, text only from ASCII patterns or enumerations
    schema = load_schema("bundle")
    assert schema["additionalProperties"] is False
    receipt = schema["properties"]["anchor"]["oneOf"][1]
    assert receipt["additionalProperties"] is False
    integers = {k for k, v in receipt["properties"].items() if v.get("type") == "integer"}
    assert integers == set(_RECEIPT_INTEGERS)
    for name, rule in receipt["properties"].items():
        if name in integers:
            continue
        rule = schema["$defs"]["hash"] if "$ref" in rule else rule
        rule = rule.get("items", rule)
        rule = schema["$defs"]["hash"] if "$ref" in rule else rule
        assert (rule.get("pattern", "").isascii() and rule.get("pattern")) or all(
            isinstance(v, str) and v.isascii() for v in rule["enum"]
        ), name


def test_an_unclean_credential_is_not_skipped() -> None:
    for credential in ({"name": "\ud800"}, {"n": 2**53 + 1}, {"n": float("nan")}):
        assert _compiled_split(credential, "proof") is None
        bundle = {"version": "suixin-bundle/1", "credential": credential, "anchor": None}
        assert bundle_errors(bundle), credential


# ------------------------------------------------------------------ licence check character

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(st.text(_ALPHABET, max_size=50), st.text(_ALPHABET, max_size=50))
def test_the_check_character_continues_from_a_prefix_as_from_the_start(
    prefix: str, rest: str
) -> None:
    assert _mod_37_36(rest, _state(prefix)) == _mod_37_36(prefix + rest)
    assert _mod_37_36(prefix + rest) == mod_37_36.calc_check_digit(prefix + rest)


def test_a_wrong_check_character_fails_after_the_prefix_was_cached(
    world: tuple[Verifier, dict[str, Any]],
) -> None:
    _, bundle = world
    licence = bundle["credential"]["licenceId"]
    parse_licence_id(licence)  # the authority's prefix is cached now
    head, check = licence[:-1], licence[-1]
    for other in _ALPHABET.replace(check, ""):
        with pytest.raises(InvalidLicenceId) as caught:
            parse_licence_id(head + other)
        assert caught.value.code == "licence_id_checksum"


# ------------------------------------------------------------------ the verifier, both ways


def _essence(report: Report) -> dict[str, Any]:
    """The report without the moment of checking and the trust source's age."""
    out = report.to_json()
    del out["checkedAt"], out["trust"]
    return out


def _slowly(verifier: Verifier, bundle: object, monkeypatch: pytest.MonkeyPatch) -> Report:
    """The report with every fast path of this module off."""
    with monkeypatch.context() as patch:
        patch.setattr(verify_module, "_compiled_split", lambda *_: None)
        for name in ("_issuer_accredited", "_key_valid", "_anchored"):
            patch.setattr(verify_module, name, getattr(verify_module, name).__wrapped__)
        return verifier.verify(bundle)


def _variants(bundle: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The bundle, every one-field forgery of the tamper suite, and credentials that leave
    the compiled path (a float, an integer past doubles, a lone surrogate)."""
    yield "untouched", bundle
    for path in leaves(bundle):
        yield "/".join(map(str, path)), mutate(bundle, path)
    for where, value in (
        ("credentialStatus", 1.5),
        ("credentialSubject", 2**60),
        ("credentialSubject", "\ud800"),
    ):
        forged = copy.deepcopy(bundle)
        forged["credential"][where]["extra"] = value
        yield f"{where} holds {value!r}", forged


def test_every_variant_gets_the_slow_paths_report(
    world: tuple[Verifier, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier, bundle = world
    seen = set()
    for name, variant in _variants(bundle):
        fast = verifier.verify(variant)
        again = verifier.verify(variant)  # the cached passing results, now warm
        slow = _slowly(verifier, variant, monkeypatch)
        assert _essence(fast) == _essence(slow) == _essence(again), name
        seen.add(fast.verdict)
    # (a receipt's block facts are the chain's, so a changed block number still passes:
    # ``anchor_receipt_stale``, as the tamper suite holds)
    assert seen == {Verdict.VALID, Verdict.INVALID}


def test_a_tampered_anchor_fails_after_its_pass_was_cached(
    world: tuple[Verifier, dict[str, Any]],
) -> None:
    verifier, bundle = world
    assert verifier.verify(bundle).verdict is Verdict.VALID  # the block's pass is cached
    forged = copy.deepcopy(bundle)
    forged["anchor"]["path"][0] = "0x" + "00" * 32
    report = verifier.verify(forged)
    assert report.check("anchor").reason.code == "anchor_path_mismatch"
    stale = copy.deepcopy(bundle)
    stale["anchor"]["blockNumber"] += 1
    report = verifier.verify(stale)
    assert report.check("anchor").reason.code == "anchor_receipt_stale"


def test_a_licence_of_another_authority_fails_format_on_the_fast_path(
    world: tuple[Verifier, dict[str, Any]],
) -> None:
    verifier, bundle = world
    forged = copy.deepcopy(bundle)
    assert type(forged) is dict and _compiled_split(forged["credential"], "proof") is not None
    forged["credential"]["licenceId"] = forged["credential"]["licenceId"][:-1] + (
        "0" if forged["credential"]["licenceId"][-1] != "0" else "1"
    )
    report = verifier.verify(forged)
    assert report.check("format").reason.code == "licence_id_checksum"
    assert report.verdict is Verdict.INVALID


def test_without_an_anchor_the_proofs_created_still_decides(
    world: tuple[Verifier, dict[str, Any]],
) -> None:
    # ``created`` is read only when a check needs it: a pending bundle's anchor and key time
    verifier, bundle = world
    pending = copy.deepcopy(bundle)
    pending["anchor"] = None
    report = verifier.verify(pending)
    assert report.verdict is Verdict.PENDING
    assert report.check("anchor").reason.code == "anchor_pending"
    key = report.check("key_validity")
    assert key.reason.code == "key_valid" and "at signing" in key.reason.en
    undated = copy.deepcopy(pending)
    undated["credential"]["proof"]["created"] = "yesterday"
    report = verifier.verify(undated)
    assert report.check("anchor").reason.code == "anchor_missing"
    assert report.check("key_validity").outcome is Outcome.SKIPPED
    assert report.verdict is Verdict.INVALID
