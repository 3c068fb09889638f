"""JSON-LD expansion in "safe mode" for tests: the shipped contexts only, and no term lost.

PyLD has no ``safe`` option (jsonld.js does): a property that expands to no IRI is reported to
``on_property_dropped``, which raises here, and with ``base=None`` a type no context defines
stays a relative IRI (``"Alumni"``), which ``expand_safe`` rejects too.
"""

from __future__ import annotations

import copy
from typing import Any

from pyld import jsonld

from verifier.contexts import document_loader


class UnsafeJsonLd(Exception):
    """Expansion lost a term, left a type undefined, or failed."""


def _dropped(iri: object) -> None:
    raise UnsafeJsonLd(f"property dropped during expansion: {iri!r}")


def _relative_types(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += _relative_types(item)
    elif isinstance(node, dict):
        types = node.get("@type", [])
        for value in types if isinstance(types, list) else [types]:
            if isinstance(value, str) and ":" not in value:
                found.append(value)
        for key, value in node.items():
            if key != "@type":
                found += _relative_types(value)
    return found


def expand_safe(document: dict[str, Any]) -> list[Any]:
    """Expand ``document`` with the verifier's loader; raise ``UnsafeJsonLd`` if anything is lost
    or undefined, and let PyLD's ``JsonLdError`` (e.g. a protected term redefinition) through."""
    expanded: list[Any] = jsonld.expand(
        copy.deepcopy(document),
        {"documentLoader": document_loader, "base": None},
        on_property_dropped=_dropped,
    )
    relative = _relative_types(expanded)
    if relative:
        raise UnsafeJsonLd(f"types no context defines: {relative}")
    return expanded
