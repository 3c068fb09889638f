"""GB/T 2260 administrative division codes (行政区划代码): names, levels and containment.

The data ship in ``verifier/data/gbt2260.tsv`` (see its header for the source) and hold current
and past codes: a citizen ID keeps the code of the place where it was first issued, which may
have been abolished since. Codes are six digits, given as ``str`` or ``int``; a value that is not
six digits raises ``ValueError``, and a name asked of a code never recorded raises ``KeyError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

__all__ = [
    "Level",
    "Region",
    "contains",
    "is_known",
    "level",
    "normalize_region_code",
    "parent",
    "region",
    "region_name",
]

Level = Literal["province", "prefecture", "county"]


@dataclass(frozen=True, slots=True)
class Region:
    """One code with the names it has carried: ``names`` is oldest first as (name, since, until)."""

    code: str
    names: tuple[tuple[str, int | None, int | None], ...]

    @property
    def in_force(self) -> bool:
        """True when the code is in use today (its latest name has no end year)."""
        return self.names[-1][2] is None

    @property
    def name(self) -> str:
        """The current name, or the last one the code carried if it was abolished."""
        return self.names[-1][0]

    def name_in(self, year: int) -> str | None:
        """The name the code carried in ``year``, or None if it did not exist then."""
        for name, since, until in self.names:
            if (since is None or since <= year) and (until is None or year <= until):
                return name
        return None


def normalize_region_code(code: int | str) -> str:
    """Return ``code`` as a six-digit string; raise ``ValueError`` if it is not six digits."""
    text = f"{code:06d}" if isinstance(code, int) and not isinstance(code, bool) else code
    if not isinstance(text, str) or len(text) != 6 or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a six-digit GB/T 2260 code: {code!r}")
    return text


@cache
def _table() -> dict[str, Region]:
    raw = resources.files("verifier").joinpath("data/gbt2260.tsv").read_text(encoding="utf-8")
    names: dict[str, list[tuple[str, int | None, int | None]]] = {}
    for line in raw.splitlines():
        if not line or line.startswith("#") or line.startswith("code\t"):
            continue
        code, name, since, until = line.split("\t")
        names.setdefault(code, []).append(
            (name, int(since) if since else None, int(until) if until else None)
        )
    table: dict[str, Region] = {}
    for code, periods in names.items():
        # Oldest first; a name with no end year is the current one and sorts last.
        periods.sort(key=lambda p: (p[2] is None, p[2] or 0, p[1] or 0))
        table[code] = Region(code, tuple(periods))
    return table


@lru_cache(maxsize=8192, typed=True)  # a verifier asks about the same few codes again and again
def region(code: int | str) -> Region | None:
    """Return the record of ``code`` (current or past), or None if it was never recorded."""
    return _table().get(normalize_region_code(code))


def is_known(code: int | str, *, historical: bool = False) -> bool:
    """True if ``code`` is a code in force today (or at any time, with ``historical=True``).

    A malformed value is simply not known (no exception), so this is safe on user input.
    """
    try:
        found = region(code)
    except ValueError:
        return False
    return found is not None and (historical or found.in_force)


def region_name(code: int | str) -> str:
    """Return the Chinese name of ``code`` (its last name if abolished); ``KeyError`` if unknown."""
    found = region(code)
    if found is None:
        raise KeyError(f"unknown GB/T 2260 code: {code!r}")
    return found.name


def level(code: int | str) -> Level:
    """Return the level the code's shape denotes: ``province``, ``prefecture`` or ``county``."""
    text = normalize_region_code(code)
    if text.endswith("0000"):
        return "province"
    if text.endswith("00"):
        return "prefecture"
    return "county"


def parent(code: int | str) -> str | None:
    """Return the code of the nearest recorded enclosing division, or None for a province.

    A district of a municipality (110101) or a county under a province directly skips the
    placeholder prefecture that GB/T 2260 leaves out, and goes to the province (110000).
    """
    text = normalize_region_code(code)
    match level(text):
        case "province":
            return None
        case "county":
            prefecture = text[:4] + "00"
            if prefecture in _table():
                return prefecture
    return text[:2] + "0000"


@lru_cache(maxsize=8192, typed=True)
def contains(outer: int | str, inner: int | str) -> bool:
    """True if division ``inner`` lies within ``outer`` (a code contains itself).

    Containment follows the structure of the codes: 440000 ⊇ 440100 ⊇ 440106.
    """
    out, inn = normalize_region_code(outer), normalize_region_code(inner)
    match level(out):
        case "province":
            return inn[:2] == out[:2]
        case "prefecture":
            return inn[:4] == out[:4]
        case _:
            return inn == out
