"""Tests for verifier/identifiers.py: citizen IDs (GB 11643) and credit codes (GB 32100)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

from tests.verifier.factories import citizen_id_bodies, make_citizen_id, make_uscc, uscc_bodies
from verifier.identifiers import (
    USCC_ALPHABET,
    InvalidIdentifier,
    citizen_id_check_digit,
    is_valid_citizen_id,
    is_valid_uscc,
    parse_citizen_id,
    parse_uscc,
    uscc_check_character,
)

CITIZEN_ID_CHARS = "0123456789X"


def _code_of(value: str, parse: Callable[[str], object]) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        parse(value)
    assert info.value.reason.zh and info.value.reason.en
    return info.value.code


class TestCitizenId:
    def test_design_sample_is_valid_and_parsed(self) -> None:
        parsed = parse_citizen_id("440106199003071231")
        assert parsed.region_code == "440106"
        assert parsed.birth_date == date(1990, 3, 7)
        assert parsed.sequence == "123"
        assert parsed.sex == "male"

    def test_known_check_digit_x(self) -> None:
        # The GB 11643 example number 11010519491231002X has X as its check character.
        assert citizen_id_check_digit("11010519491231002") == "X"
        assert parse_citizen_id("11010519491231002x").number == "11010519491231002X"

    def test_even_sequence_is_female(self) -> None:
        assert parse_citizen_id(make_citizen_id(sequence=124)).sex == "female"
        assert parse_citizen_id(make_citizen_id(sequence=7)).sex == "male"

    def test_abolished_birth_place_still_valid(self) -> None:
        # 440102 东山区 was merged into 越秀区 in 2005; people born there keep their number.
        assert is_valid_citizen_id(make_citizen_id("440102", date(1985, 6, 1)))

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("44010619900307123", "citizen_id_length"),
            ("440106900307123", "citizen_id_length"),
            ("4401061990030712A1", "citizen_id_format"),
            ("44010619900307123Y", "citizen_id_format"),
            ("440106199003071232", "citizen_id_checksum"),
        ],
    )
    def test_malformed_numbers_give_their_code(self, value: str, code: str) -> None:
        assert _code_of(value, parse_citizen_id) == code

    @pytest.mark.parametrize("birth", ["19900230", "19901301", "00000000"])
    def test_impossible_birth_date(self, birth: str) -> None:
        body = f"440106{birth}123"
        value = body + citizen_id_check_digit(body)
        assert _code_of(value, parse_citizen_id) == "citizen_id_birth_date_invalid"

    def test_unknown_province(self) -> None:
        body = "99010619900307123"
        assert _code_of(body + citizen_id_check_digit(body), parse_citizen_id) == (
            "citizen_id_region_unknown"
        )

    @settings(deadline=None)  # the first example loads the region table
    @given(citizen_id_bodies())
    def test_body_with_computed_check_digit_validates(self, body: str) -> None:
        number = body + citizen_id_check_digit(body)
        assert parse_citizen_id(number).number == number
        assert ric.calc_check_digit(number) == number[-1]  # same digit as python-stdnum

    @settings(deadline=None)  # the first example loads the region table
    @given(citizen_id_bodies(), st.integers(0, 17), st.sampled_from(CITIZEN_ID_CHARS))
    def test_every_single_substitution_is_rejected(self, body: str, pos: int, ch: str) -> None:
        number = body + citizen_id_check_digit(body)
        changed = number[:pos] + ch + number[pos + 1 :]
        if changed != number:
            assert not is_valid_citizen_id(changed)

    @settings(deadline=None)  # the first example loads the region table
    @given(citizen_id_bodies(), st.integers(0, 16))
    def test_every_adjacent_transposition_is_rejected(self, body: str, pos: int) -> None:
        number = body + citizen_id_check_digit(body)
        swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
        if swapped != number:
            assert not is_valid_citizen_id(swapped)
            # Detected by the checksum itself, not by luck of the date or the region.
            if swapped[:17].isdigit() and swapped[17] in CITIZEN_ID_CHARS:
                assert citizen_id_check_digit(swapped[:17]) != swapped[17]


class TestUscc:
    def test_design_sample_is_valid(self) -> None:
        code = parse_uscc("91440106MA59C2K45Y")
        assert (code.department, code.entity_type) == ("9", "1")
        assert code.region_code == "440106"
        assert code.organization_code == "MA59C2K45"
        assert (code.department_name, code.entity_type_name) == ("工商", "企业")

    def test_agrees_with_stdnum_where_stdnum_applies(self) -> None:
        assert stdnum_uscc.calc_check_digit("91110000600037341L") == "L"
        assert is_valid_uscc("91110000600037341L")

    def test_letter_department_accepted_where_stdnum_refuses(self) -> None:
        value = make_uscc("440106", "MA59C2K45", department="N2")
        assert not stdnum_uscc.is_valid(value)
        assert parse_uscc(value).department_name == "农业"

    def test_lower_case_is_normalized(self) -> None:
        assert parse_uscc("91440106ma59c2k45y").code == "91440106MA59C2K45Y"

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("91440106MA59C2K45", "uscc_length"),
            ("91440106MA59C2K45YY", "uscc_length"),
            ("91440106MA59C2KI5Y", "uscc_alphabet"),
            ("91440106MA59C2K4OY", "uscc_alphabet"),
            ("91440106MA59C2K45Z", "uscc_alphabet"),
            ("91440106MA59C2K45X", "uscc_checksum"),
        ],
    )
    def test_malformed_codes_give_their_code(self, value: str, code: str) -> None:
        assert _code_of(value, parse_uscc) == code

    @pytest.mark.parametrize(
        ("department", "code"),
        [
            ("B1", "uscc_department"),
            ("0A", "uscc_department"),
            ("94", "uscc_entity_type"),
            ("99", "uscc_entity_type"),
            ("Y2", "uscc_entity_type"),
        ],
    )
    def test_department_and_type(self, department: str, code: str) -> None:
        body = f"{department}440106MA59C2K45"
        value = body + uscc_check_character(body)
        assert _code_of(value, parse_uscc) == code

    def test_region_must_be_digits_of_a_known_province(self) -> None:
        for region in ("99AB06", "990106"):
            body = f"91{region}MA59C2K45"
            assert _code_of(body + uscc_check_character(body), parse_uscc) == "uscc_region"
        assert is_valid_uscc(make_uscc(region_code="100000"))

    @settings(deadline=None)  # the first example loads the region table
    @given(uscc_bodies())
    def test_body_with_computed_check_character_validates(self, body: str) -> None:
        code = body + uscc_check_character(body)
        assert parse_uscc(code).code == code

    @settings(deadline=None)  # the first example loads the region table
    @given(uscc_bodies(), st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
    def test_every_single_substitution_is_rejected(self, body: str, pos: int, ch: str) -> None:
        code = body + uscc_check_character(body)
        changed = code[:pos] + ch + code[pos + 1 :]
        if changed != code:
            assert not is_valid_uscc(changed)
            assert uscc_check_character(changed[:17]) != changed[17]

    @settings(deadline=None)  # the first example loads the region table
    @given(uscc_bodies(), st.integers(0, 16))
    def test_every_adjacent_transposition_is_rejected(self, body: str, pos: int) -> None:
        code = body + uscc_check_character(body)
        swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
        if swapped != code:
            assert not is_valid_uscc(swapped)
            assert uscc_check_character(swapped[:17]) != swapped[17]
