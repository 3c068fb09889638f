"""The national electronic licence identifier (电子证照标识, GB/T 36904-2018): build, parse, check.

An identifier reads ``1.2.156.3005.2.<type code>.<issuing unit>.<serial>.<version>.<check>``:

* ``1.2.156.3005.2`` — the root (电子证照根代码);
* type code (证照类型代码) — the licence type, e.g. ``11100000000013338W011``;
* issuing unit (证照颁发机构代码) — the issuing authority's 统一社会信用代码 (GB 32100);
* serial (流水号) — the licence number or a number the authority chooses;
* version (版本号) — three digits, ``001`` for the first version;
* check character (校验位) — ISO 7064 MOD 37,36 (hybrid) over type code, issuing unit, serial
  and version written together without dots and without the root.

MOD 37,36 works over ``0-9A-Z``; as a hybrid system it detects every substitution of one
character by another, in any position. A malformed identifier raises ``InvalidLicenceId``,
whose ``part`` names the broken part and whose reason has a stable code and 中文 and English.

The standard's text could not be read; what is taken from public examples rather than from it
is gathered in the block *Rules not confirmed from the standard's text* below. How Suixin fills
the parts for its own credentials (``licence_id_for``: which type code, the serial and version a
lineage keeps) is the block after it, the one place to change when the rules are confirmed.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from typing import Literal

from verifier.identifiers import InvalidIdentifier, Uscc, parse_uscc
from verifier.messages import Reason

__all__ = [
    "LICENCE_ID_ROOT",
    "LICENCE_TYPE_CODES",
    "LICENSED_TYPES",
    "InvalidLicenceId",
    "LicenceId",
    "LicenceIdPart",
    "build_licence_id",
    "is_valid_licence_id",
    "licence_id_check_character",
    "licence_id_for",
    "parse_licence_id",
]

# --- Rules not confirmed from the standard's text ---------------------------------------------
# GB/T 36904-2018 (电子证照 标识规范) and Guangdong's DB44/T 2167 could not be obtained. Every
# rule in this block is reconstructed from public identifiers and from integrators' code that
# agree with one another (Suixin's research note on 国密 and e-licence standards lists them);
# none is confirmed from the standard. Change them here, and only here, once the text is read.

#: The root (电子证照根代码): every public example starts with it.
LICENCE_ID_ROOT = "1.2.156.3005.2"
# Type code: 21 characters in every example, which reads as the defining department's USCC
# followed by a three-digit number (11100000000013338W + 011); only the length and the
# alphabet are checked, not that inner structure.
_TYPE_CODE = re.compile(r"[0-9A-Z]{21}")
# Issuing unit: the authority's 18-character USCC in all but one example (a test stub with the
# region code 340100). Suixin requires a valid USCC (parse_uscc), which is what it issues with.
# Serial: 7 to 32 characters in the examples, digits and capital letters (a hexadecimal UUID
# among them). No limit was found; 1 to 64 characters of the MOD 37,36 alphabet are accepted.
_SERIAL = re.compile(r"[0-9A-Z]{1,64}")
# Version: three digits in every example (001, 002); 000 is refused, as versions count from 1.
_VERSION = re.compile(r"(?!000)[0-9]{3}")
# Check character: MOD 37,36 over type code + issuing unit + serial + version, dots removed,
# root left out; 6 of 7 published examples check out this way (the seventh, a sample value in
# API documentation, does not). Letters are upper case only: MOD 37,36 as ISO 7064 defines it
# has no lower case, and the examples use none, so a lower-case identifier is refused rather
# than silently changed.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CHARACTERS = re.compile(r"[0-9A-Z]*")  # any number of characters of ``_ALPHABET``
# ----------------------------------------------------------------------------------------------

# --- How Suixin numbers its own licences (Suixin's choices, not the standard's) -----------------
# Every 居住证 and 营业执照 Suixin issues carries its identifier as ``licenceId`` (a credential
# property, beside the credential's ``id``: it names the licence, not its holder).

#: The credential types that carry a licence identifier.
LICENSED_TYPES = ("ResidencePermit", "BusinessLicense")
#: 证照类型代码 of each type. The national catalogue assigns these (the defining department's
#: USCC and a three-digit number); the codes of 居住证 and 营业执照 could not be confirmed from a
#: public source, so these are placeholders of the right shape, all zeros but the number, to be
#: replaced by the catalogue's codes. Verifiers check the shape of a type code, not its value.
LICENCE_TYPE_CODES = {
    "ResidencePermit": "000000000000000000001",
    "BusinessLicense": "000000000000000000002",
}
# Issuing unit: the issuing authority's USCC, as the governance root accredited it on chain
# (TrustRegistry), so a verifier can compare the two.
# Serial: the licence's lineage, the first version's credential id (a UUID) as 32 hexadecimal
# capitals: stable for every version of the licence (签注, 换领, 补领, 变更登记, a change of
# address, a re-issue after a key compromise); a 居住证 that moves to another city starts a new
# lineage, so a new licence.
# Version: the lineage version, 1 for the first credential, one more for each new version.
# Whether the standard counts versions this way (or keeps the version across endorsements) is
# not confirmed; the public examples show 001 and 002 only.
# ----------------------------------------------------------------------------------------------

LicenceIdPart = Literal["identifier", "root", "type_code", "issuer", "serial", "version", "check"]

# ISO 7064 MOD 37,36 as a table: from the running value p (1..36) and a character's value a
# (0..35), the next p = 2 × ((p + a) mod 36, or 36 for 0) mod 37. One lookup per character,
# the characters mapped to their values in one C call: verification runs this for every
# licence it checks. (python-stdnum's mod_37_36, which the tests hold it to, is 3× slower.)
_NEXT = tuple(2 * (((p + a) % 36) or 36) % 37 for p in range(37) for a in range(36))
_VALUES = bytes(_ALPHABET.index(chr(b)) if chr(b) in _ALPHABET else 0xFF for b in range(256))


def _mod_37_36(text: str, start: int = 36) -> str:
    """The MOD 37,36 check character of ``text`` (digits and capitals only, already checked),
    the running value starting at ``start`` (36: the standard's; another, from ``_state``,
    continues a computation over a prefix)."""
    return _ALPHABET[(1 - _run(text, start)) % 36]


def _run(text: str, p: int) -> int:
    """The running value after ``text``, from ``p``."""
    for a in text.encode("ascii").translate(_VALUES):
        p = _NEXT[p * 36 + a]
    return p


@functools.lru_cache(maxsize=1024)
def _state(prefix: str) -> int:
    """The running value after ``prefix``, from the standard's start. Type code and issuing
    unit open every identifier and are the same in every licence of one type from one
    authority: this runs once per such pair."""
    return _run(prefix, 36)


def _check_character(type_code: str, issuer: str, serial: str, version: str) -> str:
    """``_mod_37_36`` of the four parts written together (the parts already checked)."""
    return _mod_37_36(serial + version, _state(type_code + issuer))


_SHAPE = (
    f"{LICENCE_ID_ROOT}.<证照类型代码>.<颁发机构代码>.<流水号>.<版本号>.<校验位>",
    f"{LICENCE_ID_ROOT}.<type code>.<issuing unit>.<serial>.<version>.<check character>",
)

_FORMAT = Reason(
    "licence_id_format",
    f"电子证照标识格式应为 {_SHAPE[0]}",
    f"An electronic licence identifier reads {_SHAPE[1]}",
)
_ROOT = Reason(
    "licence_id_root",
    f"电子证照标识应以根代码 {LICENCE_ID_ROOT} 开头",
    f"An electronic licence identifier starts with the root {LICENCE_ID_ROOT}",
)
_TYPE = Reason(
    "licence_id_type_code",
    "证照类型代码应为21位数字或大写字母",
    "The licence type code has 21 digits or capital letters",
)
_SERIAL_REASON = Reason(
    "licence_id_serial",
    "流水号应为1至64位数字或大写字母",
    "The serial has 1 to 64 digits or capital letters",
)
_VERSION_REASON = Reason(
    "licence_id_version",
    "版本号应为3位数字，从001开始",
    "The version has three digits, counting from 001",
)
_CHECK_FORMAT = Reason(
    "licence_id_check_format",
    "校验位应为1位数字或大写字母",
    "The check character is one digit or capital letter",
)
_CHECKSUM = Reason(
    "licence_id_checksum",
    "电子证照标识的校验位不正确（ISO 7064 MOD 37,36），请逐位核对",
    "The check character is wrong (ISO 7064 MOD 37,36); please check the identifier for typos",
)


_ISSUER_CHARACTERS = Reason(
    "licence_id_issuer",
    "颁发机构代码应为由数字和大写字母组成的18位统一社会信用代码",
    "The issuing unit is an 18-character unified social credit code of digits and capitals",
)


def _issuer_reason(inner: Reason) -> Reason:
    return Reason(
        "licence_id_issuer",
        f"颁发机构代码不是有效的统一社会信用代码：{inner.zh}",
        f"The issuing unit is not a valid unified social credit code: {inner.en}",
    )


class InvalidLicenceId(InvalidIdentifier):
    """An electronic licence identifier is malformed; ``part`` says which part is wrong."""

    def __init__(self, reason: Reason, part: LicenceIdPart) -> None:
        super().__init__(reason)
        self.part: LicenceIdPart = part


@dataclass(frozen=True, slots=True)
class LicenceId:
    """A checked 电子证照标识 and its parts."""

    type_code: str
    issuer: Uscc
    serial: str
    version: str
    check_character: str

    @property
    def version_number(self) -> int:
        """The version as a number (``001`` → 1)."""
        return int(self.version)

    @property
    def identifier(self) -> str:
        """The whole identifier."""
        return ".".join(
            (
                LICENCE_ID_ROOT,
                self.type_code,
                self.issuer.code,
                self.serial,
                self.version,
                self.check_character,
            )
        )

    def __str__(self) -> str:
        return self.identifier


# an authority's USCC comes back in every licence it issued: parse each one once
_parse_uscc = functools.lru_cache(maxsize=1024)(parse_uscc)


def _check_parts(type_code: str, issuer: str, serial: str, version: str) -> Uscc:
    if not isinstance(type_code, str) or not _TYPE_CODE.fullmatch(type_code):
        raise InvalidLicenceId(_TYPE, "type_code")
    if not isinstance(issuer, str) or not _CHARACTERS.fullmatch(issuer):
        raise InvalidLicenceId(_ISSUER_CHARACTERS, "issuer")
    try:
        uscc = _parse_uscc(issuer)
    except InvalidIdentifier as e:
        raise InvalidLicenceId(_issuer_reason(e.reason), "issuer") from e
    if not isinstance(serial, str) or not _SERIAL.fullmatch(serial):
        raise InvalidLicenceId(_SERIAL_REASON, "serial")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise InvalidLicenceId(_VERSION_REASON, "version")
    return uscc


def licence_id_check_character(type_code: str, issuer: str, serial: str, version: str) -> str:
    """Return the MOD 37,36 check character of the four parts (a digit or capital letter).

    Raises ``InvalidLicenceId`` naming the first part that breaks its rule.
    """
    _check_parts(type_code, issuer, serial, version)
    return _check_character(type_code, issuer, serial, version)


def build_licence_id(type_code: str, issuer: str, serial: str, version: int | str = 1) -> str:
    """Return the identifier of a licence: root, the four parts and the check character.

    ``issuer`` is the issuing authority's USCC; ``version`` a number from 1 to 999 or its three
    digits. Raises ``InvalidLicenceId`` naming the first part that breaks its rule.
    """
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise InvalidLicenceId(_VERSION_REASON, "version")
    if isinstance(version, int):
        if not 1 <= version <= 999:
            raise InvalidLicenceId(_VERSION_REASON, "version")
        version = f"{version:03d}"
    check = licence_id_check_character(type_code, issuer, serial, version)
    return ".".join((LICENCE_ID_ROOT, type_code, issuer, serial, version, check))


def parse_licence_id(value: str) -> LicenceId:
    """Check ``value`` (surrounding spaces trimmed) and return its parts.

    Raises ``InvalidLicenceId`` with code ``licence_id_format``, ``licence_id_root``,
    ``licence_id_type_code``, ``licence_id_issuer``, ``licence_id_serial``,
    ``licence_id_version``, ``licence_id_check_format`` or ``licence_id_checksum``, and
    ``part`` set to the part at fault.
    """
    if not isinstance(value, str):
        raise InvalidLicenceId(_FORMAT, "identifier")
    text = value.strip()
    if not text.startswith(LICENCE_ID_ROOT + "."):
        raise InvalidLicenceId(_ROOT, "root")
    parts = text[len(LICENCE_ID_ROOT) + 1 :].split(".")
    if len(parts) != 5:
        raise InvalidLicenceId(_FORMAT, "identifier")
    type_code, issuer, serial, version, check = parts
    uscc = _check_parts(type_code, issuer, serial, version)
    if len(check) != 1 or check not in _ALPHABET:
        raise InvalidLicenceId(_CHECK_FORMAT, "check")
    if _check_character(type_code, issuer, serial, version) != check:
        raise InvalidLicenceId(_CHECKSUM, "check")
    return LicenceId(type_code, uscc, serial, version, check)


def is_valid_licence_id(value: str) -> bool:
    """True if ``parse_licence_id`` accepts ``value``."""
    try:
        parse_licence_id(value)
    except InvalidLicenceId:
        return False
    return True


def licence_id_for(
    credential_type: str, issuer_uscc: str, lineage_id: str, version: int = 1
) -> str:
    """The identifier Suixin gives a credential of ``credential_type`` (one of
    ``LICENSED_TYPES``): its type's code, the issuing authority's USCC, the lineage as the
    serial and the lineage version (see the block *How Suixin numbers its own licences*).

    ``lineage_id`` is the first version's id (``urn:uuid:…``). Raises ``ValueError`` for a type
    that carries no licence identifier or a lineage id that is not a UUID, and
    ``InvalidLicenceId`` for a USCC or version (1 to 999) the identifier cannot hold.
    """
    type_code = LICENCE_TYPE_CODES.get(credential_type)
    if type_code is None:
        raise ValueError(f"a {credential_type} carries no licence identifier")
    serial = uuid.UUID(lineage_id.removeprefix("urn:uuid:")).hex.upper()
    return build_licence_id(type_code, issuer_uscc, serial, version)
