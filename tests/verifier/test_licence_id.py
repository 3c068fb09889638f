"""Tests for verifier.licence_id: 电子证照标识 against published identifiers and MOD 37,36."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from verifier.identifiers import USCC_ALPHABET, uscc_check_character
from verifier.licence_id import (
    LICENCE_ID_ROOT,
    LICENCE_TYPE_CODES,
    LICENSED_TYPES,
    InvalidLicenceId,
    LicenceId,
    build_licence_id,
    is_valid_licence_id,
    licence_id_check_character,
    licence_id_for,
    parse_licence_id,
)

# Identifiers published in public integrators' code and files (found through a code index that
# does not name repositories), each with where it appeared. All check out with MOD 37,36 over
# type code + issuing unit + serial + version.
PUBLISHED = [
    # "格式参考" in an API model for 建筑施工企业安全生产管理人员考核合格证书 licences
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    # the same licence type, version 002, quoted as made by that licence standard's Annex A.2
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
    # a file name on a Zhejiang government service portal
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    # test data of a Shandong integration
    "1.2.156.3005.2.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3",
    # the column comment of an e-licence catalogue contract
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
]


@pytest.mark.parametrize("identifier", PUBLISHED)
def test_published_identifiers_parse_and_rebuild(identifier: str) -> None:
    parsed = parse_licence_id(identifier)
    assert parsed.identifier == str(parsed) == identifier
    assert build_licence_id(
        parsed.type_code, parsed.issuer.code, parsed.serial, parsed.version
    ) == (identifier)
    assert is_valid_licence_id(identifier)


def test_parts_of_a_published_identifier() -> None:
    parsed = parse_licence_id(f"  {PUBLISHED[1]} ")
    assert parsed == LicenceId(
        type_code="11100000000013338W011",
        issuer=parsed.issuer,
        serial="20230000403",
        version="002",
        check_character="S",
    )
    assert parsed.issuer.code == "11430000006122244L"
    assert parsed.issuer.region_code == "430000"
    assert parsed.version_number == 2
    # only the version differs from the first identifier, and the check character follows it
    assert build_licence_id(parsed.type_code, parsed.issuer.code, parsed.serial, 1) == PUBLISHED[0]


def test_published_values_that_do_not_hold() -> None:
    # A Swagger sample value: its check character computes as D, not M (likely made up).
    sample = (
        "1.2.156.3005.2.11100000000013661B006.113700000045046442."
        "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
    )
    with pytest.raises(InvalidLicenceId, match="licence_id_checksum") as wrong:
        parse_licence_id(sample)
    assert wrong.value.part == "check"
    assert is_valid_licence_id(sample[:-1] + "D")
    # A test stub whose check character holds, but whose issuing unit is a region code, not
    # a USCC: Suixin requires the USCC.
    stub = "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9"
    assert mod_37_36.calc_check_digit("11100000MB03271699022" + "340100" + "000000016" + "001") == (
        "9"
    )
    with pytest.raises(InvalidLicenceId, match="licence_id_issuer") as issuer:
        parse_licence_id(stub)
    assert issuer.value.part == "issuer"
    assert "统一社会信用代码应为18位" in issuer.value.reason.zh


# --- ISO 7064 MOD 37,36 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        ("A12425GABC1234002", "M"),  # the GRid example, A1-2425G-ABC1234002-M
        ("000000018CFA0000", "I"),  # ISAN 0000-0001-8CFA-0000-I
    ],
)
def test_mod_37_36_published_examples(payload: str, check: str) -> None:
    assert mod_37_36.calc_check_digit(payload) == check
    assert mod_37_36.is_valid(payload + check)


def _mod_37_36(payload: str) -> str:
    """ISO 7064 hybrid MOD 37,36 as the standard describes it, for an independent check."""
    p = 36
    for char in payload:
        t = (p + int(char, 36)) % 36 or 36
        p = 2 * t % 37
    return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(1 - p) % 36]


# --- round trips and errors --------------------------------------------------------------------

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def usccs(draw: st.DrawFn) -> str:
    department, entity = draw(st.sampled_from(["11", "12", "51", "52", "91", "92", "93", "Y1"]))
    region = draw(st.sampled_from(["440100", "440106", "110000", "100000", "330105"]))
    organisation = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    body = department + entity + region + organisation
    return body + uscc_check_character(body)


type_codes = st.text(ALPHABET, min_size=21, max_size=21)
serials = st.text(ALPHABET, min_size=1, max_size=64)
versions = st.integers(1, 999)


@settings(max_examples=300)
@given(type_codes, usccs(), serials, versions)
def test_any_valid_parts_round_trip(type_code: str, issuer: str, serial: str, version: int) -> None:
    identifier = build_licence_id(type_code, issuer, serial, version)
    parsed = parse_licence_id(identifier)
    assert (parsed.type_code, parsed.issuer.code, parsed.serial, parsed.version_number) == (
        type_code,
        issuer,
        serial,
        version,
    )
    assert parsed.check_character == _mod_37_36(type_code + issuer + serial + f"{version:03d}")
    assert parsed.check_character == licence_id_check_character(
        type_code, issuer, serial, parsed.version
    )


@settings(max_examples=300)
@given(type_codes, usccs(), serials, versions, st.data())
def test_any_single_substitution_is_detected(
    type_code: str, issuer: str, serial: str, version: int, data: st.DataObject
) -> None:
    identifier = build_licence_id(type_code, issuer, serial, version)
    positions = [
        i for i in range(len(LICENCE_ID_ROOT) + 1, len(identifier)) if identifier[i] != "."
    ]
    at = data.draw(st.sampled_from(positions), label="position")
    other = data.draw(st.sampled_from(ALPHABET.replace(identifier[at], "")), label="character")
    changed = identifier[:at] + other + identifier[at + 1 :]
    with pytest.raises(InvalidLicenceId):
        parse_licence_id(changed)


VALID = PUBLISHED[0]
TYPE, ISSUER, SERIAL = "11100000000013338W011", "11430000006122244L", "20230000403"


@pytest.mark.parametrize(
    ("value", "code", "part"),
    [
        (None, "licence_id_format", "identifier"),
        ("", "licence_id_root", "root"),
        ("1.2.156.3005.1" + VALID[14:], "licence_id_root", "root"),
        (VALID.replace(LICENCE_ID_ROOT, "1.2.156.3005.2.0"), "licence_id_format", "identifier"),
        (VALID + ".X", "licence_id_format", "identifier"),
        (VALID.rsplit(".", 1)[0], "licence_id_format", "identifier"),
        (VALID.replace(TYPE, TYPE[:-1]), "licence_id_type_code", "type_code"),
        (VALID.replace(TYPE, TYPE.lower()), "licence_id_type_code", "type_code"),
        (VALID.replace(ISSUER, ISSUER.lower()), "licence_id_issuer", "issuer"),
        (VALID.replace(ISSUER, ISSUER[:-1] + "M"), "licence_id_issuer", "issuer"),
        (VALID.replace(ISSUER, "440100"), "licence_id_issuer", "issuer"),
        (VALID.replace(SERIAL, ""), "licence_id_serial", "serial"),
        (VALID.replace(SERIAL, "2023_0403"), "licence_id_serial", "serial"),
        (VALID.replace(SERIAL, "1" * 65), "licence_id_serial", "serial"),
        (VALID.replace(".001.", ".1."), "licence_id_version", "version"),
        (VALID.replace(".001.", ".000."), "licence_id_version", "version"),
        (VALID.replace(".001.", ".00A."), "licence_id_version", "version"),
        (VALID[:-1] + "u", "licence_id_check_format", "check"),
        (VALID[:-1] + "UU", "licence_id_check_format", "check"),
        (VALID[:-1], "licence_id_check_format", "check"),
        (VALID[:-1] + "V", "licence_id_checksum", "check"),
    ],
)
def test_each_wrong_part_has_its_own_code_and_reason(value: Any, code: str, part: str) -> None:
    with pytest.raises(InvalidLicenceId) as raised:
        parse_licence_id(value)
    assert raised.value.code == code
    assert raised.value.part == part
    reason = raised.value.reason
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reason.zh) and reason.en
    assert code in raised.value.diagnostics()
    assert not is_valid_licence_id(value)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((TYPE, ISSUER, SERIAL, 0), "licence_id_version"),
        ((TYPE, ISSUER, SERIAL, 1000), "licence_id_version"),
        ((TYPE, ISSUER, SERIAL, True), "licence_id_version"),
        ((TYPE, ISSUER, SERIAL, "1"), "licence_id_version"),
        ((TYPE + "0", ISSUER, SERIAL, 1), "licence_id_type_code"),
        ((TYPE, " " + ISSUER, SERIAL, 1), "licence_id_issuer"),
        ((TYPE, ISSUER, "a", 1), "licence_id_serial"),
    ],
)
def test_build_refuses_wrong_parts(args: tuple[Any, ...], code: str) -> None:
    with pytest.raises(InvalidLicenceId, match=code):
        build_licence_id(*args)


# ------------------------------------------------------------ Suixin's numbering of licences


def test_licence_id_for_numbers_a_lineage_and_its_versions() -> None:
    lineage = "urn:uuid:5f0b5f1e-2c3d-4e8f-9a1b-2c3d4e5f6a7b"
    first = parse_licence_id(licence_id_for("ResidencePermit", "11440100007502156G", lineage))
    later = parse_licence_id(
        licence_id_for("ResidencePermit", "11440100007502156G", lineage, version=3)
    )
    assert first.type_code == LICENCE_TYPE_CODES["ResidencePermit"]
    assert first.issuer.code == "11440100007502156G"
    assert first.serial == "5F0B5F1E2C3D4E8F9A1B2C3D4E5F6A7B" == later.serial  # stable
    assert (first.version, later.version) == ("001", "003")
    licence = parse_licence_id(licence_id_for("BusinessLicense", "11440100007502233T", lineage))
    assert licence.type_code == LICENCE_TYPE_CODES["BusinessLicense"] != first.type_code
    assert set(LICENCE_TYPE_CODES) == set(LICENSED_TYPES)


def test_licence_id_for_refuses_what_it_cannot_number() -> None:
    lineage = "urn:uuid:5f0b5f1e-2c3d-4e8f-9a1b-2c3d4e5f6a7b"
    with pytest.raises(ValueError, match="ResidenceYears"):
        licence_id_for("ResidenceYears", "11440100007502156G", lineage)
    with pytest.raises(ValueError):
        licence_id_for("ResidencePermit", "11440100007502156G", "urn:uuid:not-a-uuid")
    with pytest.raises(InvalidLicenceId) as bad:
        licence_id_for("ResidencePermit", "11440100007502156X", lineage)
    assert bad.value.part == "issuer"
    with pytest.raises(InvalidLicenceId) as late:
        licence_id_for("ResidencePermit", "11440100007502156G", lineage, version=1000)
    assert late.value.part == "version"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=96))
def test_the_table_driven_check_character_is_python_stdnums(text: str) -> None:
    from verifier.licence_id import _mod_37_36

    assert _mod_37_36(text) == mod_37_36.calc_check_digit(
        text, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    )
