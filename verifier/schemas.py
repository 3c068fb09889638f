"""The JSON Schemas (draft 2020-12) of the credential types, shipped in ``verifier/schemas/``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from verifier._time import DATE_TIME, in_range

__all__ = [
    "CREDENTIAL_TYPES",
    "SCHEMA_BASE_URL",
    "fast_validator",
    "format_checker",
    "load_schema",
    "schema_id",
    "schema_validator",
]

SCHEMA_BASE_URL = "https://schemas.suixin.gov.cn/credentials/"
# ResidenceYears (居住年限证明) is derived from a ResidencePermit (see verifier.credential).
CREDENTIAL_TYPES: tuple[str, ...] = ("BusinessLicense", "ResidencePermit", "ResidenceYears")
_OTHER_SCHEMAS: tuple[str, ...] = ("bundle",)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
# RFC 3339 §5.6 time-numoffset: hours 00-23, minutes 00-59 (``datetime.fromisoformat`` alone
# would take ``+08:60`` or ``+08:99``, reading them as more minutes)


def schema_id(credential_type: str) -> str:
    """Return the ``$id`` URL of the type's schema; ``ValueError`` for an unknown type."""
    if credential_type not in CREDENTIAL_TYPES:
        raise ValueError(f"unknown credential type: {credential_type!r}")
    return f"{SCHEMA_BASE_URL}{credential_type}/v1.json"


def load_schema(name: str) -> Mapping[str, Any]:
    """Return the schema named ``name`` (``ResidencePermit``, ``ResidencePermit.json``, ``bundle``).

    The result is cached and shared: do not modify it. Raises ``ValueError`` for an unknown
    name.
    """
    stem = name.removesuffix(".json")
    if stem not in CREDENTIAL_TYPES and stem not in _OTHER_SCHEMAS:
        raise ValueError(f"no schema named {name!r}")
    return _load(stem)


@cache
def _load(stem: str) -> Mapping[str, Any]:
    text = resources.files("verifier").joinpath(f"schemas/{stem}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not DATE_TIME.match(value):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is None or in_range(parsed)


@cache
def format_checker() -> FormatChecker:
    """A checker for the formats the schemas use: strict RFC 3339 ``date`` and ``date-time``."""
    checker = FormatChecker(formats=())
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    return checker


@cache
def _registry() -> Registry[Any]:
    resources_ = [
        (schema_id(t), Resource.from_contents(load_schema(t), default_specification=DRAFT202012))
        for t in CREDENTIAL_TYPES
    ]
    return Registry().with_resources(resources_)


@cache
def fast_validator(credential_type: str, part: str = "") -> Any:
    """A compiled (jsonschema-rs) validator for the same schema, with the same format checks.

    It answers only "valid or not", about fifty times faster than ``schema_validator``; the
    credential rules use it as a gate and ask ``schema_validator`` for the detailed errors
    of an instance it rejects. A test holds the two to the same answers.
    """
    if part not in ("", "subject"):
        raise ValueError(f"unknown schema part: {part!r}")
    registry = jsonschema_rs.Registry(
        [(schema_id(t), dict(load_schema(t))) for t in CREDENTIAL_TYPES]
    )
    ref = schema_id(credential_type) + ("#/$defs/subject" if part else "")
    return jsonschema_rs.Draft202012Validator(
        {"$ref": ref},
        registry=registry,
        formats={"date": _is_date, "date-time": _is_date_time},
        validate_formats=True,
        ignore_unknown_formats=False,
    )


@cache
def schema_validator(credential_type: str, part: str = "") -> Draft202012Validator:
    """Return a validator for the whole credential, or with ``part="subject"`` for its subject.

    Format checks (dates) are on. Raises ``ValueError`` for an unknown type or part.
    """
    if part not in ("", "subject"):
        raise ValueError(f"unknown schema part: {part!r}")
    ref = schema_id(credential_type) + ("#/$defs/subject" if part else "")
    return Draft202012Validator(
        {"$ref": ref}, registry=_registry(), format_checker=format_checker()
    )
