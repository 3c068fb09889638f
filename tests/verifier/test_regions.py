"""Tests for verifier/regions.py: GB/T 2260 codes, names, levels and containment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verifier import regions

ROOT = Path(__file__).resolve().parents[2]

PROVINCES = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省",
    "150000": "内蒙古自治区", "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省",
    "310000": "上海市", "320000": "江苏省", "330000": "浙江省", "340000": "安徽省",
    "350000": "福建省", "360000": "江西省", "370000": "山东省", "410000": "河南省",
    "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省",
    "530000": "云南省", "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省",
    "630000": "青海省", "640000": "宁夏回族自治区", "650000": "新疆维吾尔自治区",
    "710000": "台湾省", "810000": "香港特别行政区", "820000": "澳门特别行政区",
}  # fmt: skip

GUANGZHOU = {
    "440103": "荔湾区", "440104": "越秀区", "440105": "海珠区", "440106": "天河区",
    "440111": "白云区", "440112": "黄埔区", "440113": "番禺区", "440114": "花都区",
    "440115": "南沙区", "440117": "从化区", "440118": "增城区",
}  # fmt: skip

SHENZHEN = {
    "440303": "罗湖区", "440304": "福田区", "440305": "南山区", "440306": "宝安区",
    "440307": "龙岗区", "440308": "盐田区", "440309": "龙华区", "440310": "坪山区",
    "440311": "光明区",
}  # fmt: skip

GUANGDONG_CITIES = {
    "440100": "广州市", "440200": "韶关市", "440300": "深圳市", "440400": "珠海市",
    "440500": "汕头市", "440600": "佛山市", "440700": "江门市", "440800": "湛江市",
    "440900": "茂名市", "441200": "肇庆市", "441300": "惠州市", "441400": "梅州市",
    "441500": "汕尾市", "441600": "河源市", "441700": "阳江市", "441800": "清远市",
    "441900": "东莞市", "442000": "中山市", "445100": "潮州市", "445200": "揭阳市",
    "445300": "云浮市",
}  # fmt: skip


@pytest.mark.parametrize(("code", "name"), sorted({**PROVINCES, **GUANGDONG_CITIES}.items()))
def test_provinces_and_guangdong_cities_in_force(code: str, name: str) -> None:
    assert regions.is_known(code)
    assert regions.region_name(code) == name


@pytest.mark.parametrize(("code", "name"), sorted({**GUANGZHOU, **SHENZHEN}.items()))
def test_current_guangzhou_and_shenzhen_districts(code: str, name: str) -> None:
    assert regions.is_known(code)
    assert regions.region_name(code) == name
    assert regions.level(code) == "county"


def test_current_guangzhou_districts_are_exactly_eleven() -> None:
    table = regions._table()
    in_force = {
        c for c, r in table.items() if c.startswith("4401") and c != "440100" and r.in_force
    }
    assert in_force == set(GUANGZHOU)


def test_zhaoqing_divisions() -> None:
    assert regions.region_name("441200") == "肇庆市"
    assert regions.region_name("441202") == "端州区"
    assert regions.region_name("441204") == "高要区"
    assert regions.region_name("441284") == "四会市"
    assert regions.parent("441284") == "441200"


def test_abolished_code_known_only_historically() -> None:
    # 东山区 was merged into 越秀区 in 2005, 萝岗区 into 黄埔区 in 2014.
    for code, name in (("440102", "东山区"), ("440116", "萝岗区")):
        assert not regions.is_known(code)
        assert regions.is_known(code, historical=True)
        assert regions.region_name(code) == name


def test_renamed_code_has_name_per_year() -> None:
    record = regions.region("440111")
    assert record is not None
    assert record.name == "白云区"
    assert record.name_in(1985) == "郊区"
    assert record.name_in(2020) == "白云区"
    assert regions.region("440117") is not None
    assert regions.region("440117").name_in(2000) is None  # type: ignore[union-attr]


def test_placeholder_codes_are_not_regions() -> None:
    assert not regions.is_known("440101", historical=True)  # 市辖区
    assert not regions.is_known("110100", historical=True)


@pytest.mark.parametrize("bad", ["44010", "4401066", "44O106", "", "４４０１０６"])
def test_malformed_codes(bad: str) -> None:
    assert not regions.is_known(bad)
    with pytest.raises(ValueError, match="six-digit"):
        regions.level(bad)


def test_unknown_code_has_no_name() -> None:
    assert not regions.is_known("449999")
    with pytest.raises(KeyError):
        regions.region_name("449999")


def test_int_codes() -> None:
    assert regions.region_name(440106) == "天河区"
    assert regions.is_known(440106)
    with pytest.raises(ValueError):
        regions.level(1234567)


@pytest.mark.parametrize(
    ("code", "expected"), [("440000", "province"), ("440100", "prefecture"), ("440106", "county")]
)
def test_level(code: str, expected: str) -> None:
    assert regions.level(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("440106", "440100"), ("440100", "440000"), ("440000", None), ("110101", "110000"),
     ("441900", "440000")],
)  # fmt: skip
def test_parent(code: str, expected: str | None) -> None:
    assert regions.parent(code) == expected


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("440000", "440100", True),
        ("440100", "440106", True),
        ("440000", "440106", True),
        (440100, 440106, True),
        ("440106", "440106", True),
        ("440100", "440100", True),
        ("440106", "440100", False),
        ("440100", "440000", False),
        ("440100", "440303", False),
        ("440300", "440106", False),
        ("440000", "430104", False),
        ("440106", "440105", False),
    ],
)
def test_contains(outer: str | int, inner: str | int, expected: bool) -> None:
    assert regions.contains(outer, inner) is expected


def test_shipped_table_matches_its_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_regions.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_table_header_names_its_source() -> None:
    text = (ROOT / "verifier" / "data" / "gbt2260.tsv").read_text(encoding="utf-8")
    assert "Source: python-stdnum" in text.split("\ncode\t")[0]


def test_cached_lookups_keep_telling_a_bool_from_an_int() -> None:
    # region() and contains() are memoised; True == 1 must not share an answer with 1
    assert regions.region(440100) is not None
    assert regions.region(1) is None
    with pytest.raises(ValueError):
        regions.region(True)
    with pytest.raises(ValueError):
        regions.contains(True, 440100)
