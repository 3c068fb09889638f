"""The counter page's verdict: every verdict the verifier gives is named in 中文 and English
(``VERDICTS`` in counter.js) and has a background of its own in suixin.css, white text on it
readable (WCAG 2 contrast at least 4.5:1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verifier.verify import Verdict

STATIC = Path(__file__).resolve().parents[3] / "verifier" / "counter" / "static"


def _verdict_labels() -> dict[str, tuple[str, str]]:
    script = (STATIC / "counter.js").read_text(encoding="utf-8")
    table = re.search(r"const VERDICTS = \{(.*?)\};", script, re.S)
    assert table is not None, "counter.js has no VERDICTS table"
    pairs = re.findall(r'(\w+): \["([^"]+)", "([^"]+)"\]', table.group(1))
    return {name: (zh, en) for name, zh, en in pairs}


def _backgrounds() -> dict[str, str]:
    css = (STATIC / "suixin.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([\w-]+): (#[0-9a-fA-F]{6})", css))
    found = re.findall(
        r'\.verdict\[data-verdict="(\w+)"\] \{ background: var\(--([\w-]+)\); \}', css
    )
    return {verdict: colours[variable] for verdict, variable in found}


def _contrast_with_white(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_verdict_is_named_in_chinese_and_english(verdict: Verdict) -> None:
    zh, en = _verdict_labels()[verdict.value]
    assert re.search(r"[\u4e00-\u9fff]", zh), zh
    assert en.isascii() and en.strip()


def test_a_foreign_credential_reads_issuer_not_accredited() -> None:
    assert _verdict_labels()["NOT_ACCREDITED"] == ("签发方未获认可", "Issuer not accredited")


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_verdict_has_a_readable_background(verdict: Verdict) -> None:
    assert _contrast_with_white(_backgrounds()[verdict.value]) >= 4.5


def test_verdicts_are_told_apart_by_colour() -> None:
    backgrounds = _backgrounds()
    assert len({backgrounds[v.value] for v in Verdict}) == len(Verdict)
